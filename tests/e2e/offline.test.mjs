// "Prepare for offline" (issue 17): the page stores the site (service worker + its own cache) and
// the chosen checkpoints (the engine's model cache), says how much space that took, and then —
// with the site's server gone and the browser offline — opens and works: the preset loads, the
// samples are classified, the lecture sweep runs, the camera runs. An update of the site replaces
// the stored copy (the next offline visit runs the new version) and keeps the stored models.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { DIST, OUT, READY_TIMEOUT as TIMEOUT, ROOT, fakeCameraArgs, launch } from './env.mjs';
import { waitReady, watch } from './watch.mjs';
import { serve } from './server.mjs';
import { writeFakeCamera } from './fake-camera.mjs';

const MODELS = ['www/models/toy/zs/model.safetensors', 'www/models/toy/ft/model.safetensors'];
let tmp;

before(() => {
  assert.ok(fs.existsSync(path.join(DIST, 'site-files.json')), `no built site with site-files.json at ${DIST}: run \`trunk build --release\``);
  fs.mkdirSync(OUT, { recursive: true });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wiseft-offline-'));
});

after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('prepare for offline, then the page works with the network gone; an update replaces the stored site, not the models', { timeout: 600000 }, async () => {
  // Two builds of the site: as built, and an "update" that changes one file (its manifest anew).
  const v1 = path.join(tmp, 'v1');
  const v2 = path.join(tmp, 'v2');
  fs.cpSync(DIST, v1, { recursive: true });
  fs.cpSync(DIST, v2, { recursive: true });
  fs.appendFileSync(path.join(v2, 'www/style.css'), '\n/* the next version of the site */\n');
  await promisify(execFile)(path.join(ROOT, 'scripts/site-manifest.sh'), [v2]);
  const version = (dir) => JSON.parse(fs.readFileSync(path.join(dir, 'site-files.json'), 'utf8')).version;
  assert.notEqual(version(v1), version(v2));

  const video = path.join(OUT, 'fake-camera-offline.y4m');
  {
    const maker = await launch(false);
    try {
      await writeFakeCamera(maker, ['circle', 'star'].map((l) => path.join(ROOT, `www/samples/toy/task/${l}/photo-0.png`)), video, { size: 64, hold: 4, fps: 8 });
    } finally {
      await maker.close();
    }
  }
  const browser = await launch(false, fakeCameraArgs(video));
  let site = await serve({ root: v1 });
  const port = site.port;
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  await context.grantPermissions(['camera'], { origin: site.url });
  const page = await context.newPage();
  const log = watch(page);
  const ready = (what) => waitReady(page, log, what, TIMEOUT);
  const offlineState = (wanted) =>
    page.waitForFunction((w) => w.includes(document.querySelector('#offline-status').dataset.offline), wanted, { timeout: TIMEOUT, polling: 100 });
  const goOffline = async () => {
    await site.close();
    await context.setOffline(true);
  };
  const goOnline = async (root) => {
    site = await serve({ root, port });
    await context.setOffline(false);
  };
  try {
    await page.goto(`${site.url}/index.html`);
    await ready('the first visit');
    await page.locator('#offline-prepare').click();
    await offlineState(['ready', 'partial', 'failed']);
    const status = page.locator('#offline-status');
    assert.equal(await status.getAttribute('data-offline'), 'ready', await status.textContent());
    const text = await status.textContent();
    assert.match(text, /Ready for offline: the site \(\d+ files, [\d.]+ (MB|kB)\) and 2 checkpoint\(s\) \([\d.]+ MB\)/);
    const modelBytes = MODELS.reduce((n, m) => n + fs.statSync(path.join(DIST, m)).size, 0);
    assert.equal(Number(await status.getAttribute('data-model-bytes')), modelBytes, 'the space the checkpoints take');
    const manifest = JSON.parse(fs.readFileSync(path.join(v1, 'site-files.json'), 'utf8'));
    assert.equal(Number(await status.getAttribute('data-site-bytes')), manifest.files.reduce((n, f) => n + f.bytes, 0));
    console.log(`# ${text}`);
    await page.screenshot({ path: path.join(OUT, 'offline-prepared.png') });

    // The network gone: the server is stopped and the browser offline.
    await goOffline();
    await page.reload();
    await ready('offline, the reload');
    assert.ok(await page.evaluate(() => navigator.serviceWorker.controller !== null), 'the service worker answers the page');
    assert.equal(await page.locator('#offline-status').getAttribute('data-running'), version(v1));
    await offlineState(['offline']);
    await page.locator('#samples').click();
    const n = (await page.evaluate(() => document.querySelector('#samples').textContent.match(/\d+/)[0])) * 1;
    await page.waitForFunction((n) => document.querySelectorAll('article.photo').length === n && document.querySelectorAll('li.bar[data-model="merged"]').length >= n, n, { timeout: TIMEOUT, polling: 200 });
    await page.locator('#lecture-toggle').click();
    await page.locator('#sweep').click();
    await page.waitForFunction(() => ['done', 'failed'].includes(document.querySelector('#lecture').dataset.sweep), null, { timeout: TIMEOUT * 3, polling: 200 });
    assert.equal(await page.locator('#lecture').getAttribute('data-sweep'), 'done', await page.locator('#sweep-status').textContent());
    await page.locator('#camera-open').click();
    await page.waitForFunction(() => Number(document.querySelector('#camera-card').dataset.frames || 0) >= 2, null, { timeout: TIMEOUT, polling: 100 });
    await page.screenshot({ path: path.join(OUT, 'offline-working.png') });
    await page.locator('#camera-close').click();

    // The site is updated: the next online visit stores the new copy (and keeps the models) …
    await goOnline(v2);
    await page.reload();
    await offlineState(['updated']);
    assert.equal(await page.locator('#offline-status').getAttribute('data-version'), version(v2));
    const caches = await page.evaluate(async () => {
      const names = await caches.keys();
      const models = await caches.open('wiseft-models-v1');
      return { names, models: (await models.keys()).map((r) => new URL(r.url).pathname) };
    });
    assert.deepEqual(caches.names.filter((c) => c.startsWith('wiseft-site-')), [`wiseft-site-${version(v2)}`], 'one stored copy of the site, the new one');
    for (const m of MODELS) assert.ok(caches.models.includes(`/${m}`), `the model cache still holds ${m}`);
    await ready('online after the update');
    assert.equal(MODELS.reduce((k, m) => k + site.count(`/${m}`), 0), 0, 'the checkpoints came from the model cache, not the network');

    // … which the next offline visit runs.
    await goOffline();
    await page.reload();
    await ready('offline, after the update');
    assert.equal(await page.locator('#offline-status').getAttribute('data-running'), version(v2));
    const css = await page.evaluate(async () => (await fetch('www/style.css')).text());
    assert.match(css, /the next version of the site/);
  } finally {
    await browser.close();
    await site.close().catch(() => {});
  }
});
