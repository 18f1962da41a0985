// The checkpoint pair: the preset picker, custom URLs, local files, the Load / Cancel / Clear
// buttons, and the state of the load, which the page's data-state and data-models say.

import { $, mb, pickFiles, resolveUrl } from './dom.js';
import { engine, showBackend } from './engine.js';
import { dismissMessages, modelStatusText, setModelStatus, showFailure } from './messages.js';
import { choosePreset, currentPreset, presetModel, presetUrls } from './presets.js';
import { applyLabels, showPresetLabels } from './labels.js';
import { clearLoadView, showProgress, showReport } from './load-view.js';
import { signal } from './signal.js';
import { DEFAULT_HUB, hubEndpoint, hubIdUrls, setHubEndpoint, viaHub } from './hub.js';
import { DEFAULT_LAMBDA, DEFAULT_TOP_K, forgetLoadedRecipe, isLocalFineTune, localFineTune, moreFineTunes, recipeChanged, recipeJson, setRecipe, usesRecipe } from './recipe.js';

/** @typedef {'zero-shot'|'fine-tuned'} Role */

let loading = false;
let loaded = false;
/** @type {string|null} the last load's error */
let loadError = null;
/** @type {import('./protocol.js').ColumnInfo[]} the loaded model's result columns, as the session listed them in `loaded`; none while a load is under way */
let columns = [];
let idleStatus = '';
/** @type {Record<Role, File[]|null>} files chosen for a role */
let local = { 'zero-shot': null, 'fine-tuned': null };
/** @type {'gpu'|'cpu'|null} the address's backend=, else the engine's automatic choice */
let backend = null;
/** @type {import('./protocol.js').HelloEvent|null} */
let hello = null;
/** @type {number|null} the address's stall=: seconds without a byte before a download retries (else 30) */
let stall = null;

const URL_INPUT = { 'zero-shot': 'zs-url', 'fine-tuned': 'ft-url' };
const FILES_NOTE = { 'zero-shot': 'zs-files', 'fine-tuned': 'ft-files' };
const DROP_ZONE = { 'zero-shot': 'zs-drop', 'fine-tuned': 'ft-drop' };
const NO_FILES = 'drop or click: weights (+ config.json)';

/**
 * The loaded pair changed: `'loading'` (scores are void) or `'loaded'`.
 * @type {import('./signal.js').Signal<['loading'|'loaded']>}
 */
export const pairChanged = signal();
/** What the person chose changed (preset, URLs, files): the address follows it. */
export const choiceChanged = signal();

export const isLoaded = () => loaded;
/** The result columns the session sends scores for, in the order to draw them (none before a load). */
export const shownColumns = () => columns;
export const backendChoice = () => backend;
/** @param {string|null} b */
export function setBackendChoice(b) {
  backend = b === 'gpu' || b === 'cpu' ? b : null;
}
export const stallSeconds = () => stall;
/** @param {string|null} s */
export function setStallSeconds(s) {
  const v = Number(s);
  stall = s !== null && s.trim() !== '' && v > 0 && v <= 86400 ? v : null;
}
/** @param {Role} role */
export const hasLocalFiles = (role) => Boolean(local[role]);

/** The custom URL fields as typed. */
export const chosenUrls = () => ({ zs: $('zs-url').value.trim(), ft: $('ft-url').value.trim() });

/** The address's zs= / ft=: custom URLs instead of the preset. */
export function useCustomUrls(zs, ft) {
  $('zs-url').value = zs;
  $('ft-url').value = ft;
  if (currentPreset()) choosePreset('');
}

/** data-state (error, loading, busy, ready), data-models, and the Load / Cancel buttons. */
function renderState() {
  let state;
  if (engine.failure || loadError) state = 'error';
  else if (!engine.ready || loading) state = 'loading';
  else if (engine.busy) state = 'busy';
  else state = 'ready';
  document.body.dataset.state = state;
  document.body.dataset.models = loaded ? 'loaded' : 'none';
  $('cancel').hidden = !loading;
  $('load').disabled = loading || !engine.ready;
}

