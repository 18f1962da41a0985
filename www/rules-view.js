// The α rules of a sweep (issue 13), as the session computed them (src/choose): a table — rule,
// α, task accuracy, shift accuracy, loss against the oracle — and the lecture's one sentence.
// The numbers come from the worker; this file only lays them out. Markers on the plots: plots.js.

import { $, el, fmtAlpha, pctOrDash } from './dom.js';

/** Marker shape and colour of each rule, shared with the plots' legends. */
export const RULE_STYLE = {
  half: { marker: 'star', color: '#16a34a' },
  'task-best': { marker: 'triangle', color: '#e0761b' },
  'min-entropy': { marker: 'diamond', color: '#db2777' },
  'agreement-line': { marker: 'square', color: '#0891b2' },
  oracle: { marker: 'dot', color: '#111827' },
};

const points = (v) => (v == null ? '—' : `${(v * 100).toFixed(1)}`);

/** A rule's name with the swatch of its marker (`style`: a key of RULE_STYLE). */
function ruleName(style, name) {
  const { marker, color } = RULE_STYLE[style];
  return el('th', {}, el('span', { class: `rule-swatch rule-${marker}`, style: `color: ${color}`, 'aria-hidden': 'true' }), ` ${name}`);
}

/**
 * A row of the rules' table: name, the pick (as text), task and shift accuracy, the loss against
 * the oracle (fractions; null: none).
 * @param {string} style a key of RULE_STYLE
 * @param {Record<string, string>} attrs the row's attributes
 */
export function ruleRow(style, name, attrs, pick, task, shift, loss) {
  return el('tr', attrs, ruleName(style, name), el('td', { text: pick }), el('td', { text: pctOrDash(task) }), el('td', { text: pctOrDash(shift) }), el('td', { text: points(loss) }));
}

/** Where the label-free rules looked. @param {import('./protocol.js').Rules} rules */
function freeSet(rules) {
  if (rules.label_free === 'unlabeled') return 'the photos without a label';
  if (rules.label_free === 'shift-labels-hidden') return '“everything else” with its labels hidden';
  return 'no photos';
}

/**
 * Shows the rules, or why there are none.
 * @param {import('./protocol.js').Rules|null} rules
 * @param {string|null} error
 * @param {'α'|'λ'} [coefficient] what the sweep moved
 */
export function showRules(rules, error, coefficient = 'α') {
  const box = $('rules');
  box.dataset.rules = rules ? 'done' : 'none';
  if (!rules) {
    box.replaceChildren(el('p', { class: 'hint', text: error ? `The α rules cannot run on these photos: ${error}` : 'No sweep yet.' }));
    return;
  }
  const th = (text) => el('th', { text });
  const rows = rules.rules.map((r) => {
    if (r.error) return el('tr', { 'data-rule': r.rule }, ruleName(r.rule, r.name), el('td', { colspan: '4', class: 'hint', text: r.error }));
    return ruleRow(r.rule, r.name, { 'data-rule': r.rule, 'data-alpha': String(r.alpha) }, fmtAlpha(r.alpha), r.task_accuracy, r.shift_accuracy, r.loss_vs_oracle);
  });
  const table = el(
    'table',
    { class: 'rules-table' },
    el('thead', {}, el('tr', {}, th('rule'), th(coefficient), th('task accuracy'), th('shift accuracy'), th('loss vs oracle (points)'))),
    el('tbody', {}, ...rows),
  );
  const note = `Label-free rules read ${freeSet(rules)}, from the sweep's probabilities (no extra forward passes). Ties: the smallest ${coefficient}.`;
  box.replaceChildren(
    el('h3', { text: `How to choose ${coefficient}: the rules side by side` }),
    table,
    el('p', { id: 'rules-verdict', class: 'best', text: rules.verdict }),
    el('p', { class: 'hint', text: note }),
  );
}
