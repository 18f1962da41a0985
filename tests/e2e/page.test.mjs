// End-to-end tests of the page in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core; never a downloaded browser). Run by scripts/e2e.sh after `trunk build`:
//
//   node --test tests/e2e/
//
// The built site (dist/) and the fixture checkpoints are served by two local servers on
// 127.0.0.1 (different ports, so model downloads are cross-origin as from the hub). The page's
// probabilities are compared with the CLI's `wiseft classify --json` on the same inputs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { DIST, FIXTURES, OUT, READY_TIMEOUT, WISEFT, launch } from './env.mjs';
import { watch } from './watch.mjs';
import { serve, sendFile, sendCut, sendSlowly } from './server.mjs';

const TOLERANCE = 1e-4;
const LABELS = ['a cat', 'a dog', 'a red car', 'a tree', 'the ocean'];
const GOOD_IMAGES = ['photo.png', 'gray.png', 'wide.png', 'exif_rotated.jpg'];
const BAD_IMAGES = ['not_an_image.png', 'truncated.jpg'];
const ALPHAS = [0, 1, 0.35]; // ends at 0.35 so the screenshot shows a real merge


let site;
let models;
let flakyCalls = 0;
let streamCalls = 0;
const refs = new Map(); // `${pair}|${alpha}` → {image basename → probs}

function cliReference(pair, alpha) {
  const key = `${pair}|${alpha}`;
  if (refs.has(key)) return refs.get(key);
  assert.ok(WISEFT, 'the wiseft CLI is not built: run `cargo build --bin wiseft` (scripts/e2e.sh does)');
  const out = execFileSync(
    WISEFT,
    [
      'classify',
      '--zero-shot', path.join(FIXTURES, `models/${pair}_zs`),
      '--fine-tuned', path.join(FIXTURES, `models/${pair}_ft`),
      '--alpha', String(alpha),
      '--labels', LABELS.join(','),
      '--json',
      ...[...GOOD_IMAGES, 'photo.jpg'].map((i) => path.join(FIXTURES, 'images', i)),
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const json = JSON.parse(out);
  assert.deepEqual(json.labels, LABELS);
  const byImage = {};
  for (const r of json.results) {
    assert.ok(r.probs, `CLI could not classify ${r.image}: ${r.error}`);
    byImage[path.basename(r.image)] = r.probs;
  }
  refs.set(key, byImage);
  return byImage;
}

before(async () => {
  assert.ok(fs.existsSync(path.join(DIST, 'index.html')), `no built site at ${DIST}: run \`trunk build --release\` first (scripts/e2e.sh does)`);
  fs.mkdirSync(OUT, { recursive: true });
  site = await serve({ root: DIST });
  const azs = fs.readFileSync(path.join(FIXTURES, 'models/a_zs/model.safetensors'));
  // A hub mirror at /mirror: `test/a_zs` and `test/a_ft` = the fixture folders, in the hub's layout.
  const mirror = {};
  for (const [repo, dir] of [['test/a_zs', 'a_zs'], ['test/a_ft', 'a_ft']]) {
    for (const f of fs.readdirSync(path.join(FIXTURES, 'models', dir))) {
      const bytes = fs.readFileSync(path.join(FIXTURES, 'models', dir, f));
      mirror[`/mirror/${repo}/resolve/main/${f}`] = (req, res) => sendFile(req, res, bytes);
    }
  }
  models = await serve({
    root: FIXTURES,
    cors: true,
    routes: {
      ...mirror,
      // A complete HTTP response carrying half a checkpoint.
      '/broken/truncated/model.safetensors': (req, res) => sendFile(req, res, azs.subarray(0, Math.floor(azs.length / 2))),
      // A connection that breaks half-way, every time.
      '/broken/cut/model.safetensors': (req, res) => sendCut(req, res, azs),
      // Breaks half-way the first time only; the retry asks for the rest with Range.
      '/flaky/a_zs/model.safetensors': (req, res) => (flakyCalls++ === 0 ? sendCut(req, res, azs) : sendFile(req, res, azs)),
      '/flaky/a_zs/config.json': (req, res, ctx) => sendFile(req, res, ctx.file('models/a_zs/config.json'), 'application/json'),
      '/flaky/a_zs/preprocessor_config.json': (req, res, ctx) =>
        sendFile(req, res, ctx.file('models/a_zs/preprocessor_config.json'), 'application/json'),
      // Cut half-way the first time, then the rest (Range) slowly: the GPU path uploads tensors
      // while the download is still running, across the resume.
      '/stream/a_zs/model.safetensors': (req, res) => (streamCalls++ === 0 ? sendCut(req, res, azs) : sendSlowly(req, res, azs, { chunk: 32768, everyMs: 40 })),
      '/stream/a_zs/config.json': (req, res, ctx) => sendFile(req, res, ctx.file('models/a_zs/config.json'), 'application/json'),
      '/stream/a_zs/preprocessor_config.json': (req, res, ctx) =>
        sendFile(req, res, ctx.file('models/a_zs/preprocessor_config.json'), 'application/json'),
      // Weights without config.json or preprocessor_config.json beside them.
      '/noconfig/model.safetensors': (req, res) => sendFile(req, res, azs),
      // 16 kB every 100 ms: slow enough to watch the progress and press cancel.
      '/slow/model.safetensors': (req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(azs.length) });
        let at = 0;
        const timer = setInterval(() => {
          if (at >= azs.length) return clearInterval(timer);
          res.write(azs.subarray(at, at + 16384));
          at += 16384;
        }, 100);
        res.on('close', () => clearInterval(timer));
      },
    },
  });
});

