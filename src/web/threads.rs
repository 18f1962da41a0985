//! The CPU engine's threads in the browser. The threaded build (`scripts/build-threaded.sh`:
//! nightly, `+atomics,+bulk-memory`, one shared `WebAssembly.Memory`) starts a rayon pool of its own on
//! Web Workers (`www/thread-worker.js`), each an instance of this same module on the same memory,
//! so the weights exist once. The build also has relaxed SIMD (its GEMM's fused multiply-add).
//! `www/worker-loader.js` picks it only where the page is cross-origin isolated, the browser has
//! relaxed SIMD and reports more than one core (or the address says `build=threaded`); otherwise
//! the single-threaded build runs and this module only says why.

use std::cell::RefCell;

use web_sys::DedicatedWorkerGlobalScope;

/// What the page's badge says about the CPU engine's threads.
#[derive(Debug, Clone)]
pub struct Threads {
    /// Threads the CPU engine splits its work over (1: the single-threaded build, or no pool).
    pub count: usize,
    /// Why that many: "2 threads (2 cores reported, cross-origin isolated)", or what was missing.
    pub note: String,
}

thread_local! {
    static STARTED: RefCell<Option<Threads>> = const { RefCell::new(None) };
}

/// The threads [`start`] set up (one until it has run).
pub fn current() -> Threads {
    STARTED.with(|s| s.borrow().clone()).unwrap_or(Threads { count: 1, note: "one thread (the thread pool has not started yet)".into() })
}

/// `?threads=N` on the worker's address (the page passes its own `threads=`): at most N threads.
fn asked(scope: &DedicatedWorkerGlobalScope) -> Option<usize> {
    let search = scope.location().search();
    search.trim_start_matches('?').split('&').find_map(|kv| kv.strip_prefix("threads=")?.parse().ok())
}

/// Starts the pool (the threaded build) and waits until its workers run, or says why there is one
/// thread. Never fails: at worst the CPU engine runs on one thread and the note says why.
pub async fn start(scope: &DedicatedWorkerGlobalScope) -> Threads {
    #[cfg(target_feature = "atomics")]
    let threads = pool::start(scope, asked(scope).unwrap_or(cores(scope)).clamp(1, MAX_THREADS)).await;
    #[cfg(not(target_feature = "atomics"))]
    let threads = Threads { count: 1, note: format!("one thread: {}", why_one(scope)) };
    STARTED.with(|s| *s.borrow_mut() = Some(threads.clone()));
    threads
}

fn cores(scope: &DedicatedWorkerGlobalScope) -> usize {
    scope.navigator().hardware_concurrency().max(1.0) as usize
}

/// Why the loader chose the single-threaded build (www/worker-loader.js), most specific first.
#[cfg(not(target_feature = "atomics"))]
fn why_one(scope: &DedicatedWorkerGlobalScope) -> String {
    let get = |key: &str| js_sys::Reflect::get(scope, &key.into()).ok();
    if let Some(note) = get("wiseftThreadsNote").and_then(|v| v.as_string()) {
        note
    } else if !get("crossOriginIsolated").and_then(|v| v.as_bool()).unwrap_or(false) {
        "the page is not cross-origin isolated (its server sends no COOP/COEP headers)".into()
    } else if cores(scope) <= 1 {
        "the browser reports one core".into()
    } else if asked(scope) == Some(1) {
        "threads=1 in the address".into()
    } else {
        "the single-threaded build was loaded".into()
    }
}

/// More threads than this gain little on ViT-B/32's 50-row products and cost a stack each.
#[cfg(target_feature = "atomics")]
const MAX_THREADS: usize = 16;

#[cfg(target_feature = "atomics")]
mod pool {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use wasm_bindgen::prelude::*;
    use web_sys::{DedicatedWorkerGlobalScope, ErrorEvent, Worker, WorkerOptions};

    use super::Threads;

