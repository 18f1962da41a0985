// The threaded CPU engine (issue 18): served cross-origin isolated (COOP + COEP, as scripts/serve.sh
// does), the worker loads the threaded build and splits the CPU engine's work
// over a pool of Web Workers on one shared memory; its probabilities are the same bit for bit on
// every thread count (build=threaded&threads=1 against all cores), and within 1e-5 of the
// single-threaded build's (threads=1), whose GEMM rounds each product before the sum where the
// threaded build's relaxed SIMD fuses them; both agree with PyTorch's evaluation of the samples
// (toy.test.mjs). Served without the headers, the page runs one thread and says why.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { DIST, OUT, READY_TIMEOUT as TIMEOUT, ROOT, launch } from './env.mjs';
import { serve } from './server.mjs';
import { offTheInternet, useBuiltSite, waitReady, watch } from './watch.mjs';

const EXPECTED = JSON.parse(fs.readFileSync(path.join(ROOT, 'www/models/toy/samples_expected.json'), 'utf8'));

const served = useBuiltSite('threaded/wiseft-worker_bg.wasm', { isolated: true });

/**
 * Loads the toy pair on the CPU at `query`, classifies the samples; the bars and the badge.
 * `withoutRelaxedSimd`: the worker's loader is served with `WebAssembly.validate` answering false
 * to its relaxed-SIMD probe, as a browser without the proposal answers (Chromium cannot switch it
 * off, and Playwright's init scripts do not reach workers).
 */
async function classifySamples(browser, url, what, { withoutRelaxedSimd = false } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  await offTheInternet(context);
  if (withoutRelaxedSimd) {
    await context.route('**/www/worker-loader.js*', async (route) => {
      const response = await route.fetch();
      const probe = 'const realValidate = WebAssembly.validate; WebAssembly.validate = (bytes) => (bytes.length === 36 ? false : realValidate(bytes));\n';
      await route.fulfill({ response, body: probe + (await response.text()) });
    });
  }
  const page = await context.newPage();
  const log = watch(page);
  try {
    await page.goto(url);
    await waitReady(page, log, what, TIMEOUT);
    await page.locator('#samples').click();
    const n = EXPECTED.task.images + EXPECTED.shift.images;
    await page.waitForFunction((n) => document.querySelectorAll('article.photo').length === n, n, { timeout: TIMEOUT });
    await waitReady(page, log, `${what}: classifying the samples`, TIMEOUT);
    const bars = await page.$$eval('li.bar[data-prob]', (els) => els.map((e) => ({ image: e.dataset.image, model: e.dataset.model, label: e.dataset.label, prob: Number(e.dataset.prob) })));
    const badge = { name: await page.locator('#backend strong').textContent(), title: await page.locator('#backend').getAttribute('title') };
    const isolated = await page.evaluate(() => self.crossOriginIsolated);
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    return { bars, badge, isolated, cores, page, log, close: () => context.close() };
  } catch (e) {
    await context.close();
    throw e;
  }
}

