// The result bars as the e2e tests read them, and their comparison with `wiseft classify` — one
// copy for every test that checks the page's probabilities against the CLI.

import assert from 'node:assert/strict';
import path from 'node:path';

import { READY_TIMEOUT } from './env.mjs';

/** {image → {model → {label → {prob, setting}}}} from the result bars. */
export async function readBars(page) {
  const bars = await page.$$eval('li.bar', (els) => els.map((e) => ({ image: e.dataset.image, model: e.dataset.model, label: e.dataset.label, prob: Number(e.dataset.prob), setting: e.dataset.setting })));
  const out = {};
  for (const b of bars) ((out[b.image] ??= {})[b.model] ??= {})[b.label] = b;
  return out;
}

/**
 * Every bar of column `model` for each of `files` (matched by file name) within `tolerance` of the
 * CLI's probability of that label (`reference[image][i]`, `labels[i]`); returns how many were checked.
 */
export function compareBars(bars, reference, { files, labels, model, where, tolerance = 1e-4 }) {
  let checked = 0;
  for (const file of files) {
    const image = path.basename(file);
    const shown = bars[image]?.[model];
    assert.ok(shown, `${where}: no ${model} bars for ${image}`);
    for (const [label, bar] of Object.entries(shown)) {
      const i = labels.indexOf(label);
      assert.ok(i >= 0, `${where}: ${image} shows the label "${label}", not one of ${labels.join(', ')}`);
      const want = reference[image][i];
      assert.ok(Math.abs(bar.prob - want) <= tolerance, `${where}: ${image} ${model} "${label}": page ${bar.prob}, CLI ${want} (|Δ| = ${Math.abs(bar.prob - want)})`);
      checked++;
    }
  }
  return checked;
}

/**
 * Waits until the page is idle (ready, no recipe change pending) and each of the `n` photos shows
 * zero-shot bars and merged bars at `setting` — and, with `own`, that many per-fine-tune columns,
 * all filled. On a time-out: a full-page screenshot `shot` and what the page showed.
 */
export async function waitForColumns(page, log, { setting, n, own = null, shot }) {
  try {
    await page.waitForFunction(
      ({ setting, n, own }) => {
        if (document.body.dataset.state !== 'ready' || document.querySelector('#recipe-card').dataset.pending !== '0') return false;
        const cards = [...document.querySelectorAll('article.photo')];
        return (
          cards.length === n &&
          cards.every((c) => {
            const merged = [...c.querySelectorAll('li.bar[data-model="merged"]')];
            const cols = [...c.querySelectorAll('.col.own-fine-tune')];
            return (
              c.querySelector('li.bar[data-model="zero-shot"]') &&
              merged.length > 0 &&
              merged.every((b) => b.dataset.setting === setting) &&
              (own === null || (cols.length === own && cols.every((col) => col.querySelector('li.bar') && !col.querySelector('.wait'))))
            );
          })
        );
      },
      { setting, n, own },
      { timeout: READY_TIMEOUT, polling: 100 },
    );
  } catch {
    await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
    const state = await page
      .evaluate(() => ({
        state: document.body.dataset.state,
        pending: document.querySelector('#recipe-card').dataset.pending,
        cards: document.querySelectorAll('article.photo').length,
        own: [...document.querySelectorAll('article.photo')].map((c) => c.querySelectorAll('.col.own-fine-tune').length),
        settings: [...new Set([...document.querySelectorAll('li.bar[data-model="merged"]')].map((b) => b.dataset.setting))],
      }))
      .catch(() => ({}));
    const status = await page.locator('#model-status').textContent().catch(() => '');
    const messages = await page.locator('#messages').textContent().catch(() => '');
    assert.fail(`the merged bars never showed "${setting}"${own === null ? '' : ` with ${own} fine-tune columns`}: ${JSON.stringify(state)}. Status: ${status}. Messages: ${messages}\nConsole:\n${log.join('\n')}`);
  }
}
