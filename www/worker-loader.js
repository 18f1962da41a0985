// The engine's Web Worker: loads wasm-bindgen's glue and the WebAssembly module that trunk builds
// from src/bin/wiseft-worker.rs (at the site's root, beside index.html). The Rust side then
// installs the message handler and says hello (src/web/worker.rs).
//
// Two builds of the same engine: threaded/ (WebAssembly threads: the CPU engine on every core,
// scripts/build-threaded.sh) where the page is cross-origin isolated — SharedArrayBuffer exists only
// there — and the browser reports more than one core; the single-threaded one otherwise. The
// address's threads=1 (passed on by www/engine.js) asks for the single-threaded one.
const asked = new URLSearchParams(self.location.search).get('threads');
const cores = self.navigator.hardwareConcurrency || 1;
let build = '..';
if (!self.crossOriginIsolated || typeof SharedArrayBuffer !== 'function') {
  // Said by src/web/threads.rs in the badge.
} else if (cores <= 1) {
  // One core: nothing to gain.
} else if (asked === '1') {
  // Asked for.
} else {
  try {
    importScripts('../threaded/wiseft-worker.js');
    build = '../threaded';
  } catch (e) {
    self.wiseftThreadsNote = `the threaded build could not be loaded (${(e && e.message) || e})`;
  }
}
if (build === '..') importScripts('../wiseft-worker.js');
wasm_bindgen({ module_or_path: `${build}/wiseft-worker_bg.wasm` }).catch((e) => {
  postMessage({ type: 'failed', seq: 0, what: 'crash', message: `the engine could not start: ${(e && e.message) || e}`, cancelled: false });
});
