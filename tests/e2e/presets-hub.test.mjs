// The 8-task presets (issue 14: `tasks8-task-arithmetic`, `tasks8-ties`) loaded end to end through
// a local hub mirror, since this machine cannot reach huggingface.co. Every repository the two
// presets name (read from www/presets.json: the zero-shot id's revision and the eight
// tanganke/clip-vit-base-patch32_<task> fine-tunes) resolves to tiny checkpoints of one
// architecture: the zero-shot fixture `a_zs`, and eight distinct vision-only fine-tunes of it made
// here, deterministically, from `a_ft` (θᵢ = θ₀ + cᵢ·(θ_ft − θ₀) + a small seeded perturbation per
// tensor; two of them leave one encoder layer exactly at θ₀). The mirror answers as the hub does:
// weights (LFS files) with a 302 to a CDN on another origin (X-Repo-Commit, X-Linked-Size,
// X-Linked-Etag), configs with a 200, missing side files with a 404 and X-Error-Code.
//
// The page is opened with the mirror set (the #hub-endpoint field) and `?preset=…&task=eurosat`;
// the checks: all nine checkpoints came from the mirror (nothing left 127.0.0.1), the recipe is
// FusionBench's (λ = 0.3; TIES k = 20), the task's labels and templates are in place, the merged
// column equals `wiseft classify --recipe` on the same nine files, labels and templates within
// 1e-4, each fine-tune's own column equals `wiseft classify` with it alone at α = 1, and the
// "Published (not measured here)" box shows FusionBench's numbers beside "Measured here" counts
// that are the bars'.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { FIXTURES, OUT, READY_TIMEOUT, ROOT, WISEFT, launch } from './env.mjs';
import { offTheInternet, useBuiltSite, waitReady, watch } from './watch.mjs';
import { compareBars, readBars, waitForColumns } from './bars.mjs';
import { serve, sendFile } from './server.mjs';

const TOLERANCE = 1e-4;
const HUB = 'https://huggingface.co';
const PRESETS = ['tasks8-task-arithmetic', 'tasks8-ties'];
const TASK = 'eurosat';
// The task chosen afterwards in the page's task chooser.
const OTHER_TASK = 'mnist';
// FusionBench's coefficients for CLIP ViT-B/32 (its defaults): what the presets must load.
const FUSIONBENCH = { 'tasks8-task-arithmetic': { method: 'task-arithmetic', lambda: 0.3 }, 'tasks8-ties': { method: 'ties', lambda: 0.3, top_k: 20 } };

const catalogue = JSON.parse(fs.readFileSync(path.join(ROOT, 'www/presets.json'), 'utf8'));
const byId = Object.fromEntries(catalogue.presets.map((p) => [p.id, p]));
const model = (ref) => (typeof ref === 'string' ? catalogue.models[ref] : ref);
/** A preset's checkpoints as the page loads them: the zero-shot model, then its fine-tunes in order. */
const checkpointsOf = (p) => ({ zeroShot: model(p.zero_shot), fineTunes: [p.fine_tuned, ...(p.more_fine_tuned || [])].map(model) });

/** `https://huggingface.co/<owner>/<name>/resolve/<revision>/<file>` → its parts (the revision decoded). */
function hubFile(url) {
  const m = /^https:\/\/huggingface\.co\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url);
  assert.ok(m, `a hub address: ${url}`);
  return { repo: m[1], revision: decodeURIComponent(m[2]), file: m[3] };
}

// ---------------------------------------------------------------------------------------------
// Fixture checkpoints

/** The F32 tensors of a safetensors file, in its order: [{name, shape, data: Float32Array}]. */
function readSafetensors(file) {
  const bytes = fs.readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
  const body = bytes.subarray(8 + n);
  return Object.entries(header)
    .filter(([k]) => k !== '__metadata__')
    .map(([name, t]) => {
      assert.equal(t.dtype, 'F32', `${file}: ${name}`);
      const [a, b] = t.data_offsets;
      const data = new Float32Array(body.buffer.slice(body.byteOffset + a, body.byteOffset + b));
      return { name, shape: t.shape, data };
    });
}

/** safetensors bytes: 8-byte little-endian header length, the JSON header (padded to 8), the data. */
function writeSafetensors(tensors) {
  const header = { __metadata__: { format: 'pt' } };
  let at = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [at, at + t.data.byteLength] };
    at += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, Buffer.from(json, 'utf8'), ...tensors.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))]);
}

