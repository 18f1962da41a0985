// The engine's client: owns the Web Worker (src/web/worker.rs behind www/worker-loader.js) and
// mirrors its API as methods, one Promise per request: resolved at that seq's `done` (with the
// request's answer, if it has one), rejected with a RequestError at that seq's `failed`. Every
// message the worker posts is also streamed to the subscribers of its `type` (`progress`, `status`,
// `notice`, `loaded`, `results`, `image_error`, `sweep_progress`, `failed`, …), and three events
// are the client's own:
//   `busy` (boolean): whether requests are pending, after each request and each `done`;
//   `engine_failed` ({message, known}): the engine cannot run any more (a crash, a worker error —
//     a trap is most likely WebAssembly running out of memory —, or no hello in time);
//   `unclaimed_failure` (FailedEvent): a failure no pending request takes (seq 0, e.g. a message
//     the worker could not read).

import { signal } from './signal.js';

/** @typedef {import('./protocol.js').Event} Event */
/** @typedef {import('./protocol.js').HelloEvent} HelloEvent */
/** @typedef {import('./protocol.js').FailedEvent} FailedEvent */
/** @typedef {import('./protocol.js').FailureKind} FailureKind */

const OUT_OF_MEMORY =
  'the engine stopped, most likely out of memory: the CPU back end keeps both checkpoints and the merged model in WebAssembly memory, which ends at 4 GB — choose smaller checkpoints or a browser with WebGPU';

/** The answer a request waits for before its `done`, by request type. */
const ANSWER = { load: 'loaded', probe_cache: 'cached', clear_cache: 'cache_cleared', sweep: 'sweep', layerwise: 'layerwise', bench: 'bench', export_merged: 'merged', stats: 'stats', memory_estimate: 'memory_estimate' };

/** Requests the worker answers at once, beside the queue: they do not make the engine busy. */
const AT_ONCE = new Set(['memory_estimate']);

/** Every `type` the worker posts (protocol.js `Event`). */
const EVENT_TYPES = new Set([
  'hello', 'progress', 'status', 'notice', 'loaded', 'results', 'image_error', 'failed',
  'sweep_progress', 'prompt_progress', 'sweep', 'layerwise_progress', 'layerwise', 'bench', 'stats', 'done', 'cached', 'cache_cleared', 'merged', 'memory_estimate',
]);

/** A request that failed: the worker's `failed` event, or the engine gone. */
export class RequestError extends Error {
  /**
   * @param {string} message
   * @param {{seq?: number, request: string, what: FailureKind, cancelled?: boolean, dead?: boolean}} info
   */
  constructor(message, { seq = 0, request, what, cancelled = false, dead = false }) {
    super(message);
    this.name = 'RequestError';
    this.seq = seq;
    /** The request's type (`load`, `set_alpha`, …). */
    this.request = request;
    /** What failed, as the worker says (a load's seq can also fail at `classify`). */
    this.what = what;
    /** The person pressed cancel: not an error to show as one. */
    this.cancelled = cancelled;
    /** The engine stopped (`engine_failed` says why): nothing to add. */
    this.dead = dead;
  }
}

export class WorkerClient {
  #url;
  #helloTimeoutMs;
  /** @type {Worker|null} */
  #worker = null;
  #seq = 0;
  /** @type {Map<number, {type: string, resolve: (v: any) => void, reject: (e: RequestError) => void, settled: boolean, answer?: Event}>} */
  #pending = new Map();
  /** @type {Map<string, ReturnType<typeof signal>>} */
  #signals = new Map();
  /** @type {HelloEvent|null} */
  #hello = null;
  /** @type {{message: string, known: boolean}|null} */
  #failure = null;

  /**
   * @param {string|URL} url the worker script
   * @param {{helloTimeoutMs?: number}} [options]
   */
  constructor(url, { helloTimeoutMs = 60000 } = {}) {
    this.#url = url;
    this.#helloTimeoutMs = helloTimeoutMs;
  }

  /** The engine said hello and has not failed since. */
  get ready() {
    return this.#hello !== null && this.#failure === null;
  }

  /** Why the engine cannot run, or null. */
  get failure() {
    return this.#failure;
  }

  /** Requests are pending (sent, no `done` yet), those answered at once aside. */
  get busy() {
    for (const p of this.#pending.values()) if (!AT_ONCE.has(p.type)) return true;
    return false;
  }

  /**
   * Subscribes to a worker event type or to `busy`, `engine_failed`, `unclaimed_failure`.
   * @param {string} type
   * @param {(ev: any) => void} fn
   * @returns {() => void} unsubscribe
   */
  on(type, fn) {
    let s = this.#signals.get(type);
    if (!s) this.#signals.set(type, (s = signal()));
    return s.on(fn);
  }

  #emit(type, value) {
    this.#signals.get(type)?.emit(value);
  }

