// The shareable address: what the page was opened with (preset or zs= / ft= — repeated for several
// fine-tunes —, the recipe's method= / lambda= / k=, a multi-task preset's task=, labels, templates, alpha, backend, lecture,
// presenter), and keeping the address in step with the page afterwards.

import { fmtAlpha, resolveUrl } from './dom.js';
import { showMessage } from './messages.js';
import { currentPreset, defaultPresetId, presetModel, taskPreset } from './presets.js';
import { applyPreset, backendChoice, chosenUrls, choiceChanged, hasLocalFiles, setBackendChoice, setStallSeconds, stallSeconds, useCustomUrls } from './models.js';
import { chooseTask, chooseTemplates, chosenTaskId, labelsChanged, readLabels, setLabelsText, templateChoice } from './labels.js';
import { alphaChanged, currentAlpha, setSlider } from './alpha.js';
import { isLecture, lectureChanged, setLecture, setPresenter } from './lecture.js';
import { MAX_LAMBDA, METHODS, isLocalFineTune, moreFineTunes, recipeChanged, recipeJson, setRecipe, usesRecipe } from './recipe.js';
import { showSchedule } from './recipe-view.js';

/**
 * Sets the page up as the address says; returns whether to load the models at once: a link that
 * names models loads them, and so does a bare visit to an offline default preset (served by this
 * site, no download), so that the page works at once.
 * @param {string} search location.search
 */
export function restoreAddress(search) {
  const q = new URLSearchParams(search);
  // backend=gpu|cpu overrides the automatic choice (gpu also takes a software adapter).
  setBackendChoice(q.get('backend'));
  // stall=S: seconds without a byte before a download attempt is retried (default 30).
  setStallSeconds(q.get('stall'));
  applyPreset(q.get('preset') ?? (q.has('zs') ? '' : defaultPresetId()));
  const fts = q.getAll('ft');
  if (q.has('zs')) {
    useCustomUrls(q.get('zs'), fts[0] ?? '');
    setRecipe({ more: fts.slice(1).filter(Boolean) });
  }
  restoreRecipe(q);
  if (q.has('task')) {
    const preset = currentPreset();
    if (preset?.tasks?.includes(q.get('task'))) chooseTask(q.get('task'));
    else showMessage('warn', `task=${q.get('task')} in the address: ${preset?.tasks ? `use one of ${preset.tasks.join(', ')}` : 'this preset has no tasks'}; it is not used.`, { key: 'url-task' });
  }
  if (q.has('labels')) setLabelsText(q.get('labels').split(',').map((s) => s.trim()).filter(Boolean));
  if (q.get('templates')) chooseTemplates(q.get('templates'));
  // α enters here once: a value outside [0, 1] (or not a number) is said, not used.
  if (q.has('alpha')) {
    const raw = q.get('alpha');
    const a = Number(raw);
    if (raw.trim() !== '' && a >= 0 && a <= 1) setSlider(a);
    else showMessage('warn', `alpha=${raw} in the address is not a number in [0, 1]; α stays at ${fmtAlpha(currentAlpha())}.`, { key: 'url-alpha' });
  }
  if (q.get('lecture') === '1') setLecture(true);
  if (q.get('presenter') === '1') setPresenter(true);
  return q.has('zs') || q.has('preset') || (Boolean(currentPreset()?.offline) && !search);
}

/** The address's method=, lambda= (a number, or a schedule as recipe JSON) and k=: each enters
 *  here once, and a value that cannot be used is said, naming the parameter. */
function restoreRecipe(q) {
  const warn = (name, raw, why) => showMessage('warn', `${name}=${raw} in the address: ${why}; it is not used.`, { key: `url-${name}` });
  const method = q.get('method');
  if (method !== null) {
    if (Object.hasOwn(METHODS, method)) setRecipe({ method });
    else warn('method', method, `use ${Object.keys(METHODS).join(', ')}`);
  }
  const raw = q.get('lambda');
  if (raw !== null) {
    const fields = lambdaFields(raw);
    if (typeof fields === 'string') warn('lambda', raw, fields);
    else setRecipe(fields);
  }
  const k = q.get('k');
  if (k !== null) {
    const v = Number(k);
    if (k.trim() !== '' && v > 0 && v <= 100) setRecipe({ topK: v });
    else warn('k', k, 'TIES keeps a percentage of each task vector, a number in (0, 100]');
  }
  showSchedule();
}