after(async () => {
  await site?.close();
  await models?.close();
});


function pageUrl(params) {
  const q = Object.entries(params)
    .map(([k, v]) => `${k}=${encodeURIComponent(v).replace(/%2C/g, ',')}`)
    .join('&');
  return `${site.url}/index.html?${q}`;
}

const modelUrl = (dir, file = 'model.safetensors') => `${models.url}/models/${dir}/${file}`;

/** Opens a page that records its console, and fails loudly with what the page shows. */
async function openPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await context.newPage();
  const log = watch(page);
  return { context, page, log };
}

async function waitForState(page, log, wanted, what) {
  let state = '?';
  try {
    // An unexpected error state ends the wait at once.
    await page.waitForFunction((s) => document.body.dataset.state === s || document.body.dataset.state === 'error', wanted, {
      timeout: READY_TIMEOUT,
      polling: 100,
    });
    state = await page.evaluate(() => document.body.dataset.state);
  } catch {
    state = await page.evaluate(() => document.body.dataset.state).catch(() => '?');
  }
  if (state !== wanted) {
    const status = await page.locator('#model-status').textContent().catch(() => '?');
    const backend = await page.locator('#backend').textContent().catch(() => '?');
    assert.fail(
      `${what}: the page did not reach data-state="${wanted}" ` +
        (state === 'error' ? `(it went to "error"). ` : `within ${READY_TIMEOUT / 1000} s (it is "${state}"). `) +
        `A page stuck in "loading" usually means the worker's wasm never started ` +
        `(e.g. a broken wasm-opt pass). Status: ${status}. Backend: ${backend}.\nConsole:\n${log.join('\n')}`,
    );
  }
}

/** {image → {model → {label → {prob, alpha}}}} from the result bars. */
async function readBars(page) {
  const bars = await page.$$eval('li.bar', (els) =>
    els.map((e) => ({
      image: e.dataset.image,
      model: e.dataset.model,
      label: e.dataset.label,
      prob: Number(e.dataset.prob),
      alpha: Number(e.dataset.alpha),
    })),
  );
  const out = {};
  for (const b of bars) {
    ((out[b.image] ??= {})[b.model] ??= {})[b.label] = b;
  }
  return out;
}

/** Waits until every good photo shows bars for the three models, the merged ones at `alpha`. */
async function waitForResults(page, log, alpha, images = GOOD_IMAGES) {
  try {
    await page.waitForFunction(
      ({ alpha, images }) => {
        if (document.body.dataset.state !== 'ready') return false;
        return images.every((img) =>
          ['zero-shot', 'merged', 'fine-tuned'].every((m) => {
            const bars = [...document.querySelectorAll('li.bar')].filter((b) => b.dataset.image === img && b.dataset.model === m);
            return bars.length > 0 && (m !== 'merged' || bars.every((b) => Number(b.dataset.alpha) === alpha));
          }),
        );
      },
      { alpha, images },
      { timeout: READY_TIMEOUT, polling: 100 },
    );
  } catch {
    const messages = await page.locator('#messages').textContent().catch(() => '');
    assert.fail(`results at α = ${alpha} did not appear for ${images.join(', ')}. Messages: ${messages}\nConsole:\n${log.join('\n')}`);
  }
}