test('cross-origin isolated: the threaded CPU engine uses every core, the same bits on one thread, and the single-threaded build within 1e-5', { timeout: 900000 }, async () => {
  const browser = await launch(false);
  try {
    const threaded = await classifySamples(browser, `${served().url}/index.html?preset=toy&backend=cpu`, 'threaded build');
    assert.ok(threaded.isolated, 'the e2e server sends COOP/COEP, so the page is cross-origin isolated');
    const n = Math.min(threaded.cores, 16);
    if (n > 1) {
      assert.match(threaded.badge.name, new RegExp(`WebAssembly SIMD, ${n} threads`), `the badge: ${threaded.badge.name}`);
      assert.match(threaded.badge.title, new RegExp(`${n} threads \\(${threaded.cores} cores reported, cross-origin isolated\\), with relaxed SIMD's fused multiply-add`));
    }
    await threaded.page.screenshot({ path: path.join(OUT, 'threads-badge.png') });
    await threaded.close();

    const one = await classifySamples(browser, `${served().url}/index.html?preset=toy&backend=cpu&build=threaded&threads=1`, 'threaded build on one thread');
    assert.match(one.badge.name, /WebAssembly SIMD, one thread/, `the badge: ${one.badge.name}`);
    assert.match(one.badge.title, /1 thread of the threaded build .*relaxed SIMD/, `the badge's why: ${one.badge.title}`);
    await one.close();

    const single = await classifySamples(browser, `${served().url}/index.html?preset=toy&backend=cpu&threads=1`, 'single-threaded build (threads=1)');
    assert.match(single.badge.name, /WebAssembly SIMD, one thread/, `the badge: ${single.badge.name}`);
    assert.match(single.badge.title, /one thread: threads=1 in the address/);
    await single.close();

    assert.equal(threaded.bars.length, single.bars.length, 'the same bars');
    assert.equal(threaded.bars.length, one.bars.length, 'the same bars');
    assert.ok(threaded.bars.length >= 3 * 5 * (EXPECTED.task.images + EXPECTED.shift.images), `three columns of top-5 bars per sample (${threaded.bars.length} bars)`);
    // Same bars in the same order, same bits on n threads and on one: the threads split whole
    // outputs, never one sum.
    threaded.bars.forEach((b, i) => {
      const o = one.bars[i];
      assert.deepEqual([b.image, b.model, b.label], [o.image, o.model, o.label], `bar ${i}`);
      assert.equal(b.prob, o.prob, `bar ${i} (${b.image} ${b.model} ${b.label}): ${n} threads ${b.prob}, one thread ${o.prob}`);
    });
    // The single-threaded build: the same bars, the probabilities within 1e-5 (fused or not).
    let worst = 0;
    threaded.bars.forEach((b, i) => {
      const o = single.bars[i];
      assert.deepEqual([b.image, b.model, b.label], [o.image, o.model, o.label], `bar ${i}`);
      worst = Math.max(worst, Math.abs(b.prob - o.prob));
      assert.ok(Math.abs(b.prob - o.prob) <= 1e-5, `bar ${i} (${b.image} ${b.model} ${b.label}): threaded ${b.prob}, single-threaded build ${o.prob}`);
    });
    console.log(`# ${threaded.bars.length} bars equal bit for bit on ${n} threads and on one; the single-threaded build's within ${worst.toExponential(2)}`);
  } finally {
    await browser.close();
  }
});

test('served without COOP/COEP: one thread, and the badge says why', { timeout: 600000 }, async () => {
  const plain = await serve({ root: DIST, isolated: false });
  const browser = await launch(false);
  try {
    const r = await classifySamples(browser, `${plain.url}/index.html?preset=toy&backend=cpu`, 'a site without cross-origin isolation');
    assert.equal(r.isolated, false);
    assert.match(r.badge.name, /WebAssembly SIMD, one thread/, `the badge: ${r.badge.name}`);
    assert.match(r.badge.title, /one thread: the page is not cross-origin isolated/);
    assert.ok(!plain.requests.some((q) => q.includes('/threaded/')), 'the threaded build is not even fetched');
    await r.close();
  } finally {
    await browser.close();
    await plain.close();
  }
});

test('cross-origin isolated, but a browser without relaxed SIMD: the single-threaded build, and the badge says why', { timeout: 600000 }, async () => {
  const browser = await launch(false);
  try {
    const from = served().requests.length;
    const r = await classifySamples(browser, `${served().url}/index.html?preset=toy&backend=cpu`, 'no relaxed SIMD', { withoutRelaxedSimd: true });
    assert.ok(r.isolated);
    assert.match(r.badge.name, /WebAssembly SIMD, one thread/, `the badge: ${r.badge.name}`);
    assert.match(r.badge.title, /one thread: this browser lacks WebAssembly relaxed SIMD/, `the badge's why: ${r.badge.title}`);
    assert.ok(!served().requests.slice(from).some((q) => q.includes('/threaded/')), 'the threaded build is not fetched');
    // The samples are still classified, on the single-threaded build.
    assert.ok(r.bars.length >= 3 * 5 * (EXPECTED.task.images + EXPECTED.shift.images), `${r.bars.length} bars`);
    await r.close();
  } finally {
    await browser.close();
  }
});
