// Hostile networks and links that ask (issue 15, items 2 and 5), in headless Chromium against the
// test's own servers: a stalled connection, a server that ignores Range on resume, a file that
// changed between attempts, a web page answered with 200, a host without CORS headers (a second
// port), a redirect loop and a Content-Length that lies; then a link naming a strange host (it
// asks first, with the host, the files and their sizes), the site's own files and a preset (they
// do not ask), and a label that looks like markup (shown as text). One browser for all cases; the
// stall timeout is 2 s (the address's stall=2).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { BASE_ARGS, CHROMIUM, DIST, FIXTURES, NO_WEBGPU_ARGS, OUT, READY_TIMEOUT, ROOT } from './env.mjs';
import { serve, sendFile, sendCut } from './server.mjs';

const STRANGER = 'stranger.test';

let site;
let models; // CORS on: the hostile routes
let nocors; // another port, no CORS headers
let stranger; // reached as http://stranger.test:PORT (Chromium maps the name to 127.0.0.1)
let browser;
const calls = new Map();
const nth = (p) => {
  const n = calls.get(p) || 0;
  calls.set(p, n + 1);
  return n;
};

const LOGIN = '<!DOCTYPE html>\n<html><head><title>Sign in to continue</title></head><body><form>…</form></body></html>\n';

/** Sends the first `n` bytes after the headers, then nothing (the socket is closed after 15 s). */
function sendStalled(req, res, bytes, n) {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length) });
  res.write(bytes.subarray(0, n));
  const t = setTimeout(() => res.socket?.destroy(), 15000);
  res.on('close', () => clearTimeout(t));
}

before(async () => {
  assert.ok(fs.existsSync(path.join(DIST, 'index.html')), `no built site at ${DIST}: run \`trunk build --release\` first`);
  fs.mkdirSync(OUT, { recursive: true });
  site = await serve({ root: DIST });
  const azs = fs.readFileSync(path.join(FIXTURES, 'models/a_zs/model.safetensors'));
  const half = Math.floor(azs.length / 2);
  // Version A of the file: the same length, the first half scrambled (so a splice A[..half] +
  // B[half..] would not parse); version B is the real checkpoint.
  const older = Buffer.from(azs);
  for (let i = 0; i < half; i++) older[i] ^= 0x5a;
  const routes = {};
  const side = (dir) => {
    for (const f of ['config.json', 'preprocessor_config.json']) {
      if (fs.existsSync(path.join(FIXTURES, 'models/a_zs', f))) {
        routes[`/hostile/${dir}/${f}`] = (req, res, ctx) => sendFile(req, res, ctx.file(`models/a_zs/${f}`), 'application/json');
      }
    }
  };
  const route = (dir, fn) => {
    routes[`/hostile/${dir}/model.safetensors`] = fn;
    side(dir);
  };
  // Silent half-way the first time; then the rest, with Range.
  route('stall', (req, res) => (nth('stall') === 0 ? sendStalled(req, res, azs, half) : sendFile(req, res, azs)));
  // Silent after 1000 bytes, every time.
  route('stall-always', (req, res) => sendStalled(req, res, azs, 1000));
  // Cut half-way the first time; then the whole file with 200 whatever the Range.
  route('ignore-range', (req, res) => {
    if (nth('ignore-range') === 0) return sendCut(req, res, azs);
    delete req.headers.range;
    sendFile(req, res, azs);
  });
  // Version A (ETag "a"), cut half-way; then version B (ETag "b"), Range honoured.
  route('changed', (req, res) => {
    if (nth('changed') === 0) {
      res.setHeader('ETag', '"a"');
      return sendCut(req, res, older);
    }
    res.setHeader('ETag', '"b"');
    sendFile(req, res, azs);
  });
  route('html', (req, res) => sendFile(req, res, Buffer.from(LOGIN), 'text/html; charset=utf-8'));
  route('loop', (req, res) => res.writeHead(302, { Location: '/hostile/loop/model.safetensors' }).end());
  // Announces 1000 bytes more than it sends, then closes; ignores Range.
  route('lie', (req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(azs.length + 1000) });
    res.write(azs, () => setTimeout(() => res.socket?.destroy(), 50));
  });
  models = await serve({ root: FIXTURES, cors: true, routes });
  nocors = await serve({ root: FIXTURES });
  stranger = await serve({ root: FIXTURES, cors: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...BASE_ARGS, ...NO_WEBGPU_ARGS, `--host-resolver-rules=MAP ${STRANGER} 127.0.0.1`],
  });
});