function compare(bars, reference, model, alpha, where, images = GOOD_IMAGES) {
  let checked = 0;
  for (const image of images) {
    const shown = bars[image]?.[model];
    assert.ok(shown, `${where}: no ${model} bars for ${image}`);
    for (const [label, bar] of Object.entries(shown)) {
      const i = LABELS.indexOf(label);
      assert.ok(i >= 0, `${where}: unknown label ${label}`);
      const want = reference[image][i];
      assert.ok(
        Math.abs(bar.prob - want) <= TOLERANCE,
        `${where}: ${image} ${model} (α = ${alpha}) "${label}": page ${bar.prob}, CLI ${want} (|Δ| = ${Math.abs(bar.prob - want)})`,
      );
      checked++;
    }
  }
  return checked;
}

async function setAlpha(page, alpha) {
  await page.locator('#alpha').fill(String(alpha));
}

/**
 * Loads `pair`, uploads the photos (one of them not an image), and for each α checks the merged
 * bars (and the zero-shot / fine-tuned ones) against the CLI.
 */
async function classifyAndCompare({ webgpu, pair, shot }) {
  const browser = await launch(webgpu);
  const { context, page, log } = await openPage(browser);
  const mode = webgpu ? 'WebGPU flags (SwiftShader)' : 'WebGPU disabled';
  try {
    // With WebGPU the page is told to use it even on SwiftShader (by default a software adapter
    // gets the faster CPU back end), so that the WGSL kernels run in the browser.
    const backendParam = webgpu ? { backend: 'gpu' } : {};
    await page.goto(pageUrl({ zs: modelUrl(`${pair}_zs`), ft: modelUrl(`${pair}_ft`), labels: LABELS.join(','), alpha: ALPHAS[0], ...backendParam }));
    await waitForState(page, log, 'ready', `${mode}: loading pair ${pair}`);
    const backend = (await page.locator('#backend').textContent()).trim();
    const adapter = await page.evaluate(async () => {
      if (!navigator.gpu) return 'navigator.gpu absent';
      const a = await navigator.gpu.requestAdapter();
      return a ? `${a.info?.vendor} ${a.info?.architecture} ${a.info?.description}` : 'no adapter';
    });
    console.log(`# ${mode}: backend badge: ${backend} | adapter seen by the page: ${adapter}`);
    assert.match(backend, /\b(CPU|GPU)\b/, 'the page names the back end');
    assert.match(backend, /Why: /, 'the page says why this back end runs');
    if (/swiftshader/i.test(adapter)) assert.match(backend, /software renderer/i, 'SwiftShader is named a software renderer');
    if (!webgpu) assert.match(backend, /^CPU/, 'without WebGPU the CPU runs');
    if (webgpu) assert.match(backend, /^GPU|WebGPU/, 'with WebGPU and backend=gpu the GPU engine runs');
    if (!webgpu) assert.match(backend, /navigator\.gpu absent|no WebGPU adapter/, 'and the page says why');
    const report = await page.locator('#report').textContent();
    assert.match(report, /interpolated/, 'the merge report is shown');

    await page.setInputFiles('#photos', [...GOOD_IMAGES, ...BAD_IMAGES].map((i) => path.join(FIXTURES, 'images', i)));
    for (const bad of BAD_IMAGES) {
      const error = page.locator(`.photo-error[data-image="${bad}"]`);
      await error.waitFor({ timeout: READY_TIMEOUT });
      const text = await error.textContent();
      assert.match(text, new RegExp(bad.replace('.', '\\.')), `${bad}: the message names the photo (${text})`);
    }

    let checked = 0;
    for (const alpha of ALPHAS) {
      if (alpha !== ALPHAS[0]) await setAlpha(page, alpha);
      await waitForResults(page, log, alpha);
      const bars = await readBars(page);
      const where = `${mode}, pair ${pair}`;
      checked += compare(bars, cliReference(pair, alpha), 'merged', alpha, where);
      checked += compare(bars, cliReference(pair, 0), 'zero-shot', 0, where);
      checked += compare(bars, cliReference(pair, 1), 'fine-tuned', 1, where);
      for (const bad of BAD_IMAGES) assert.ok(!bars[bad], `${bad} has no bars`);
    }
    console.log(`# ${mode}, pair ${pair}: ${checked} probabilities within ${TOLERANCE} of the CLI`);
    assert.equal(await page.evaluate(() => document.querySelectorAll('input[type=file]').length), 1, 'one <input type=file>');
    if (shot) {
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: path.join(OUT, shot) });
    }
    return { browser, context, page, log };
  } catch (e) {
    await page.screenshot({ path: path.join(OUT, `failure-${webgpu ? 'webgpu' : 'cpu'}-${pair}.png`) }).catch(() => {});
    await browser.close();
    throw e;
  }
}