/** Chooses a preset (none: custom) and shows its checkpoints; `fillLabels` also takes its labels. */
export function applyPreset(id, { fillLabels = true } = {}) {
  const p = choosePreset(id);
  showPresetLabels(p, { fill: fillLabels });
  const note = $('preset-note');
  if (!p) {
    $('samples').hidden = true;
    note.textContent = 'Custom checkpoints: give their URLs or local files below.';
    $('custom').open = true;
    return;
  }
  const zs = presetModel(p.zero_shot);
  const ft = presetModel(p.fine_tuned);
  const more = (p.more_fine_tuned || []).map(presetModel).filter(Boolean);
  $('samples').hidden = !p.samples?.length;
  $('samples').textContent = `Try the ${p.samples?.length || 0} sample photos of this preset`;
  $('zs-url').value = zs?.urls?.[0] ? resolveUrl(zs.urls[0]) : '';
  $('ft-url').value = ft?.urls?.[0] ? resolveUrl(ft.urls[0]) : '';
  const r = p.recipe || {};
  setRecipe({
    method: r.method || 'wise-ft',
    lambda: typeof r.lambda === 'number' ? r.lambda : DEFAULT_LAMBDA,
    topK: r.top_k ?? DEFAULT_TOP_K,
    schedule: { late: null, families: {} },
    more: more.map((m) => resolveUrl(m.urls[0])),
  });
  local = { 'zero-shot': null, 'fine-tuned': null };
  renderLocal();
  const size = Math.round([zs, ft, ...more].reduce((n, m) => n + (m?.size_mb || 0), 0));
  const where = p.offline ? ' · served by this site, no network needed' : size ? ` · about ${size} MB to download once, then kept in the browser` : '';
  note.textContent = `${p.about || ''} ${[zs, ft, ...more].filter(Boolean).map((m) => m.name).join(' + ')}${where}`.trim();
  showMemoryNote();
}

/** The latest memory estimate asked for: an older answer is not shown. */
let estimateAsked = 0;

/**
 * Before anything is downloaded: on the CPU path (no WebGPU, or only a software adapter: most
 * phones today) a large preset's checkpoints and the merged model all sit in WebAssembly memory.
 * What they need, whether TIES keeps a column per fine-tune and whether it fits are the engine's
 * rule (src/session/limits.rs `memory_estimate`, the load's own measure), asked of the worker from
 * the preset's sizes; this only words its answer. `data-pending` is set while it is asked.
 */
async function showMemoryNote() {
  const p = currentPreset();
  const zs = p && presetModel(p.zero_shot);
  const rest = p ? [presetModel(p.fine_tuned), ...(p.more_fine_tuned || []).map(presetModel)].filter(Boolean) : [];
  const cpu = backend === 'cpu' || (backend !== 'gpu' && hello !== null && (!hello.adapter || hello.adapter.software));
  const note = $('memory-note');
  const asked = ++estimateAsked;
  if (!p || p.offline || !cpu || !engine.ready) {
    note.hidden = true;
    delete note.dataset.pending;
    return;
  }
  note.dataset.pending = '1';
  let e = null;
  try {
    e = await engine.memoryEstimate({ zero_shot_mb: zs?.size_mb || 0, fine_tunes_mb: rest.map((m) => m.size_mb || 0), method: recipeJson().method || 'wise-ft', cpu });
  } catch {
    // the engine stopped: nothing to say before a download it cannot make
  }
  if (asked !== estimateAsked) return;
  delete note.dataset.pending;
  note.hidden = !e?.worth_saying;
  if (!e || note.hidden) return;
  note.dataset.fits = e.fits ? '1' : '0';
  note.dataset.fineTuneColumns = e.own_columns ? '1' : '0';
  const without = e.own_columns
    ? ''
    : ` TIES then shows no column per fine-tune: their own task vectors beside the merged one would need about ${e.with_own_columns_mb} MB.`;
  note.textContent = e.fits
    ? `This device has no WebGPU GPU, so the engine runs on the CPU: this preset downloads ${e.download_mb} MB and needs about ${e.memory_mb} MB of memory (WebAssembly allows 4 GB at most, and phones often give a page far less).${without} On a phone, the generated-world presets need 6 MB.`
    : `This device has no WebGPU GPU, so the engine runs on the CPU: this preset downloads ${e.download_mb} MB and needs about ${e.memory_mb} MB of memory — more than the 4 GB WebAssembly allows, so it will not load here. Use a browser with WebGPU (it fits a 4 GB GPU), or merge fewer fine-tunes.`;
  note.dataset.downloadMb = String(e.download_mb);
}

