// Lecture mode (#lecture): the labelled photos' two sets, the α sweep, its plots and summary, the
// explain panel, and the exports (sweep CSV, plot PNGs, the merged checkpoint and its config.json).

import { $, download, el, fmtAlpha, mb, millions, pickFiles, shortName } from './dom.js';
import { engine } from './engine.js';
import { showFailure } from './messages.js';
import { currentLabels } from './labels.js';
import { alphaChanged, currentAlpha } from './alpha.js';
import { recipeChanged, recipeJson, recipeLoaded } from './recipe.js';
import { isLoaded } from './models.js';
import { addPhotos, allPhotos, isPhotoFile, labelledPhotos, photoCount, photoNamed, photosChanged, setTruth } from './photos.js';
import { SWEEP_ALPHAS, bestAlphas, summarise } from './sweep.js';
import { showRules } from './rules-view.js';
import { layerwiseReady, redrawSchedule, wireLayerwise } from './layerwise-view.js';
import { drawPlots } from './plots.js';
import { SETS } from './truth.js';
import { signal } from './signal.js';

let on = false;
/** @type {import('./sweep.js').Summary|null} the last finished sweep */
let sweep = null;
/** @type {import('./protocol.js').Rules|null} the α rules of the last finished sweep */
let rules = null;
/** @type {string|null} the last sweep's CSV, as the session wrote it (= `wiseft sweep --csv`) */
let sweepCsv = null;
let running = false;
/** @type {import('./sweep.js').SweptPhoto[]} the photos of the sweep running */
let swept = [];
/** @type {import('./protocol.js').SweepPhoto[]} those photos as the sweep request sent them */
let sweptRequest = [];
/** @type {string|null} config.json of the last merged checkpoint */
let mergedConfig = null;

/** Lecture mode went on or off. */
export const lectureChanged = signal();

export const isLecture = () => on;

export function setLecture(value) {
  on = value;
  $('lecture').hidden = !on;
  document.body.classList.toggle('lecture', on);
  $('lecture-toggle').setAttribute('aria-pressed', String(on));
  if (on) {
    updateSetCounts();
    redraw();
  }
  lectureChanged.emit();
}

/** Large type for a projector (opens lecture mode). */
export function setPresenter(value) {
  document.body.classList.toggle('presenter', value);
  $('presenter').setAttribute('aria-pressed', String(value));
  if (value && !on) setLecture(true);
  redraw();
}

/** The swept coefficient's current value, to mark on the plots (null for a λ schedule). */
function currentValue() {
  if (sweep?.coefficient !== 'λ') return currentAlpha();
  const lambda = recipeJson().lambda;
  return typeof lambda === 'number' ? lambda : null;
}

function redraw() {
  if (!on) return;
  drawPlots(sweep, currentValue(), rules);
  redrawSchedule();
}

function updateSetCounts() {
  const list = labelledPhotos();
  const n = (set) => list.filter((p) => p.set === set).length;
  const named = new Map();
  for (const p of list) if (p.group) named.set(p.group, (named.get(p.group) ?? 0) + 1);
  const within = named.size ? ` · named sets: ${[...named].map(([g, k]) => `${g} (${k})`).join(', ')}` : '';
  $('set-counts').textContent = `Labelled photos: ${n('task')} in “${SETS.task}”, ${n('other')} in “${SETS.other}”${within} · ${photoCount() - list.length} without a true label.`;
}

function sweepButtons() {
  $('sweep').disabled = running;
  // visibility, not display: the row does not move when the button comes and goes
  $('sweep-cancel').style.visibility = running ? 'visible' : 'hidden';
}

