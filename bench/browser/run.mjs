#!/usr/bin/env node
// Browser benchmark runner: serves the ORT page, the benchmark model and the trunk-built site on
// 127.0.0.1, drives Debian's /usr/bin/chromium through playwright-core (never a downloaded browser)
// and prints one markdown table for all cases. A benchmark, NOT a test: never run it in CI.
//
//   node bench/browser/run.mjs [--cases ort-wasm,ort-webgpu,wiseft-cpu,wiseft-gpu] [--runs N]
//                              [--prompts N] [--model-dir DIR] [--site DIR] [--out FILE] [--timeout S]
//
// --prompts N: prompts through our text tower (default 10, as the ONNX text graph's batch; 800 is
// the issue's 10 labels × 80 templates). Defaults: all cases whose prerequisites exist (ort-* need <model-dir>/onnx/vision.onnx and
// node_modules/onnxruntime-web; wiseft-* need <site>/index.html and <model-dir>/zs), --runs 3,
// --model-dir target/bench-model, --site dist, --out target/bench/browser.json, --timeout
// $BENCH_TIMEOUT_S or 1800 s per case (SwiftShader is a software GPU: one ViT-B/32 image takes
// tens of seconds there).
//
// Served roots: /ort/ → bench/browser (its node_modules included), /model/ → the model dir,
// / → the site. Every response carries COOP same-origin + COEP require-corp.
//
// As a module: `import { runCase, startServer, launchBrowser } from './run.mjs'`; runCase(name, url)
// opens any URL (absolute or relative to the server), waits for document.body.dataset.result or
// data-state="error", and returns the parsed JSON.

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

process.env.PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = '1';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // BENCH_JS_FLAGS='--prof': V8 writes a tick log per isolate (each worker) into the working
  // folder; bench/browser/wasm_profile.py names the wasm functions in it.
  ...(process.env.BENCH_JS_FLAGS ? [`--js-flags=${process.env.BENCH_JS_FLAGS}`] : []),
];

// Same key names as the WiSE-FT page's bench mode, so one table prints both.
export const METRICS = [
  ['load_s', 'load (fetch + init), s'],
  ['image_b1_s', 'image encode, batch 1, s'],
  ['image_b8_s', 'image encode, batch 8, s'],
  ['text10_s', 'text encode, 10 prompts, s'],
  ['merge_s', 'WiSE-FT merge, s'],
  ['gflops_b8', 'image GFLOP/s at batch 8'],
  // ORT page extras (the WiSE-FT page may leave them out: printed as –)
  ['gflops_b1', 'image GFLOP/s at batch 1'],
  ['text_gflops', 'text GFLOP/s (ORT: 10 × 77 tokens; ours: the prompts up to their end-of-text)'],
  ['session_s', 'session / engine init only, s'],
  // WiSE-FT page: the worker's WebAssembly memory (never shrinks, so its peak).
  ['wasm_memory_mb', 'wasm memory (peak), MB'],
];

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.safetensors': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.txt': 'text/plain; charset=utf-8',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
};

const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

