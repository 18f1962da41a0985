// The offline default (issues 6, 12): with every request to anything but this machine blocked, a bare
// visit loads the built-in generated-world pair from the site itself, classifies its shipped sample
// photos, and the lecture sweep over them shows the WiSE-FT picture recorded in eval.json.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { OUT, READY_TIMEOUT as TIMEOUT, ROOT, launch } from './env.mjs';
import { offTheInternet, useBuiltSite, waitReady, watch } from './watch.mjs';

const EXPECTED = JSON.parse(fs.readFileSync(path.join(ROOT, 'www/models/toy/samples_expected.json'), 'utf8'));

const served = useBuiltSite();

test('offline default: the generated-world pair loads from the site, classifies its samples, and the sweep shows WiSE-FT', { timeout: 600000 }, async () => {
  const browser = await launch(false);
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, acceptDownloads: true });
  const blocked = await offTheInternet(context);
  const page = await context.newPage();
  const log = watch(page);
  const ready = (what) => waitReady(page, log, what, TIMEOUT);
  try {
    await page.goto(`${served().url}/index.html`);
    await ready('a bare visit loading the offline default');
    assert.equal(await page.locator('#preset').inputValue(), 'toy', 'the generated world is the default preset');
    assert.equal(await page.locator('#preset option[value="toy-sketch"]').count(), 1, 'the destructive sketch fine-tune is offered too');

    // The shipped samples arrive labelled (folder = label) and in their sets (task / shift).
    await page.locator('#samples').click();
    const n = EXPECTED.task.images + EXPECTED.shift.images;
    await page.waitForFunction((n) => document.querySelectorAll('article.photo').length === n, n, { timeout: TIMEOUT });
    await ready('classifying the samples');
    const probs = await page.locator('[data-model="merged"][data-prob]').count();
    assert.ok(probs >= n, `merged bars for every sample (${probs})`);
    await page.screenshot({ path: path.join(OUT, 'toy-ready.png') });

    // The lecture sweep over the samples.
    await page.locator('#lecture-toggle').click();
    await page.locator('#sweep').click();
    await page.waitForFunction(() => ['done', 'failed'].includes(document.querySelector('#lecture').dataset.sweep), null, { timeout: TIMEOUT * 3, polling: 200 });
    assert.equal(await page.locator('#lecture').getAttribute('data-sweep'), 'done', `sweep: ${await page.locator('#sweep-status').textContent()}`);
    assert.deepEqual(JSON.parse(await page.locator('#lecture').getAttribute('data-points')), { task: 21, other: 21 });
    const [dl] = await Promise.all([page.waitForEvent('download', { timeout: TIMEOUT }), page.locator('#export-csv').click()]);
    const rows = fs.readFileSync(await dl.path(), 'utf8').trim().split('\n').map((l) => l.split(','));
    const head = rows[0];
    const acc = (set, alpha) => {
      const r = rows.find((x) => x[0] === 'set' && x[head.indexOf('set')] === set && Number(x[head.indexOf('alpha')]) === alpha);
      return Number(r[head.indexOf('accuracy')]);
    };
    // The same numbers as the PyTorch evaluation of these samples (to one photo), and its direction.
    for (const [k, alpha] of EXPECTED.alpha.entries()) {
      for (const [set, name] of [['task', 'fine-tuning task'], ['shift', 'everything else']]) {
        const got = acc(name, alpha);
        assert.ok(Math.abs(got - EXPECTED[set].accuracy[k]) < 1.5 / EXPECTED[set].images, `${set} at α=${alpha}: page ${got}, PyTorch ${EXPECTED[set].accuracy[k]}`);
      }
    }
    assert.ok(acc('fine-tuning task', 1) > acc('fine-tuning task', 0), 'task accuracy rises with α');
    // (The shape of the shift curve is a claim about thousands of held-out pictures, eval.json,
    // checked in tests/toy.rs; on these 56 samples the page only has to agree with PyTorch.)
    // 104 photos: drawn together in one chart of fixed height, not 26 rows of small charts.
    assert.equal(await page.locator('#plot-photos').getAttribute('data-mode'), 'together');
    assert.equal(await page.locator('#plot-photos').evaluate((c) => c.height / c.width), 500 / 800);
    for (const id of ['plot-acc', 'plot-pareto', 'plot-photos']) await page.locator(`#${id}`).screenshot({ path: path.join(OUT, `toy-${id}.png`) });
    console.log(`# blocked non-local requests: ${blocked.length ? blocked.join(' ') : 'none'}`);
  } finally {
    await browser.close();
  }
});

// The browser benchmark (?bench=1, driven at ViT-B/32 size by scripts/bench/browser.sh) runs here
// on the small pair so that it cannot rot: every timing is there and positive.
test('bench=1 times the loaded pair in the worker and leaves the result in data-result', { timeout: 300000 }, async () => {
  const browser = await launch(false);
  try {
    const page = await browser.newPage();
    await page.goto(`${served().url}/index.html?preset=toy&bench=1&runs=2&prompts=5`);
    await page.waitForFunction(() => document.body.dataset.result, null, { timeout: TIMEOUT, polling: 100 });
    const r = JSON.parse(await page.evaluate(() => document.body.dataset.result));
    assert.equal(r.error, undefined, `bench failed: ${r.error}`);
    assert.match(r.backend, /CPU/);
    assert.equal(r.prompts, 5);
    for (const k of ['load_s', 'merge_s', 'image_b1_s', 'image_b8_s', 'text5_s', 'gflops_b8', 'checkpoint_mb', 'wasm_memory_mb']) {
      assert.ok(Number.isFinite(r[k]) && r[k] > 0, `${k} = ${r[k]}`);
    }
    // The α is back where the page had it, and the page is usable afterwards.
    await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: TIMEOUT });
  } finally {
    await browser.close();
  }
});
