// End-to-end tests of lecture mode (labelled sets, the α sweep, its plots and exports) in headless
// Chromium on the fixture pair a. The sweep's accuracies are checked against the CLI
// (`wiseft classify --json` at each α, counted the same way: top label == true label), and the
// merged-checkpoint download against `wiseft merge`. Run by scripts/e2e.sh after `trunk build`.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { DIST, FIXTURES, OUT, READY_TIMEOUT as TIMEOUT, ROOT, WISEFT, launch } from './env.mjs';
import { waitReady, watch } from './watch.mjs';
import { serve } from './server.mjs';

const LABELS = ['cat', 'dog', 'red car', 'tree', 'the ocean'];
const ALPHAS = Array.from({ length: 21 }, (_, k) => k / 20);

// The "fine-tuning task" set comes as a folder upload (folder = label); "everything else" as
// single photos whose file names carry the label as a prefix.
const FOLDER = { cat: ['photo.png', 'rgba.png'], dog: ['gray.png'], 'red car': ['wide.png'], tree: ['exif_rotated.jpg'] };
const PREFIXED = { 'the ocean_01.jpg': 'photo.jpg', 'cat_02.jpg': 'tall.jpg', 'red car_03.png': 'palette.png', 'Tree-04.png': 'tiny.png' };

let site;
let models;
let tmp;

before(async () => {
  assert.ok(fs.existsSync(path.join(DIST, 'index.html')), `no built site at ${DIST}: run \`trunk build --release\` first`);
  assert.ok(WISEFT, 'the wiseft CLI is not built: run `cargo build --bin wiseft`');
  fs.mkdirSync(OUT, { recursive: true });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wiseft-lecture-'));
  for (const [label, files] of Object.entries(FOLDER)) {
    fs.mkdirSync(path.join(tmp, 'task', label), { recursive: true });
    for (const f of files) fs.copyFileSync(path.join(FIXTURES, 'images', f), path.join(tmp, 'task', label, f));
  }
  fs.mkdirSync(path.join(tmp, 'other'));
  for (const [name, f] of Object.entries(PREFIXED)) fs.copyFileSync(path.join(FIXTURES, 'images', f), path.join(tmp, 'other', name));
  site = await serve({ root: DIST });
  models = await serve({ root: FIXTURES, cors: true });
});

after(async () => {
  await site?.close();
  await models?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** [{file, truth, set}] of every photo of the test. */
function photoList() {
  const list = [];
  for (const [label, files] of Object.entries(FOLDER)) for (const f of files) list.push({ name: f, file: path.join(tmp, 'task', label, f), truth: label, set: 'task' });
  for (const name of Object.keys(PREFIXED)) {
    const truth = LABELS.find((l) => name.toLowerCase().replace(/[-_]/g, ' ').startsWith(l));
    list.push({ name, file: path.join(tmp, 'other', name), truth, set: 'other' });
  }
  return list;
}

/** {task: [{alpha, correct, n}], other: […]} from the CLI at each α. */
function cliAccuracies(photos) {
  const out = { task: [], other: [] };
  for (const alpha of ALPHAS) {
    const json = JSON.parse(
      execFileSync(
        WISEFT,
        ['classify', '--json', '--zero-shot', path.join(FIXTURES, 'models/a_zs'), '--fine-tuned', path.join(FIXTURES, 'models/a_ft'), '--alpha', String(alpha), '--labels', LABELS.join(','), ...photos.map((p) => p.file)],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    );
    const count = { task: [0, 0], other: [0, 0] };
    json.results.forEach((r, i) => {
      assert.ok(r.probs, `CLI could not classify ${r.image}`);
      const top = r.probs.indexOf(Math.max(...r.probs));
      const p = photos[i];
      count[p.set][1]++;
      if (json.labels[top] === p.truth) count[p.set][0]++;
    });
    for (const set of ['task', 'other']) out[set].push({ alpha, correct: count[set][0], n: count[set][1] });
  }
  return out;
}

async function downloadBytes(page, click) {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: TIMEOUT }), click()]);
  const file = await dl.path();
  return { name: dl.suggestedFilename(), bytes: fs.readFileSync(file) };
}