// Serves `roots` ([[urlPrefix, dir], ...], longest prefix first) on 127.0.0.1:<random port>.
export function startServer(roots) {
  const sorted = roots.filter(([, dir]) => dir && fs.existsSync(dir)).map(([p, d]) => [p, path.resolve(d)]).sort((a, b) => b[0].length - a[0].length);
  const server = http.createServer((req, res) => {
    const send = (status, body, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { ...ISOLATION_HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      return send(400, 'bad url');
    }
    if (pathname === '/__blank') return send(200, '<!doctype html><title>blank</title><body></body>', MIME['.html']);
    const root = sorted.find(([prefix]) => pathname === prefix.replace(/\/$/, '') || pathname.startsWith(prefix));
    if (!root) return send(404, `not found: ${pathname}`);
    const [prefix, dir] = root;
    let file = path.resolve(dir, '.' + path.posix.normalize('/' + pathname.slice(prefix.length)));
    if (file !== dir && !file.startsWith(dir + path.sep)) return send(403, 'forbidden');
    let st;
    try {
      st = fs.statSync(file);
      if (st.isDirectory()) {
        file = path.join(file, 'index.html');
        st = fs.statSync(file);
      }
    } catch {
      return send(404, `not found: ${pathname}`);
    }
    res.writeHead(200, {
      ...ISOLATION_HEADERS,
      'Content-Type': MIME[path.extname(file).toLowerCase()] || 'application/octet-stream',
      'Content-Length': st.size,
    });
    if (req.method === 'HEAD') return res.end();
    fs.createReadStream(file).on('error', () => res.destroy()).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({ server, url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found (apt-get install chromium); no browser is ever downloaded`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

// Module-level state so that runCase(name, url) works with two arguments.
const state = { browser: null, base: null, timeoutS: Number(process.env.BENCH_TIMEOUT_S) || 1800 };

export function configure({ browser, base, timeoutS } = {}) {
  if (browser) state.browser = browser;
  if (base) state.base = base;
  if (timeoutS) state.timeoutS = timeoutS;
}

// Opens `url` in a fresh context + page, forwards its console, waits for data-result (or
// data-state="error") on <body> and returns the parsed JSON; throws on error or timeout.
export async function runCase(name, url, { timeoutS = state.timeoutS, browser = state.browser, base = state.base } = {}) {
  if (!browser) browser = state.browser = await launchBrowser();
  const full = base ? new URL(url, base).href : url;
  const context = await browser.newContext();
  const page = await context.newPage();
  const t0 = Date.now();
  const stamp = () => `${((Date.now() - t0) / 1000).toFixed(1).padStart(7)}s`;
  page.on('console', (m) => console.log(`[${name} ${stamp()}] ${m.type() === 'log' ? '' : m.type() + ': '}${m.text()}`));
  page.on('pageerror', (e) => console.log(`[${name} ${stamp()}] pageerror: ${e.message}`));
  page.on('crash', () => console.log(`[${name} ${stamp()}] page crashed`));
  try {
    console.log(`[${name}] open ${full} (timeout ${timeoutS} s)`);
    await page.goto(full, { waitUntil: 'load', timeout: Math.min(timeoutS, 300) * 1000 });
    await page.waitForFunction(
      () => document.body && (document.body.dataset.result || document.body.dataset.state === 'error'),
      null,
      { timeout: timeoutS * 1000, polling: 1000 },
    );
    const ds = await page.evaluate(() => ({ ...document.body.dataset }));
    if (ds.state === 'error' && !ds.result) throw new Error(`page error: ${ds.error || '(no data-error)'}`);
    const result = JSON.parse(ds.result);
    result.wall_s = (Date.now() - t0) / 1000;
    return result;
  } finally {
    await context.close().catch(() => {});
  }
}

async function environmentInfo(browser, base) {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(new URL('/__blank', base).href);
    return await page.evaluate(async () => {
      const out = { user_agent: navigator.userAgent, cross_origin_isolated: self.crossOriginIsolated, hardware_concurrency: navigator.hardwareConcurrency };
      if (!navigator.gpu) return { ...out, adapter: { available: false, why: 'navigator.gpu absent' } };
      try {
        const a = await navigator.gpu.requestAdapter();
        if (!a) return { ...out, adapter: { available: false, why: 'requestAdapter() returned null' } };
        const i = a.info || {};
        const limits = {};
        for (const k of ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup']) limits[k] = a.limits[k];
        return {
          ...out,
          adapter: {
            available: true,
            vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description,
            is_fallback: a.isFallbackAdapter ?? i.isFallbackAdapter ?? null,
            features: [...a.features].sort(),
            limits,
          },
        };
      } catch (e) {
        return { ...out, adapter: { available: false, why: String(e) } };
      }
    });
  } finally {
    await context.close().catch(() => {});
  }
}

function cpuInfo() {
  let model = os.cpus()[0]?.model || 'unknown';
  const extra = {};
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const field = (k) => info.match(new RegExp(`^${k}\\s*:\\s*(.+)$`, 'm'))?.[1].trim();
    model = field('model name') || model;
    // A VM may only say "AMD EPYC": family/model tell the generation (family 26 = 0x1A = Zen 5).
    extra.family = field('cpu family');
    extra.model_id = field('model');
    extra.stepping = field('stepping');
    const flags = field('flags')?.split(/\s+/) || [];
    extra.simd = ['avx2', 'avx512f', 'avx512_bf16', 'avx_vnni', 'fma'].filter((f) => flags.includes(f));
  } catch {}
  return { model, ...extra, logical_cpus: os.cpus().length, mem_gb: +(os.totalmem() / 2 ** 30).toFixed(1) };
}

function parseArgs(argv) {
  const opts = {
    cases: null,
    runs: 3,
    prompts: 10,
    modelDir: path.join(REPO, 'target', 'bench-model'),
    site: path.join(REPO, 'dist'),
    out: path.join(REPO, 'target', 'bench', 'browser.json'),
    timeoutS: Number(process.env.BENCH_TIMEOUT_S) || 1800,
  };
  for (let i = 0; i < argv.length; i++) {
    let [k, v] = argv[i].split(/=(.*)/s, 2);
    const val = () => (v !== undefined ? v : argv[++i]);
    switch (k) {
      case '--cases': opts.cases = val().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--runs': opts.runs = Math.max(1, parseInt(val(), 10)); break;
      case '--prompts': opts.prompts = Math.max(1, parseInt(val(), 10)); break;
      case '--model-dir': opts.modelDir = path.resolve(val()); break;
      case '--site': opts.site = path.resolve(val()); break;
      case '--out': opts.out = path.resolve(val()); break;
      case '--timeout': opts.timeoutS = Number(val()); break;
      case '-h': case '--help':
        console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n'));
        process.exit(0);
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return opts;
}

function caseTable(opts) {
  const ortOk = fs.existsSync(path.join(opts.modelDir, 'onnx', 'vision.onnx')) && fs.existsSync(path.join(HERE, 'node_modules', 'onnxruntime-web', 'dist'));
  const siteOk = fs.existsSync(path.join(opts.site, 'index.html')) && fs.existsSync(path.join(opts.modelDir, 'zs', 'model.safetensors'));
  const text = fs.existsSync(path.join(opts.modelDir, 'onnx', 'text.onnx')) ? '/model/onnx/text.onnx' : '';
  const ort = (ep) => `/ort/ort.html?ep=${ep}&model=${encodeURIComponent('/model/onnx/vision.onnx')}&text=${encodeURIComponent(text)}&runs=${opts.runs}`;
  const wiseft = (backend) => `/index.html?zs=${encodeURIComponent('/model/zs/model.safetensors')}&ft=${encodeURIComponent('/model/ft/model.safetensors')}&bench=1&backend=${backend}&runs=${opts.runs}&prompts=${opts.prompts}`;
  // N threads: the machine's cores (both engines run a thread per core; the page is isolated here).
  const cores = os.cpus().length;
  return {
    'ort-wasm': { ok: ortOk, why: 'needs <model-dir>/onnx/vision.onnx and bench/browser/node_modules', url: ort('wasm') },
    'ort-wasm-nt': { ok: ortOk, why: 'needs <model-dir>/onnx/vision.onnx and bench/browser/node_modules', url: `${ort('wasm')}&threads=${cores}` },
    'wiseft-cpu-1t': { ok: siteOk, why: 'needs <site>/index.html (trunk build) and <model-dir>/zs', url: `${wiseft('cpu')}&threads=1` },
    // The threaded build (relaxed SIMD's fused multiply-add) on one thread: our engine at ORT's one.
    'wiseft-cpu-t1': { ok: siteOk, why: 'needs <site>/index.html (trunk build) and <model-dir>/zs', url: `${wiseft('cpu')}&threads=1&build=threaded` },
    'ort-webgpu': { ok: ortOk, why: 'needs <model-dir>/onnx/vision.onnx and bench/browser/node_modules', url: ort('webgpu') },
    // The threaded build, one thread per reported core (issue 18).
    'wiseft-cpu': { ok: siteOk, why: 'needs <site>/index.html (trunk build) and <model-dir>/zs', url: wiseft('cpu') },
    'wiseft-gpu': { ok: siteOk, why: 'needs <site>/index.html (trunk build) and <model-dir>/zs', url: wiseft('gpu') },
    // Merge recipes over N vision fine-tunes (issue 14): task arithmetic (`-taN`) and TIES
    // (`-tiesN`, k = 20 %, each fine-tune's own vector kept where it fits), a λ change per run; the
    // fine-tunes ft/, ft2/ … come from make_vitb32.py --fine-tunes 8. Not in the default set. On
    // the GPU (SwiftShader here: minutes per ViT-B/32 batch of 8) the λ change alone (encodes=0).
    ...Object.fromEntries(
      [1, 2, 4, 7, 8].flatMap((n) =>
        ['cpu', 'gpu'].flatMap((backend) =>
          [['ta', 'method=task-arithmetic&lambda=0.3'], ['ties', 'method=ties&lambda=0.3&k=20']].map(([short, recipe]) => {
            const dirs = Array.from({ length: n }, (_, i) => (i ? `ft${i + 1}` : 'ft'));
            const ok = siteOk && dirs.every((d) => fs.existsSync(path.join(opts.modelDir, d, 'model.safetensors')));
            const fts = dirs.map((d) => `&ft=${encodeURIComponent(`/model/${d}/model.safetensors`)}`).join('');
            const encodes = backend === 'gpu' ? '&encodes=0' : '';
            const url = `/index.html?zs=${encodeURIComponent('/model/zs/model.safetensors')}${fts}&${recipe}&bench=1&backend=${backend}&runs=${opts.runs}&prompts=${opts.prompts}${encodes}`;
            return [`wiseft-${backend}-${short}${n}`, { ok, why: `needs <model-dir>/${dirs.at(-1)} (make_vitb32.py --fine-tunes ${n})`, url, optional: true }];
          }),
        ),
      ),
    ),
  };
}

function fmt(v) {
  if (v === null || v === undefined) return '–';
  if (typeof v !== 'number') return String(v);
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
}

export function markdownTable(results) {
  const names = Object.keys(results);
  const lines = [`| metric | ${names.join(' | ')} |`, `| --- | ${names.map(() => '---:').join(' | ')} |`];
  // Text timings for another prompt count (--prompts) get a row of their own.
  const extra = [...new Set(names.flatMap((n) => Object.keys(results[n]).filter((k) => /^text\d+_s$/.test(k) && k !== 'text10_s')))];
  for (const [key, label] of [...METRICS, ...extra.map((k) => [k, `text encode, ${k.slice(4, -2)} prompts, s`])]) {
    lines.push(`| ${label} (\`${key}\`) | ${names.map((n) => (results[n].error ? 'error' : fmt(results[n][key]))).join(' | ')} |`);
  }
  const errs = names.filter((n) => results[n].error);
  for (const n of errs) lines.push('', `${n}: ${results[n].error}`);
  return lines.join('\n');
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const table = caseTable(opts);
  let cases = opts.cases;
  if (!cases) {
    cases = Object.keys(table).filter((c) => table[c].ok && !table[c].optional);
    const skipped = Object.keys(table).filter((c) => !table[c].ok);
    if (skipped.length) console.log(`[bench] skipping ${skipped.map((c) => `${c} (${table[c].why})`).join(', ')}`);
  }
  for (const c of cases) {
    if (!table[c]) throw new Error(`unknown case ${c} (known: ${Object.keys(table).join(', ')})`);
    if (!table[c].ok) throw new Error(`case ${c} ${table[c].why}`);
  }
  if (!cases.length) throw new Error('no case to run');

  const srv = await startServer([
    ['/ort/', HERE],
    ['/model/', opts.modelDir],
    ['/', opts.site],
  ]);
  console.log(`[bench] serving on ${srv.url}: /ort/ → ${HERE}, /model/ → ${opts.modelDir}, / → ${opts.site}`);
  const browser = await launchBrowser();
  configure({ browser, base: srv.url, timeoutS: opts.timeoutS });
  const cleanup = async () => {
    await browser.close().catch(() => {});
    await srv.close().catch(() => {});
  };
  process.on('SIGINT', () => cleanup().then(() => process.exit(130)));

  const report = {
    date: new Date().toISOString(),
    chromium: `${CHROMIUM} ${browser.version()}`,
    chromium_args: CHROMIUM_ARGS,
    cpu: cpuInfo(),
    node: process.version,
    runs: opts.runs,
    timeout_s: opts.timeoutS,
    ...(await environmentInfo(browser, srv.url)),
    cases: {},
  };
  console.log(`[bench] Chromium ${browser.version()}, CPU ${report.cpu.model} ×${report.cpu.logical_cpus}, WebGPU adapter ${JSON.stringify(report.adapter)}`);
  const save = () => {
    fs.mkdirSync(path.dirname(opts.out), { recursive: true });
    fs.writeFileSync(opts.out, JSON.stringify(report, null, 2) + '\n');
  };

  try {
    for (const c of cases) {
      const t0 = Date.now();
      try {
        report.cases[c] = { url: table[c].url, ...(await runCase(c, table[c].url)) };
      } catch (e) {
        report.cases[c] = { url: table[c].url, error: String(e.message || e).split('\n')[0], wall_s: (Date.now() - t0) / 1000 };
      }
      console.log(`[bench] ${c}: ${report.cases[c].error ? 'ERROR ' + report.cases[c].error : 'done'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      save();
    }
  } finally {
    await cleanup();
  }

  const a = report.adapter || {};
  console.log(`\nChromium ${browser.version()} · ${report.cpu.model} (${report.cpu.logical_cpus} logical CPUs) · WebGPU: ${a.available ? [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ') : a.why} · runs=${opts.runs} (median after 1 warm-up)\n`);
  console.log(markdownTable(report.cases));
  console.log(`\n[bench] wrote ${path.relative(process.cwd(), opts.out) || opts.out}`);
  return Object.values(report.cases).some((r) => r.error) ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      console.error(`[bench] ${e.stack || e}`);
      process.exit(2);
    },
  );
}
