// The engine's Web Worker: loads wasm-bindgen's glue and the WebAssembly module that trunk builds
// from src/bin/wiseft-worker.rs (at the site's root, beside index.html). The Rust side then
// installs the message handler and says hello (src/web/worker.rs).
importScripts('../wiseft-worker.js');
wasm_bindgen({ module_or_path: '../wiseft-worker_bg.wasm' }).catch((e) => {
  postMessage({ type: 'failed', seq: 0, what: 'crash', message: `the engine could not start: ${(e && e.message) || e}`, cancelled: false });
});
