// The threaded CPU engine (issue 18): served cross-origin isolated (COOP + COEP, as scripts/serve.sh
// does), the worker loads the threaded build and splits the CPU engine's work
// over a pool of Web Workers on one shared memory; its probabilities are the single-threaded
// build's bit for bit (threads=1), and those agree with PyTorch's evaluation of the samples. Served
// without the headers, the page runs one thread and says why.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { DIST, OUT, READY_TIMEOUT as TIMEOUT, ROOT, launch } from './env.mjs';
import { serve } from './server.mjs';
import { offTheInternet, useBuiltSite, waitReady, watch } from './watch.mjs';

const EXPECTED = JSON.parse(fs.readFileSync(path.join(ROOT, 'www/models/toy/samples_expected.json'), 'utf8'));

const served = useBuiltSite('threaded/wiseft-worker_bg.wasm', { isolated: true });

/** Loads the toy pair on the CPU at `query`, classifies the samples; the bars and the badge. */
async function classifySamples(browser, url, what) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  await offTheInternet(context);
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

test('cross-origin isolated: the threaded CPU engine uses every core and equals the single-threaded build bit for bit', { timeout: 900000 }, async () => {
  const browser = await launch(false);
  try {
    const threaded = await classifySamples(browser, `${served().url}/index.html?preset=toy&backend=cpu`, 'threaded build');
    assert.ok(threaded.isolated, 'the e2e server sends COOP/COEP, so the page is cross-origin isolated');
    const n = Math.min(threaded.cores, 16);
    if (n > 1) {
      assert.match(threaded.badge.name, new RegExp(`WebAssembly SIMD, ${n} threads`), `the badge: ${threaded.badge.name}`);
      assert.match(threaded.badge.title, new RegExp(`${n} threads \\(${threaded.cores} cores reported, cross-origin isolated\\)`));
    }
    await threaded.page.screenshot({ path: path.join(OUT, 'threads-badge.png') });
    await threaded.close();

    const single = await classifySamples(browser, `${served().url}/index.html?preset=toy&backend=cpu&threads=1`, 'single-threaded build (threads=1)');
    assert.match(single.badge.name, /WebAssembly SIMD, one thread/, `the badge: ${single.badge.name}`);
    assert.match(single.badge.title, /one thread: threads=1 in the address/);
    await single.close();

    // Same bars in the same order, same bits: the threads split whole outputs, never one sum.
    // (Against PyTorch: toy.test.mjs, whose site is isolated too, so it runs this threaded build.)
    assert.equal(threaded.bars.length, single.bars.length, 'the same bars');
    assert.ok(threaded.bars.length >= 3 * 5 * (EXPECTED.task.images + EXPECTED.shift.images), `three columns of top-5 bars per sample (${threaded.bars.length} bars)`);
    threaded.bars.forEach((b, i) => {
      const o = single.bars[i];
      assert.deepEqual([b.image, b.model, b.label], [o.image, o.model, o.label], `bar ${i}`);
      assert.equal(b.prob, o.prob, `bar ${i} (${b.image} ${b.model} ${b.label}): threaded ${b.prob}, one thread ${o.prob}`);
    });
    console.log(`# ${threaded.bars.length} bars equal bit for bit on ${n} threads and on one`);
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