for (const webgpu of [false, true]) {
test(`lecture mode (${webgpu ? 'GPU engine on SwiftShader' : 'CPU'}): labelled folder, α sweep = CLI, CSV, PNGs, merged checkpoint = wiseft merge, ← / →`, { timeout: 600000 }, async () => {
  const browser = await launch(webgpu);
  const shot = (name) => path.join(OUT, `lecture-${webgpu ? 'gpu-' : ''}${name}.png`);
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, acceptDownloads: true });
  const page = await context.newPage();
  const log = watch(page);
  try {
    const q = `zs=${encodeURIComponent(`${models.url}/models/a_zs/model.safetensors`)}&ft=${encodeURIComponent(`${models.url}/models/a_ft/model.safetensors`)}&labels=${encodeURIComponent(LABELS.join(','))}&alpha=0.5&lecture=1${webgpu ? '&backend=gpu' : ''}`;
    await page.goto(`${site.url}/index.html?${q}`);
    await waitReady(page, log, 'loading pair a');
    if (webgpu) assert.match(await page.locator('#backend').textContent(), /^GPU|WebGPU/, 'the GPU engine runs');
    assert.ok(await page.locator('#lecture').isVisible(), 'lecture=1 opens lecture mode');
    assert.match(await page.locator('#explain').textContent(), /86\.8/, 'the explain panel has the paper numbers');
    assert.match(await page.locator('#explain-models').textContent(), /parameters/, 'the explain panel names the checkpoints');

    // A folder upload into the task set: labels from the folder names.
    await page.locator('#folder-set').selectOption('task');
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.locator('#folder-button').click()]);
    await chooser.setFiles(path.join(tmp, 'task'));
    // Single photos (default set: everything else): labels from the file-name prefixes.
    await page.setInputFiles('#photos', Object.keys(PREFIXED).map((n) => path.join(tmp, 'other', n)));
    const photos = photoList();
    for (const p of photos) {
      const card = page.locator(`article.photo[data-image="${p.name}"]`);
      await card.waitFor({ timeout: TIMEOUT });
      assert.equal(await card.getAttribute('data-truth'), p.truth, `${p.name}: true label`);
      assert.equal(await card.getAttribute('data-set'), p.set, `${p.name}: set`);
    }
    await waitReady(page, log, 'classifying the photos');

    // A sweep cancelled right away stops early and leaves the page usable.
    await page.evaluate(() => {
      document.querySelector('#sweep').click();
      document.querySelector('#sweep-cancel').click();
    });
    await page.waitForFunction(() => ['done', 'cancelled', 'failed'].includes(document.querySelector('#lecture').dataset.sweep), null, { timeout: TIMEOUT, polling: 100 });
    assert.equal(await page.locator('#lecture').getAttribute('data-sweep'), 'cancelled', `cancel: ${await page.locator('#sweep-status').textContent()}`);
    const stoppedAt = await page.locator('#sweep-progress').evaluate((e) => e.value);
    assert.ok(stoppedAt < 21, `the cancelled sweep stopped early (at ${stoppedAt} of 21)`);
    await waitReady(page, log, 'after a cancelled sweep');

    // The sweep.
    await page.locator('#sweep').click();
    await page.waitForFunction(() => ['done', 'failed'].includes(document.querySelector('#lecture').dataset.sweep), null, { timeout: TIMEOUT * 3, polling: 200 });
    assert.equal(await page.locator('#lecture').getAttribute('data-sweep'), 'done', `sweep: ${await page.locator('#sweep-status').textContent()}`);
    assert.deepEqual(JSON.parse(await page.locator('#lecture').getAttribute('data-points')), { task: 21, other: 21 }, '21 points per set');
    assert.equal(await page.locator('#sweep-progress').evaluate((e) => e.value), 21);
    assert.match(await page.locator('#best').textContent(), /fine-tuning task.*everything else.*average/s);

    // The CSV holds the sweep; its accuracies equal the CLI's.
    const csv = (await downloadBytes(page, () => page.locator('#export-csv').click())).bytes.toString('utf8');
    const rows = csv.trim().split('\n').map((l) => l.split(','));
    const head = rows[0];
    const col = (r, name) => r[head.indexOf(name)];
    const setRows = rows.filter((r) => r[0] === 'set');
    assert.equal(setRows.length, 42, '21 α × 2 sets');
    const want = cliAccuracies(photos);
    const names = { task: 'fine-tuning task', other: 'everything else' };
    for (const set of ['task', 'other']) {
      for (const w of want[set]) {
        const r = setRows.find((x) => Number(col(x, 'alpha')) === w.alpha && col(x, 'set') === names[set]);
        assert.ok(r, `CSV row for ${set} at α = ${w.alpha}`);
        assert.equal(Number(col(r, 'n')), w.n, `${set} α = ${w.alpha}: n`);
        assert.equal(Number(col(r, 'correct')), w.correct, `${set} α = ${w.alpha}: correct (page vs CLI)`);
        assert.ok(Math.abs(Number(col(r, 'accuracy')) - w.correct / w.n) < 1e-12, `${set} α = ${w.alpha}: accuracy`);
      }
    }
    assert.equal(rows.filter((r) => r[0] === 'photo').length, 21 * photos.length, 'per-photo rows');
    console.log(`# CLI accuracies: task ${want.task.map((w) => w.correct).join(' ')} / ${want.task[0].n}; other ${want.other.map((w) => w.correct).join(' ')} / ${want.other[0].n}`);

    // Plots: screenshots for a person, and the PNG export.
    for (const id of ['plot-acc', 'plot-pareto', 'plot-photos']) {
      await page.locator(`#${id}`).screenshot({ path: shot(id) });
    }
    await page.locator('#explain').screenshot({ path: shot('explain') });
    await page.locator('article.photo').first().screenshot({ path: shot('photo-card') });
    const png = await downloadBytes(page, () => page.locator('[data-png="plot-acc"]').click());
    assert.deepEqual([...png.bytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'the plot PNG is a PNG');

    // ← / → move α by 0.05 (not while typing in a text field).
    await page.locator('#lecture-h').click();
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.locator('#alpha-out').textContent(), '0.55');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');
    assert.equal(await page.locator('#alpha-out').textContent(), '0.45');
    await page.locator('#labels').focus();
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.locator('#alpha-out').textContent(), '0.45', 'arrows in the labels text field do not move α');
    assert.equal(await page.evaluate(() => document.querySelectorAll('input[type=file]').length), 1, 'still one <input type=file>');
    await page.locator('#lecture-h').click();
    await waitReady(page, log, 'after moving α');

    // The merged checkpoint at α = 0.45 equals `wiseft merge`'s, byte for byte, provenance included:
    // the CLI is given the URLs the page loaded (from the same server), so both record the same
    // source names; each records the SHA-256 of the same files and the same tool version.
    const zsUrl = `${models.url}/models/a_zs/model.safetensors`;
    const ftUrl = `${models.url}/models/a_ft/model.safetensors`;
    // Asynchronously: the server answering the CLI's downloads runs in this very process.
    const cliMerge = (out, dtype) => promisify(execFile)(WISEFT, ['merge', '--zero-shot', zsUrl, '--fine-tuned', ftUrl, '--alpha', '0.45', '--dtype', dtype, '--output', out],
      { env: { ...process.env, WISEFT_CACHE: path.join(tmp, `cli-cache-${webgpu}`) } });
    const merged = await downloadBytes(page, () => page.locator('#export-merged').click());
    assert.match(merged.name, /0\.45\.safetensors$/);
    const ref = path.join(tmp, `merged-${webgpu}`, 'model.safetensors');
    await cliMerge(ref, 'f32');
    assert.ok(Buffer.compare(merged.bytes, fs.readFileSync(ref)) === 0, `the download (${merged.bytes.length} B) is byte-identical to wiseft merge (${fs.statSync(ref).size} B)`);
    const headerLen = Number(merged.bytes.readBigUInt64LE(0));
    const meta = JSON.parse(merged.bytes.subarray(8, 8 + headerLen).toString('utf8')).__metadata__;
    assert.deepEqual(JSON.parse(meta['wiseft.sources']).map((s) => s.name), [zsUrl, ftUrl], 'the page records the URLs it used');
    assert.deepEqual(JSON.parse(meta['wiseft.recipe']), { version: 1, method: 'wise-ft', alpha: 0.45 });
    // f16 from the select beside the button: half the size, and again the CLI's bytes.
    await page.locator('#export-dtype').selectOption('f16');
    const half = await downloadBytes(page, () => page.locator('#export-merged').click());
    assert.match(half.name, /0\.45-f16\.safetensors$/);
    const halfRef = path.join(tmp, `merged-f16-${webgpu}`, 'model.safetensors');
    await cliMerge(halfRef, 'f16');
    assert.ok(Buffer.compare(half.bytes, fs.readFileSync(halfRef)) === 0, `the f16 download (${half.bytes.length} B) is byte-identical to wiseft merge --dtype f16 (${fs.statSync(halfRef).size} B)`);
    assert.ok(half.bytes.length < 0.6 * merged.bytes.length, `f16 is about half the size (${half.bytes.length} of ${merged.bytes.length} B)`);
    await page.locator('#export-dtype').selectOption('f32');

    await page.locator('#presenter').click();
    await page.screenshot({ path: shot('presenter') });
  } catch (e) {
    await page.screenshot({ path: shot('failure') }).catch(() => {});
    throw e;
  } finally {
    await browser.close();
  }
});
}

