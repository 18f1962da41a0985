// The page's one engine client, and the badge that says how the engine runs (#backend).

import { WorkerClient } from './worker-client.js';
import { $, el } from './dom.js';
import { setModelStatus } from './messages.js';

/**
 * Resolved against the page (index.html), like every fetch of the page. The page's `threads=N`
 * (N = 1: the single-threaded build; otherwise at most N CPU threads) and `build=threaded` (the
 * threaded build even where it would not be chosen: the benchmark at one thread) go on to the worker.
 */
const pageParams = new URLSearchParams(location.search);
const workerParams = new URLSearchParams();
if (/^\d+$/.test(pageParams.get('threads') || '')) workerParams.set('threads', pageParams.get('threads'));
if (pageParams.get('build') === 'threaded') workerParams.set('build', 'threaded');
const workerUrl = `www/worker-loader.js${workerParams.size ? `?${workerParams}` : ''}`;
export const engine = new WorkerClient(workerUrl, { helloTimeoutMs: 60000 });

/**
 * The badge once models are loaded: which back end, and why.
 * @param {import('./protocol.js').Backend} backend
 */
export function showBackend(backend) {
  const b = $('backend');
  b.className = `backend ${backend.kind}`;
  b.replaceChildren(el('strong', { text: backend.name }), el('small', { text: `Why: ${backend.reason}` }));
  b.title = backend.reason;
}

/** @param {import('./protocol.js').HelloEvent} hello */
function showHello(hello) {
  const b = $('backend');
  b.className = 'backend';
  const cpu = `CPU engine: ${hello.threads_note}`;
  b.replaceChildren(el('strong', { text: 'Engine ready' }), el('small', { text: hello.gpu_note }), el('small', { text: cpu }));
  b.title = `${hello.gpu_note}\n${cpu}`;
}

/** @param {{message: string, known: boolean}} failure */
function showDead({ message, known }) {
  $('backend').textContent = 'Engine not running';
  $('backend').className = 'backend bad';
  const hint = known ? 'Reload the page to start it again.' : 'Reload the page; if it persists, this browser may lack WebAssembly SIMD or Web Workers.';
  setModelStatus(`${message}. ${hint}`, 'error');
}

export function initEngineBadge() {
  engine.on('hello', showHello);
  engine.on('engine_failed', showDead);
}
