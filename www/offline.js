// "Prepare for offline" (#offline-prepare, #offline-status): stores the site itself — every file of
// site-files.json, which scripts/site-manifest.sh writes at build time — in a cache of its own,
// `wiseft-site-<version>`, registers the service worker (sw.js) that answers from it, and makes
// sure the chosen checkpoints are in the engine's model cache (`wiseft-models-v1`, filled by every
// load: src/web/fetch.rs), then says how much space it all takes. With the network gone the page
// then opens and works: presets, samples, lecture mode, camera.
//
// Updates: on every visit with the network up, a stored copy whose version differs from the
// site's is replaced — the new copy is stored completely (its file list last) before the old one is
// deleted — and the page says so; the model cache is never touched here.

import { $, mb } from './dom.js';
import { engine } from './engine.js';
import { showFailure } from './messages.js';
import { isLoaded, startLoad } from './models.js';

const SITE_CACHE = 'wiseft-site-';
const MANIFEST = 'site-files.json';
/** Files fetched at once while storing the site. */
const PARALLEL = 6;

/**
 * @typedef {object} Manifest
 * @property {string} version
 * @property {{path: string, bytes: number}[]} files
 */

/** @type {import('./protocol.js').ModelInfo[]} the checkpoints of the last load */
let loadedModels = [];
let busy = false;

const abs = (path) => new URL(path, document.baseURI).href;
const siteBytes = (m) => m.files.reduce((n, f) => n + f.bytes, 0);

function setStatus(state, text, version = null) {
  const s = $('offline-status');
  s.dataset.offline = state;
  if (version !== null) s.dataset.version = version;
  s.textContent = text;
  $('offline-forget').hidden = !['ready', 'stored', 'updated', 'offline'].includes(state);
}

/** The site's file list as the network has it now (past the service worker's stored copy). */
async function networkManifest() {
  const r = await fetch(`${MANIFEST}?now=${Date.now()}`, { cache: 'no-store' });
  if (!r.ok) throw new Error(`${MANIFEST}: HTTP ${r.status}`);
  return /** @type {Promise<Manifest>} */ (r.json());
}

/** The stored copy's file list (the newest complete copy), or null. */
async function storedManifest() {
  if (!('caches' in self)) return null;
  const names = (await caches.keys()).filter((n) => n.startsWith(SITE_CACHE)).reverse();
  for (const name of names) {
    const hit = await (await caches.open(name)).match(abs(MANIFEST));
    if (hit) return /** @type {Promise<Manifest>} */ (hit.json());
  }
  return null;
}

/** Stores every file of `manifest` under a new cache, then drops the older copies. */
async function storeSite(manifest, onProgress) {
  const name = `${SITE_CACHE}${manifest.version}`;
  await caches.delete(name); // a copy of this version left half-done
  const cache = await caches.open(name);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < manifest.files.length) {
      const f = manifest.files[next++];
      // The query passes the service worker's stored copy (it matches whole URLs) and the HTTP cache.
      const r = await fetch(`${f.path}?v=${manifest.version}`, { cache: 'no-store' });
      if (!r.ok) throw new Error(`${f.path}: HTTP ${r.status}`);
      await cache.put(abs(f.path), r);
      onProgress(++done, manifest.files.length);
    }
  };
  try {
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    // Last: the list marks the copy complete (sw.js answers only from complete copies).
    await cache.put(abs(MANIFEST), new Response(JSON.stringify(manifest), { headers: { 'Content-Type': 'application/json' } }));
  } catch (e) {
    await caches.delete(name);
    throw e;
  }
  for (const old of await caches.keys()) if (old.startsWith(SITE_CACHE) && old !== name) await caches.delete(old);
}

async function registerWorker() {
  const reg = await navigator.serviceWorker.register('sw.js', { scope: './' });
  await navigator.serviceWorker.ready;
  return reg;
}

/** Why this browser cannot keep the page offline, or null. */
function unsupported() {
  if (!('serviceWorker' in navigator)) return 'this browser gives this page no service worker (it needs https or localhost)';
  if (!('caches' in self)) return 'this browser has no Cache Storage here';
  return null;
}