/** A small seeded generator (mulberry32): numbers in [0, 1). */
function random(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// How far each fine-tune goes along a_ft's task vector (negative: against it, so TIES's sign
// election has work to do), and which one leaves an encoder layer exactly as θ₀ had it.
const SCALES = [1.0, 0.8, 0.6, 0.7, -0.5, 0.4, 0.9, -0.3];
const UNTOUCHED_LAYER = { 2: 0, 5: 1 };

/**
 * Eight vision-only fine-tunes of a_zs (CLIPVisionModel layout, as the tanganke models are), in
 * `dir`/ft-<i>/{model.safetensors, config.json}: per tensor of a_ft, θᵢ = θ₀ + cᵢ·τ + ε, τ = θ_ft − θ₀,
 * ε uniform in ±0.5·rms(τ) from a seed of (i, tensor).
 * @returns {string[]} the folders
 */
function makeFineTunes(dir) {
  const zs = new Map(readSafetensors(path.join(FIXTURES, 'models/a_zs/model.safetensors')).map((t) => [t.name, t]));
  const ft = readSafetensors(path.join(FIXTURES, 'models/a_ft/model.safetensors'));
  return SCALES.map((c, i) => {
    const tensors = ft.map((t, k) => {
      const base = zs.get(t.name);
      assert.ok(base && JSON.stringify(base.shape) === JSON.stringify(t.shape), `a_zs has ${t.name} as a_ft does`);
      if (new RegExp(`^vision_model\\.encoder\\.layers\\.${UNTOUCHED_LAYER[i]}\\.`).test(t.name)) return { ...t, data: Float32Array.from(base.data) };
      let sq = 0;
      for (let j = 0; j < t.data.length; j++) sq += (t.data[j] - base.data[j]) ** 2;
      const amplitude = 0.5 * (Math.sqrt(sq / t.data.length) || 1e-3);
      const rng = random(1000 * (i + 1) + k);
      const data = new Float32Array(t.data.length);
      for (let j = 0; j < data.length; j++) data[j] = base.data[j] + c * (t.data[j] - base.data[j]) + amplitude * (2 * rng() - 1);
      return { name: t.name, shape: t.shape, data };
    });
    const out = path.join(dir, `ft-${i + 1}`);
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'model.safetensors'), writeSafetensors(tensors));
    fs.copyFileSync(path.join(FIXTURES, 'models/a_ft/config.json'), path.join(out, 'config.json'));
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// The hub mirror

const EXPOSED = 'X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,ETag,Link,Accept-Ranges,Content-Range,X-Linked-Size,X-Linked-ETag,X-Xet-Hash';
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
const commitOf = (repo) => crypto.createHash('sha1').update(repo).digest('hex');

/**
 * Routes of a hub mirror at /mirror for `repos` ({repo, revision, files: {name → bytes}}), its LFS
 * files (weights) redirected to `cdnUrl` + /cdn/<sha256>; and the CDN's routes.
 */
function hubRoutes(repos, cdnUrl) {
  const hub = {};
  const cdn = {};
  for (const { repo, revision, files, absent } of repos) {
    for (const [file, bytes] of Object.entries(files)) {
      const p = `/mirror/${repo}/resolve/${revision}/${file}`;
      const hash = sha256(bytes);
      if (file.endsWith('.safetensors') || file.endsWith('.bin')) {
        const location = `${cdnUrl}/cdn/${hash}`;
        hub[p] = (req, res) => {
          const body = `Found. Redirecting to ${location}`;
          res.writeHead(302, {
            Location: location,
            'Content-Type': 'text/plain; charset=utf-8',
            'Content-Length': String(Buffer.byteLength(body)),
            'Access-Control-Expose-Headers': EXPOSED,
            'X-Repo-Commit': commitOf(repo),
            'X-Linked-Size': String(bytes.length),
            'X-Linked-Etag': `"${hash}"`,
            ETag: `"${hash}"`,
          });
          res.end(req.method === 'HEAD' ? undefined : body);
        };
        cdn[`/cdn/${hash}`] = (req, res) => {
          res.setHeader('ETag', `"${hash}"`);
          res.setHeader('Content-Disposition', `inline; filename*=UTF-8''${file}; filename="${file}";`);
          sendFile(req, res, bytes, 'binary/octet-stream');
        };
      } else {
        hub[p] = (req, res) => {
          res.setHeader('Access-Control-Expose-Headers', EXPOSED);
          res.setHeader('X-Repo-Commit', commitOf(repo));
          res.setHeader('ETag', `W/"${sha256(bytes).slice(0, 40)}"`);
          sendFile(req, res, bytes, 'text/plain; charset=utf-8');
        };
      }
    }
    for (const file of absent) {
      hub[`/mirror/${repo}/resolve/${revision}/${file}`] = (req, res) => {
        res.writeHead(404, {
          'Content-Type': 'text/plain; charset=utf-8',
          'Access-Control-Expose-Headers': EXPOSED,
          'X-Repo-Commit': commitOf(repo),
          'X-Error-Code': 'EntryNotFound',
          'X-Error-Message': 'Entry not found',
        });
        res.end(req.method === 'HEAD' ? undefined : 'Entry not found');
      };
    }
  }
  return { hub, cdn };
}

// ---------------------------------------------------------------------------------------------
// Set-up: the fine-tunes, the photos (named for their true EuroSAT label), the mirror

const served = useBuiltSite();
let tmp;
let fineTuneDirs;
let mirror;
let cdn;
/** Every path the mirror answers (files, and the hub's 404s for absent side files). */
let mirrorPaths;
/** The repositories the presets name, in the order the page loads them. */
let zeroShotRepo;
let fineTuneRepos;
const ZS_DIR = path.join(FIXTURES, 'models/a_zs');
// Fixture photos under names that give their true label (a name's prefix; one has none). The
// models are random: the labels are only there to be counted (chosen so that the zero-shot model
// and the merge get some right, and not the same ones).
const PHOTOS = [
  ['photo.png', 'residential_buildings_or_homes_or_apartments-1.png'],
  ['gray.png', 'lake_or_sea-2.png'],
  ['wide.png', 'highway_or_road-3.png'],
  ['exif_rotated.jpg', 'pasture land-4.jpg'],
  ['photo.jpg', 'unlabelled-5.jpg'],
];
let photoFiles;

before(async () => {
  // Both presets name the same nine repositories; the mirror serves exactly those.
  const [ta, ties] = PRESETS.map((id) => checkpointsOf(byId[id]));
  assert.deepEqual(ties, ta, 'the two 8-task presets merge the same checkpoints');
  assert.equal(ta.fineTunes.length, 8);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wiseft-presets-hub-'));
  fineTuneDirs = makeFineTunes(tmp);
  fs.mkdirSync(path.join(tmp, 'photos'));
  fs.mkdirSync(path.join(tmp, 'empty'));
  photoFiles = PHOTOS.map(([from, to]) => {
    const p = path.join(tmp, 'photos', to);
    fs.copyFileSync(path.join(FIXTURES, 'images', from), p);
    return p;
  });
  const zsFile = hubFile(ta.zeroShot.urls[0]);
  zeroShotRepo = zsFile;
  fineTuneRepos = ta.fineTunes.map((m) => hubFile(m.urls[0]));
  assert.equal(new Set(fineTuneRepos.map((r) => r.repo)).size, 8, 'eight distinct repositories');
  const sideNames = ['config.json', 'preprocessor_config.json'];
  const repos = [
    {
      ...zsFile,
      files: Object.fromEntries([zsFile.file, ...sideNames].map((f) => [f, fs.readFileSync(path.join(ZS_DIR, f === zsFile.file ? 'model.safetensors' : f))])),
      absent: [],
    },
    ...fineTuneRepos.map((r, i) => ({
      ...r,
      files: { [r.file]: fs.readFileSync(path.join(fineTuneDirs[i], 'model.safetensors')), 'config.json': fs.readFileSync(path.join(fineTuneDirs[i], 'config.json')) },
      // As a_ft (a CLIPVisionModel saved alone): no preprocessor config beside it.
      absent: ['preprocessor_config.json'],
    })),
  ];
  // The CDN first (the mirror's redirects name its address), its routes filled in after.
  const cdnRoutes = {};
  cdn = await serve({ root: path.join(tmp, 'empty'), cors: true, routes: cdnRoutes });
  const routes = hubRoutes(repos, cdn.url);
  Object.assign(cdnRoutes, routes.cdn);
  mirror = await serve({ root: path.join(tmp, 'empty'), cors: true, routes: routes.hub });
  mirrorPaths = new Set(Object.keys(routes.hub));
});

after(async () => {
  await mirror?.close();
  await cdn?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// The reference: wiseft classify on the same files, labels and templates

const refs = new Map();

/** `wiseft classify` (CPU) on the photos with a task's labels and templates: {photo → probs}. */
function cli(flags, taskId = TASK) {
  const key = `${taskId}: ${flags.join(' ')}`;
  if (refs.has(key)) return refs.get(key);
  assert.ok(WISEFT, 'the wiseft CLI is not built: run `cargo build --bin wiseft` (scripts/e2e.sh does)');
  const task = byId[taskId];
  const labelsFile = path.join(tmp, `${taskId}.labels.txt`);
  fs.writeFileSync(labelsFile, task.labels.join('\n') + '\n');
  const out = execFileSync(
    WISEFT,
    ['classify', ...flags, '--labels-file', labelsFile, ...task.templates.flatMap((t) => ['--template', t]), '--device', 'cpu', '--json', ...photoFiles],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const json = JSON.parse(out);
  assert.deepEqual(json.labels, task.labels);
  const byImage = {};
  for (const r of json.results) {
    assert.ok(r.probs, `the CLI could not classify ${r.image}: ${r.error}`);
    byImage[path.basename(r.image)] = r.probs;
  }
  refs.set(key, byImage);
  return byImage;
}

/** The preset's recipe as a recipe file over the nine local files. */
function recipeFile(preset) {
  const r = byId[preset].recipe;
  const file = path.join(tmp, `${preset}.recipe.json`);
  const recipe = { version: 1, method: r.method, zero_shot: ZS_DIR, fine_tuned: fineTuneDirs, lambda: r.lambda };
  if (r.top_k !== undefined) recipe.top_k = r.top_k;
  fs.writeFileSync(file, JSON.stringify(recipe));
  return file;
}

// ---------------------------------------------------------------------------------------------
// The page


function compare(bars, reference, model, where, taskId = TASK) {
  return compareBars(bars, reference, { files: photoFiles, labels: byId[taskId].labels, model, where, tolerance: TOLERANCE });
}

/** Opens the preset with the mirror set, on the CPU engine or WebGPU (SwiftShader), and checks it all. */
async function presetThroughTheMirror(preset, webgpu) {
  const mode = webgpu ? 'WebGPU (SwiftShader)' : 'CPU';
  const where = `${preset}, ${mode}`;
  const { recipe, published } = byId[preset];
  const task = byId[TASK];
  const browser = await launch(webgpu);
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const blocked = await offTheInternet(context);
  const page = await context.newPage();
  const log = watch(page);
  const before = mirror.requests.length;
  const cdnBefore = cdn.requests.length;
  try {
    // The bare page loads its offline default first; then the mirror is set in the page.
    await page.goto(`${served().url}/index.html`);
    await waitReady(page, log, `${where}: the offline default`);
    await page.locator('#custom').evaluate((d) => { d.open = true; });
    const endpoint = `${mirror.url}/mirror`;
    await page.fill('#hub-endpoint', endpoint);
    await page.locator('#hub-endpoint').dispatchEvent('change');
    assert.match(await page.locator('#model-status').textContent(), /now come from/);

    const started = Date.now();
    await page.goto(`${served().url}/index.html?preset=${preset}&task=${TASK}${webgpu ? '&backend=gpu' : ''}`);
    assert.equal(await page.inputValue('#hub-endpoint'), endpoint, 'the mirror is remembered');
    await waitReady(page, log, `${where}: loading the preset through the mirror`, READY_TIMEOUT);
    const loadS = (Date.now() - started) / 1000;
    const badge = (await page.locator('#backend').textContent()).trim();
    assert.match(badge, webgpu ? /^GPU|WebGPU/ : /^CPU/, `${where}: ${badge}`);
    assert.match(await page.locator('#model-status').textContent(), new RegExp(`Loaded: zero-shot \\+ 8 fine-tune\\(s\\), ${recipe.method}`));

    // All nine checkpoints (and their side files) came from the mirror, the weights through its
    // CDN; nothing went to huggingface.co.
    const asked = mirror.requests.slice(before);
    const got = cdn.requests.slice(cdnBefore);
    for (const r of [zeroShotRepo, ...fineTuneRepos]) {
      const base = `/mirror/${r.repo}/resolve/${r.revision}`;
      assert.ok(asked.some((q) => q.startsWith(`GET ${base}/${r.file}`)), `${where}: ${r.repo} (${r.revision}) was asked of the mirror: ${asked.join(', ')}`);
      assert.ok(asked.some((q) => q.startsWith(`GET ${base}/config.json`)), `${where}: ${r.repo}'s config.json`);
    }
    assert.equal(new Set(got.filter((q) => q.startsWith('GET /cdn/')).map((q) => q.split(' ')[1])).size, 9, `${where}: nine weights files from the CDN: ${got.join(', ')}`);
    assert.ok(!asked.some((q) => /pytorch_model\.bin/.test(q)), `${where}: the first candidate existed, no fallback asked`);
    const unknown = asked.filter((q) => !mirrorPaths.has(q.replace(/^\S+ /, '').replace(/ \(.*\)$/, '')));
    assert.deepEqual(unknown, [], `${where}: the page asked the mirror only for files of the nine repositories`);
    assert.deepEqual(blocked, [], `${where}: nothing left 127.0.0.1`);

    // FusionBench's recipe, and the task's labels and templates.
    assert.deepEqual({ method: recipe.method, ...recipe }, FUSIONBENCH[preset], `${preset}: FusionBench's coefficients in www/presets.json`);
    assert.equal(await page.locator('#method').inputValue(), recipe.method);
    assert.equal(await page.locator('#lambda-out').textContent(), recipe.lambda.toFixed(2));
    if (recipe.top_k !== undefined) assert.equal(await page.locator('#top-k-out').textContent(), String(recipe.top_k));
    assert.equal(await page.locator('#ft-list li').count(), 7, 'the seven fine-tunes after the first');
    assert.deepEqual(await page.locator('#task option').evaluateAll((os) => os.map((o) => o.value)), byId[preset].tasks);
    assert.equal(await page.locator('#task').inputValue(), TASK);
    assert.deepEqual((await page.locator('#labels').inputValue()).split('\n'), task.labels);
    assert.equal(await page.locator('#templates').inputValue(), 'task');
    assert.match(await page.locator('#templates option[value=task]').textContent(), new RegExp(`\\(${task.templates.length}\\)`));

    await page.setInputFiles('#photos', photoFiles);
    const setting = recipe.method === 'ties' ? `TIES, λ = ${recipe.lambda}, k = ${recipe.top_k} %` : `task arithmetic, λ = ${recipe.lambda}`;
    await waitForColumns(page, log, { setting, n: photoFiles.length, own: 8, shot: path.join(OUT, 'failure-presets-hub.png') });
    await page.screenshot({ path: path.join(OUT, `presets-hub-${preset}-${webgpu ? 'webgpu' : 'cpu'}.png`), fullPage: true });
    const bars = await readBars(page);
    let checked = compare(bars, cli(['--recipe', recipeFile(preset)]), 'merged', `${where}, merged`);
    checked += compare(bars, cli(['--zero-shot', ZS_DIR]), 'zero-shot', `${where}, zero-shot`);
    for (const [i, dir] of fineTuneDirs.entries()) {
      checked += compare(bars, cli(['--zero-shot', ZS_DIR, '--fine-tuned', dir, '--alpha', '1']), `fine-tuned-${i + 1}`, `${where}, ${fineTuneRepos[i].repo} on its own`);
    }
    const card = page.locator('article.photo').first();
    assert.deepEqual(await card.locator('.col').evaluateAll((cs) => cs.map((c) => c.dataset.model)), ['zero-shot', ...fineTuneDirs.map((_, i) => `fine-tuned-${i + 1}`), 'merged']);
    // Each fine-tune's column says which checkpoint it is: its repository's name (the address's
    // last parts, "main/model.safetensors", were the same for all eight).
    const notes = (await card.locator('.col.own-fine-tune h3 small').allTextContents()).map((t) => t.replace(/\u200e/g, '').trim());
    assert.deepEqual(notes, fineTuneRepos.map((r) => r.repo.split('/')[1]), `${where}: the fine-tune columns name their repositories`);

    // The published numbers, marked as such, beside what the bars measure here.
    const box = page.locator('#published');
    assert.ok(await box.isVisible());
    assert.match(await box.textContent(), /Published \(not measured here\)/);
    assert.match(await box.textContent(), new RegExp(published.source.replace(/[().]/g, '\\$&')));
    for (const key of ['zero_shot', 'fine_tuned', 'average', 'task-arithmetic', 'ties']) {
      assert.equal(await box.locator(`.published-table tr[data-key="${key}"] td`).textContent(), `${published[key].toFixed(1)} %`, `published ${key}`);
    }
    assert.equal(await box.locator('.published-table tr.current').getAttribute('data-key'), recipe.method, 'the loaded method\'s row is marked');
    const counted = await page.evaluate(() => {
      const out = {};
      for (const c of document.querySelectorAll('article.photo')) {
        if (!c.dataset.truth) continue;
        for (const m of ['zero-shot', 'merged']) {
          const top = c.querySelector(`li.bar.first[data-model="${m}"]`);
          const a = (out[m] ??= { correct: 0, n: 0 });
          a.n++;
          if (top.dataset.label === c.dataset.truth) a.correct++;
        }
      }
      return out;
    });
    assert.equal(counted.merged.n, photoFiles.length - 1, 'every photo named for a label counts, the unlabelled one does not');
    const measured = JSON.parse(await box.getAttribute('data-measured'));
    assert.deepEqual(measured, { zero_shot: counted['zero-shot'], merged: counted.merged }, 'the measured accuracies are the bars\' counts');
    for (const [key, a] of [['zero_shot', counted['zero-shot']], ['merged', counted.merged]]) {
      assert.equal(await box.locator(`.measured-table tr[data-key="${key}"] td`).textContent(), `${((100 * a.correct) / a.n).toFixed(1)} % (${a.correct}/${a.n})`);
    }
    assert.match(await box.textContent(), new RegExp(`task ${TASK}`));

    // The address keeps the preset, its task and its recipe.
    let address = new URL(page.url()).searchParams;
    assert.equal(address.get('preset'), preset);
    assert.equal(address.get('task'), TASK);
    assert.equal(address.get('method'), recipe.method);

    // Another task in the chooser: its labels and templates classify the same photos at once,
    // with nothing downloaded again.
    const other = byId[OTHER_TASK];
    const asked0 = mirror.requests.length;
    await page.locator('#task').selectOption(OTHER_TASK);
    assert.deepEqual((await page.locator('#labels').inputValue()).split('\n'), other.labels);
    assert.match(await page.locator('#templates option[value=task]').textContent(), new RegExp(`\\(${other.templates.length}\\)`));
    await page.waitForFunction(
      (labels) => {
        const bars = [...document.querySelectorAll('li.bar')];
        return document.body.dataset.state === 'ready' && bars.length > 0 && bars.every((b) => labels.includes(b.dataset.label));
      },
      other.labels,
      { timeout: READY_TIMEOUT, polling: 100 },
    );
    await waitForColumns(page, log, { setting, n: photoFiles.length, own: 8, shot: path.join(OUT, 'failure-presets-hub.png') });
    const again = await readBars(page);
    checked += compare(again, cli(['--recipe', recipeFile(preset)], OTHER_TASK), 'merged', `${where}, task ${OTHER_TASK}, merged`, OTHER_TASK);
    checked += compare(again, cli(['--zero-shot', ZS_DIR, '--fine-tuned', fineTuneDirs[6], '--alpha', '1'], OTHER_TASK), 'fine-tuned-7', `${where}, task ${OTHER_TASK}, ${fineTuneRepos[6].repo}`, OTHER_TASK);
    address = new URL(page.url()).searchParams;
    assert.equal(address.get('task'), OTHER_TASK);
    assert.match(await box.textContent(), new RegExp(`task ${OTHER_TASK}`));
    assert.deepEqual(mirror.requests.slice(asked0), [], `${where}: a task change downloads nothing`);

    console.log(`# ${where}: loaded through the mirror in ${loadS.toFixed(1)} s; ${checked} probabilities within ${TOLERANCE} of wiseft classify; measured here: zero-shot ${counted['zero-shot'].correct}/${counted['zero-shot'].n}, merged ${counted.merged.correct}/${counted.merged.n}`);
  } finally {
    await browser.close();
  }
}

for (const preset of PRESETS) {
  test(`${preset} through a hub mirror, CPU engine: FusionBench's recipe over the nine repositories = wiseft classify --recipe`, { timeout: 300000 }, () => presetThroughTheMirror(preset, false));
}
for (const preset of PRESETS) {
  test(`${preset} through a hub mirror, WebGPU (SwiftShader): the same`, { timeout: 300000 }, () => presetThroughTheMirror(preset, true));
}
