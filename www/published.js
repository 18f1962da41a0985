// A multi-task preset's published numbers (#published, e.g. FusionBench's for its eight CLIP
// ViT-B/32 fine-tunes), clearly marked as published, beside what this page measures on the
// labelled photos it holds: each result column's accuracy, live.

import { $, el } from './dom.js';
import { currentPreset } from './presets.js';
import { labelledAccuracy, photosChanged, scoresChanged } from './photos.js';
import { METHODS, recipeChanged, recipeLoaded, recipeSettled, recipeState } from './recipe.js';
import { chosenTaskId, labelsChanged } from './labels.js';
import { choiceChanged } from './models.js';

/** The rows of the published table: key of `Published`, and its name here. */
const ROWS = [
  ['zero_shot', 'zero-shot'],
  ['fine_tuned', 'one fine-tune per task, on its own task'],
  ['average', METHODS.average.name],
  ['task-arithmetic', 'Task arithmetic, λ = 0.3'],
  ['ties', 'TIES, λ = 0.3, top 20 %'],
];

/** Shown for a preset with published numbers, and for any loaded recipe (the measured half). */
function render() {
  const box = $('published');
  const p = currentPreset()?.published;
  box.hidden = !p && !recipeLoaded();
  if (box.hidden) return;
  const method = recipeState().method;
  const pct = (a) => (a ? `${((100 * a.correct) / a.n).toFixed(1)} % (${a.correct}/${a.n})` : '—');
  const acc = labelledAccuracy();
  const merged = acc.merged;
  const task = chosenTaskId();
  const published = p
    ? [
        el('h3', {}, 'Published ', el('small', { text: '(not measured here)' })),
        el('p', { class: 'hint', text: `${p.source}:` }),
        el(
          'table',
          { class: 'published-table' },
          el(
            'tbody',
            {},
            ...ROWS.filter(([k]) => p[k] !== undefined).map(([k, name]) =>
              el('tr', { class: k === method ? 'current' : '', 'data-key': k }, el('th', { text: name }), el('td', { text: `${p[k].toFixed(1)} %` })),
            ),
          ),
        ),
      ]
    : [];
  box.replaceChildren(
    ...published,
    el('h3', {}, 'Measured here ', el('small', { text: `(the labelled photos on this page${task ? `, task ${task}` : ''})` })),
    el(
      'table',
      { class: 'measured-table' },
      el(
        'tbody',
        {},
        el('tr', { 'data-key': 'zero_shot' }, el('th', { text: 'zero-shot' }), el('td', { text: pct(acc['zero-shot']) })),
        // Each fine-tune's own column, where the session shows one (fine-tuned-1 …, in order).
        ...Object.keys(acc)
          .filter((k) => k.startsWith('fine-tuned-'))
          .sort((a, b) => Number(a.slice(11)) - Number(b.slice(11)))
          .map((k) => el('tr', { 'data-key': k }, el('th', { text: `fine-tune ${k.slice(11)} alone` }), el('td', { text: pct(acc[k]) }))),
        el('tr', { 'data-key': 'merged' }, el('th', { text: `the merge (${METHODS[method]?.name ?? method})` }), el('td', { text: pct(merged) })),
      ),
    ),
    el('p', { class: 'hint', text: p ? 'Published: the average over the benchmark\'s own test sets of all eight tasks. Measured: your photos of one task, with its labels — a handful of photos, not a test set.' : 'Accuracy of each column on the photos with a true label (from their folder, their name, or a click in lecture mode).' }),
  );
  box.dataset.measured = JSON.stringify({ zero_shot: acc['zero-shot'] ?? null, merged: merged ?? null });
}

export function wirePublished() {
  for (const s of [scoresChanged, photosChanged, recipeChanged, recipeSettled, labelsChanged, choiceChanged]) s.on(render);
  render();
}
