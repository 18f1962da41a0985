// onnxruntime-web side of the browser benchmark (see run.mjs). Not a test; never run in CI.
//
// ort.html?ep=wasm|webgpu&model=<url of vision.onnx>&text=<url of text.onnx or empty>&runs=N
//   [&bundle=<file in onnxruntime-web/dist>]  (default: ort.wasm.min.mjs for ep=wasm, ort.webgpu.min.mjs for ep=webgpu)
//   [&threads=N]                              (default 1: the comparison is single-threaded SIMD wasm)
//
// Writes JSON to document.body.dataset.result with the same keys as the WiSE-FT page's bench mode
// (load_s, image_b1_s, image_b8_s, text10_s, merge_s, gflops_b8) plus details, and sets
// data-state="done", or data-state="error" with the message in data-error.

// FLOP counts, same convention as src/bench.rs: 2 × multiply-adds of the matmuls/convolution only
// (LayerNorm, softmax, GELU, residual adds are not counted).
//   ViT-B/32, 224 px: P = (224/32)² = 49 patches, T = P + 1 = 50 tokens, D = 768, I = 3072, L = 12, E = 512
//   patch embedding   2·P·(3·32·32)·D                       =   231.2 M
//   per layer         2·T·(4·D² + 2·D·I)   q,k,v,out + MLP   = 707.8 M
//                   + 4·T²·D               QKᵀ and A·V       =   7.7 M
//   12 layers                                                = 8585.6 M
//   projection        2·D·E                                  =     0.8 M
//   image total  2·P·3072·D + L·(2·T·(4D² + 2DI) + 4T²D) + 2·D·E ≈ 8.818 GFLOP per image
//   (≈ 4.41 G multiply-adds: the "4.4 GFLOPs" of the usual ViT-B/32 tables counts MACs).
//   Text, one prompt of S = 77 tokens (ORT runs the padded length): D = 512, I = 2048, L = 12
//   L·(2·S·(4D² + 2DI) + 4S²D) + 2·D·E ≈ 5.960 GFLOP per prompt.
export function encoderFlops(layers, hidden, inter, tokens) {
  return layers * (2 * tokens * (4 * hidden * hidden + 2 * hidden * inter) + 4 * tokens * tokens * hidden);
}
export const IMAGE_FLOPS = 2 * 49 * (3 * 32 * 32) * 768 + encoderFlops(12, 768, 3072, 50) + 2 * 768 * 512;
export const TEXT77_FLOPS = encoderFlops(12, 512, 2048, 77) + 2 * 512 * 512;

const DIST = new URL('./node_modules/onnxruntime-web/dist/', import.meta.url).href;
const logEl = document.getElementById('log');
function log(msg) {
  console.log(`[ort-bench] ${msg}`);
  if (logEl) logEl.textContent += msg + '\n';
}
const now = () => performance.now() / 1000;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// Deterministic pseudo-random pixels (already "normalized", roughly N(0,1)-ish in [-2, 2]).
function pixels(batch) {
  const n = batch * 3 * 224 * 224;
  const a = new Float32Array(n);
  let x = 0x2545f491 >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    a[i] = (x / 4294967296) * 4 - 2;
  }
  return a;
}

// 10 synthetic prompts: <bos=49406> some ids <eos=49407> then padding (0, as OpenAI CLIP pads).
function promptIds(batch) {
  const ids = new BigInt64Array(batch * 77);
  for (let b = 0; b < batch; b++) {
    const n = 5 + ((b * 7) % 20);
    const row = b * 77;
    ids[row] = 49406n;
    for (let j = 1; j <= n; j++) ids[row + j] = BigInt(300 + ((b * 977 + j * 131) % 48000));
    ids[row + n + 1] = 49407n;
  }
  return ids;
}