function renderLocal() {
  for (const role of /** @type {Role[]} */ (['zero-shot', 'fine-tuned'])) {
    const files = local[role];
    $(FILES_NOTE[role]).textContent = files?.length ? files.map((f) => f.name).join(', ') : NO_FILES;
    $(DROP_ZONE[role]).classList.toggle('chosen', !!files?.length);
  }
}

/** Local files for a role (from a picker or a drop): the preset gives way to them. */
export function chooseLocal(role, files) {
  files = [...files];
  if (!files.length) return;
  local[role] = files;
  if (currentPreset()) {
    applyPreset('', { fillLabels: false });
    applyLabels();
  }
  renderLocal();
  setModelStatus(`${role}: ${files.length} local file(s) chosen; press Load models.`);
  choiceChanged.emit();
}

/**
 * Where a role's checkpoint comes from: its local files, else the URL field — an address (with
 * the preset's fallback URLs when it is the preset's first) or a hub id — with huggingface.co
 * addresses moved to the hub mirror if one is set; null when neither is given.
 * @param {Role} role
 * @returns {import('./protocol.js').ModelSource|null}
 */
function sourceFor(role) {
  const files = local[role];
  if (files && files.length) return { files };
  return sourceForInput($(URL_INPUT[role]).value.trim(), presetUrls(currentPreset(), role));
}

/**
 * A checkpoint typed or listed as an address or hub id (`candidates`: a preset's fallback URLs,
 * used when the address is their first); null when empty.
 * @param {string} input
 * @param {string[]} [candidates]
 * @returns {import('./protocol.js').ModelSource|null}
 */
function sourceForInput(input, candidates = []) {
  if (!input) return null;
  const url = resolveUrl(input);
  const urls = candidates[0] === url ? candidates : hubIdUrls(input) ?? [url];
  return { urls: urls.map(viaHub) };
}

/** The load request's checkpoints: the pair, or a recipe over every fine-tune. */
function loadRequest(zero_shot, fine_tuned) {
  if (!usesRecipe()) return { zero_shot, fine_tuned, backend, stall_s: stall };
  const preset = currentPreset();
  const offered = (preset?.more_fine_tuned || []).map(presetModel).filter(Boolean);
  const more = moreFineTunes().map((input) =>
    isLocalFineTune(input) ? { files: localFineTune(input) } : sourceForInput(input, offered.find((m) => resolveUrl(m.urls[0]) === resolveUrl(input))?.urls.map(resolveUrl)),
  );
  const fine_tunes = [fine_tuned, ...more].filter(Boolean);
  return { zero_shot, fine_tuned: null, recipe: JSON.stringify(recipeJson()), fine_tunes, backend, stall_s: stall };
}

/** Loads the chosen models; the promise settles when the load is over (whatever its outcome). */
export function startLoad() {
  const zero_shot = sourceFor('zero-shot');
  if (!zero_shot) {
    setModelStatus('Choose a zero-shot checkpoint first: a preset, a URL, or local files.', 'error');
    return;
  }
  const fine_tuned = sourceFor('fine-tuned');
  loading = true;
  loaded = false;
  loadError = null;
  $('model-status').dataset.error = '';
  clearLoadView();
  columns = [];
  pairChanged.emit('loading');
  setModelStatus('Starting …');
  forgetLoadedRecipe();
  const done = engine.load(loadRequest(zero_shot, fine_tuned));
  choiceChanged.emit();
  renderState();
  done.then(() => settle(null), settle);
  // For a caller that waits for the load (offline.js): settles after the page took its outcome.
  return done.then(() => {}, () => {});
}

/** The load's request is over: `err` when it failed (possibly after the pair was loaded). */
function settle(err) {
  loading = false;
  if (err?.dead) {
    renderState();
    return;
  }
  if (err && err.what !== 'load') showFailure(err);
  else if (err) {
    if (err.cancelled) setModelStatus(err.message);
    else {
      loadError = err.message;
      setModelStatus(err.message, 'error');
    }
    $('model-status').dataset.error = err.cancelled ? '' : 'load';
  }
  // Retry notices of this load are settled now (it worked, or the error says it all).
  dismissMessages('retry ');
  if (!loadError && !loaded) setModelStatus(modelStatusText() || 'Not loaded.');
  renderState();
}

