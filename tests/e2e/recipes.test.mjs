// Merge recipes on the page (issue 14): the offline multi-task preset (the toy zero-shot CLIP and
// three style fine-tunes of it) with method=ties from the address gives the probabilities of
// `wiseft classify --recipe` (the same method, coefficients, photos) within 1e-4, on WebGPU
// (SwiftShader) and on the CPU fallback; λ moves live without downloading anything again; another
// method re-merges from the browser's copy; the address restores the recipe; each fine-tune has a
// column of its own (equal to that fine-tune alone), with TIES as with task arithmetic, and a λ
// change sends the merged column only; a fine-tune from local files
// joins the merge; each column's accuracy on the labelled photos is shown; the 8-task presets offer
// FusionBench's fine-tunes, a task chooser and the published numbers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';
import fs from 'node:fs';
import path from 'node:path';

import { OUT, READY_TIMEOUT, ROOT, WISEFT, launch } from './env.mjs';
import { useBuiltSite, watch } from './watch.mjs';
import { compareBars, readBars, waitForColumns } from './bars.mjs';

const TOLERANCE = 1e-4;
const TOY = path.join(ROOT, 'www/models/toy');
const FINE_TUNES = ['ft-striped', 'ft-pixelated', 'ft-sketch'];
const LABELS = ['circle', 'square', 'triangle', 'star', 'cross', 'heart', 'ring', 'moon'];
// A few of the multi-task preset's shipped samples: the fine-tunes' own styles and two others.
const SAMPLES = ['striped', 'pixelated', 'sketch', 'photo', 'noisy'].map((style) => {
  // The task styles' pictures are in one named set per style (task/<style>/<label>/).
  const dir = FINE_TUNES.includes(`ft-${style}`) ? `task/${style}` : 'shift';
  return path.join(ROOT, 'www/samples/toy-multitask', dir, 'star', `${style}-0.png`);
});
const PRESET_SAMPLES = JSON.parse(fs.readFileSync(path.join(ROOT, 'www/presets.json'), 'utf8')).presets.find((p) => p.id === 'toy-multitask').samples.length;

const refs = new Map();