async function fetchBytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`fetch ${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

// One timed call: run, then read every output back to the CPU.
async function timedRun(session, feeds) {
  const t0 = now();
  const out = await session.run(feeds);
  let check = 0;
  let head = null;
  for (const name of session.outputNames) {
    const t = out[name];
    const data = typeof t.getData === 'function' ? await t.getData() : t.data;
    check += Number(data[0]);
    head ??= Array.from(data.subarray(0, 4), Number);
    if (typeof t.dispose === 'function') t.dispose();
  }
  const dt = now() - t0;
  if (!Number.isFinite(check)) throw new Error('non-finite output');
  lastHead = head;
  return dt;
}
// First values of the last output read back (to compare the EPs' numerics across cases).
let lastHead = null;

async function measure(label, session, makeFeeds, runs) {
  const feeds = makeFeeds();
  const warm = await timedRun(session, feeds);
  log(`${label}: warm-up ${warm.toFixed(3)} s`);
  const times = [];
  for (let i = 0; i < runs; i++) {
    times.push(await timedRun(session, feeds));
    log(`${label}: run ${i + 1}/${runs} ${times[i].toFixed(3)} s`);
  }
  return { median: median(times), times, warmup: warm, head: lastHead };
}

async function adapterInfo() {
  if (!('gpu' in navigator)) return { available: false, why: 'navigator.gpu absent' };
  try {
    const a = await navigator.gpu.requestAdapter();
    if (!a) return { available: false, why: 'requestAdapter() returned null' };
    const i = a.info || {};
    return { available: true, vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, isFallbackAdapter: a.isFallbackAdapter ?? i.isFallbackAdapter };
  } catch (e) {
    return { available: false, why: String(e) };
  }
}

async function main() {
  const q = new URLSearchParams(location.search);
  const ep = q.get('ep') || 'wasm';
  const modelUrl = q.get('model');
  const textUrl = q.get('text') || '';
  const runs = Math.max(1, parseInt(q.get('runs') || '3', 10));
  const threads = Math.max(1, parseInt(q.get('threads') || '1', 10));
  const bundle = q.get('bundle') || (ep === 'webgpu' ? 'ort.webgpu.min.mjs' : 'ort.wasm.min.mjs');
  if (!modelUrl) throw new Error('missing ?model=<url of vision.onnx>');
  if (!['wasm', 'webgpu'].includes(ep)) throw new Error(`unknown ep ${ep}`);

  const ort = await import(DIST + bundle);
  ort.env.wasm.numThreads = threads;
  // onnxruntime-web ≥ 1.19 ships only SIMD builds (ort-wasm-simd-threaded*.wasm); the `simd` flag is
  // deprecated and ignored there, set anyway for older versions.
  ort.env.wasm.simd = true;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmPaths = DIST;
  ort.env.logLevel = 'warning';
  const version = ort.env.versions ? ort.env.versions.web || ort.env.versions.common : undefined;
  log(`onnxruntime-web ${version} (${bundle}), ep=${ep}, numThreads=${threads}, crossOriginIsolated=${self.crossOriginIsolated}, runs=${runs}`);

  const adapter = await adapterInfo();
  log(`WebGPU adapter: ${JSON.stringify(adapter)}`);
  if (ep === 'webgpu' && !adapter.available) throw new Error(`no WebGPU adapter: ${adapter.why}`);

  const opts = { executionProviders: [ep], graphOptimizationLevel: 'all' };

  // --- load: fetch + session creation ---
  let t0 = now();
  const bytes = await fetchBytes(modelUrl);
  const fetchS = now() - t0;
  const t1 = now();
  const vision = await ort.InferenceSession.create(bytes, opts);
  const createS = now() - t1;
  const loadS = now() - t0;
  log(`vision: fetch ${(bytes.length / 1e6).toFixed(1)} MB ${fetchS.toFixed(2)} s, session ${createS.toFixed(2)} s; inputs ${vision.inputNames} outputs ${vision.outputNames}`);

  const inName = vision.inputNames[0];
  const b1 = await measure('image b1', vision, () => ({ [inName]: new ort.Tensor('float32', pixels(1), [1, 3, 224, 224]) }), runs);
  const b8 = await measure('image b8', vision, () => ({ [inName]: new ort.Tensor('float32', pixels(8), [8, 3, 224, 224]) }), runs);
  await vision.release?.();

  let text = null;
  let textLoadS = null;
  if (textUrl) {
    t0 = now();
    const tbytes = await fetchBytes(textUrl);
    const ts = await ort.InferenceSession.create(tbytes, opts);
    textLoadS = now() - t0;
    log(`text: fetch+session ${textLoadS.toFixed(2)} s`);
    const tin = ts.inputNames[0];
    text = await measure('text 10x77', ts, () => ({ [tin]: new ort.Tensor('int64', promptIds(10), [10, 77]) }), runs);
    await ts.release?.();
  }

  const result = {
    engine: `onnxruntime-web ${version}`,
    ep,
    bundle,
    num_threads: threads,
    cross_origin_isolated: self.crossOriginIsolated,
    runs,
    load_s: loadS,
    fetch_s: fetchS,
    session_s: createS,
    model_mb: bytes.length / 1e6,
    image_b1_s: b1.median,
    image_b8_s: b8.median,
    text10_s: text ? text.median : null,
    merge_s: null,
    gflops_b1: IMAGE_FLOPS / b1.median / 1e9,
    gflops_b8: (8 * IMAGE_FLOPS) / b8.median / 1e9,
    text_gflops: text ? (10 * TEXT77_FLOPS) / text.median / 1e9 : null,
    text_load_s: textLoadS,
    load_total_s: loadS + (textLoadS ?? 0), // both towers, closer to what the WiSE-FT page loads
    image_flops: IMAGE_FLOPS,
    text77_flops: TEXT77_FLOPS,
    warmup_s: { image_b1: b1.warmup, image_b8: b8.warmup, text10: text ? text.warmup : null },
    times_s: { image_b1: b1.times, image_b8: b8.times, text10: text ? text.times : null },
    // embeds[0][0..4] of the deterministic inputs: equal across EPs up to float rounding
    output_head: { image_b1: b1.head, image_b8: b8.head, text10: text ? text.head : null },
    adapter,
    user_agent: navigator.userAgent,
  };
  log(`result ${JSON.stringify(result)}`);
  document.body.dataset.result = JSON.stringify(result);
  document.body.dataset.state = 'done';
}

main().catch((e) => {
  const msg = e && e.stack ? `${e.message || e}\n${e.stack}` : String(e);
  log(`ERROR ${msg}`);
  document.body.dataset.error = String((e && e.message) || e);
  document.body.dataset.state = 'error';
});
