// The link the audience scans and the phones they scan it with (issue 17): the share dialog's QR
// code decodes (jsQR, a real decoder, on a screenshot of the code as shown) to the page's address;
// that address opened at 360 × 740 on a touch screen without WebGPU restores the same setup, has no
// horizontal scrolling, a touchable α slider, photos from the camera app, and says how much a large
// preset downloads and needs in memory before anything is downloaded. Screenshots at 360 × 740,
// 1280 × 720 and of the presenter view at 1920 × 1080.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { DIST, OUT, READY_TIMEOUT as TIMEOUT, ROOT, fakeCameraArgs, launch } from './env.mjs';
import { offTheInternet, waitReady, watch } from './watch.mjs';
import { serve } from './server.mjs';
import { writeFakeCamera } from './fake-camera.mjs';

const JSQR = path.join(ROOT, 'node_modules/jsqr/dist/jsQR.js');
const PHONE = { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

let site;
let browser;

before(async () => {
  assert.ok(fs.existsSync(path.join(DIST, 'index.html')), `no built site at ${DIST}: run \`trunk build --release\``);
  assert.ok(fs.existsSync(JSQR), 'jsqr (a devDependency) is not installed: run `npm ci`');
  fs.mkdirSync(OUT, { recursive: true });
  site = await serve({ root: DIST });
  const video = path.join(OUT, 'fake-camera-phone.y4m');
  const maker = await launch(false);
  try {
    await writeFakeCamera(maker, [path.join(ROOT, 'www/samples/toy/task/star/photo-0.png')], video, { size: 64, hold: 4, fps: 8 });
  } finally {
    await maker.close();
  }
  browser = await launch(false, fakeCameraArgs(video));
});

after(async () => {
  await browser?.close();
  await site?.close();
});

/** A page whose requests off this machine are refused and recorded. */
async function open(options) {
  const context = await browser.newContext(options);
  const blocked = await offTheInternet(context);
  const page = await context.newPage();
  const log = watch(page);
  const ready = (what) => waitReady(page, log, what, TIMEOUT);
  return { context, page, blocked, ready };
}

/** No horizontal scrolling: nothing is wider than the screen (on a mobile viewport the browser
 *  would widen the layout to fit, so the width is the device's, not innerWidth). */
async function assertNoSideScroll(page, what) {
  const { scroll, width, wide } = await page.evaluate((width) => ({
    scroll: document.documentElement.scrollWidth,
    width,
    wide: [...document.querySelectorAll('body *')]
      .filter((e) => e.getClientRects().length && e.getBoundingClientRect().right > width + 0.5)
      .slice(0, 5)
      .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className} (${Math.round(e.getBoundingClientRect().right)} px)`),
  }), page.viewportSize().width);
  assert.ok(scroll <= width, `${what}: the page is ${scroll} px wide in a ${width} px viewport; too wide: ${wide.join(', ')}`);
}

test('share: the QR code decodes to the page address, which restores the setup on a phone (360 × 740)', { timeout: 600000 }, async () => {
  const desk = await open({ viewport: { width: 1280, height: 720 } });
  let link;
  try {
    await desk.page.goto(`${site.url}/index.html`);
    await desk.ready('the desktop page');
    await desk.page.locator('#alpha').fill('0.35');
    await desk.page.locator('#lecture-toggle').click();
    await desk.page.waitForFunction(() => location.search.includes('alpha=0.35') && location.search.includes('lecture=1'));
    await desk.page.locator('#share').click();
    const qr = desk.page.locator('#share-qr svg');
    await qr.waitFor();
    const box = await qr.boundingBox();
    assert.ok(box.width >= 480 && box.height >= 480, `the QR code is large on a 1280 × 720 screen (${box.width} × ${box.height} px)`);
    await desk.page.screenshot({ path: path.join(OUT, 'share-1280x720.png') });
    // Decode what is on the screen.
    const png = (await qr.screenshot()).toString('base64');
    await desk.page.addScriptTag({ path: JSQR });
    const decoded = await desk.page.evaluate(async (b64) => {
      const bitmap = await createImageBitmap(new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], { type: 'image/png' }));
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const ctx = canvas.getContext('2d');
      ctx.drawImage(bitmap, 0, 0);
      const img = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
      return window.jsQR(img.data, img.width, img.height)?.data ?? null;
    }, png);
    link = await desk.page.evaluate(() => location.href);
    assert.equal(decoded, link, 'the QR code says the page address');
    assert.equal(await desk.page.locator('#share-link').textContent(), link, 'and the link is shown as text');
    assert.match(link, /[?&]preset=toy/);
    await desk.page.locator('#share-close').click();
  } finally {
    await desk.context.close();
  }

  // Scanned on a phone: the same setup, on the CPU engine (no WebGPU here).
  const phone = await open(PHONE);
  try {
    await phone.page.goto(link);
    await phone.ready('the phone, from the scanned link');
    assert.equal(await phone.page.locator('#preset').inputValue(), 'toy');
    assert.equal(await phone.page.locator('#alpha-out').textContent(), '0.35');
    assert.ok(await phone.page.locator('#lecture').isVisible(), 'lecture mode as shared');
    assert.match(await phone.page.locator('#backend').textContent(), /CPU/);
    await phone.page.locator('#samples').click();
    await phone.page.waitForFunction(() => document.querySelectorAll('li.bar[data-model="merged"]').length > 0 && document.body.dataset.state === 'ready', null, { timeout: TIMEOUT, polling: 100 });
    await assertNoSideScroll(phone.page, 'the phone with photos and lecture mode');
    await phone.page.evaluate(() => window.scrollTo(0, 0));
    await phone.page.screenshot({ path: path.join(OUT, 'phone-360x740.png') });
    await phone.page.locator('article.photo').first().scrollIntoViewIfNeeded();
    await phone.page.screenshot({ path: path.join(OUT, 'phone-360x740-photos.png') });

    // α by touch: a tap at 80 % of the slider's width.
    const slider = phone.page.locator('#alpha');
    await slider.scrollIntoViewIfNeeded();
    const s = await slider.boundingBox();
    assert.ok(s.height >= 14, `the slider is tall enough to touch (${s.height} px)`);
    await phone.page.touchscreen.tap(s.x + 0.8 * s.width, s.y + s.height / 2);
    await phone.page.waitForFunction(() => Math.abs(Number(document.querySelector('#alpha-out').textContent) - 0.8) <= 0.04, null, { timeout: 5000 })
      .catch(async () => assert.fail(`a tap at 80 % moved α to ${await phone.page.locator('#alpha-out').textContent()}`));

    // The live camera view on the phone (back camera first).
    await phone.context.grantPermissions(['camera'], { origin: site.url });
    await phone.page.locator('#camera-open').click();
    await phone.page.waitForFunction(() => Number(document.querySelector('#camera-card').dataset.frames || 0) >= 2, null, { timeout: TIMEOUT, polling: 100 });
    assert.deepEqual((await phone.page.locator('#camera-choice option').allTextContents()).slice(0, 2), ['Back camera', 'Front camera']);
    await assertNoSideScroll(phone.page, 'the phone with the camera view');
    await phone.page.locator('#camera-card').scrollIntoViewIfNeeded();
    await phone.page.screenshot({ path: path.join(OUT, 'phone-360x740-camera.png') });
    await phone.page.locator('#camera-close').click();

    // A photo from the camera app.
    const [chooser] = await Promise.all([phone.page.waitForEvent('filechooser'), phone.page.locator('#take-photo').click()]);
    assert.equal(await chooser.element().getAttribute('capture'), 'environment');
    assert.match(await chooser.element().getAttribute('accept'), /image\//);
    const before = await phone.page.locator('article.photo').count();
    await chooser.setFiles(path.join(ROOT, 'www/samples/toy/task/moon/photo-0.png'));
    await phone.page.waitForFunction((n) => document.querySelectorAll('article.photo').length === n + 1, before);
    // The camera roll: the photo picker takes any image.
    assert.match(await phone.page.locator('#photos').getAttribute('accept'), /image\/\*/);

    // A large preset on the CPU path: its size and memory said before anything is downloaded.
    await phone.page.locator('#preset').selectOption('eurosat');
    const note = phone.page.locator('#memory-note');
    // The engine's answer (src/session/limits.rs `memory_estimate`, asked of the worker).
    await phone.page.waitForSelector('#memory-note:not([data-pending])', { state: 'attached' });
    assert.ok(await note.isVisible(), 'a memory notice for a large preset on the CPU path');
    assert.match(await note.textContent(), /downloads \d+ MB and needs about \d+ MB of memory/);
    assert.ok(Number(await note.getAttribute("data-download-mb")) >= 600);
    assert.deepEqual(phone.blocked, [], 'nothing was downloaded for it');
    await assertNoSideScroll(phone.page, 'the phone with the memory notice');
    await note.scrollIntoViewIfNeeded();
    await phone.page.screenshot({ path: path.join(OUT, 'phone-360x740-large-preset.png') });
    await phone.page.locator('#preset').selectOption('toy');
    assert.ok(await note.isHidden(), 'no notice for the 6 MB generated world');
  } finally {
    await phone.context.close();
  }
});

test('presenter view on a 1080p projector and the page at 1280 × 720: legible, no side scrolling', { timeout: 600000 }, async () => {
  for (const [w, h, presenter] of [[1280, 720, false], [1920, 1080, true]]) {
    const { context, page, ready } = await open({ viewport: { width: w, height: h } });
    try {
      await page.goto(`${site.url}/index.html${presenter ? '?preset=toy&presenter=1' : ''}`);
      await ready(`${w} × ${h}`);
      await page.locator('#samples').click();
      await page.waitForFunction(() => document.querySelectorAll('li.bar[data-model="merged"]').length > 8 && document.body.dataset.state === 'ready', null, { timeout: TIMEOUT, polling: 100 });
      await assertNoSideScroll(page, `${w} × ${h}`);
      if (presenter) {
        // The sweep, so that the projector shows its plots.
        await page.locator('#sweep').click();
        await page.waitForFunction(() => ['done', 'failed'].includes(document.querySelector('#lecture').dataset.sweep), null, { timeout: TIMEOUT * 3, polling: 200 });
        assert.equal(await page.locator('#lecture').getAttribute('data-sweep'), 'done');
        const px = (sel) => page.locator(sel).first().evaluate((e) => parseFloat(getComputedStyle(e).fontSize));
        assert.ok((await px('body')) >= 18, 'presenter body type');
        assert.ok((await px('#alpha-out')) >= 26, 'presenter α read-out');
        assert.ok((await px('li.bar')) >= 18, 'presenter result bars');
        assert.ok((await px('.alpha-head label')) >= 24, 'presenter α label');
      }
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: path.join(OUT, presenter ? 'presenter-1920x1080.png' : 'page-1280x720.png') });
      if (presenter) {
        await page.locator('article.photo').first().scrollIntoViewIfNeeded();
        await page.screenshot({ path: path.join(OUT, 'presenter-1920x1080-photos.png') });
      }
    } finally {
      await context.close();
    }
  }
});