  /**
   * Starts the worker; resolves with its hello, rejects when it cannot start.
   * @returns {Promise<HelloEvent>}
   */
  start() {
    return new Promise((resolve, reject) => {
      const offHello = this.on('hello', (ev) => {
        offHello();
        offFailed();
        resolve(ev);
      });
      const offFailed = this.on('engine_failed', (f) => {
        offHello();
        offFailed();
        reject(new RequestError(f.message, { request: 'start', what: 'crash', dead: true }));
      });
      try {
        this.#worker = new Worker(this.#url);
      } catch (e) {
        this.#die(`the engine worker could not be created (${e.message})`);
        return;
      }
      this.#worker.onmessage = (e) => this.#receive(e.data);
      this.#worker.onerror = (e) => {
        e.preventDefault?.();
        // Rust aborts with a bare `unreachable` trap when WebAssembly memory (4 GB at most) runs out.
        if (/unreachable/i.test(e.message || '')) this.#die(OUT_OF_MEMORY, true);
        else this.#die(`the engine worker failed: ${e.message || 'could not load its script or WebAssembly'}`);
      };
      this.#worker.onmessageerror = () =>
        this.#emit('unclaimed_failure', { type: 'failed', seq: 0, what: 'message', message: 'A message from the engine could not be read.', cancelled: false });
      setTimeout(() => {
        if (!this.#hello && !this.#failure) this.#die(`the engine (WebAssembly in a Web Worker) did not start within ${this.#helloTimeoutMs / 1000} s`);
      }, this.#helloTimeoutMs);
    });
  }

  /** @param {Event} ev */
  #receive(ev) {
    switch (ev.type) {
      case 'hello':
        this.#hello = ev;
        break;
      case 'done': {
        const p = this.#pending.get(ev.seq);
        this.#pending.delete(ev.seq);
        if (p && !p.settled) p.resolve(p.answer ?? null);
        if (p && AT_ONCE.has(p.type)) {
          this.#emit('done', ev);
          return;
        }
        break;
      }
      case 'failed': {
        const p = this.#pending.get(ev.seq);
        if (ev.what === 'crash') {
          this.#emit('failed', ev);
          this.#die(ev.message);
          return;
        }
        if (p && !p.settled) {
          p.settled = true;
          p.reject(new RequestError(ev.message, { seq: ev.seq, request: p.type, what: ev.what, cancelled: ev.cancelled }));
        } else {
          this.#emit('unclaimed_failure', ev);
        }
        break;
      }
      default: {
        if (!EVENT_TYPES.has(ev.type)) console.warn('wiseft: unknown event', ev);
        // The worker runs its queue in order: an answer without a seq is the oldest pending request's.
        const p = 'seq' in ev ? this.#pending.get(ev.seq) : [...this.#pending.values()].find((q) => !AT_ONCE.has(q.type));
        if (p && ANSWER[p.type] === ev.type) p.answer = ev;
      }
    }
    this.#emit(ev.type, ev);
    if (ev.type === 'done') this.#emit('busy', this.busy);
  }

