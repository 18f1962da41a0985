// Issue 15, item 6 on the page: a large label set (here 400 labels × CLIP's 80 templates = 32,000
// prompts) is encoded in chunks with an estimate, progress and a cancel that keeps the previous
// labels; more than 100,000 prompts is refused by name. CPU engine (no WebGPU), offline default.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { OUT, READY_TIMEOUT as TIMEOUT, ROOT, launch } from './env.mjs';
import { useBuiltSite, waitReady } from './watch.mjs';

const served = useBuiltSite();

test('a large prompt set: estimate, progress, cancel keeps the previous labels; too many prompts are refused', { timeout: 600000 }, async () => {
  const browser = await launch(false);
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const log = [];
  page.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
  const ready = (what) => waitReady(page, log, what, TIMEOUT);
  try {
    await page.goto(`${served().url}/index.html`);
    await ready('the offline default loads');
    // Prompts are encoded for photos: one.
    await page.setInputFiles('#photos', [path.join(ROOT, 'www/samples/toy/task/circle/photo-0.png')]);
    await page.locator('.col.merged li.bar').first().waitFor({ timeout: TIMEOUT });
    await ready('one photo classified');
    const before = await page.locator('#labels').inputValue();

    // 400 labels × 80 templates.
    await page.locator('#labels').fill(Array.from({ length: 400 }, (_, i) => `shape number ${i}`).join('\n'));
    await page.locator('#templates').selectOption('imagenet80');
    await page.waitForFunction(() => /Encoding prompts: [\d,]+ of 32,000/.test(document.querySelector('#prompts-status').textContent), null, { timeout: TIMEOUT, polling: 50 });
    await page.waitForFunction(() => /about \d+ s left/.test(document.querySelector('#prompts-status').textContent), null, { timeout: TIMEOUT, polling: 50 });
    const estimate = await page.locator('#model-status').textContent();
    assert.match(estimate, /32,000 prompts \(400 labels × 80 templates\).*about \d+ s at [\d.]+ ms per prompt/, `the estimate: ${estimate}`);
    assert.equal(await page.locator('#prompts-cancel').isVisible(), true, 'a cancel button while it runs');
    await page.locator('#prompts-status').screenshot({ path: path.join(OUT, 'prompts-progress.png') });
    await page.locator('#prompts-cancel').click();
    await page.waitForFunction(() => /cancelled/.test(document.querySelector('#prompts-status').textContent), null, { timeout: TIMEOUT, polling: 50 });
    assert.match(await page.locator('#prompts-status').textContent(), /Encoding the prompts was cancelled after [\d,]+ of 32,000\. The previous labels are kept\./);
    assert.equal(await page.locator('#labels').inputValue(), before, 'the labels field shows the labels kept');
    await ready('after the cancel');

    // Over the limit: refused at once, naming it.
    await page.locator('#labels').fill(Array.from({ length: 1300 }, (_, i) => `c${i}`).join('\n'));
    await page.locator('#apply-labels').click();
    await page.waitForFunction(() => /over the limit of 100,000 prompts/.test(document.querySelector('#messages').textContent), null, { timeout: TIMEOUT, polling: 50 });
    assert.match(await page.locator('#messages').textContent(), /1,300 labels × 80 templates = 104,000 prompts, over the limit of 100,000 prompts per label set/);
  } finally {
    await browser.close();
  }
});