/** @param {import('./protocol.js').LoadedEvent} ev */
function onLoaded(ev) {
  loaded = true;
  columns = ev.columns;
  showBackend(ev.backend);
  showReport(ev);
  const what = ev.recipe ? `zero-shot + ${ev.models.length - 1} fine-tune(s), ${ev.recipe.method}` : ev.models.map((m) => m.role).join(' + ');
  idleStatus = `Loaded: ${what} · photos at ${ev.image_size}×${ev.image_size} px`;
  setModelStatus(idleStatus, 'ok');
  pairChanged.emit('loaded');
  renderState();
}

function setLoadLabel(stored) {
  $('load').textContent = stored ? 'Load models (stored in this browser)' : 'Load models';
  $('load').dataset.stored = stored ? '1' : '';
}

/** Asks the engine whether the chosen preset's files are already in Cache Storage. */
export function probePreset() {
  setLoadLabel(false);
  const preset = currentPreset();
  if (!engine.ready || !preset) return;
  const zs = presetUrls(preset, 'zero-shot');
  const ft = presetUrls(preset, 'fine-tuned');
  const more = (preset.more_fine_tuned || []).map((m) => presetModel(m)?.urls?.map(resolveUrl) ?? []);
  engine.probeCache([...zs, ...ft, ...more.flat()]).then((stored) => {
    if (currentPreset()?.id !== preset.id) return;
    const has = (list) => list.length === 0 || list.some((u) => stored.includes(u));
    setLoadLabel(zs.length > 0 && has(zs) && has(ft) && more.every(has));
  }, showFailure);
}

function clearCache() {
  engine.clearCache().then((ev) => {
    probePreset();
    if (!ev) return;
    const freed = ev.usage_before != null && ev.usage_after != null ? ` (${mb(Math.max(0, ev.usage_before - ev.usage_after))} freed)` : '';
    $('cache-note').textContent = `Removed ${ev.entries} stored file(s)${freed}.`;
  }, showFailure);
}

export function wireModels() {
  $('preset').onchange = () => {
    applyPreset($('preset').value);
    applyLabels();
    probePreset();
  };
  $('load').onclick = startLoad;
  $('cancel').onclick = () => engine.cancel();
  $('clear-cache').onclick = clearCache;
  const hub = /** @type {HTMLInputElement} */ ($('hub-endpoint'));
  const shownHub = () => (hubEndpoint() === DEFAULT_HUB ? '' : hubEndpoint());
  hub.value = shownHub();
  hub.addEventListener('change', () => {
    try {
      const endpoint = setHubEndpoint(hub.value);
      hub.value = shownHub();
      setModelStatus(`Hub files now come from ${endpoint} (presets and hub ids); press Load models.`);
    } catch (e) {
      setModelStatus(/** @type {Error} */ (e).message, 'error');
    }
  });
  for (const role of /** @type {Role[]} */ (['zero-shot', 'fine-tuned'])) {
    $(URL_INPUT[role]).addEventListener('change', () => {
      local[role] = null;
      renderLocal();
      choiceChanged.emit();
    });
    const zone = $(DROP_ZONE[role]);
    const pick = () => pickFiles({ accept: '.safetensors,.bin,.pt,.json' }, (files) => chooseLocal(role, files));
    zone.onclick = pick;
    zone.onkeydown = (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        pick();
      }
    };
  }
  engine.on('hello', (ev) => {
    hello = ev;
    showMemoryNote();
    if (!ev.cache_available) $('cache-note').textContent = 'Cache Storage unavailable here: models are downloaded on every visit.';
    renderState();
  });
  engine.on('engine_failed', renderState);
  engine.on('busy', (busy) => {
    if (!busy && loaded && !loadError && !engine.failure) setModelStatus(idleStatus, 'ok');
    renderState();
  });
  engine.on('progress', showProgress);
  engine.on('status', (ev) => setModelStatus(ev.text));
  engine.on('loaded', onLoaded);
  // The method chosen changes what TIES needs beside its merged vector.
  recipeChanged.on(showMemoryNote);
  renderState();
}