    /// Pool threads whose worker has instantiated the module and entered rayon's loop.
    static RUNNING: AtomicUsize = AtomicUsize::new(0);

    /// How long the workers may take to start (fetching and compiling the module once more each).
    const START_MS: i32 = 20_000;
    const POLL_MS: i32 = 10;

    /// One pool thread's work, handed to its worker as an address in the shared memory.
    type Work = Box<dyn FnOnce() + Send>;

    /// The pool thread's entry, called by `www/thread-worker.js` once its instance runs.
    #[wasm_bindgen]
    pub fn wiseft_thread(work: u32) {
        // SAFETY: `work` is the address `spawn` made with `Box::into_raw` for this worker alone,
        // in the memory this instance shares.
        let work = unsafe { Box::from_raw(work as *mut Work) };
        RUNNING.fetch_add(1, Ordering::AcqRel);
        work();
    }

    fn spawn(thread: rayon::ThreadBuilder, errors: &Rc<RefCell<Vec<String>>>) -> Result<(), JsValue> {
        let options = WorkerOptions::new();
        options.set_name(&format!("wiseft CPU thread {}", thread.index() + 1));
        // Beside worker-loader.js, which this worker runs.
        let worker = Worker::new_with_options("thread-worker.js", &options)?;
        let errors = errors.clone();
        let onerror = Closure::<dyn Fn(ErrorEvent)>::new(move |e: ErrorEvent| errors.borrow_mut().push(e.message()));
        worker.set_onerror(Some(onerror.as_ref().unchecked_ref()));
        onerror.forget();
        let work: Box<Work> = Box::new(Box::new(move || thread.run()));
        let address = Box::into_raw(work) as u32;
        let message = js_sys::Array::of3(&wasm_bindgen::module(), &wasm_bindgen::memory(), &address.into());
        if let Err(e) = worker.post_message(&message) {
            // SAFETY: the message did not go, so no worker owns the work.
            drop(unsafe { Box::from_raw(address as *mut Work) });
            return Err(e);
        }
        Ok(())
    }

    pub async fn start(scope: &DedicatedWorkerGlobalScope, n: usize) -> Threads {
        let cores = super::cores(scope);
        let errors = Rc::new(RefCell::new(Vec::new()));
        // A pool of its own, not rayon's global one: building the global pool waits until every
        // thread runs, and the workers cannot start while this thread waits (see below).
        let built = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .spawn_handler(|thread| spawn(thread, &errors).map_err(|e| std::io::Error::other(super::super::fetch::error_text(&e))))
            .build();
        let pool = match built {
            Ok(pool) => pool,
            Err(e) => return Threads { count: 1, note: format!("one thread: the thread pool could not start ({e})") },
        };
        // The workers start only while this thread returns to its event loop, so wait here, not
        // in a blocking loop; until they run, work stays on this thread (crate::parallel).
        let mut waited = 0;
        while RUNNING.load(Ordering::Acquire) < n && waited < START_MS && errors.borrow().is_empty() {
            super::super::fetch::sleep(scope, POLL_MS).await;
            waited += POLL_MS;
        }
        let running = RUNNING.load(Ordering::Acquire);
        if running < n {
            let why = errors.borrow().first().cloned().unwrap_or_else(|| format!("{running} of {n} started within {} s", START_MS / 1000));
            return Threads { count: 1, note: format!("one thread: the thread pool's workers did not start ({why})") };
        }
        if crate::parallel::use_pool(pool).is_err() {
            return Threads { count: 1, note: "one thread: a thread pool was set up twice".into() };
        }
        let cores = if cores == 1 { "1 core".to_string() } else { format!("{cores} cores") };
        let what = if n == 1 { "1 thread of the threaded build".to_string() } else { format!("{n} threads") };
        Threads { count: n, note: format!("{what} ({cores} reported, cross-origin isolated), with relaxed SIMD's fused multiply-add") }
    }
}
