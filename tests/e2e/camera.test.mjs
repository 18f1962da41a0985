// Camera mode (issue 17) in Chromium with a fake camera that plays a video made from the shipped
// samples: the live view is classified by the three models, frames never queue up behind the
// engine (one in flight), α moves the merged column live, "freeze" adds the frame on screen as a
// photo with its true label, the camera stops when the view is closed or the page hidden, nothing
// goes over the network — and the probabilities shown for a frame equal `wiseft classify` on the
// very PNG that was classified, at α = 0, the α shown and 1.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import path from 'node:path';

import { DIST, OUT, READY_TIMEOUT as TIMEOUT, ROOT, WISEFT, fakeCameraArgs, launch } from './env.mjs';
import { watch } from './watch.mjs';
import { serve } from './server.mjs';
import { writeFakeCamera } from './fake-camera.mjs';

const TOLERANCE = 1e-4;
const SAMPLES = ['circle', 'square', 'star', 'heart'].map((l) => path.join(ROOT, `www/samples/toy/task/${l}/photo-0.png`));
const TOY = path.join(ROOT, 'www/models/toy');
const VIDEO = path.join(OUT, 'fake-camera.y4m');

let site;

before(async () => {
  assert.ok(fs.existsSync(path.join(DIST, 'index.html')), `no built site at ${DIST}: run \`trunk build --release\``);
  fs.mkdirSync(OUT, { recursive: true });
  site = await serve({ root: DIST });
});

after(async () => {
  await site?.close();
});

/** Counts the add_images requests the page has in flight with the worker (set up before the page runs). */
function countFramesInFlight() {
  const Native = window.Worker;
  const stats = { inFlight: 0, max: 0, sent: 0 };
  window.__addImages = stats;
  window.Worker = class extends Native {
    constructor(...args) {
      super(...args);
      const pending = new Set();
      this.addEventListener('message', (e) => {
        if (e.data?.type === 'done' && pending.delete(e.data.seq)) stats.inFlight = pending.size;
      });
      const post = this.postMessage.bind(this);
      this.postMessage = (m, ...rest) => {
        if (m?.type === 'add_images') {
          pending.add(m.seq);
          stats.sent++;
          stats.inFlight = pending.size;
          stats.max = Math.max(stats.max, pending.size);
        }
        return post(m, ...rest);
      };
    }
  };
}

async function cli(alpha, labels, files) {
  const { stdout } = await promisify(execFile)(WISEFT, [
    'classify', '--json', '--device', 'cpu',
    '--zero-shot', path.join(TOY, 'zs'), '--fine-tuned', path.join(TOY, 'ft'),
    '--alpha', String(alpha), '--labels', labels.join(','), '--template', 'a photo of a {}.',
    ...files,
  ]);
  const json = JSON.parse(stdout);
  assert.deepEqual(json.labels, labels);
  return json.results.map((r) => {
    assert.ok(r.probs, `CLI could not classify ${r.image}: ${r.error}`);
    return r.probs;
  });
}

