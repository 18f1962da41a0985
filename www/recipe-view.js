// The recipe's controls: the method chooser, the λ and top-k sliders, the per-family / per-depth
// schedule of λ with its curve, and the list of fine-tunes beyond the first (add from the presets'
// fine-tunes or by address, remove). What they hold lives in recipe.js; this module only draws
// and turns input into setRecipe / syncRecipe, or into a reload when the merge inputs must change.

import { $, el, pickFiles, resolveUrl, shortName } from './dom.js';
import { isLoaded, startLoad } from './models.js';
import { allPresets, presetModel } from './presets.js';
import { FAMILIES, MAX_LAMBDA, METHODS, addLocalFineTune, isLocalFineTune, localFineTune, needsReload, recipeChanged, recipeJson, recipePending, recipeSettled, recipeState, setRecipe, syncRecipe, usesRecipe, wireRecipe } from './recipe.js';
import { engine } from './engine.js';

const fmt = (v) => (Math.round(v * 100) / 100).toFixed(2);

/** After a change: the engine follows it live, or the checkpoints are merged again. */
function apply() {
  if (!isLoaded()) return;
  if (needsReload()) startLoad();
  else syncRecipe();
}

/** A number typed in a field: null when blank; out of range or not a number is said there. */
function readNumber(input) {
  const raw = input.value.trim();
  if (raw === '') {
    input.setCustomValidity('');
    return null;
  }
  const v = Number(raw);
  const ok = Number.isFinite(v) && Math.abs(v) <= MAX_LAMBDA;
  input.setCustomValidity(ok ? '' : `λ must be a number in [−${MAX_LAMBDA}, ${MAX_LAMBDA}]`);
  input.reportValidity();
  return ok ? v : undefined;
}

/** The curve of λ over depth (embeddings → projection), the default and each family given. */
function drawSchedule() {
  const svg = $('schedule-plot');
  const s = recipeState();
  const lines = [['default', s.lambda, s.schedule.late ?? s.lambda]];
  for (const f of FAMILIES) {
    const v = s.schedule.families[f];
    if (v !== null && v !== undefined) lines.push([f, v, v]);
  }
  const values = lines.flatMap(([, a, b]) => [a, b]);
  const lo = Math.min(0, ...values);
  const hi = Math.max(1, ...values);
  const y = (v) => 55 - ((v - lo) / (hi - lo || 1)) * 45;
  const ns = 'http://www.w3.org/2000/svg';
  const make = (tag, attrs) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    return n;
  };
  const kids = [make('line', { x1: 20, x2: 170, y1: y(0), y2: y(0), class: 'axis' })];
  lines.forEach(([name, a, b], i) => {
    kids.push(make('line', { x1: 20, x2: 170, y1: y(a), y2: y(b), class: `curve c${i}` }));
    const t = make('text', { x: 173, y: y(b) + 3, class: `c${i}` });
    t.textContent = `${name} ${fmt(b)}`;
    kids.push(t);
  });
  const start = make('text', { x: 0, y: 58, class: 'tick' });
  start.textContent = 'embeddings';
  const end = make('text', { x: 135, y: 58, class: 'tick' });
  end.textContent = 'last layer';
  svg.replaceChildren(...kids, start, end);
  svg.dataset.lambda = JSON.stringify(recipeJson().lambda ?? null);
}

/** The fine-tunes of every preset that share the current zero-shot model, to add with one click. */
function offered() {
  const zs = resolveUrl($('zs-url').value.trim());
  const seen = new Set();
  const out = [];
  for (const p of allPresets()) {
    const pz = presetModel(p.zero_shot);
    if (!pz || resolveUrl(pz.urls[0]) !== zs) continue;
    for (const m of [p.fine_tuned, ...(p.more_fine_tuned || [])].map(presetModel).filter(Boolean)) {
      const url = resolveUrl(m.urls[0]);
      if (!seen.has(url)) out.push({ name: m.name, url });
      seen.add(url);
    }
  }
  return out;
}

function renderFineTunes() {
  const s = recipeState();
  const list = $('ft-list');
  list.replaceChildren(
    ...s.more.map((url, i) =>
      el(
        'li',
        { 'data-url': url },
        el('span', { class: 'ft-name', title: url, text: fineTuneName(url) }),
        el('button', { type: 'button', class: 'link ft-remove', 'aria-label': `Remove ${url}`, text: 'remove', onclick: () => removeFineTune(i) }),
      ),
    ),
  );
  const first = $('ft-url').value.trim();
  const options = offered().filter((o) => o.url !== resolveUrl(first) && !s.more.includes(o.url));
  $('ft-offer').replaceChildren(el('option', { value: '', text: options.length ? 'a fine-tune of this zero-shot model …' : 'no other preset fine-tune of it' }), ...options.map((o) => el('option', { value: o.url, text: o.name })));
  $('fine-tunes').dataset.count = String(s.more.length + (first ? 1 : 0));
}