after(async () => {
  await browser?.close();
  for (const s of [site, models, nocors, stranger]) await s?.close();
});

function pageUrl(params) {
  const q = Object.entries(params)
    .map(([k, v]) => `${k}=${encodeURIComponent(v).replace(/%2C/g, ',')}`)
    .join('&');
  return `${site.url}/index.html?${q}`;
}

async function openPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const log = [];
  const dialogs = [];
  page.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => log.push(`[pageerror] ${e.message}`));
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  return { context, page, log, dialogs };
}

/** Waits for data-state `ready` with the models loaded, or for `error`; returns which and the status. */
async function settle(page, log) {
  await page
    .waitForFunction(() => document.body.dataset.state === 'error' || (document.body.dataset.state === 'ready' && document.body.dataset.models === 'loaded'), null, {
      timeout: READY_TIMEOUT,
      polling: 100,
    })
    .catch(async () => {
      const status = await page.locator('#model-status').textContent().catch(() => '?');
      assert.fail(`the load neither finished nor failed (status: ${status})\n${log.join('\n')}`);
    });
  return { state: await page.evaluate(() => document.body.dataset.state), status: (await page.locator('#model-status').textContent()).trim() };
}

const requestsFor = (dir) => models.requests.filter((r) => r.includes(`/hostile/${dir}/model.safetensors`));

