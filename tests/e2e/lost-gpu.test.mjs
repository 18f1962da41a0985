// Issue 15, item 3: a lost GPU. On WebGPU (SwiftShader) with `backend=gpu`, the worker's test hook
// (`lose_device`, www/worker-client.js `loseDevice()`) destroys the device while a merge and its
// forwards run. The page keeps its photos, labels and α; the first loss recreates the device and
// loads the models again (from Cache Storage), the second falls back to the CPU engine, each with a
// notice that says so; the results afterwards equal `wiseft classify` at the same α.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { DIST, OUT, READY_TIMEOUT as TIMEOUT, ROOT, WISEFT, launch } from './env.mjs';
import { waitReady, watch } from './watch.mjs';
import { serve } from './server.mjs';

/** A few of the generated world's samples, under names of their own (the samples repeat names). */
const SAMPLES = ['task/circle/photo-0.png', 'task/star/photo-0.png', 'task/heart/photo-0.png', 'shift/moon/sketch-0.png', 'shift/square/striped-0.png', 'shift/ring/pixelated-0.png'];

let site;
let tmp;
let files;

before(async () => {
  assert.ok(fs.existsSync(path.join(DIST, 'index.html')), `no built site at ${DIST}: run \`trunk build --release\` first`);
  assert.ok(WISEFT, 'the wiseft CLI is not built: run `cargo build --bin wiseft`');
  fs.mkdirSync(OUT, { recursive: true });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wiseft-lost-gpu-'));
  files = SAMPLES.map((s) => {
    const to = path.join(tmp, s.replaceAll('/', '-'));
    fs.copyFileSync(path.join(ROOT, 'www/samples/toy', s), to);
    return to;
  });
  site = await serve({ root: DIST });
});

after(async () => {
  await site?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** What `wiseft classify` (CPU, the built-in pair = the page's offline default) says at α: name → label → p. */
async function cli(alpha) {
  const { stdout } = await promisify(execFile)(WISEFT, ['classify', '--device', 'cpu', '--alpha', String(alpha), '--json', ...files], { maxBuffer: 1 << 24 });
  const out = JSON.parse(stdout);
  return Object.fromEntries(out.results.map((r) => [path.basename(r.image), Object.fromEntries(out.labels.map((l, i) => [l, r.probs[i]]))]));
}

test('a lost GPU device: recreated once, then the CPU engine; photos, labels and α kept; results equal the CLI', { timeout: 600000 }, async () => {
  const browser = await launch(true);
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const log = watch(page);
  const ready = (what) => waitReady(page, log, what, TIMEOUT);
  /** The merged column's bars of every photo once all show α: name → label → p. */
  const merged = async (alpha, what) => {
    await page
      .waitForFunction(
        ({ a, n }) => {
          const cards = [...document.querySelectorAll('article.photo')];
          return cards.length === n && cards.every((c) => c.querySelector(`.col.merged:not(.stale) li.bar[data-alpha="${a}"]`)) && document.body.dataset.state === 'ready';
        },
        { a: String(alpha), n: files.length },
        { timeout: TIMEOUT, polling: 100 },
      )
      .catch(() => {});
    const bars = await page.evaluate(() => [...document.querySelectorAll('.col.merged li.bar')].map((li) => [li.dataset.image, li.dataset.label, Number(li.dataset.prob), li.dataset.alpha]));
    const out = {};
    for (const [image, label, p, a] of bars) {
      assert.equal(a, String(alpha), `${what}: ${image} shows the merged column at α = ${a}\n${log.slice(-40).join('\n')}`);
      (out[image] ??= {})[label] = p;
    }
    assert.equal(Object.keys(out).length, files.length, `${what}: every photo has merged bars`);
    return out;
  };
  const same = (got, want, tol, what) => {
    for (const [image, bars] of Object.entries(got)) {
      for (const [label, p] of Object.entries(bars)) {
        const q = want[image]?.[label];
        assert.ok(q !== undefined && Math.abs(p - q) <= tol, `${what}: ${image} "${label}": page ${p}, CLI ${q} (tolerance ${tol})`);
      }
    }
  };
  const notice = async (pattern, what) => {
    await page.waitForFunction((src) => new RegExp(src).test(document.querySelector('#messages [data-key="device-lost"] p')?.textContent ?? ''), pattern.source, { timeout: TIMEOUT, polling: 100 }).catch(() => {});
    const text = await page.evaluate(() => document.querySelector('#messages [data-key="device-lost"] p')?.textContent ?? '(no notice)');
    assert.match(text, pattern, `${what}\n${log.slice(-40).join('\n')}`);
    return text;
  };
  const backend = () => page.evaluate(() => document.querySelector('#backend').className);
  /** Moves α with the slider as a person would, and loses the device right after, while the merge runs. */
  const moveAndLose = (alpha) =>
    page.evaluate(async (a) => {
      const { engine } = await import(new URL('www/engine.js', document.baseURI).href);
      const slider = document.querySelector('#alpha');
      slider.value = String(a);
      slider.dispatchEvent(new Event('input', { bubbles: true }));
      engine.loseDevice();
    }, alpha);

  try {
    await page.goto(`${site.url}/index.html?backend=gpu&alpha=0.3`);
    // An address with settings does not load by itself: press Load models (the offline default).
    await page.locator('#load:not([disabled])').click({ timeout: TIMEOUT });
    await ready('loading the offline default on the GPU engine');
    assert.match(await backend(), /\bgpu\b/, 'the GPU engine runs');
    await page.setInputFiles('#photos', files);
    const labels = await page.locator('#labels').inputValue();
    const before = await merged(0.3, 'before any loss');
    same(before, await cli(0.3), 2e-3, 'GPU engine before the loss');

    // First loss, in the middle of the merge at α = 0.4: a new device, the models again.
    await moveAndLose(0.4);
    await notice(/runs again on a new device/, 'the first loss is recovered on a new device');
    await ready('after the first loss');
    assert.match(await backend(), /\bgpu\b/, 'still the GPU engine, on its new device');
    same(await merged(0.4, 'after the first loss'), await cli(0.4), 2e-3, 'GPU engine on the new device');
    await page.screenshot({ path: path.join(OUT, 'lost-gpu-recreated.png') });

    // Second loss: the CPU engine takes over.
    await moveAndLose(0.6);
    const text = await notice(/now runs on the CPU engine/, 'the second loss falls back to the CPU');
    console.log(`# notice after the second loss: ${text}`);
    await ready('after the second loss');
    assert.match(await backend(), /\bcpu\b/, `the CPU engine runs (${text})`);
    same(await merged(0.6, 'after the fallback'), await cli(0.6), 1e-4, 'CPU engine after the fallback');
    assert.equal(await page.locator('article.photo').count(), files.length, 'the photos are kept');
    assert.equal(await page.locator('#labels').inputValue(), labels, 'the labels are kept');
    assert.equal(Number(await page.locator('#alpha-out').textContent()), 0.6, 'α is kept');
    assert.equal(await page.locator('.msg.error').count(), 0, `no error box: ${await page.locator('.msg.error').allTextContents()}`);
    await page.screenshot({ path: path.join(OUT, 'lost-gpu-cpu.png') });
  } finally {
    await browser.close();
  }
});