function startSweep() {
  const list = labelledPhotos();
  if (!isLoaded()) {
    $('sweep-status').textContent = 'Load the models first.';
    return;
  }
  if (!list.length) {
    $('sweep-status').textContent = 'No photo has a true label yet.';
    return;
  }
  running = true;
  swept = list.map((p) => ({ id: p.id, name: p.name, set: p.set, group: p.group, truth: p.truth }));
  $('sweep-progress').value = 0;
  $('sweep-progress').max = SWEEP_ALPHAS.length;
  $('sweep-status').textContent = `Sweeping over ${list.length} photo(s) …`;
  $('lecture').dataset.sweep = 'running';
  sweepButtons();
  const labels = currentLabels();
  // The photos without a true label go too: the label-free rules read them.
  const labelled = new Set(list.map((p) => p.id));
  const unlabeled = allPhotos().filter((p) => !p.error && !labelled.has(p.id));
  /** @type {import('./protocol.js').SweepPhoto[]} */
  const photos = [
    // The named set goes too: the session counts each one's curve (src/session/table.rs).
    ...list.map((p) => ({ id: p.id, label: labels.indexOf(p.truth), set: /** @type {const} */ (p.set === 'task' ? 'task' : 'shift'), group: p.group })),
    ...unlabeled.map((p) => ({ id: p.id, label: null, set: /** @type {const} */ ('unlabeled') })),
  ];
  sweptRequest = photos;
  layerwiseReady(null, null);
  engine.sweep(SWEEP_ALPHAS, photos).then(showSweep, sweepFailed);
}

/** @param {import('./protocol.js').SweepProgressEvent} ev */
function showSweepProgress(ev) {
  $('sweep-progress').max = ev.n;
  $('sweep-progress').value = ev.k;
  $('sweep-status').textContent = `${ev.coefficient} = ${fmtAlpha(ev.alpha)} done (${ev.k} of ${ev.n})`;
}

/** @param {import('./protocol.js').SweepEvent|null} ev */
function showSweep(ev) {
  running = false;
  sweepButtons();
  if (!ev) return;
  sweep = summarise(ev, swept);
  rules = ev.rules;
  sweepCsv = ev.csv;
  showRules(ev.rules, ev.rules_error, ev.coefficient);
  if (recipeLoaded()) layerwiseReady(null, null, 'The per-layer α search runs on a two-model pair (one zero-shot, one fine-tuned checkpoint), not on a recipe.');
  else layerwiseReady(sweptRequest, ev.rules);
  $('sweep-status').textContent = `Sweep done: ${ev.points.length} ${ev.coefficient} values.`;
  $('export-csv').disabled = false;
  const lec = $('lecture');
  lec.dataset.sweep = 'done';
  lec.dataset.points = JSON.stringify({ task: sweep.sets.task.length, other: sweep.sets.other.length });
  // For tests and scripts: each named set's curve.
  lec.dataset.named = JSON.stringify(sweep.named);
  // For tests and scripts: the rules as the session sent them.
  lec.dataset.rules = JSON.stringify(ev.rules);
  redraw();
  showBest();
}

/** @param {import('./worker-client.js').RequestError} err */
function sweepFailed(err) {
  running = false;
  sweepButtons();
  $('sweep-status').textContent = err.cancelled ? 'Sweep cancelled.' : `Sweep failed: ${err.message}`;
  $('lecture').dataset.sweep = err.cancelled ? 'cancelled' : 'failed';
  showFailure(err);
}

/** The best α in words (#best) and the measured table beside the paper's (#measured). */
function showBest() {
  const { text, measured } = bestAlphas(sweep);
  $('best').textContent = text;
  const f = (p) => (p ? `${(p.accuracy * 100).toFixed(1)} (${p.correct}/${p.n})` : '—');
  const th = (text) => el('th', { text });
  const table = el(
    'table',
    {},
    el('thead', {}, el('tr', {}, el('th'), th('zero-shot'), th('fine-tuned'), th('α=0.5'))),
    el('tbody', {}, ...measured.map(([name, zs, ft, mid]) => el('tr', {}, th(name), el('td', { text: f(zs) }), el('td', { text: f(ft) }), el('td', { text: f(mid) })))),
  );
  $('measured').replaceChildren(table, el('p', { class: 'hint', text: 'Accuracy in % (correct/photos) on the photos on this page.' }));
}

