// ?bench=1: once the pair is loaded, time it in the worker as `wiseft bench` does, show the
// timings and leave them in <body data-result> for scripts/bench/browser.sh (or the error there).

import { engine } from './engine.js';
import { showFailure, showMessage } from './messages.js';

/** @param {import('./protocol.js').BenchEvent|null} ev */
function showBench(ev) {
  if (!ev) return;
  const t = ev.timings;
  const result = {
    backend: ev.backend,
    checkpoint_mb: ev.checkpoint_mb,
    load_s: ev.load_s,
    merge_s: t.merge_s,
    wasm_memory_mb: ev.wasm_memory_mb,
  };
  const s = (x) => `${x.toFixed(3)} s`;
  let encodes = ' (the change alone: encodes=0)';
  if (t.image_batch1_s !== undefined) {
    Object.assign(result, {
      image_b1_s: t.image_batch1_s,
      image_b8_s: t.image_batch8_s,
      gflops_b8: t.image_gflops_per_s,
      prompts: t.prompts,
      [`text${t.prompts}_s`]: t.text_s,
      text_gflops: t.text_gflops_per_s,
    });
    encodes =
      ` · image ×1 ${s(t.image_batch1_s)} · image ×8 ${s(t.image_batch8_s)} (${t.image_gflops_per_s.toFixed(1)} GFLOP/s) · ` +
      `${t.prompts} prompts ${s(t.text_s)}`;
  }
  showMessage('info', `Benchmark on ${ev.backend}: load ${s(ev.load_s)} (${ev.checkpoint_mb.toFixed(0)} MB) · α change ${s(t.merge_s)}${encodes}`, {
    key: 'bench',
    sticky: true,
  });
  document.body.dataset.result = JSON.stringify(result);
}

/**
 * Arms the benchmark when the address asks for it (runs=N, prompts=N through the text tower;
 * encodes=0 times the coefficient change alone).
 */
export function initBench(q) {
  if (q.get('bench') !== '1') return;
  const int = (k, d) => Math.max(1, parseInt(q.get(k), 10) || d);
  const options = { runs: int('runs', 1), prompts: int('prompts', 10), encodes: q.get('encodes') !== '0' };
  let sent = false;
  engine.on('loaded', () => {
    if (sent) return;
    sent = true;
    engine.bench(options).then(showBench, showFailure);
  });
  engine.on('failed', (ev) => {
    if (['bench', 'load', 'crash'].includes(ev.what) && !ev.cancelled) document.body.dataset.result = JSON.stringify({ error: ev.message });
  });
}