test('camera mode: live bars from a fake camera equal the CLI on the frames classified; freeze, α, stop', { timeout: 600000 }, async () => {
  assert.ok(WISEFT, 'the wiseft CLI is not built: run `cargo build --bin wiseft`');
  {
    const maker = await launch(false);
    try {
      const made = await writeFakeCamera(maker, SAMPLES, VIDEO, { size: 128, hold: 8, fps: 8 });
      console.log(`# fake camera: ${made.frames} frames, ${(made.bytes / 1e6).toFixed(1)} MB`);
    } finally {
      await maker.close();
    }
  }
  const browser = await launch(false, fakeCameraArgs(VIDEO));
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  await context.grantPermissions(['camera'], { origin: site.url });
  await context.addInitScript(countFramesInFlight);
  const page = await context.newPage();
  const log = watch(page);
  const network = [];
  try {
    await page.goto(`${site.url}/index.html`);
    await page
      .waitForFunction(() => document.body.dataset.state === 'ready' && document.body.dataset.models === 'loaded', null, { timeout: TIMEOUT, polling: 100 })
      .catch(() => assert.fail(`the toy pair did not load: ${log.join('\n')}`));
    const labels = (await page.locator('#labels').inputValue()).split('\n').map((s) => s.trim()).filter(Boolean);

    // From here on, nothing may go over the network: frames go to the worker only.
    page.on('request', (r) => /^https?:/.test(r.url()) && network.push(`${r.method()} ${r.url()}`));
    await page.locator('#camera-open').click();
    await page.waitForFunction(() => Number(document.querySelector('#camera-card').dataset.frames || 0) >= 6, null, { timeout: TIMEOUT, polling: 100 })
      .catch(async () => assert.fail(`no classified frames: ${await page.locator('#camera-status').textContent()}\n${log.join('\n')}`));
    assert.equal(await page.locator('#camera-card').getAttribute('data-camera'), 'on');
    const fps = Number(await page.locator('#camera-fps').getAttribute('data-fps'));
    assert.ok(fps > 0, `frames per second shown (${fps})`);
    console.log(`# camera: ${fps.toFixed(1)} classified frames/s (three models, CPU engine, 128×128 frames)`);
    const stats = await page.evaluate(() => ({ ...window.__addImages }));
    assert.equal(stats.max, 1, `frames never queue up: at most one in flight with the engine (${JSON.stringify(stats)})`);
    assert.ok(stats.sent >= 6);
    for (const m of ['zero-shot', 'merged', 'fine-tuned']) {
      assert.ok((await page.locator(`#camera-cols [data-model="${m}"] li.bar`).count()) > 0, `camera bars for ${m}`);
    }
    await page.locator('#camera-card').screenshot({ path: path.join(OUT, 'camera.png') });

    // α moves live: the camera's merged column follows the slider.
    await page.locator('#alpha').fill('0.3');
    await page.waitForFunction(() => [...document.querySelectorAll('#camera-cols [data-model="merged"] li.bar')].some((b) => Number(b.dataset.alpha) === 0.3), null, { timeout: TIMEOUT, polling: 50 });

    // Freeze frames until two different pictures were caught; each with its bars as shown.
    await page.locator('#lecture-toggle').click();
    await page.locator('#camera-truth').selectOption('circle');
    const frozen = [];
    for (let tries = 0; frozen.length < 2 && tries < 20; tries++) {
      await page.waitForFunction(() => [...document.querySelectorAll('#camera-cols [data-model="merged"] li.bar')].every((b) => Number(b.dataset.alpha) === 0.3), null, { timeout: TIMEOUT, polling: 50 });
      const snap = await page.evaluate(() => {
        const bars = [...document.querySelectorAll('#camera-cols li.bar')].map((b) => ({ model: b.dataset.model, label: b.dataset.label, prob: Number(b.dataset.prob), alpha: Number(b.dataset.alpha) }));
        const n = document.querySelector('#camera-card').dataset.frames;
        document.querySelector('#camera-freeze').click(); // in the same task: the frame on screen
        return { bars, n };
      });
      const name = `camera-${snap.n}.png`;
      const card = page.locator(`article.photo[data-image="${name}"]`);
      await card.waitFor({ timeout: TIMEOUT });
      const b64 = await card.locator('img').evaluate(async (img) => {
        const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
        let s = '';
        for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
        return btoa(s);
      });
      const bytes = Buffer.from(b64, 'base64');
      if (frozen.some((f) => f.bytes.equals(bytes))) {
        await page.waitForTimeout(400);
        continue;
      }
      const file = path.join(OUT, `camera-frame-${frozen.length + 1}.png`);
      fs.writeFileSync(file, bytes);
      assert.equal(await card.getAttribute('data-truth'), 'circle', 'a frozen frame carries the true label chosen');
      frozen.push({ ...snap, name, file, bytes });
      await page.waitForTimeout(600);
    }
    assert.equal(frozen.length, 2, 'two different frames were frozen');
    assert.ok(frozen.every((f) => f.bytes.subarray(1, 4).toString() === 'PNG'), 'frames are PNGs (lossless)');

    // The CLI on the same PNGs: zero-shot (α = 0), merged (the α shown), fine-tuned (α = 1).
    const files = frozen.map((f) => f.file);
    const ref = { 'zero-shot': await cli(0, labels, files), merged: await cli(0.3, labels, files), 'fine-tuned': await cli(1, labels, files) };
    let checked = 0;
    for (const [k, f] of frozen.entries()) {
      for (const b of f.bars) {
        const want = ref[b.model][k][labels.indexOf(b.label)];
        assert.ok(Math.abs(b.prob - want) <= TOLERANCE, `${f.name} ${b.model} ${b.label}: page ${b.prob}, CLI ${want}`);
        checked++;
      }
      // The frozen photo's own bars (classified again from the same bytes) agree too.
      const bars = await page.$$eval(`li.bar[data-image="${f.name}"]`, (els) => els.map((e) => ({ model: e.dataset.model, label: e.dataset.label, prob: Number(e.dataset.prob) })));
      assert.ok(bars.length >= 3);
      for (const b of bars) assert.ok(Math.abs(b.prob - ref[b.model][k][labels.indexOf(b.label)]) <= TOLERANCE, `photo ${f.name} ${b.model} ${b.label}`);
    }
    assert.ok(checked >= 2 * 3 * 5, `camera bars checked against the CLI: ${checked}`);
    await page.screenshot({ path: path.join(OUT, 'camera-frozen.png') });

    // A hidden page stops the camera, a shown one starts it again; closing the view stops it.
    const ended = async () => page.evaluate(() => window.__track?.readyState);
    await page.evaluate(() => (window.__track = document.querySelector('#camera-video').srcObject.getVideoTracks()[0]));
    await page.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    assert.equal(await page.locator('#camera-card').getAttribute('data-camera'), 'paused');
    assert.equal(await ended(), 'ended', 'the camera track stops while the page is hidden');
    await page.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await page.waitForFunction(() => document.querySelector('#camera-card').dataset.camera === 'on', null, { timeout: TIMEOUT });
    await page.evaluate(() => (window.__track = document.querySelector('#camera-video').srcObject.getVideoTracks()[0]));
    await page.locator('#camera-close').click();
    assert.equal(await ended(), 'ended', 'closing the view stops the camera');
    assert.ok(await page.locator('#camera-card').isHidden());
    assert.deepEqual(network, [], 'nothing went over the network while the camera ran');
  } finally {
    await browser.close();
  }
});
