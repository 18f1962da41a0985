// One CPU thread of the threaded engine (src/web/threads.rs starts these from the engine's worker):
// the same WebAssembly module on the same shared memory, so the weights exist once. It runs only
// rayon's loop (wiseft_thread); the flag below tells the module's start not to start an engine.
self.wiseftThread = true;
importScripts('../threaded/wiseft-worker.js');
self.onmessage = async ({ data: [module, memory, work] }) => {
  self.onmessage = null;
  try {
    await wasm_bindgen({ module_or_path: module, memory });
  } catch (e) {
    // Thrown outside the promise, so that the engine's worker sees it as this worker's error event.
    setTimeout(() => { throw e; });
    return;
  }
  wasm_bindgen.wiseft_thread(work);
};
