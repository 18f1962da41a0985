// What the e2e tests do to every page they open: keep its console and errors for the failure
// messages, wait until it is ready (or fail saying why not), and keep it off the internet; and
// the built site they open, served for a test file.

import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { DIST, OUT, READY_TIMEOUT } from './env.mjs';
import { serve } from './server.mjs';

/** The page's console lines and uncaught errors, as they come. @returns {string[]} */
export function watch(page) {
  const log = [];
  page.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => log.push(`[pageerror] ${e.message}`));
  return log;
}

/** Waits until the models are loaded and the page idle; fails with its status and the last log lines otherwise. */
export async function waitReady(page, log, what, timeout = READY_TIMEOUT) {
  await page
    .waitForFunction(() => (document.body.dataset.state === 'ready' && document.body.dataset.models === 'loaded') || document.body.dataset.state === 'error', null, { timeout, polling: 100 })
    .catch(() => {});
  const state = await page.evaluate(() => document.body.dataset.state);
  assert.equal(state, 'ready', `${what}: the page is "${state}". Status: ${await page.locator('#model-status').textContent()}\n${log.slice(-40).join('\n')}`);
}

/** Aborts every request that leaves 127.0.0.1; returns the list of those it aborted. */
export async function offTheInternet(context) {
  const blocked = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (/^https?:$/.test(url.protocol) && url.hostname !== '127.0.0.1') {
      blocked.push(url.href);
      return route.abort('internetdisconnected');
    }
    return route.continue();
  });
  return blocked;
}

/**
 * Serves the built site (with the toy models) for the tests of this file: registers the file's
 * `before` and `after`; the returned function gives the running server. `needs`: a file of the
 * site that the tests cannot run without; `isolated`: served cross-origin isolated (COOP/COEP, as
 * scripts/serve.sh serves it: the default, so the CPU tests run the threaded engine).
 */
export function useBuiltSite(needs = 'www/models/toy/zs/model.safetensors', { isolated = true } = {}) {
  let site = null;
  before(async () => {
    assert.ok(fs.existsSync(path.join(DIST, needs)), `no built site with the toy models at ${DIST}: run \`trunk build --release\``);
    fs.mkdirSync(OUT, { recursive: true });
    site = await serve({ root: DIST, isolated });
  });
  after(async () => {
    await site?.close();
  });
  return () => site;
}