/** `wiseft classify` on the samples: with the recipe flags, or the zero-shot model alone. */
function cli(flags) {
  const key = flags.join(' ');
  if (refs.has(key)) return refs.get(key);
  assert.ok(WISEFT, 'the wiseft CLI is not built: run `cargo build --bin wiseft` (scripts/e2e.sh does)');
  const out = execFileSync(WISEFT, ['classify', '--zero-shot', path.join(TOY, 'zs'), ...flags, '--labels', LABELS.join(','), '--device', 'cpu', '--json', ...SAMPLES], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const json = JSON.parse(out);
  assert.deepEqual(json.labels, LABELS);
  const byImage = Object.fromEntries(json.results.map((r) => [path.basename(r.image), r.probs]));
  refs.set(key, byImage);
  return byImage;
}

const recipeFlags = (method, extra) => [...FINE_TUNES.flatMap((f) => ['--fine-tuned', path.join(TOY, f)]), '--method', method, ...extra];

const served = useBuiltSite('www/models/toy/ft-sketch/model.safetensors');


/** Waits until the page is idle and every sample shows zero-shot bars and merged bars of `setting`. */
const waitForSetting = (page, log, setting) => waitForColumns(page, log, { setting, n: SAMPLES.length, shot: path.join(OUT, 'failure-recipes-setting.png') });

/** Waits until every photo shows a column of bars per fine-tune. */
async function waitForOwnColumns(page) {
  await page.waitForFunction(
    (n) => [...document.querySelectorAll('article.photo')].every((c) => c.querySelectorAll('.col.own-fine-tune').length === n && c.querySelectorAll('.col.own-fine-tune li.bar').length > 0 && !c.querySelector('.col.own-fine-tune .wait')),
    FINE_TUNES.length,
    { timeout: READY_TIMEOUT, polling: 100 },
  );
}

function compare(bars, reference, model, where) {
  return compareBars(bars, reference, { files: SAMPLES, labels: LABELS, model, where, tolerance: TOLERANCE });
}

async function recipeOnThePage(webgpu) {
  const mode = webgpu ? 'WebGPU (SwiftShader)' : 'CPU fallback';
  const browser = await launch(webgpu);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const log = watch(page);
  const weights = ['zs', ...FINE_TUNES].map((d) => `/www/models/toy/${d}/model.safetensors`);
  const before = weights.map((w) => served().count(w));
  try {
    const backend = webgpu ? '&backend=gpu' : '';
    await page.goto(`${served().url}/index.html?preset=toy-multitask&method=ties&lambda=0.5&k=30${backend}`);
    await page.waitForFunction(() => document.body.dataset.models === 'loaded' || document.body.dataset.state === 'error', null, { timeout: READY_TIMEOUT, polling: 100 });
    const badge = (await page.locator('#backend').textContent()).trim();
    assert.match(badge, webgpu ? /^GPU|WebGPU/ : /^CPU/, `${mode}: ${badge}\n${log.join('\n')}`);
    assert.equal(await page.locator('#method').inputValue(), 'ties', 'the address chose TIES');
    assert.equal(await page.locator('#ft-list li').count(), 2, 'the preset lists two more fine-tunes');
    assert.ok(await page.locator('#alpha-card').isHidden(), 'the α slider gives way to the recipe');
    await page.setInputFiles('#photos', SAMPLES);

    let checked = 0;
    await waitForSetting(page, log, 'TIES, λ = 0.5, k = 30 %');
    let bars = await readBars(page);
    checked += compare(bars, cli(recipeFlags('ties', ['--lambda', '0.5', '--top-k', '30'])), 'merged', `${mode}, TIES λ = 0.5 k = 30`);
    checked += compare(bars, cli([]), 'zero-shot', `${mode}, zero-shot`);
    assert.equal(await page.locator('.col.fine-tuned').count(), 0, 'a recipe has no single fine-tuned column');
    // TIES keeps each fine-tune's own task vector beside its merged one: a column per fine-tune,
    // equal to that fine-tune alone, in the session's order.
    await waitForOwnColumns(page);
    bars = await readBars(page);
    for (const [i, f] of FINE_TUNES.entries()) {
      checked += compare(bars, cli(['--fine-tuned', path.join(TOY, f), '--alpha', '1']), `fine-tuned-${i + 1}`, `${mode}, TIES, ${f} on its own`);
    }
    assert.deepEqual(await page.locator('article.photo').first().locator('.col').evaluateAll((cs) => cs.map((c) => c.dataset.model)), ['zero-shot', 'fine-tuned-1', 'fine-tuned-2', 'fine-tuned-3', 'merged']);
    assert.deepEqual(await page.locator('article.photo').first().locator('.col .col-title').allTextContents(), ['Zero-shot', 'Fine-tune 1', 'Fine-tune 2', 'Fine-tune 3', 'Merged']);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(OUT, `recipes-ties-${webgpu ? 'webgpu' : 'cpu'}.png`) });

    // λ moves live: no checkpoint is fetched again, and only the merged column is sent again.
    await page.evaluate(async () => {
      const { engine } = await import(new URL('www/engine.js', document.baseURI).href);
      window.sentColumns = [];
      engine.on('results', (ev) => window.sentColumns.push(...ev.scores.map((s) => s.model)));
    });
    await page.locator('#lambda').fill('0.8');
    await waitForSetting(page, log, 'TIES, λ = 0.8, k = 30 %');
    bars = await readBars(page);
    checked += compare(bars, cli(recipeFlags('ties', ['--lambda', '0.8', '--top-k', '30'])), 'merged', `${mode}, TIES λ = 0.8`);
    const sent = await page.evaluate(() => window.sentColumns);
    assert.ok(sent.length >= SAMPLES.length && sent.every((m) => m === 'merged'), `a λ change sends the merged column only: ${sent}`);
    for (const [i, f] of FINE_TUNES.entries()) {
      checked += compare(bars, cli(['--fine-tuned', path.join(TOY, f), '--alpha', '1']), `fine-tuned-${i + 1}`, `${mode}, TIES λ = 0.8, ${f} still shown`);
    }
    assert.deepEqual(weights.map((w) => served().count(w) > 0), weights.map(() => true));

    // Another method: the checkpoints are merged again from the browser's copy.
    await page.locator('#method').selectOption('task-arithmetic');
    await waitForSetting(page, log, 'task arithmetic, λ = 0.8');
    bars = await readBars(page);
    checked += compare(bars, cli(recipeFlags('task-arithmetic', ['--lambda', '0.8'])), 'merged', `${mode}, task arithmetic λ = 0.8`);
    // Task vectors are kept: every fine-tune has a column of its own, equal to that fine-tune alone.
    await waitForOwnColumns(page);
    bars = await readBars(page);
    for (const [i, f] of FINE_TUNES.entries()) {
      checked += compare(bars, cli(['--fine-tuned', path.join(TOY, f), '--alpha', '1']), `fine-tuned-${i + 1}`, `${mode}, ${f} on its own`);
    }
    assert.deepEqual(await page.locator('article.photo').first().locator('.col').evaluateAll((cs) => cs.map((c) => c.dataset.model)), ['zero-shot', 'fine-tuned-1', 'fine-tuned-2', 'fine-tuned-3', 'merged']);
    // A per-family schedule: attention tensors at λ = 0.2, the rest on the line 0.8 → 0.4.
    await page.locator('#schedule summary').click();
    await page.locator('#lambda-late').fill('0.4');
    await page.locator('#lambda-late').dispatchEvent('change');
    await page.locator('#schedule input[data-family="attention"]').fill('0.2');
    await page.locator('#schedule input[data-family="attention"]').dispatchEvent('change');
    const setting = 'task arithmetic, λ = {"attention":0.2,"default":[0.8,0.4]}';
    await waitForSetting(page, log, setting);
    const file = path.join(OUT, 'recipe-schedule.json');
    fs.writeFileSync(file, JSON.stringify({ version: 1, method: 'task-arithmetic', fine_tuned: FINE_TUNES.map((f) => path.join(TOY, f)), lambda: { default: [0.8, 0.4], attention: 0.2 } }));
    bars = await readBars(page);
    checked += compare(bars, cli(['--recipe', file]), 'merged', `${mode}, scheduled λ`);
    console.log(`# ${mode}: ${checked} probabilities within ${TOLERANCE} of wiseft classify --recipe`);
    await page.screenshot({ path: path.join(OUT, `recipes-schedule-${webgpu ? 'webgpu' : 'cpu'}.png`) });
    const fetched = weights.map((w, i) => served().count(w) - before[i]);
    assert.ok(fetched.every((n) => n === 1), `each checkpoint downloaded once (${fetched}): the rest came from Cache Storage or the loaded inputs`);

    // The address carries the recipe and restores it.
    const address = new URL(page.url());
    assert.equal(address.searchParams.get('preset'), 'toy-multitask');
    assert.equal(address.searchParams.get('method'), 'task-arithmetic');
    assert.deepEqual(JSON.parse(address.searchParams.get('lambda')), { default: [0.8, 0.4], attention: 0.2 });
    await page.goto(page.url());
    await page.waitForFunction(() => document.body.dataset.models === 'loaded', null, { timeout: READY_TIMEOUT, polling: 100 });
    assert.equal(await page.locator('#method').inputValue(), 'task-arithmetic');
    assert.equal(await page.locator('#lambda-out').textContent(), '0.80');
    assert.equal(await page.locator('#lambda-late').inputValue(), '0.4');
    assert.equal(await page.locator('#schedule input[data-family="attention"]').inputValue(), '0.2');
    return { browser, page, log };
  } catch (e) {
    await page.screenshot({ path: path.join(OUT, `failure-recipes-${webgpu ? 'webgpu' : 'cpu'}.png`) }).catch(() => {});
    await browser.close();
    throw e;
  }
}