/** The person pressed "Prepare for offline". */
async function prepare() {
  if (busy) return;
  const why = unsupported();
  if (why) {
    setStatus('failed', `Cannot prepare for offline: ${why}.`);
    return;
  }
  busy = true;
  $('offline-prepare').disabled = true;
  try {
    if (!isLoaded()) {
      setStatus('preparing', 'Loading the chosen models first …');
      await startLoad();
      if (!isLoaded()) throw new Error('the models did not load (the status above says why)');
    }
    setStatus('preparing', 'Storing the site …');
    const manifest = await networkManifest();
    await storeSite(manifest, (k, n) => setStatus('preparing', `Storing the site: ${k} of ${n} files …`));
    await registerWorker();
    const remote = loadedModels.filter((m) => m.origin !== 'local');
    const stored = await engine.probeCache(remote.map((m) => m.name));
    const missing = remote.filter((m) => !stored.includes(m.name));
    const local = loadedModels.filter((m) => m.origin === 'local');
    const modelBytes = remote.filter((m) => stored.includes(m.name)).reduce((n, m) => n + m.bytes, 0);
    const usage = (await (navigator.storage?.estimate?.() ?? Promise.resolve(null)).catch(() => null))?.usage;
    const parts = [
      `Ready for offline: the site (${manifest.files.length} files, ${mb(siteBytes(manifest))}) and ${stored.length} checkpoint(s) (${mb(modelBytes)}) are stored in this browser`,
      usage ? ` (${mb(usage)} used by this site in all)` : '',
      '. With the network off, open this address again.',
      missing.length ? ` Not stored (the browser refused them, see the messages): ${missing.map((m) => m.name).join(', ')}.` : '',
      local.length ? ` Local files (${local.map((m) => m.name).join(', ')}) are not copied: pick them again when offline.` : '',
    ];
    setStatus(missing.length ? 'partial' : 'ready', parts.join(''), manifest.version);
    $('offline-status').dataset.siteBytes = String(siteBytes(manifest));
    $('offline-status').dataset.modelBytes = String(modelBytes);
  } catch (e) {
    setStatus('failed', `Preparing for offline failed: ${e.message}`);
  } finally {
    busy = false;
    $('offline-prepare').disabled = false;
  }
}

/** At each visit: say whether a copy is stored, and replace it when the site changed. */
async function checkStored() {
  if (unsupported()) return;
  const stored = await storedManifest().catch(() => null);
  if (!stored) return;
  setStatus('stored', `This page is stored for offline use (version ${stored.version}, ${mb(siteBytes(stored))}).`, stored.version);
  registerWorker().catch(() => {});
  let current;
  try {
    current = await networkManifest();
  } catch {
    setStatus('offline', `No network: running the copy stored for offline use (version ${stored.version}).`, stored.version);
    return;
  }
  if (current.version === stored.version) return;
  busy = true;
  try {
    await storeSite(current, (k, n) => setStatus('preparing', `The site changed: storing the new version, ${k} of ${n} files …`));
    setStatus('updated', `The stored copy was updated to version ${current.version}; reload to run it. Stored models were kept.`, current.version);
  } catch (e) {
    setStatus('stored', `The site changed but its new version could not be stored (${e.message}); the old copy is kept.`, stored.version);
  } finally {
    busy = false;
  }
}

/** Deletes the stored site and the service worker (the models stay: "Clear downloaded models"). */
async function forget() {
  for (const name of await caches.keys()) if (name.startsWith(SITE_CACHE)) await caches.delete(name);
  for (const reg of await navigator.serviceWorker.getRegistrations()) await reg.unregister();
  setStatus('none', 'The offline copy of the site was removed.', '');
}

export function wireOffline() {
  $('offline-prepare').onclick = prepare;
  $('offline-forget').onclick = () => forget().catch(showFailure);
  engine.on('loaded', (ev) => (loadedModels = ev.models));
  // Which version runs: the stored copy's when the service worker answered, else the site's.
  fetch(MANIFEST)
    .then((r) => (r.ok ? r.json() : null))
    .then((m) => m && ($('offline-status').dataset.running = m.version))
    .catch(() => {});
  checkStored();
}