test('WebGPU flags (SwiftShader): pair a classified like the CLI at α ∈ {0, 0.35, 1}; a reload reads the cache', async () => {
  const { browser, page, log } = await classifyAndCompare({ webgpu: true, pair: 'a', shot: 'ready-webgpu.png' });
  try {
    const weights = ['/models/a_zs/model.safetensors', '/models/a_ft/model.safetensors'];
    const side = ['/models/a_zs/config.json', '/models/a_ft/config.json', '/models/a_ft/preprocessor_config.json'];
    const before = [...weights, ...side].map((p) => models.count(p));
    assert.deepEqual(before.slice(0, 2), [1, 1], 'each checkpoint downloaded once');
    await page.reload();
    await waitForState(page, log, 'ready', 'reload');
    await page.waitForFunction(() => document.body.dataset.models === 'loaded', null, { timeout: READY_TIMEOUT });
    const after = [...weights, ...side].map((p) => models.count(p));
    assert.deepEqual(after, before, `a reload must not download again (requests: ${models.requests.join(', ')})`);
    const origins = await page.$$eval('.dl', (els) => els.map((e) => e.dataset.origin));
    assert.ok(origins.length > 0 && origins.every((o) => o === 'cache'), `progress rows say "from cache" (${origins})`);
  } finally {
    await browser.close();
  }
});

test('WebGPU: tensors go to the GPU while the checkpoint downloads (across a Range resume); results equal the CLI', async () => {
  const browser = await launch(true);
  const { page, log } = await openPage(browser);
  try {
    const alpha = 0.35;
    await page.goto(pageUrl({ zs: `${models.url}/stream/a_zs/model.safetensors`, ft: modelUrl('a_ft'), labels: LABELS.join(','), alpha, backend: 'gpu' }));
    await waitForState(page, log, 'ready', 'streaming the zero-shot checkpoint to the GPU');
    assert.equal(await page.evaluate(() => document.body.dataset.models), 'loaded');
    assert.match(await page.locator('#backend').textContent(), /^GPU|WebGPU/);
    const row = page.locator('.dl[data-role="zero-shot"][data-file="weights"]');
    assert.equal(await row.getAttribute('data-uploaded-early'), '1', 'progress showed tensors on the GPU before the download ended');
    console.log(`# streamed download: ${await row.locator('.nums').textContent()}`);
    assert.match(await row.locator('.nums').textContent(), /on the GPU/);
    const ranged = models.requests.filter((r) => r.startsWith('GET /stream/a_zs/model.safetensors (bytes='));
    assert.equal(ranged.length, 1, `the cut download resumed with Range (requests: ${models.requests.filter((r) => r.includes('/stream/')).join(', ')})`);

    await page.setInputFiles('#photos', GOOD_IMAGES.map((i) => path.join(FIXTURES, 'images', i)));
    await waitForResults(page, log, alpha);
    const bars = await readBars(page);
    let checked = compare(bars, cliReference('a', alpha), 'merged', alpha, 'streamed to WebGPU');
    checked += compare(bars, cliReference('a', 0), 'zero-shot', 0, 'streamed to WebGPU');
    checked += compare(bars, cliReference('a', 1), 'fine-tuned', 1, 'streamed to WebGPU');
    console.log(`# streamed to WebGPU: ${checked} probabilities within ${TOLERANCE} of the CLI`);
  } finally {
    await browser.close();
  }
});