  #die(message, known = false) {
    if (this.#failure) return;
    this.#failure = { message, known };
    const pending = [...this.#pending.entries()];
    this.#pending.clear();
    for (const [seq, p] of pending) {
      if (!p.settled) p.reject(new RequestError(message, { seq, request: p.type, what: 'crash', dead: true }));
    }
    this.#emit('engine_failed', this.#failure);
    this.#emit('busy', this.busy);
  }

  /**
   * Posts a request with the next seq; the promise settles at its `done` or `failed`.
   * @param {string} type
   * @param {object} [fields]
   */
  #request(type, fields = {}) {
    if (this.#failure || !this.#worker) {
      const why = this.#failure?.message ?? 'the engine is not started';
      return Promise.reject(new RequestError(why, { request: type, what: 'crash', dead: true }));
    }
    const seq = ++this.#seq;
    const done = new Promise((resolve, reject) => this.#pending.set(seq, { type, resolve, reject, settled: false }));
    this.#worker.postMessage({ type, ...fields, seq });
    if (!AT_ONCE.has(type)) this.#emit('busy', true);
    return done;
  }

  /**
   * Drops the current models, reads both checkpoints, merges, classifies every photo.
   * With `recipe`, a merge recipe over the checkpoints of `fine_tunes` instead of the pair.
   * @param {{zero_shot: import('./protocol.js').ModelSource, fine_tuned?: import('./protocol.js').ModelSource|null, recipe?: string|null, fine_tunes?: import('./protocol.js').ModelSource[], backend?: 'gpu'|'cpu'|null, stall_s?: number|null}} sources
   * @returns {Promise<import('./protocol.js').LoadedEvent|null>}
   */
  load({ zero_shot, fine_tuned = null, recipe = null, fine_tunes = [], backend = null, stall_s = null }) {
    return this.#request('load', { zero_shot, fine_tuned, recipe, fine_tunes, backend, stall_s });
  }

  /** @param {object} recipe recipe JSON (method and coefficients) @returns {Promise<null>} */
  setRecipe(recipe) {
    return this.#request('set_recipe', { recipe: JSON.stringify(recipe) });
  }

  /** @param {number} alpha @returns {Promise<null>} */
  setAlpha(alpha) {
    return this.#request('set_alpha', { alpha });
  }

  /**
   * @param {string[]} labels
   * @param {import('./protocol.js').TemplateChoice} templates
   * @returns {Promise<null>}
   */
  setLabels(labels, templates) {
    return this.#request('set_labels', { labels, templates });
  }

  /** @param {import('./protocol.js').ImageInput[]} images @returns {Promise<null>} */
  addImages(images) {
    return this.#request('add_images', { images });
  }

  /** @param {number|null} id null: every photo @returns {Promise<null>} */
  removeImage(id) {
    return this.#request('remove_image', { id });
  }

  /** @returns {Promise<import('./protocol.js').CacheClearedEvent|null>} */
  clearCache() {
    return this.#request('clear_cache');
  }

  /**
   * The URLs among these that Cache Storage holds.
   * @param {string[]} urls
   * @returns {Promise<string[]>}
   */
  probeCache(urls) {
    return this.#request('probe_cache', { urls }).then((ev) => ev?.urls ?? []);
  }

  /**
   * @param {number[]} alphas
   * @param {import('./protocol.js').SweepPhoto[]} photos
   * @returns {Promise<import('./protocol.js').SweepEvent|null>}
   */
  sweep(alphas, photos) {
    return this.#request('sweep', { alphas, photos });
  }

  /**
   * The label-free per-layer α search over a sweep's photos (`layerwise_progress` events).
   * @param {import('./protocol.js').SweepPhoto[]} photos
   * @param {number} start the single α to start from
   * @param {number} [knots]
   * @returns {Promise<import('./protocol.js').LayerwiseEvent|null>}
   */
  layerwise(photos, start, knots = 3) {
    return this.#request('layerwise', { photos, start, knots });
  }

  /**
   * @param {number} alpha
   * @param {'f32'|'f16'|'bf16'} [dtype]
   * @returns {Promise<import('./protocol.js').MergedMessage|null>}
   */
  exportMerged(alpha, dtype = 'f32') {
    return this.#request('export_merged', { alpha, dtype });
  }

  /**
   * @param {{runs?: number, prompts?: number}} [options]
   * @returns {Promise<import('./protocol.js').BenchEvent|null>}
   */
  bench({ runs = 1, prompts = 10, encodes = true } = {}) {
    return this.#request('bench', { runs, prompts, encodes });
  }

  /** What the engine holds now (wasm memory, the GPU engine's live buffer bytes, photos). @returns {Promise<import('./protocol.js').StatsEvent|null>} */
  stats() {
    return this.#request('stats');
  }

  /**
   * What loading these checkpoints would take in the page (answered at once, also while a
   * request runs; src/session/limits.rs `memory_estimate`).
   * @param {{zero_shot_mb: number, fine_tunes_mb: number[], method: string, cpu: boolean}} sizes
   * @returns {Promise<import('./protocol.js').MemoryEstimateEvent|null>}
   */
  memoryEstimate({ zero_shot_mb, fine_tunes_mb, method, cpu }) {
    return this.#request('memory_estimate', { zero_shot_mb, fine_tunes_mb, method, cpu });
  }

  /**
   * TEST HOOK (tests/e2e/lost-gpu.test.mjs): destroys the GPU engine's device at once, as a driver
   * reset would; the engine then recovers as from any lost device. Does nothing on the CPU engine.
   */
  loseDevice() {
    this.#worker?.postMessage({ type: 'lose_device' });
  }

  /** Aborts the running download, sweep, layer-wise search or prompt encoding (its request then fails with `cancelled`). */
  cancel() {
    this.#worker?.postMessage({ type: 'cancel' });
  }
}