// Issue 13: the α rules. The lecture sweep over the shipped samples (the built-in pair) against
// `wiseft sweep` on the same folders: the same CSV (every row, numbers to float noise between the
// wasm and the native engine) and the same rules.
test('toy samples: the page\'s rules table, markers and CSV equal `wiseft sweep --csv/--json`', { timeout: 600000 }, async () => {
  const samples = path.join(ROOT, 'www/samples/toy');
  const cli = (format) =>
    execFileSync(WISEFT, ['sweep', '--task', path.join(samples, 'task'), '--shift', path.join(samples, 'shift'), '--device', 'cpu', ...format], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 << 20,
    });
  const browser = await launch(false);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const log = watch(page);
  try {
    await page.goto(`${site.url}/index.html?preset=toy&lecture=1`);
    await waitReady(page, log, 'loading the toy pair');
    await page.locator('#samples').click();
    await page.waitForFunction(() => document.querySelectorAll('article.photo').length === 104, null, { timeout: TIMEOUT });
    await waitReady(page, log, 'classifying the samples');
    await page.locator('#sweep').click();
    await page.waitForFunction(() => ['done', 'failed'].includes(document.querySelector('#lecture').dataset.sweep), null, { timeout: TIMEOUT * 3, polling: 200 });
    assert.equal(await page.locator('#lecture').getAttribute('data-sweep'), 'done', `sweep: ${await page.locator('#sweep-status').textContent()}`);
    const pageRules = JSON.parse(await page.locator('#lecture').getAttribute('data-rules'));
    assert.ok(pageRules, 'the session sent the rules');
    assert.equal(await page.locator('#rules tr[data-rule]').count(), 5, 'one table row per rule');
    assert.match(await page.locator('#rules-verdict').textContent(), /served/);
    const csv = (await downloadBytes(page, () => page.locator('#export-csv').click())).bytes.toString('utf8');
    for (const id of ['plot-acc', 'plot-pareto']) await page.locator(`#${id}`).screenshot({ path: path.join(OUT, `lecture-rules-${id}.png`) });

    // The label-free per-layer α (issue 13): cancelled once right after its first forward pass,
    // then run to the end; its cost is said from the first pass on.
    const layerwise = () => page.locator('#layerwise').getAttribute('data-layerwise');
    const progress = () => page.locator('#layerwise-progress').evaluate((p) => p.value);
    await page.locator('#layerwise-start').click();
    await page.waitForFunction(() => document.querySelector('#layerwise-progress').value >= 1, null, { timeout: TIMEOUT, polling: 20 });
    await page.locator('#layerwise-cancel').click();
    await page.waitForFunction(() => ['cancelled', 'done', 'failed'].includes(document.querySelector('#layerwise').dataset.layerwise), null, { timeout: TIMEOUT });
    assert.equal(await layerwise(), 'cancelled', `cancel: ${await page.locator('#layerwise-status').textContent()}`);
    const passesWhenCancelled = await progress();
    await page.locator('#layerwise-start').click();
    await page.waitForFunction(() => /ViT-B\/32/.test(document.querySelector('#layerwise-status').textContent), null, { timeout: TIMEOUT, polling: 20 });
    await page.waitForFunction(() => ['done', 'failed'].includes(document.querySelector('#layerwise').dataset.layerwise), null, { timeout: TIMEOUT * 3, polling: 200 });
    assert.equal(await layerwise(), 'done', `layer-wise: ${await page.locator('#layerwise-status').textContent()}`);
    const pageLayerwise = JSON.parse(await page.locator('#layerwise').getAttribute('data-result'));
    assert.ok(passesWhenCancelled < pageLayerwise.evaluations, `cancelled after ${passesWhenCancelled} of ${pageLayerwise.evaluations} passes`);
    assert.equal(await page.locator('#rules tr[data-rule="layerwise"]').count(), 1, 'the schedule has its row in the rules table');
    assert.ok(await page.locator('#layerwise-figure').isVisible(), 'the schedule is drawn');
    await page.locator('#layerwise').screenshot({ path: path.join(OUT, 'lecture-layerwise.png') });
    await page.locator('#rules').screenshot({ path: path.join(OUT, 'lecture-rules-table.png') });

    const want = JSON.parse(cli(['--json', '--layerwise']));
    const wantCsv = cli(['--csv']);
    // The layer-wise search: the same schedule and accuracies as `wiseft sweep --layerwise`, the
    // entropies to float noise between the wasm and the native engine.
    const l = want.layerwise;
    assert.deepEqual(pageLayerwise.knots, l.knots, 'per-layer α knots (page vs CLI)');
    for (const k of ['start_alpha', 'task_accuracy', 'shift_accuracy', 'evaluations', 'free_set', 'free_photos']) assert.equal(pageLayerwise[k], l[k], `layer-wise ${k}`);
    for (const k of ['entropy', 'start_entropy']) assert.ok(Math.abs(pageLayerwise[k] - l[k]) < 1e-5, `layer-wise ${k}: page ${pageLayerwise[k]}, CLI ${l[k]}`);
    console.log(`# layer-wise: knots ${l.knots.join(' → ')}, entropy ${l.entropy.toFixed(4)} (single α ${l.start_alpha}: ${l.start_entropy.toFixed(4)}), task ${l.task_accuracy}, shift ${l.shift_accuracy}; page ${pageLayerwise.evaluations} passes in ${pageLayerwise.seconds.toFixed(1)} s`);
    // The rules: the same pick for every rule; the same values to float noise.
    for (const [i, r] of want.rules.rules.entries()) {
      const got = pageRules.rules[i];
      assert.equal(got.rule, r.rule);
      assert.equal(got.alpha, r.alpha, `${r.rule}: α (page vs CLI)`);
      for (const k of ['task_accuracy', 'shift_accuracy', 'loss_vs_oracle']) assert.equal(got[k], r[k], `${r.rule}: ${k}`);
    }
    assert.equal(pageRules.verdict, want.rules.verdict);
    for (const [i, a] of want.rules.alphas.entries()) {
      for (const k of ['task_accuracy', 'shift_accuracy', 'agreement_zero_shot']) assert.equal(pageRules.alphas[i][k], a[k], `α = ${a.alpha}: ${k}`);
      for (const k of ['entropy', 'estimated_shift_accuracy']) assert.ok(Math.abs(pageRules.alphas[i][k] - a[k]) < 1e-5, `α = ${a.alpha}: ${k}: page ${pageRules.alphas[i][k]}, CLI ${a[k]}`);
    }
    // The CSV, row by row. The page names a second photo of the same file name "name (2)"; rows are
    // matched by kind, α, set, true label, file name and rule.
    const parse = (text) => {
      const rows = text.trim().split('\n').map((l) => l.split(','));
      const head = rows.shift();
      return { head, rows: rows.map((r) => Object.fromEntries(head.map((h, i) => [h, r[i]]))) };
    };
    const a = parse(csv);
    const b = parse(wantCsv);
    assert.deepEqual(a.head, b.head, 'the same columns');
    assert.equal(a.rows.length, b.rows.length, 'the same number of rows');
    const key = (r) => [r.kind, r.alpha, r.set, r.true_label, r.photo.replace(/ \(\d+\)$/, ''), r.rule].join('|');
    const byKey = new Map(b.rows.map((r) => [key(r), r]));
    let maxDiff = 0;
    for (const r of a.rows) {
      const w = byKey.get(key(r));
      assert.ok(w, `CLI row for ${key(r)}`);
      for (const h of a.head) {
        if (h === 'photo') continue;
        const [x, y] = [r[h], w[h]];
        if (['p_true', 'entropy', 'estimated_accuracy'].includes(h) && x !== '' && y !== '') {
          maxDiff = Math.max(maxDiff, Math.abs(Number(x) - Number(y)));
          assert.ok(Math.abs(Number(x) - Number(y)) < 1e-5, `${key(r)}: ${h}: page ${x}, CLI ${y}`);
        } else assert.equal(x, y, `${key(r)}: ${h}`);
      }
    }
    console.log(`# rules: ${want.rules.rules.map((r) => `${r.rule} α=${r.alpha} loss=${r.loss_vs_oracle}`).join('; ')}; max |page − CLI| on p_true/entropy/estimate: ${maxDiff}`);
    console.log(`# ${want.rules.verdict}`);
  } catch (e) {
    await page.screenshot({ path: path.join(OUT, 'lecture-rules-failure.png') }).catch(() => {});
    throw e;
  } finally {
    await browser.close();
  }
});

