// The label-free per-layer α of lecture mode (issue 13): start, progress with what the search
// costs (here, and on ViT-B/32 on this engine), cancel, the schedule drawn as α against depth
// beside the single α, and its row in the rules' table. The search itself runs in the session
// (src/session/layerwise.rs), as `wiseft sweep --layerwise` runs it; this file lays it out.

import { $, fmtAlpha, fmtDuration } from './dom.js';
import { engine } from './engine.js';
import { showFailure } from './messages.js';
import { drawSchedule } from './plots.js';
import { ruleRow } from './rules-view.js';

/** @type {import('./protocol.js').SweepPhoto[]|null} the last finished sweep's photos */
let photos = null;
/** @type {import('./protocol.js').Rules|null} its rules (the start α, the oracle's accuracy) */
let rules = null;
/** @type {import('./protocol.js').LayerwiseResult|null} */
let result = null;
let running = false;

const ruleOf = (name) => rules?.rules.find((r) => r.rule === name && r.alpha != null) ?? null;

function buttons() {
  $('layerwise-start').disabled = running || !photos || !ruleOf('min-entropy');
  $('layerwise-cancel').style.visibility = running ? 'visible' : 'hidden';
}

function setState(state, text) {
  $('layerwise').dataset.layerwise = state;
  $('layerwise-status').textContent = text;
}

/**
 * A sweep finished (or a new one started: `null`): the search can start from its α of lowest
 * entropy; an older schedule no longer belongs to these photos.
 * @param {import('./protocol.js').SweepPhoto[]|null} sweepPhotos
 * @param {import('./protocol.js').Rules|null} sweepRules
 * @param {string|null} [why] why there is no search to offer, when there is a reason beyond "no sweep yet"
 */
export function layerwiseReady(sweepPhotos, sweepRules, why = null) {
  photos = sweepPhotos;
  rules = sweepRules;
  result = null;
  $('layerwise-figure').hidden = true;
  const start = ruleOf('min-entropy');
  if (!sweepPhotos) setState('none', why ?? 'Run the sweep first: the search starts from its α of lowest entropy.');
  else if (!start) setState('none', 'The label-free rules could not run on these photos, so neither can the search.');
  else setState('ready', `Starts from the single α of lowest entropy (${fmtAlpha(start.alpha)}); the cost is shown after the first forward pass.`);
  buttons();
}

function startSearch() {
  const start = ruleOf('min-entropy');
  if (!photos || !start) return;
  running = true;
  $('layerwise-progress').value = 0;
  setState('running', 'Searching …');
  buttons();
  engine.layerwise(photos, start.alpha).then(showResult, searchFailed);
}

/** @param {import('./protocol.js').LayerwiseProgressEvent} ev */
function showProgress(ev) {
  $('layerwise-progress').max = ev.most;
  $('layerwise-progress').value = ev.done;
  $('layerwise-status').textContent =
    `${ev.done} of at most ${ev.most} forward passes over ${ev.photos} photos · lowest entropy ${ev.best.toFixed(4)} · ` +
    `the whole search: about ${fmtDuration(ev.estimate_s)} here, ${fmtDuration(ev.vit_b32_s)} for ViT-B/32 on this engine`;
}

/** @param {import('./protocol.js').LayerwiseEvent|null} ev */
function showResult(ev) {
  running = false;
  buttons();
  if (!ev) return;
  result = ev.result;
  const r = result;
  $('layerwise-progress').value = $('layerwise-progress').max;
  const where = r.free_set === 'unlabeled' ? 'photos without a label' : '“everything else” photos, labels hidden';
  setState(
    'done',
    `Done: ${r.evaluations} forward passes in ${fmtDuration(r.seconds)} over ${r.free_photos} ${where} (ViT-B/32: about ${fmtDuration(r.vit_b32_seconds)}).`,
  );
  $('layerwise').dataset.result = JSON.stringify(r);
  addRow(r);
  $('layerwise-figure').hidden = false;
  drawSchedule(r);
}

/** The schedule's row in the rules' table, after the single-α rules. @param {import('./protocol.js').LayerwiseResult} r */
function addRow(r) {
  const body = document.querySelector('#rules .rules-table tbody');
  if (!body) return;
  body.querySelector('tr[data-rule="layerwise"]')?.remove();
  const oracle = ruleOf('oracle');
  const loss = oracle?.shift_accuracy != null && r.shift_accuracy != null ? oracle.shift_accuracy - r.shift_accuracy : null;
  const attrs = { 'data-rule': 'layerwise', 'data-knots': JSON.stringify(r.knots) };
  body.append(ruleRow('min-entropy', 'per-layer α, lowest entropy (label-free)', attrs, r.knots.map(fmtAlpha).join(' → '), r.task_accuracy, r.shift_accuracy, loss));
}

/** @param {import('./worker-client.js').RequestError} err */
function searchFailed(err) {
  running = false;
  buttons();
  setState(err.cancelled ? 'cancelled' : 'failed', err.cancelled ? 'Search cancelled.' : `Search failed: ${err.message}`);
  if (!err.cancelled) showFailure(err);
}

/** Redraws the schedule (presenter mode changes the type size). */
export function redrawSchedule() {
  if (result) drawSchedule(result);
}

export function wireLayerwise() {
  $('layerwise-start').onclick = startSearch;
  $('layerwise-cancel').onclick = () => engine.cancel();
  engine.on('layerwise_progress', showProgress);
  // Other models: the schedule and the sweep it started from are gone.
  engine.on('loaded', () => layerwiseReady(null, null));
}