/** How the list names an added fine-tune: a preset's name, its local files, or the address's end. */
function fineTuneName(key) {
  if (isLocalFineTune(key)) return `${(localFineTune(key) ?? []).map((f) => f.name).join(' + ')} (this computer)`;
  return offered().find((o) => o.url === key)?.name ?? shortName(key);
}

/** A fine-tune from local files: weights (and its config.json, if any) as one checkpoint. */
function addFineTuneFiles(files) {
  if (!files.length) return;
  setRecipe({ more: [...recipeState().more, addLocalFineTune(files)] });
  $('fine-tunes-note').textContent = 'Press Load models to merge the fine-tunes.';
}

function addFineTune() {
  const input = $('ft-add-url').value.trim() || $('ft-offer').value;
  if (!input) return;
  const url = /^[\w.-]+\/[\w.-]+(@[\w./-]+)?$/.test(input) ? input : resolveUrl(input);
  if (!recipeState().more.includes(url)) setRecipe({ more: [...recipeState().more, url] });
  $('ft-add-url').value = '';
  $('fine-tunes-note').textContent = 'Press Load models to merge the fine-tunes.';
}

function removeFineTune(i) {
  const more = recipeState().more.filter((_, k) => k !== i);
  setRecipe({ more, method: more.length ? recipeState().method : 'wise-ft' });
  $('fine-tunes-note').textContent = 'Press Load models to merge the fine-tunes.';
}

/** The controls show the recipe held (after a preset, the address, or the person's input). */
function render() {
  const s = recipeState();
  const recipe = usesRecipe();
  $('method').value = s.method;
  $('method').querySelector('option[value="wise-ft"]').disabled = s.more.length > 0;
  $('method-formula').textContent = METHODS[s.method].formula;
  const lambda = s.method === 'task-arithmetic' || s.method === 'ties';
  $('lambda-row').hidden = !lambda;
  $('schedule').hidden = !lambda;
  $('top-k-row').hidden = s.method !== 'ties';
  $('alpha-card').hidden = recipe;
  $('lambda').value = String(s.lambda);
  $('lambda-out').value = fmt(s.lambda);
  $('top-k').value = String(s.topK);
  $('top-k-out').value = String(s.topK);
  $('recipe-card').dataset.method = s.method;
  $('recipe-card').dataset.recipe = recipe ? JSON.stringify(recipeJson()) : '';
  drawSchedule();
  renderFineTunes();
}

export function wireRecipeView() {
  wireRecipe();
  $('method').replaceChildren(...Object.entries(METHODS).map(([k, m]) => el('option', { value: k, text: m.name })));
  $('method').onchange = () => {
    setRecipe({ method: $('method').value });
    apply();
  };
  $('lambda').addEventListener('input', () => {
    setRecipe({ lambda: parseFloat($('lambda').value) });
    apply();
  });
  $('top-k').addEventListener('input', () => ($('top-k-out').value = $('top-k').value));
  // k decides which entries survive the trim, computed when the checkpoints load: a reload, so
  // only when the slider is let go.
  $('top-k').addEventListener('change', () => {
    setRecipe({ topK: parseInt($('top-k').value, 10) });
    apply();
  });
  $('lambda-late').addEventListener('change', () => {
    const v = readNumber($('lambda-late'));
    if (v === undefined) return;
    setRecipe({ schedule: { ...recipeState().schedule, late: v } });
    apply();
  });
  for (const input of document.querySelectorAll('#schedule input[data-family]')) {
    input.addEventListener('change', () => {
      const v = readNumber(input);
      if (v === undefined) return;
      setRecipe({ schedule: { ...recipeState().schedule, families: { ...recipeState().schedule.families, [input.dataset.family]: v } } });
      apply();
    });
  }
  $('ft-add').onclick = addFineTune;
  $('ft-add-files').onclick = () => pickFiles({ accept: '.safetensors,.bin,.pt,.pth,.json' }, addFineTuneFiles);
  $('ft-url').addEventListener('change', renderFineTunes);
  $('zs-url').addEventListener('change', renderFineTunes);
  recipeChanged.on(render);
  // data-pending: whether the merged column is behind the recipe shown (tests wait on it).
  const pending = () => ($('recipe-card').dataset.pending = recipePending() ? '1' : '0');
  recipeChanged.on(pending);
  recipeSettled.on(pending);
  pending();
  engine.on('loaded', () => {
    $('fine-tunes-note').textContent = '';
    // A change made while the checkpoints loaded: the engine catches up.
    if (!needsReload()) syncRecipe();
  });
  render();
}

/** The schedule fields show the recipe's schedule (after the address set it). */
export function showSchedule() {
  const s = recipeState().schedule;
  $('lambda-late').value = s.late ?? '';
  for (const input of document.querySelectorAll('#schedule input[data-family]')) input.value = s.families[input.dataset.family] ?? '';
  render();
}