test('hostile networks: each case ends in the right file or a message naming the URL and what to do', async () => {
  const ft = `${models.url}/models/a_ft/model.safetensors`;
  const cases = [
    { dir: 'stall', loads: true, retried: /no bytes arrived for 2 s after .*stalled/, check: (r) => assert.ok(r.some((x) => /\(bytes=\d+-\)/.test(x)), `resumed with Range: ${r}`) },
    { dir: 'stall-always', expect: [/no bytes arrived for 2 s/, /gave up after 3 attempts/, /stall=SECONDS/] },
    { dir: 'ignore-range', loads: true, check: (r) => assert.equal(r.length, 2, `cut, then one whole answer: ${r}`) },
    { dir: 'changed', loads: true, check: (r) => assert.deepEqual(r.map((x) => /\(bytes=/.test(x)), [false, true, false], `cut, resume refused (ETag "a" → "b"), whole file again: ${r}`) },
    { dir: 'html', expect: [/web page/, /Content-Type: text\/html; charset=utf-8/, /titled "Sign in to continue"/, /first bytes: "<!DOCTYPE html>/, /Local files/] },
    { dir: 'loop', expect: [/redirects in a loop/, /new tab/, /Local files/] },
    { dir: 'lie', expect: [/every one of 3 attempts ended after \d+ bytes although the server announced \d+ bytes \(Content-Length\)/, /Content-Length looks wrong/, /Local files/] },
    { name: 'no CORS', zs: `${nocors.url}/models/a_zs/model.safetensors`, expect: [/does not allow this page to read its files/, /Access-Control-Allow-Origin/, /Local files/] },
  ];
  const lines = [];
  for (const c of cases) {
    const name = c.name || c.dir;
    const zs = c.zs || `${models.url}/hostile/${c.dir}/model.safetensors`;
    const { context, page, log } = await openPage();
    const notices = [];
    await page.exposeFunction('noteRetry', (t) => notices.push(t));
    await page.addInitScript(() => {
      new MutationObserver(() => {
        for (const m of document.querySelectorAll('.msg[data-key^="retry "]:not([data-seen])')) {
          m.dataset.seen = '1';
          window.noteRetry(m.textContent);
        }
      }).observe(document, { childList: true, subtree: true });
    });
    const started = Date.now();
    await page.goto(pageUrl({ zs, ft, labels: 'x,y', stall: 2 }));
    const { state, status } = await settle(page, log);
    const took = ((Date.now() - started) / 1000).toFixed(1);
    if (c.loads) {
      assert.equal(state, 'ready', `${name}: loads (status: ${status})\n${log.join('\n')}`);
      if (c.retried) assert.ok(notices.some((n) => c.retried.test(n)), `${name}: the retry notice says why (${notices})`);
      c.check?.(requestsFor(c.dir));
      lines.push(`# ${name}: loaded in ${took} s (${requestsFor(c.dir).join(' | ')})${notices.length ? ` · notice: ${notices[0]}` : ''}`);
    } else {
      assert.equal(state, 'error', `${name}: fails (status: ${status})`);
      assert.ok(status.includes(zs), `${name}: the message names the URL (${status})`);
      for (const re of c.expect) assert.match(status, re, `${name}: ${status}`);
      lines.push(`# ${name}: error after ${took} s: ${status}`);
    }
    await context.close();
  }
  for (const l of lines) console.log(l);
  assert.equal(requestsFor('html').filter((r) => r.startsWith('GET')).length, 1, 'a web page is not retried');
});

test('a link naming a host no preset uses asks first, with the host, the files and their sizes', async () => {
  const { context, page, log } = await openPage();
  try {
    const base = `http://${STRANGER}:${new URL(stranger.url).port}/models`;
    const zs = `${base}/a_zs/model.safetensors`;
    const ft = `${base}/a_ft/model.safetensors`;
    await page.goto(pageUrl({ zs, ft, labels: 'x,y' }));
    const box = page.locator('#link-confirm');
    await box.waitFor({ timeout: READY_TIMEOUT });
    assert.equal(await box.getAttribute('data-hosts'), STRANGER);
    await page.waitForFunction(() => [...document.querySelectorAll('#link-confirm .link-file')].every((r) => r.dataset.size), null, { timeout: READY_TIMEOUT });
    const rows = await page.$$eval('#link-confirm .link-file', (els) => els.map((e) => ({ url: e.dataset.url, size: e.dataset.size, text: e.textContent })));
    const bytes = (rel) => fs.statSync(path.join(FIXTURES, 'models', rel)).size;
    const mb = (b) => (b < 1e5 ? `${(b / 1e3).toFixed(1)} kB` : `${(b / 1e6).toFixed(1)} MB`);
    assert.deepEqual(rows.map((r) => [r.url, r.size]), [[zs, mb(bytes('a_zs/model.safetensors'))], [ft, mb(bytes('a_ft/model.safetensors'))]]);
    assert.ok(rows.every((r) => r.text.includes('model.safetensors')), 'file names shown');
    const text = await box.textContent();
    console.log(`# asks: ${text}`);
    assert.match(text, new RegExp(`none of this page's presets uses: ${STRANGER.replace('.', '\\.')}`));
    await page.waitForTimeout(500);
    assert.equal(stranger.count('/models/a_zs/model.safetensors') + stranger.count('/models/a_ft/model.safetensors'), 0, `nothing downloaded before the click (${stranger.requests})`);
    assert.equal(await page.evaluate(() => document.body.dataset.models), 'none');
    await box.screenshot({ path: path.join(OUT, 'link-asks.png') });
    await page.click('#link-go');
    const { state, status } = await settle(page, log);
    assert.equal(state, 'ready', status);
    assert.equal(stranger.count('/models/a_zs/model.safetensors'), 1, 'downloaded after the click');
    assert.equal(await box.count(), 0, 'the question is gone');
  } finally {
    await context.close();
  }
});

test("the site's own files and a preset load without asking; a label that looks like markup is shown as text", async () => {
  const own = (rel) => `${site.url}/www/models/toy/${rel}/model.safetensors`;
  for (const params of [{ zs: own('zs'), ft: own('ft') }, { preset: 'toy' }]) {
    const { context, page, log, dialogs } = await openPage();
    try {
      const xss = '<img src=x onerror=alert(1)>';
      await page.goto(pageUrl({ ...params, labels: `${xss},circle,square` }));
      const { state, status } = await settle(page, log);
      assert.equal(state, 'ready', `${JSON.stringify(params)}: ${status}`);
      assert.equal(await page.locator('#link-confirm').count(), 0, `${JSON.stringify(params)}: no question`);
      await page.setInputFiles('#photos', [path.join(ROOT, 'www/samples/toy/task/circle/photo-0.png')]);
      await page.waitForFunction((l) => [...document.querySelectorAll('li.bar')].some((b) => b.dataset.label === l), xss, { timeout: READY_TIMEOUT });
      const shown = await page.$$eval('li.bar .label', (els) => els.map((e) => e.textContent));
      assert.ok(shown.includes(xss), `the label is displayed literally (${shown})`);
      assert.equal(await page.evaluate(() => document.querySelectorAll('img[src="x"]').length), 0, 'no <img> made from the label');
      assert.deepEqual(dialogs, [], 'no script ran');
      if (params.preset) await page.screenshot({ path: path.join(OUT, 'label-as-text.png') });
    } finally {
      await context.close();
    }
  }
});