/** λ from the address: recipe fields, or why not. */
function lambdaFields(raw) {
  const num = (v) => typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= MAX_LAMBDA;
  const why = `λ must be a number in [−${MAX_LAMBDA}, ${MAX_LAMBDA}], [at the embeddings, at the last layer], or {"default": …, "attention"|"mlp"|"norm"|"embedding": number}`;
  let v;
  try {
    v = /^\s*[[{]/.test(raw) ? JSON.parse(raw) : raw.trim() === '' ? NaN : Number(raw);
  } catch {
    return why;
  }
  const line = (x) => (num(x) ? { lambda: x, late: null } : Array.isArray(x) && x.length === 2 && x.every(num) ? { lambda: x[0], late: x[1] } : null);
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const base = line(v.default ?? recipeJson().lambda ?? 0.3);
    const families = {};
    for (const [key, x] of Object.entries(v)) {
      if (key === 'default') continue;
      if (!['attention', 'mlp', 'norm', 'embedding'].includes(key) || !num(x)) return why;
      families[key] = x;
    }
    if (!base) return why;
    return { lambda: base.lambda, schedule: { late: base.late, families } };
  }
  const base = line(v);
  return base ? { lambda: base.lambda, schedule: { late: base.late, families: {} } } : why;
}

/** Writes the page's state into the address (replacing the history entry). */
export function saveAddress() {
  const q = new URLSearchParams();
  const { zs, ft } = chosenUrls();
  const preset = currentPreset();
  const pz = preset && presetModel(preset.zero_shot)?.urls?.[0];
  const pf = preset && presetModel(preset.fine_tuned)?.urls?.[0];
  const pmore = (preset?.more_fine_tuned || []).map((m) => resolveUrl(presetModel(m)?.urls?.[0]));
  const more = moreFineTunes();
  if (preset && resolveUrl(pz) === resolveUrl(zs) && resolveUrl(pf) === resolveUrl(ft) && JSON.stringify(pmore) === JSON.stringify(more)) {
    q.set('preset', preset.id);
  } else {
    if (zs && !hasLocalFiles('zero-shot')) q.set('zs', zs);
    if (ft && !hasLocalFiles('fine-tuned')) q.set('ft', ft);
    // Local files cannot be shared: the address keeps only the fine-tunes others can fetch.
    for (const m of more) if (!isLocalFineTune(m)) q.append('ft', m);
  }
  if (usesRecipe()) {
    const r = recipeJson();
    q.set('method', r.method);
    if (r.lambda !== undefined) q.set('lambda', typeof r.lambda === 'number' ? String(r.lambda) : JSON.stringify(r.lambda));
    if (r.top_k !== undefined) q.set('k', String(r.top_k));
  } else {
    q.set('alpha', fmtAlpha(currentAlpha()));
  }
  if (backendChoice()) q.set('backend', backendChoice());
  if (stallSeconds()) q.set('stall', String(stallSeconds()));
  if (isLecture()) q.set('lecture', '1');
  // A multi-task preset's task (task=), whose labels and templates are then the preset's own.
  const task = taskPreset(preset, chosenTaskId());
  if (preset?.tasks && task) q.set('task', task.id);
  const labels = readLabels();
  if (!task || labels.join('\n') !== (task.labels || []).join('\n')) q.set('labels', labels.join(','));
  const t = templateChoice();
  if (t !== (task?.templates?.length ? 'task' : 'single')) q.set('templates', t);
  const query = q.toString().replace(/%2C/g, ',').replace(/%2F/g, '/').replace(/%3A/g, ':');
  history.replaceState(null, '', `${location.pathname}?${query}`);
}

/** From now on the address follows the page. */
export function trackAddress() {
  for (const changed of [choiceChanged, labelsChanged, alphaChanged, lectureChanged, recipeChanged]) changed.on(saveAddress);
  saveAddress();
}