test('a full storage quota: the checkpoint is not kept, the page says so and still classifies', async () => {
  const browser = await launch(false);
  const { page, log } = await openPage(browser);
  try {
    // Chromium's own quota override (DevTools protocol): 200 kB for the site, far below a checkpoint.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: site.url, quotaSize: 200000 });
    await page.goto(pageUrl({ zs: modelUrl('a_zs'), ft: modelUrl('a_ft'), labels: LABELS.join(',') }));
    await waitForState(page, log, 'ready', 'loading with a full quota');
    assert.equal(await page.evaluate(() => document.body.dataset.models), 'loaded');
    const warning = page.locator('.msg.warn', { hasText: 'quota' }).first();
    await warning.waitFor({ timeout: READY_TIMEOUT });
    const text = await warning.textContent();
    console.log(`# quota: ${text}`);
    assert.match(text, /a_zs\/model\.safetensors was not kept for next time: the browser's storage quota is exceeded/);
    assert.match(text, /Clear downloaded models/);
    await page.setInputFiles('#photos', [path.join(FIXTURES, 'images', GOOD_IMAGES[0])]);
    await waitForResults(page, log, 0.5, [GOOD_IMAGES[0]]);
  } finally {
    await browser.close();
  }
});

test('WebGPU disabled (CPU fallback): pair b (f16 + bf16, full fine-tune) classified like the CLI at α ∈ {0, 0.35, 1}', async () => {
  const { browser, page } = await classifyAndCompare({ webgpu: false, pair: 'b', shot: 'ready-cpu.png' });
  try {
    const report = await page.locator('#report').textContent();
    assert.match(report, /2 only in the fine-tuned model, ignored/, 'the classifier head of b_ft is reported as ignored');
  } finally {
    await browser.close();
  }
});

test('a 404, a truncated checkpoint and a cut download each show their error', async () => {
  const browser = await launch(false);
  try {
    const cases = [
      {
        name: '404',
        zs: `${models.url}/missing/model.safetensors`,
        expect: [/404/, /missing\/model\.safetensors/, /Check the repository name/],
      },
      {
        name: 'truncated',
        zs: `${models.url}/broken/truncated/model.safetensors`,
        expect: [/broken\/truncated\/model\.safetensors/, /not a usable CLIP checkpoint/],
      },
      {
        name: 'cut',
        zs: `${models.url}/broken/cut/model.safetensors`,
        expect: [/broken\/cut\/model\.safetensors/, /gave up after 3 attempts/, /connection broke|cut after/],
      },
    ];
    for (const c of cases) {
      const { context, page, log } = await openPage(browser);
      await page.goto(pageUrl({ zs: c.zs, ft: modelUrl('a_ft'), labels: 'x,y' }));
      await waitForState(page, log, 'error', `${c.name} checkpoint`);
      const status = await page.locator('#model-status').textContent();
      for (const re of c.expect) assert.match(status, re, `${c.name}: the error names what failed (${status})`);
      console.log(`# ${c.name}: ${status}`);
      await context.close();
    }
    assert.equal(models.count('/broken/cut/model.safetensors'), 3, 'a cut download is retried (3 attempts)');
  } finally {
    await browser.close();
  }
});

test('downloads: progress with MB/s and cancel; a cut connection resumes with a Range request', async () => {
  const browser = await launch(false);
  try {
    // Slow download: progress shows, cancel stops it without an error state.
    let { context, page, log } = await openPage(browser);
    await page.goto(pageUrl({ zs: `${models.url}/slow/model.safetensors`, ft: modelUrl('a_ft'), labels: 'x,y' }));
    const row = page.locator('.dl[data-file="weights"] .nums');
    await page.waitForFunction(() => /MB\/s/.test(document.querySelector('.dl[data-file="weights"] .nums')?.textContent || ''), null, {
      timeout: READY_TIMEOUT,
    });
    console.log(`# slow download progress: ${await row.textContent()}`);
    assert.match(await row.textContent(), /kB|MB/);
    await page.click('#cancel');
    await waitForState(page, log, 'ready', 'cancelled download');
    assert.match(await page.locator('#model-status').textContent(), /cancelled/i);
    assert.equal(await page.evaluate(() => document.body.dataset.models), 'none');
    await context.close();

    // Flaky download: cut once, then resumed.
    ({ context, page, log } = await openPage(browser));
    const retryShown = page.waitForSelector('.msg[data-key^="retry "]', { timeout: READY_TIMEOUT });
    await page.goto(pageUrl({ zs: `${models.url}/flaky/a_zs/model.safetensors`, ft: modelUrl('a_ft'), labels: LABELS.join(',') }));
    const retry = await (await retryShown).textContent();
    assert.match(retry, /retrying \(attempt 2 of 3\)/);
    await waitForState(page, log, 'ready', 'flaky download');
    assert.equal(await page.evaluate(() => document.body.dataset.models), 'loaded');
    await context.close();

    // No config.json beside the weights: the fixture's shapes do not tell the number of heads
    // (inference assumes 64 per head), so the page asks for a config.json.
    ({ context, page, log } = await openPage(browser));
    await page.goto(pageUrl({ zs: `${models.url}/noconfig/model.safetensors`, ft: modelUrl('a_ft'), labels: LABELS.join(',') }));
    await waitForState(page, log, 'error', 'checkpoint without config.json');
    const status = await page.locator('#model-status').textContent();
    assert.match(status, /noconfig\/model\.safetensors: cannot infer .*config\.json/);
    assert.doesNotMatch(status, /cut short/);
    const ranged = models.requests.filter((r) => r.startsWith('GET /flaky/a_zs/model.safetensors (bytes='));
    assert.equal(ranged.length, 1, `the retry resumes with Range (requests: ${models.requests.filter((r) => r.includes('flaky')).join(', ')})`);
    await context.close();
  } finally {
    await browser.close();
  }
});

/** Drops a folder (or files) from the disk at the centre of `selector`, as a person drags from a file manager. */
async function dropPaths(page, selector, paths) {
  const box = await page.locator(selector).boundingBox();
  const cdp = await page.context().newCDPSession(page);
  const data = { items: [], files: paths, dragOperationsMask: 1 };
  const at = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  for (const type of ['dragEnter', 'dragOver', 'drop']) await cdp.send('Input.dispatchDragEvent', { type, ...at, data });
}

test('dropped folders: model folders on the model boxes, a photo folder labelled by its sub-folders', async () => {
  const browser = await launch(false);
  const { page, log } = await openPage(browser);
  const tmp = fs.mkdtempSync(path.join(OUT, 'drop-'));
  try {
    for (const [label, image] of [['a cat', 'photo.png'], ['a dog', 'gray.png'], ['a dog', 'wide.png']]) {
      fs.mkdirSync(path.join(tmp, 'photos', label), { recursive: true });
      fs.copyFileSync(path.join(FIXTURES, 'images', image), path.join(tmp, 'photos', label, image));
    }
    await page.goto(`${site.url}/index.html?labels=${LABELS.join(',')}&templates=single`);
    await waitForState(page, log, 'ready', 'opening the page without models');
    await page.click('#custom summary');
    await dropPaths(page, '#zs-drop', [path.join(FIXTURES, 'models/a_zs')]);
    await dropPaths(page, '#ft-drop', [path.join(FIXTURES, 'models/a_ft')]);
    await page.waitForFunction(() => /model\.safetensors/.test(document.querySelector('#ft-drop').textContent), null, { timeout: READY_TIMEOUT });
    assert.match(await page.locator('#zs-drop').textContent(), /config\.json/);
    await page.click('#load');
    await waitForState(page, log, 'ready', 'loading dropped model folders');
    assert.equal(await page.evaluate(() => document.body.dataset.models), 'loaded');

    await dropPaths(page, '#drop', [path.join(tmp, 'photos')]);
    const cards = page.locator('article.photo');
    await page.waitForFunction(() => document.querySelectorAll('article.photo').length === 3, null, { timeout: READY_TIMEOUT });
    const truths = await cards.evaluateAll((els) => els.map((e) => `${e.dataset.image}=${e.dataset.truth}`).sort());
    assert.deepEqual(truths, ['gray.png=a dog', 'photo.png=a cat', 'wide.png=a dog']);
    await waitForResults(page, log, 0.5, ['photo.png', 'gray.png', 'wide.png']);
  } finally {
    await browser.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('local checkpoint files, a dropped photo, α from the keyboard', async () => {
  const browser = await launch(false);
  const { page, log } = await openPage(browser);
  try {
    await page.goto(`${site.url}/index.html?labels=${LABELS.join(',')}&templates=single`);
    await waitForState(page, log, 'ready', 'opening the page without models');
    assert.equal(await page.evaluate(() => document.body.dataset.models), 'none');
    await page.click('#custom summary');
    for (const [zone, dir] of [
      ['#zs-drop', 'a_zs'],
      ['#ft-drop', 'a_ft'],
    ]) {
      const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click(zone)]);
      const files = fs.readdirSync(path.join(FIXTURES, 'models', dir)).map((f) => path.join(FIXTURES, 'models', dir, f));
      await chooser.setFiles(files);
    }
    await page.click('#load');
    await waitForState(page, log, 'ready', 'loading local files');
    assert.equal(await page.evaluate(() => document.body.dataset.models), 'loaded');
    const origins = await page.$$eval('.dl', (els) => els.map((e) => e.dataset.origin));
    assert.ok(origins.every((o) => o === 'local'), `read from local files (${origins})`);

    const bytes = fs.readFileSync(path.join(FIXTURES, 'images/photo.jpg')).toString('base64');
    await page.evaluate((b64) => {
      const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([data], 'photo.jpg', { type: 'image/jpeg' }));
      document.querySelector('#drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, bytes);
    await waitForResults(page, log, 0.5, ['photo.jpg']);
    // …and a pasted one.
    const png = fs.readFileSync(path.join(FIXTURES, 'images/photo.png')).toString('base64');
    await page.evaluate((b64) => {
      const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([data], 'photo.png', { type: 'image/png' }));
      document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    }, png);
    await waitForResults(page, log, 0.5, ['photo.jpg', 'photo.png']);

    let bars = await readBars(page);
    compare(bars, cliReference('a', 0.5), 'merged', 0.5, 'local files', ['photo.jpg']);
    await page.focus('#alpha');
    await page.keyboard.press('End');
    await waitForResults(page, log, 1, ['photo.jpg']);
    bars = await readBars(page);
    compare(bars, cliReference('a', 1), 'merged', 1, 'local files', ['photo.jpg']);
    await page.keyboard.press('ArrowLeft');
    await waitForResults(page, log, 0.99, ['photo.jpg']);
    assert.match(page.url(), /alpha=0\.99/, 'the address keeps α');
  } finally {
    await browser.close();
  }
});

test('a hub mirror set in the page: hub ids and huggingface.co addresses load from it; classified like the CLI', async () => {
  const browser = await launch(false);
  const { page, log } = await openPage(browser);
  try {
    // The bare page loads its offline default first; its status lines must not race ours.
    await page.goto(`${site.url}/index.html`);
    await waitForState(page, log, 'ready', 'the offline default');
    await page.locator('#custom').evaluate((d) => { d.open = true; });
    await page.fill('#hub-endpoint', 'ftp://nowhere');
    await page.locator('#hub-endpoint').dispatchEvent('change');
    assert.match(await page.locator('#model-status').textContent(), /not a hub address/);
    const mirror = `${models.url}/mirror`;
    await page.fill('#hub-endpoint', `${mirror}/`);
    await page.locator('#hub-endpoint').dispatchEvent('change');
    assert.match(await page.locator('#model-status').textContent(), new RegExp(`now come from ${mirror.replace(/[.]/g, '\\.')}`));

    // A shared link names a hub id and a huggingface.co address; this browser's mirror serves both.
    const hubFt = 'https://huggingface.co/test/a_ft/resolve/main/model.safetensors';
    await page.goto(pageUrl({ zs: 'test/a_zs', ft: hubFt, labels: LABELS.join(','), alpha: 0.35 }));
    assert.equal(await page.inputValue('#hub-endpoint'), mirror, 'the mirror is remembered');
    await waitForState(page, log, 'ready', 'loading through the mirror');
    await page.setInputFiles('#photos', GOOD_IMAGES.map((i) => path.join(FIXTURES, 'images', i)));
    await waitForResults(page, log, 0.35);
    const checked = compare(await readBars(page), cliReference('a', 0.35), 'merged', 0.35, 'through the mirror');
    assert.ok(checked > 0);
    for (const repo of ['test/a_zs', 'test/a_ft']) {
      assert.ok(models.requests.some((r) => r.startsWith(`GET /mirror/${repo}/resolve/main/model.safetensors`)), `${repo} came from the mirror: ${models.requests.join(', ')}`);
    }
    assert.equal(await page.inputValue('#ft-url'), hubFt, 'the link keeps the huggingface.co address');
    console.log(`# hub mirror: ${checked} probabilities within ${TOLERANCE} of the CLI`);
  } finally {
    await browser.close();
  }
});
