// The engine's Web Worker: loads wasm-bindgen's glue and the WebAssembly module that trunk builds
// from src/bin/wiseft-worker.rs (at the site's root, beside index.html). The Rust side then
// installs the message handler and says hello (src/web/worker.rs).
//
// Two builds of the same engine: threaded/ (WebAssembly threads: the CPU engine on every core,
// scripts/build-threaded.sh; also relaxed SIMD, whose fused multiply-add speeds up its GEMM) where
// the page is cross-origin isolated — SharedArrayBuffer exists only there —, the browser has relaxed
// SIMD and reports more than one core; the single-threaded one otherwise. The address's threads=1
// (passed on by www/engine.js) asks for the single-threaded one; build=threaded for the threaded
// one whatever the cores (with threads=N, its N threads: one for the benchmark at one thread).
const params = new URLSearchParams(self.location.search);
const asked = params.get('threads');
const threadedAsked = params.get('build') === 'threaded';
const cores = self.navigator.hardwareConcurrency || 1;
// wasm-feature-detect's relaxed-SIMD probe: a function of i8x16.relaxed_swizzle, which validates
// only where the browser has the proposal (Chrome 114+; not every browser yet).
const relaxedSimd = WebAssembly.validate(
  new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 15, 1, 13, 0, 65, 1, 253, 15, 65, 2, 253, 15, 253, 128, 2, 11]),
);
let build = '..';
if (!self.crossOriginIsolated || typeof SharedArrayBuffer !== 'function') {
  // Said by src/web/threads.rs in the badge.
} else if (!relaxedSimd) {
  self.wiseftThreadsNote = 'this browser lacks WebAssembly relaxed SIMD, which the threaded build uses';
} else if (!threadedAsked && cores <= 1) {
  // One core: nothing to gain.
} else if (!threadedAsked && asked === '1') {
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