test('WebGPU (SwiftShader): the multi-task preset with method=ties matches wiseft classify --recipe; λ live; the address restores it', { timeout: 600000 }, async () => {
  const { browser } = await recipeOnThePage(true);
  await browser.close();
});

test('CPU fallback: the same, the recipe\'s merge exported = wiseft merge --recipe, λ swept in lecture mode = wiseft classify, and a bad address value is said, not used', { timeout: 600000 }, async () => {
  const { browser, page, log } = await recipeOnThePage(false);
  try {
    // The merged checkpoint of the restored recipe (task arithmetic, scheduled λ) equals
    // `wiseft merge --recipe`'s byte for byte, provenance included: the CLI is given the URLs the
    // page recorded (asynchronously: this process serves its downloads).
    await page.locator('#lecture-toggle').click();
    assert.ok(await page.locator('#export-at-recipe').isVisible(), 'the export button says it exports the recipe');
    const [dl] = await Promise.all([page.waitForEvent('download', { timeout: READY_TIMEOUT }), page.locator('#export-merged').click()]);
    const bytes = fs.readFileSync(await dl.path());
    assert.match(dl.suggestedFilename(), /^wiseft-merged-recipe-task-arithmetic\.safetensors$/);
    assert.match(await page.locator('#export-status').textContent(), /task arithmetic, λ = /);
    const meta = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8')).__metadata__;
    const sources = JSON.parse(meta['wiseft.sources']);
    assert.deepEqual(sources.map((x) => x.role), ['zero-shot', 'fine-tuned', 'fine-tuned 2', 'fine-tuned 3'], 'every fine-tune is a source');
    assert.deepEqual(JSON.parse(meta['wiseft.recipe']), { version: 1, method: 'task-arithmetic', lambda: { default: [0.8, 0.4], attention: 0.2 } });
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wiseft-recipe-export-'));
    const recipeFile = path.join(tmp, 'recipe.json');
    fs.writeFileSync(recipeFile, JSON.stringify({ version: 1, method: 'task-arithmetic', zero_shot: sources[0].name, fine_tuned: sources.slice(1).map((x) => x.name), lambda: { default: [0.8, 0.4], attention: 0.2 } }));
    const ref = path.join(tmp, 'out', 'model.safetensors');
    await promisify(execFile)(WISEFT, ['merge', '--recipe', recipeFile, '--output', ref], { env: { ...process.env, WISEFT_CACHE: path.join(tmp, 'cache') } });
    assert.ok(Buffer.compare(bytes, fs.readFileSync(ref)) === 0, `the download (${bytes.length} B) is byte-identical to wiseft merge --recipe (${fs.statSync(ref).size} B)`);

    // Lecture mode sweeps the recipe's λ as it sweeps α (issue 14), over the shipped samples: each
    // photo's p(true label) at λ = 0.3 is `wiseft classify --method task-arithmetic --lambda 0.3`'s.
    await page.locator('#samples').click();
    await page.waitForFunction((n) => document.querySelectorAll('article.photo').length === n, PRESET_SAMPLES, { timeout: READY_TIMEOUT });
    await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: READY_TIMEOUT, polling: 100 });
    await page.locator('#sweep').click();
    await page.waitForFunction(() => ['done', 'failed'].includes(document.querySelector('#lecture').dataset.sweep), null, { timeout: READY_TIMEOUT * 3, polling: 200 });
    assert.equal(await page.locator('#lecture').getAttribute('data-sweep'), 'done', `λ sweep: ${await page.locator('#sweep-status').textContent()}\n${log.join('\n')}`);
    assert.match(await page.locator('#rules h3').textContent(), /choose λ/);
    assert.match(await page.locator('#sweep-status').textContent(), /21 λ values/);
    const [csvDl] = await Promise.all([page.waitForEvent('download', { timeout: READY_TIMEOUT }), page.locator('#export-csv').click()]);
    const lines = fs.readFileSync(await csvDl.path(), 'utf8').trim().split('\n').map((l) => l.split(','));
    const head = lines.shift();
    const rows = lines.map((r) => Object.fromEntries(head.map((h, i) => [h, r[i]])));
    const at03 = cli(recipeFlags('task-arithmetic', ['--lambda', '0.3']));
    for (const file of SAMPLES) {
      const [label, name] = [path.basename(path.dirname(file)), path.basename(file)];
      const row = rows.find((r) => r.kind === 'photo' && Math.abs(Number(r.alpha) - 0.3) < 1e-9 && r.true_label === label && r.photo.replace(/ \(\d+\)$/, '') === name);
      assert.ok(row, `a CSV row for ${label}/${name} at λ = 0.3`);
      const want = at03[name][LABELS.indexOf(label)];
      assert.ok(Math.abs(Number(row.p_true) - want) <= TOLERANCE, `${label}/${name} at λ = 0.3: page ${row.p_true}, CLI ${want}`);
    }
    await page.locator('#plot-acc').screenshot({ path: path.join(OUT, 'recipes-lambda-sweep.png') });

    // "Measured here": each column's accuracy on the labelled photos, as the bars show it.
    const counted = await page.evaluate(() => {
      const out = {};
      for (const card of document.querySelectorAll('article.photo')) {
        if (!card.dataset.truth) continue;
        for (const model of ['zero-shot', 'merged']) {
          const top = card.querySelector(`li.bar.first[data-model="${model}"]`);
          if (!top) continue;
          const a = (out[model] ??= { correct: 0, n: 0 });
          a.n++;
          if (top.dataset.label === card.dataset.truth) a.correct++;
        }
      }
      return out;
    });
    const measured = JSON.parse(await page.locator('#published').getAttribute('data-measured'));
    assert.ok(counted.merged.n >= PRESET_SAMPLES, `every labelled sample counted (${counted.merged.n})`);
    assert.deepEqual(measured, { zero_shot: counted['zero-shot'], merged: counted.merged }, 'the measured accuracies are the bars\' counts');

    await page.goto(`${served().url}/index.html?zs=www/models/toy/zs/model.safetensors&ft=www/models/toy/ft-striped/model.safetensors&ft=www/models/toy/ft-sketch/model.safetensors&method=soup&lambda=30&k=0`);
    await page.waitForFunction(() => document.body.dataset.models === 'loaded' || document.body.dataset.state === 'error', null, { timeout: READY_TIMEOUT, polling: 100 });
    const messages = await page.locator('#messages').textContent();
    for (const p of ['method=soup', 'lambda=30', 'k=0']) assert.ok(messages.includes(p), `the message names ${p}: ${messages}\n${log.join('\n')}`);
    // Two fine-tunes from the address: task arithmetic at the default λ.
    assert.equal(await page.locator('#method').inputValue(), 'task-arithmetic');
    assert.equal(await page.locator('#ft-list li').count(), 1);

    // A fine-tune from local files joins them: merged by task arithmetic with the others, shown in a
    // column of its own, and never written into the address (it cannot be shared).
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.locator('#ft-add-files').click()]);
    await chooser.setFiles([path.join(TOY, 'ft-pixelated', 'model.safetensors'), path.join(TOY, 'ft-pixelated', 'config.json')]);
    assert.equal(await page.locator('#ft-list li').count(), 2);
    assert.match(await page.locator('#ft-list li').nth(1).textContent(), /model\.safetensors \+ config\.json \(this computer\)/);
    await page.locator('#load').click();
    await page.waitForFunction(() => document.body.dataset.models === 'loaded' && /3 fine-tune/.test(document.querySelector('#model-status').textContent), null, { timeout: READY_TIMEOUT, polling: 100 });
    // (A link with custom checkpoints and no labels= has none: type them.)
    await page.locator('#labels').fill(LABELS.join('\n'));
    await page.locator('#apply-labels').click();
    await page.setInputFiles('#photos', SAMPLES);
    await waitForSetting(page, log, 'task arithmetic, λ = 0.3');
    await page.waitForFunction(() => [...document.querySelectorAll('article.photo')].every((c) => c.querySelectorAll('.col.own-fine-tune li.bar').length > 0 && c.querySelectorAll('.col.own-fine-tune').length === 3 && !c.querySelector('.col .wait')), null, { timeout: READY_TIMEOUT, polling: 100 });
    const local = await readBars(page);
    const order = ['ft-striped', 'ft-sketch', 'ft-pixelated'];
    compare(local, cli([...order.flatMap((f) => ['--fine-tuned', path.join(TOY, f)]), '--method', 'task-arithmetic', '--lambda', '0.3']), 'merged', 'a local fine-tune merged');
    compare(local, cli(['--fine-tuned', path.join(TOY, 'ft-pixelated'), '--alpha', '1']), 'fine-tuned-3', 'the local fine-tune on its own');
    assert.deepEqual(new URL(page.url()).searchParams.getAll('ft').map((u) => u.split('/').at(-2)), ['ft-striped', 'ft-sketch'], 'the address keeps the shareable fine-tunes only');
    await page.screenshot({ path: path.join(OUT, 'recipes-local-fine-tune.png') });

    // The 8-task presets (nothing downloaded here: the hub is out of reach): FusionBench's eight
    // fine-tunes and coefficients, a task chooser whose labels and templates classify the photos,
    // and the published numbers, marked as published.
    const catalogue = JSON.parse(fs.readFileSync(path.join(ROOT, 'www/presets.json'), 'utf8')).presets;
    const byId = Object.fromEntries(catalogue.map((p) => [p.id, p]));
    await page.locator('#preset').selectOption('tasks8-ties');
    assert.equal(await page.locator('#method').inputValue(), 'ties');
    assert.equal(await page.locator('#lambda-out').textContent(), '0.30');
    assert.equal(await page.locator('#top-k-out').textContent(), '20');
    assert.equal(await page.locator('#ft-list li').count(), 7, 'the seven fine-tunes after the first');
    assert.deepEqual(await page.locator('#task option').evaluateAll((os) => os.map((o) => o.value)), ['sun397', 'stanford-cars', 'resisc45', 'eurosat', 'svhn', 'gtsrb', 'mnist', 'dtd']);
    assert.equal((await page.locator('#labels').inputValue()).split('\n').length, byId.sun397.labels.length, 'the first task\'s labels');
    await page.locator('#task').selectOption('eurosat');
    assert.deepEqual((await page.locator('#labels').inputValue()).split('\n'), byId.eurosat.labels);
    assert.equal(await page.locator('#templates').inputValue(), 'task');
    assert.match(await page.locator('#templates option[value=task]').textContent(), /\(3\)/);
    const published = page.locator('#published');
    assert.ok(await published.isVisible());
    assert.match(await published.textContent(), /Published \(not measured here\)/);
    assert.equal(await published.locator('tr.current td').textContent(), '72.2 %', 'TIES, published');
    for (const [key, value] of [['zero_shot', '48.2'], ['fine_tuned', '90.3'], ['average', '66.5'], ['task-arithmetic', '68.0']]) {
      assert.equal(await published.locator(`.published-table tr[data-key="${key}"] td`).textContent(), `${value} %`);
    }
    const shared = new URL(page.url()).searchParams;
    assert.equal(shared.get('preset'), 'tasks8-ties');
    assert.equal(shared.get('task'), 'eurosat');
    assert.equal(shared.get('labels'), null, 'the task\'s own labels stay out of the address');
    // Without WebGPU, eight ViT-B/32 fine-tunes need most of WebAssembly's 4 GB: said before any
    // download (the engine's rule, src/session/limits.rs, asked of the worker).
    await page.waitForSelector('#memory-note:not([data-pending])', { state: 'attached', timeout: READY_TIMEOUT });
    assert.ok(await page.locator('#memory-note').isVisible(), 'the CPU path states the memory first');
    assert.equal(await page.locator('#memory-note').getAttribute('data-fits'), '1');
    assert.match(await page.locator('#memory-note').textContent(), /downloads 3413 MB and needs about 38\d\d MB of memory \(WebAssembly allows 4 GB at most/);
    // TIES's merged vector beside the eight fine-tunes' own would not fit: no column per fine-tune.
    assert.equal(await page.locator('#memory-note').getAttribute('data-fine-tune-columns'), '0');
    assert.match(await page.locator('#memory-note').textContent(), /TIES then shows no column per fine-tune: their own task vectors beside the merged one would need about 41\d\d MB/);
    await page.screenshot({ path: path.join(OUT, 'recipes-8-tasks.png') });
  } finally {
    await browser.close();
  }
});