// One accuracy curve per named set (issue 14): the multi-task preset's samples come as
// task/<style>/<label>/…, one named set per task style. The λ sweep of its task-arithmetic recipe
// draws a curve for each, and each curve's points at λ = 0 (the zero-shot model) and λ = 0.3 (the
// preset's recipe) count the same top labels as PyTorch's evaluation of those models on the same
// files (samples_expected.toy-multitask.json), near-ties (margin < 1e-3) allowed to flip.
test('multi-task samples: one accuracy curve per named task set, equal to PyTorch at λ = 0 and 0.3', { timeout: 600000 }, async () => {
  const expected = JSON.parse(fs.readFileSync(path.join(ROOT, 'www/models/toy/samples_expected.toy-multitask.json'), 'utf8'));
  const model = (prefix) => expected.models.findIndex((m) => m.startsWith(prefix));
  const at = { 0: model('zero-shot'), 0.3: expected.recipes.findIndex((r) => r && r.method === 'task-arithmetic' && r.lambda === 0.3) };
  assert.ok(at[0] >= 0 && at[0.3] >= 0, `the evaluated models: ${expected.models.join(', ')}`);
  /** name → [{truth, top, margin}] per picture of that named set */
  const named = new Map();
  for (const [file, r] of Object.entries(expected.task.per_image)) {
    const [style, truth] = file.split('/').slice(-3, -1);
    if (!named.has(style)) named.set(style, []);
    named.get(style).push({ truth, r });
  }
  assert.equal(named.size, 3, 'three task styles');
  const browser = await launch(false);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const log = watch(page);
  try {
    await page.goto(`${site.url}/index.html?preset=toy-multitask&lecture=1`);
    await waitReady(page, log, 'loading the multi-task preset');
    await page.locator('#samples').click();
    const total = expected.task.images + expected.shift.images;
    await page.waitForFunction((n) => document.querySelectorAll('article.photo').length === n, total, { timeout: TIMEOUT });
    await waitReady(page, log, 'classifying the samples');
    for (const [style, pics] of named) {
      assert.equal(await page.locator(`article.photo[data-set="task"][data-group="${style}"]`).count(), pics.length, `${style}: its photos are in its named set`);
    }
    assert.match(await page.locator('#set-counts').textContent(), /named sets: .*striped \(\d+\)/);
    await page.locator('#sweep').click();
    await page.waitForFunction(() => ['done', 'failed'].includes(document.querySelector('#lecture').dataset.sweep), null, { timeout: TIMEOUT * 3, polling: 200 });
    assert.equal(await page.locator('#lecture').getAttribute('data-sweep'), 'done', `sweep: ${await page.locator('#sweep-status').textContent()}`);
    const curves = JSON.parse(await page.locator('#lecture').getAttribute('data-named'));
    assert.deepEqual(curves.map((c) => c.name).sort(), [...named.keys()].sort(), 'one curve per named set');
    for (const c of curves) {
      const pics = named.get(c.name);
      assert.equal(c.set, 'task');
      assert.equal(c.points.length, ALPHAS.length, `${c.name}: a point per λ`);
      for (const [lambda, k] of Object.entries(at)) {
        const point = c.points.find((p) => Math.abs(p.alpha - Number(lambda)) < 1e-9);
        const correct = pics.filter(({ truth, r }) => r.top[k] === truth).length;
        const nearTies = pics.filter(({ r }) => r.margin[k] < 1e-3).length;
        assert.equal(point.n, pics.length, `${c.name}: every photo counted`);
        assert.ok(Math.abs(point.correct - correct) <= nearTies, `${c.name} at λ = ${lambda}: page ${point.correct}/${point.n}, PyTorch ${correct} (${nearTies} near-ties)`);
      }
      console.log(`# ${c.name}: λ = 0 ${c.points[0].correct}/${c.points[0].n}, λ = 0.3 ${c.points[6].correct}, λ = 1 ${c.points[20].correct}`);
    }
    assert.match(await page.locator('#best').textContent(), /Best λ for “striped”/);
    assert.equal(await page.locator('#measured tbody tr').count(), 2 + named.size, 'the measured table: the two sets and each named set');
    await page.locator('#plot-acc').screenshot({ path: path.join(OUT, 'lecture-named-sets.png') });
  } catch (e) {
    await page.screenshot({ path: path.join(OUT, 'lecture-named-failure.png') }).catch(() => {});
    throw e;
  } finally {
    await browser.close();
  }
});