/** The two checkpoints in the explain panel. @param {import('./protocol.js').LoadedEvent} ev */
function explainModels(ev) {
  // A recipe's merge is exported at its coefficients, not at α.
  $('export-at-alpha').hidden = !!ev.recipe;
  $('export-at-recipe').hidden = !ev.recipe;
  const params = (n) => (n >= 1e6 ? millions(n) : `${(n / 1e3).toFixed(1)} k`);
  const list = el('ul');
  for (const m of ev.models) {
    const which = m.role === 'zero-shot' ? 'θ₀ (zero-shot)' : 'θ₁ (fine-tuned)';
    list.append(el('li', {}, el('strong', { text: `${which}: ` }), `${shortName(m.name)} · ${m.layout} · ${params(m.parameters)} parameters in ${m.tensors} tensors`));
  }
  const r = ev.report;
  const merge = r
    ? `Interpolated: ${r.interpolated.length} tensors (${params(r.interpolated_parameters)} parameters) · kept from θ₀: ${r.kept.length} (${params(r.kept_parameters)})` +
      (r.extra.length ? ` · ignored (fine-tuned only): ${r.extra.length}` : '')
    : 'Only a zero-shot checkpoint: α has no effect.';
  $('explain-models').replaceChildren(list, el('p', { text: merge }));
}

function exportMerged() {
  if (!isLoaded()) {
    $('export-status').textContent = 'Load the models first.';
    return;
  }
  $('export-status').textContent = 'Merging …';
  engine.exportMerged(currentAlpha(), $('export-dtype').value).then(saveMerged, showFailure);
}

/** @param {import('./protocol.js').MergedMessage|null} ev */
function saveMerged(ev) {
  if (!ev) return;
  mergedConfig = ev.config;
  $('export-config').hidden = !ev.config;
  const where = ev.recipe ?? `α = ${fmtAlpha(ev.alpha)}`;
  $('export-status').textContent = `${mb(ev.bytes.byteLength)} (${ev.dtype}) written at ${where}, its recipe and sources' SHA-256 in the header; put config.json beside it for transformers.`;
  const suffix = ev.dtype === 'f32' ? '' : `-${ev.dtype}`;
  const stem = ev.recipe ? `recipe-${ev.recipe.split(',')[0].replace(/\W+/g, '-')}` : `alpha-${fmtAlpha(ev.alpha)}`;
  download(new Blob([ev.bytes], { type: 'application/octet-stream' }), `wiseft-merged-${stem}${suffix}.safetensors`);
}

export function wireLecture() {
  $('lecture-toggle').onclick = () => setLecture(!on);
  $('presenter').onclick = () => setPresenter(!document.body.classList.contains('presenter'));
  $('folder-button').onclick = () =>
    pickFiles({ directory: true }, (files) => addPhotos(files.filter(isPhotoFile), { set: $('folder-set').value, folders: true }));
  $('sweep').onclick = startSweep;
  $('sweep-cancel').onclick = () => engine.cancel();
  $('export-csv').onclick = () => sweepCsv && download(new Blob([sweepCsv], { type: 'text/csv' }), 'wiseft-sweep.csv');
  $('export-merged').onclick = exportMerged;
  $('export-config').onclick = () => mergedConfig && download(new Blob([mergedConfig], { type: 'application/json' }), 'config.json');
  for (const b of document.querySelectorAll('[data-png]')) {
    b.onclick = () => $(b.dataset.png).toBlob((blob) => download(blob, `wiseft-${b.dataset.png}.png`), 'image/png');
  }
  // In lecture mode a click on a result's label makes it the photo's true label.
  $('results').addEventListener('click', (e) => {
    const bar = e.target.closest?.('li.bar');
    if (!bar || !on) return;
    const photo = photoNamed(bar.dataset.image);
    if (photo) setTruth(photo, bar.dataset.label);
  });
  engine.on('sweep_progress', showSweepProgress);
  wireLayerwise();
  engine.on('loaded', explainModels);
  photosChanged.on(updateSetCounts);
  alphaChanged.on(() => sweep && redraw());
  recipeChanged.on(() => sweep && redraw());
}
