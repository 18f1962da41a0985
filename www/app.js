// The page: draws, reads the person's input and talks to the engine worker (src/web, Rust/wasm)
// through the typed messages of src/web/protocol.rs. No model logic lives here.

const $ = (id) => document.getElementById(id);
const MODELS = ['zero-shot', 'merged', 'fine-tuned'];
const MODEL_TITLES = { 'zero-shot': 'Zero-shot', merged: 'Merged', 'fine-tuned': 'Fine-tuned' };
const TOP_K = 5;
const MAX_PHOTO_BYTES = 64e6;
const HELLO_TIMEOUT_MS = 60000;
const WORKER_URL = 'www/worker-loader.js';

const ui = {
  presets: { models: {}, presets: [] },
  preset: null, // the selected preset object, or null for custom
  backend: null, // "gpu" or "cpu" from the address, else the automatic choice
  worker: null,
  engineUp: false,
  engineDead: null, // message when the worker cannot run
  seq: 0,
  pending: new Map(), // seq → request type
  loading: false,
  loaded: false,
  loadError: null,
  hasFineTuned: true,
  labels: [],
  templates: 'single',
  alpha: 0.5,
  alphaSent: null,
  alphaInFlight: false,
  photoSeq: 0,
  photos: new Map(), // id → {id, name, url, card, error, scores: {model: {alpha, probs, labels}}}
  local: { 'zero-shot': null, 'fine-tuned': null }, // File[] chosen for a role
  downloads: new Map(),
  messages: new Map(), // key → message box
};

// ---------------------------------------------------------------- helpers

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('data-')) e.setAttribute(k, String(v));
    else if (k in e) e[k] = v;
    else e.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

const mb = (b) => (b < 1e5 ? `${(b / 1e3).toFixed(1)} kB` : `${(b / 1e6).toFixed(1)} MB`);
const pct = (p) => `${(p * 100).toFixed(p >= 0.9995 || p < 0.0005 ? 1 : 1)}%`;
const fmtAlpha = (a) => (Math.round(a * 100) / 100).toFixed(2);

function fmtDuration(s) {
  if (!isFinite(s)) return '…';
  if (s < 60) return `${Math.ceil(s)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - 60 * m)} s`;
}

function resolveUrl(u) {
  try {
    return new URL(u, document.baseURI).href;
  } catch {
    return u;
  }
}

function shortName(url) {
  try {
    const u = new URL(url);
    const parts = u.pathname.split('/').filter(Boolean);
    if (u.hostname.endsWith('huggingface.co') && parts.length >= 5 && parts[2] === 'resolve') {
      return `${parts[0]}/${parts[1]} @ ${decodeURIComponent(parts[3])} · ${parts.slice(4).join('/')}`;
    }
    return parts.slice(-3).join('/') || url;
  } catch {
    return url;
  }
}

// ---------------------------------------------------------------- page state

function updateState() {
  let state;
  if (ui.engineDead || ui.loadError) state = 'error';
  else if (!ui.engineUp || ui.loading) state = 'loading';
  else if (ui.pending.size > 0) state = 'busy';
  else state = 'ready';
  document.body.dataset.state = state;
  document.body.dataset.models = ui.loaded ? 'loaded' : 'none';
  $('cancel').hidden = !ui.loading;
  $('load').disabled = ui.loading || !ui.engineUp;
  $('empty').hidden = ui.photos.size > 0;
}

function showMessage(level, text, { key = text, sticky = false } = {}) {
  const old = ui.messages.get(key);
  if (old) {
    old.querySelector('p').textContent = text;
    return;
  }
  const close = el('button', { class: 'close', type: 'button', 'aria-label': 'Dismiss', text: '×' });
  const box = el('div', { class: `msg ${level}`, role: level === 'error' ? 'alert' : 'status' }, el('p', { text }), close);
  close.onclick = () => {
    box.remove();
    ui.messages.delete(key);
  };
  ui.messages.set(key, box);
  box.dataset.key = key;
  $('messages').append(box);
  if (!sticky && level === 'info') setTimeout(() => close.onclick(), 12000);
}

function setModelStatus(text, level = '') {
  const s = $('model-status');
  s.textContent = text;
  s.className = `status ${level}`;
}

// ---------------------------------------------------------------- worker

function send(msg) {
  if (!ui.worker || ui.engineDead) return;
  msg.seq = ++ui.seq;
  ui.pending.set(msg.seq, msg.type);
  ui.worker.postMessage(msg);
  updateState();
  return msg.seq;
}

function startWorker() {
  let worker;
  try {
    worker = new Worker(WORKER_URL);
  } catch (e) {
    engineFailed(`the engine worker could not be created (${e.message})`);
    return;
  }
  ui.worker = worker;
  worker.onmessage = (e) => onEvent(e.data);
  worker.onerror = (e) => {
    e.preventDefault?.();
    // Rust aborts with a bare `unreachable` trap when WebAssembly memory (4 GB at most) runs out.
    if (/unreachable/i.test(e.message || '')) {
      engineFailed('the engine stopped, most likely out of memory: the CPU back end keeps both checkpoints and the merged model in WebAssembly memory, which ends at 4 GB — choose smaller checkpoints or a browser with WebGPU', true);
      return;
    }
    engineFailed(`the engine worker failed: ${e.message || 'could not load its script or WebAssembly'}`);
  };
  worker.onmessageerror = () => showMessage('error', 'A message from the engine could not be read.');
  setTimeout(() => {
    if (!ui.engineUp && !ui.engineDead) {
      engineFailed(`the engine (WebAssembly in a Web Worker) did not start within ${HELLO_TIMEOUT_MS / 1000} s`);
    }
  }, HELLO_TIMEOUT_MS);
}

function engineFailed(why, known = false) {
  ui.engineDead = why;
  $('backend').textContent = 'Engine not running';
  $('backend').className = 'backend bad';
  const hint = known ? 'Reload the page to start it again.' : 'Reload the page; if it persists, this browser may lack WebAssembly SIMD or Web Workers.';
  setModelStatus(`${why}. ${hint}`, 'error');
  updateState();
}

function onEvent(ev) {
  switch (ev.type) {
    case 'hello':
      ui.engineUp = true;
      renderBackend(null, ev);
      if (!ev.cache_available) $('cache-note').textContent = 'Cache Storage unavailable here: models are downloaded on every visit.';
      begin();
      break;
    case 'progress':
      renderProgress(ev);
      break;
    case 'status':
      setModelStatus(ev.text);
      break;
    case 'notice':
      showMessage(ev.level === 'warn' ? 'warn' : 'info', ev.text, { key: ev.key || ev.text, sticky: ev.level === 'warn' });
      break;
    case 'loaded':
      ui.loaded = true;
      ui.hasFineTuned = ev.models.length > 1;
      renderBackend(ev.backend);
      renderReport(ev);
      ui.idleStatus = `Loaded: ${ev.models.map((m) => m.role).join(' + ')} · photos at ${ev.image_size}×${ev.image_size} px`;
      setModelStatus(ui.idleStatus, 'ok');
      $('downloads').classList.add('compact');
      for (const p of ui.photos.values()) renderPhoto(p);
      renderExplainModels(ev);
      if (ui.bench && !ui.bench.sent) {
        ui.bench.sent = true;
        send({ type: 'bench', runs: ui.bench.runs, prompts: ui.bench.prompts });
      }
      break;
    case 'bench':
      onBench(ev);
      break;
    case 'results':
      for (const s of ev.scores) {
        const photo = ui.photos.get(s.image);
        if (!photo) continue;
        photo.error = null;
        photo.scores[s.model] = { alpha: s.alpha, probs: s.probs, labels: ev.labels };
        renderPhoto(photo);
      }
      break;
    case 'image_error': {
      const photo = ui.photos.get(ev.image);
      if (photo) {
        photo.error = ev.message;
        renderPhoto(photo);
      }
      break;
    }
    case 'failed':
      onFailed(ev);
      break;
    case 'done':
      onDone(ev.seq);
      break;
    case 'cached': {
      const p = ui.probe;
      if (!p || p.id !== ui.preset?.id) break;
      const has = (list) => list.length === 0 || list.some((u) => ev.urls.includes(u));
      setLoadLabel(p.zs.length > 0 && has(p.zs) && has(p.ft));
      break;
    }
    case 'sweep_progress':
      onSweepProgress(ev);
      break;
    case 'sweep':
      onSweep(ev);
      break;
    case 'merged':
      onMerged(ev);
      break;
    case 'cache_cleared': {
      probePreset();
      const freed = ev.usage_before != null && ev.usage_after != null ? ` (${mb(Math.max(0, ev.usage_before - ev.usage_after))} freed)` : '';
      $('cache-note').textContent = `Removed ${ev.entries} stored file(s)${freed}.`;
      break;
    }
    default:
      console.warn('wiseft: unknown event', ev);
  }
}

// ?bench=1: the loaded model's timings as `wiseft bench` reports them, shown and left in
// <body data-result> for scripts/bench/browser.sh.
function onBench(ev) {
  const t = ev.timings;
  const result = {
    backend: ev.backend,
    checkpoint_mb: ev.checkpoint_mb,
    load_s: ev.load_s,
    merge_s: t.merge_s,
    image_b1_s: t.image_batch1_s,
    image_b8_s: t.image_batch8_s,
    gflops_b8: t.image_gflops_per_s,
    prompts: t.prompts,
    [`text${t.prompts}_s`]: t.text_s,
    text_gflops: t.text_gflops_per_s,
    wasm_memory_mb: ev.wasm_memory_mb,
  };
  const s = (x) => `${x.toFixed(3)} s`;
  showMessage(
    'info',
    `Benchmark on ${ev.backend}: load ${s(ev.load_s)} (${ev.checkpoint_mb.toFixed(0)} MB) · α change ${s(t.merge_s)} · ` +
      `image ×1 ${s(t.image_batch1_s)} · image ×8 ${s(t.image_batch8_s)} (${t.image_gflops_per_s.toFixed(1)} GFLOP/s) · ` +
      `${t.prompts} prompts ${s(t.text_s)}`,
    { key: 'bench', sticky: true },
  );
  document.body.dataset.result = JSON.stringify(result);
}

function onFailed(ev) {
  if (ui.bench && ['bench', 'load', 'crash'].includes(ev.what) && !ev.cancelled) document.body.dataset.result = JSON.stringify({ error: ev.message });
  if (ev.what === 'crash') {
    engineFailed(ev.message);
    return;
  }
  if (ev.what === 'sweep') {
    ui.sweepRunning = false;
    sweepButtons();
    $('sweep-status').textContent = ev.cancelled ? 'Sweep cancelled.' : `Sweep failed: ${ev.message}`;
    $('lecture').dataset.sweep = ev.cancelled ? 'cancelled' : 'failed';
    if (ev.cancelled) {
      updateState();
      return;
    }
  }
  if (ev.what === 'load') {
    if (ev.cancelled) {
      setModelStatus(ev.message);
    } else {
      ui.loadError = ev.message;
      setModelStatus(ev.message, 'error');
    }
    $('model-status').dataset.error = ev.cancelled ? '' : 'load';
  } else {
    showMessage('error', ev.message);
  }
  updateState();
}

function onDone(seq) {
  const type = ui.pending.get(seq);
  ui.pending.delete(seq);
  if (type === 'load') {
    ui.loading = false;
    // Retry notices of this load are settled now (it worked, or the error says it all).
    for (const [key, box] of ui.messages) {
      if (key.startsWith('retry ')) {
        box.remove();
        ui.messages.delete(key);
      }
    }
    if (!ui.loadError && !ui.loaded) setModelStatus($('model-status').textContent || 'Not loaded.');
  }
  if (ui.pending.size === 0 && ui.loaded && !ui.loadError) setModelStatus(ui.idleStatus, 'ok');
  if (type === 'sweep') {
    ui.sweepRunning = false;
    sweepButtons();
  }
  if (type === 'set_alpha') {
    ui.alphaInFlight = false;
    if (ui.alphaSent !== ui.alpha) sendAlpha();
  }
  updateState();
}

// ---------------------------------------------------------------- backend badge, progress, report

function renderBackend(backend, hello) {
  const b = $('backend');
  b.replaceChildren();
  if (backend) {
    b.className = `backend ${backend.kind}`;
    b.append(el('strong', { text: backend.name }));
    b.append(el('small', { text: `Why: ${backend.reason}` }));
    b.title = backend.reason;
  } else if (hello) {
    b.className = 'backend';
    b.append(el('strong', { text: 'Engine ready' }), el('small', { text: hello.gpu_note }));
    b.title = hello.gpu_note;
  }
}

function renderProgress(ev) {
  const key = `${ev.role}|${ev.file}`;
  let row = ui.downloads.get(key);
  if (!row) {
    const bar = el('progress', { max: 1, value: 0 });
    const nums = el('span', { class: 'nums' });
    row = {
      bar,
      nums,
      box: el(
        'div',
        { class: 'dl', 'data-role': ev.role, 'data-file': ev.file },
        el('div', { class: 'dl-head' }, el('span', { class: 'dl-name', text: `${ev.role} · ${ev.file}`, title: ev.url }), nums),
        bar,
      ),
    };
    ui.downloads.set(key, row);
    $('downloads').append(row.box);
  }
  const secs = ev.elapsed_ms / 1000;
  const rate = secs > 0 ? ev.loaded / secs : 0;
  const source = ev.origin === 'cache' ? 'from cache' : ev.origin === 'local' ? 'read' : 'downloaded';
  row.box.dataset.origin = ev.origin;
  row.box.dataset.done = ev.done ? '1' : '';
  if (ev.total) {
    row.bar.max = ev.total;
    row.bar.value = ev.loaded;
  } else {
    row.bar.removeAttribute('value');
  }
  let text;
  if (ev.done) {
    text = `${mb(ev.loaded)} ${source}${secs >= 1 ? ` in ${fmtDuration(secs)}` : ''} ✓`;
  } else {
    const left = ev.total && rate > 0 ? ` · ${fmtDuration((ev.total - ev.loaded) / rate)} left` : '';
    const attempt = ev.attempt > 1 ? ` · attempt ${ev.attempt}` : '';
    text = `${mb(ev.loaded)}${ev.total ? ` / ${mb(ev.total)}` : ''} · ${(rate / 1e6).toFixed(1)} MB/s${left}${attempt}`;
  }
  // The GPU path uploads tensors as they arrive; the bar says how much is on the device already.
  if (ev.uploaded != null && ev.uploaded > 0) {
    text += ` · ${mb(ev.uploaded)} on the GPU`;
    if (!ev.done) row.box.dataset.uploadedEarly = '1';
  }
  row.nums.textContent = text;
}

function renderReport(ev) {
  const card = $('report-card');
  const box = $('report');
  box.replaceChildren();
  card.hidden = false;
  const models = el('ul', { class: 'models' });
  for (const m of ev.models) {
    const config = m.config_file ? 'config.json' : `config inferred from shapes`;
    models.append(
      el(
        'li',
        {},
        el('strong', { text: `${m.role}: ` }),
        el('span', { class: 'mono', text: shortName(m.name), title: m.name }),
        el('br'),
        el('small', {
          text: `${m.layout} · ${(m.parameters / 1e6).toFixed(1)} M parameters · ${m.format} (${m.dtypes.join(', ')}) · ${config} · ${m.origin === 'cache' ? 'from cache' : m.origin}`,
        }),
      ),
    );
  }
  box.append(models);
  const r = ev.report;
  const line = $('merge-line');
  line.hidden = false;
  if (!r) {
    box.append(el('p', { class: 'hint', text: 'No fine-tuned checkpoint: α has no effect.' }));
    line.textContent = 'Only a zero-shot checkpoint is loaded: α has no effect.';
    return;
  }
  line.textContent =
    `Merge: ${r.interpolated.length} tensors interpolated · ${r.kept.length} kept from the zero-shot model` +
    (r.extra.length ? ` · ${r.extra.length} ignored (fine-tuned only)` : '');
  const params = (n) => `${(n / 1e6).toFixed(1)} M`;
  const summary = el(
    'p',
    { class: 'report-line' },
    el('span', { class: 'chip interp', text: `${r.interpolated.length} interpolated` }),
    ` tensors (${params(r.interpolated_parameters)} parameters) · `,
    el('span', { class: 'chip kept', text: `${r.kept.length} kept` }),
    ` from the zero-shot model (${params(r.kept_parameters)})`,
    r.extra.length ? ` · ${r.extra.length} only in the fine-tuned model, ignored` : '',
  );
  box.append(summary);
  const list = (title, names) => {
    if (!names.length) return null;
    return el('details', {}, el('summary', { text: `${title} (${names.length})` }), el('p', { class: 'mono names', text: names.join('\n') }));
  };
  box.append(...[list('Interpolated', r.interpolated), list('Kept from zero-shot', r.kept), list('Ignored (fine-tuned only)', r.extra)].filter(Boolean));
}

// ---------------------------------------------------------------- photos and results

function addPhotos(files, { set = 'other', folders = false, folderOf = null } = {}) {
  const images = [];
  const unmatched = new Set();
  for (const file of files) {
    const id = ++ui.photoSeq;
    let name = file.name || `pasted-${id}.png`;
    const taken = new Set([...ui.photos.values()].map((p) => p.name));
    for (let i = 2; taken.has(name); i++) name = `${file.name || 'photo'} (${i})`;
    const photo = { id, name, url: URL.createObjectURL(file), card: null, error: null, scores: {}, set, truth: null, source: null, folder: null };
    if (folderOf) {
      photo.folder = folderOf(file);
    } else if (folders) {
      const parts = (file.webkitRelativePath || '').split('/');
      if (parts.length >= 2) photo.folder = parts[parts.length - 2];
    }
    assignTruth(photo);
    if (photo.folder && !photo.truth) unmatched.add(photo.folder);
    ui.photos.set(id, photo);
    if (file.size > MAX_PHOTO_BYTES) {
      photo.error = `too large (${mb(file.size)}; the limit is ${mb(MAX_PHOTO_BYTES)}): scale it down first`;
    } else {
      images.push({ id, name, blob: file });
    }
    renderPhoto(photo);
  }
  if (images.length) send({ type: 'add_images', images });
  if (unmatched.size) {
    showMessage('warn', `Folder name(s) not among the labels: ${[...unmatched].join(', ')}. Add them to the labels (step 2) or pick a label on each photo.`);
  }
  updateSetCounts();
  updateState();
}

// Shipped samples laid out as …/<task|shift>/<label>/<file> arrive labelled and in their set
// (task: the fine-tuning task; shift: everything else), ready for the lecture sweep.
async function addSamples() {
  const groups = { task: [], other: [], plain: [] };
  const folders = new Map();
  for (const u of ui.preset?.samples || []) {
    try {
      const r = await fetch(resolveUrl(u));
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const parts = u.split('/');
      const file = new File([await r.blob()], decodeURIComponent(parts[parts.length - 1]), { type: r.headers.get('content-type') || '' });
      const setDir = parts[parts.length - 3];
      if (setDir === 'task' || setDir === 'shift') {
        folders.set(file, decodeURIComponent(parts[parts.length - 2]));
        groups[setDir === 'task' ? 'task' : 'other'].push(file);
      } else {
        groups.plain.push(file);
      }
    } catch (e) {
      showMessage('warn', `Sample ${u} could not be read (${e.message}).`);
    }
  }
  if (groups.task.length) addPhotos(groups.task, { set: 'task', folderOf: (f) => folders.get(f) });
  if (groups.other.length) addPhotos(groups.other, { set: 'other', folderOf: (f) => folders.get(f) });
  if (groups.plain.length) addPhotos(groups.plain);
}

function removePhoto(id) {
  const p = ui.photos.get(id);
  if (!p) return;
  p.card?.remove();
  URL.revokeObjectURL(p.url);
  ui.photos.delete(id);
  send({ type: 'remove_image', id });
  updateSetCounts();
  updateState();
}

function renderPhoto(photo) {
  if (!photo.card) {
    const img = el('img', { src: photo.url, alt: photo.name, loading: 'lazy' });
    img.onerror = () => img.replaceWith(el('div', { class: 'noimg', text: 'no preview' }));
    const remove = el('button', { class: 'close', type: 'button', 'aria-label': `Remove ${photo.name}`, text: '×' });
    remove.onclick = () => removePhoto(photo.id);
    photo.body = el('div', { class: 'cols' });
    photo.meta = el('div', { class: 'truth-row' });
    photo.card = el(
      'article',
      { class: 'photo', 'data-image': photo.name },
      el('figure', {}, img, el('figcaption', { title: photo.name, text: photo.name }), photo.meta),
      photo.body,
      remove,
    );
    $('results').append(photo.card);
    renderMeta(photo);
  }
  const body = photo.body;
  body.replaceChildren();
  if (photo.error) {
    photo.card.classList.add('failed');
    body.append(el('p', { class: 'photo-error', role: 'alert', 'data-image': photo.name, text: photo.error }));
    return;
  }
  photo.card.classList.remove('failed');
  const models = ui.hasFineTuned ? MODELS : ['zero-shot'];
  const tops = {};
  for (const m of models) {
    const s = photo.scores[m];
    const wantAlpha = m === 'zero-shot' ? 0 : m === 'fine-tuned' ? 1 : ui.alpha;
    const stale = !s || (m === 'merged' && s.alpha !== wantAlpha);
    const col = el('div', { class: `col ${m}${stale ? ' stale' : ''}`, 'data-model': m });
    col.append(el('h3', {}, MODEL_TITLES[m], el('small', { text: ` α = ${fmtAlpha(s && m === 'merged' ? s.alpha : wantAlpha)}` })));
    if (!s) {
      col.append(el('p', { class: 'wait', text: ui.loaded ? 'classifying …' : 'waiting for the models' }));
    } else {
      const order = s.probs.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]).slice(0, TOP_K);
      tops[m] = s.labels[order[0][1]];
      const list = el('ol', { class: 'bars' });
      order.forEach(([p, i], rank) => {
        const label = s.labels[i];
        const fill = el('span', { class: 'fill' });
        fill.style.width = `${Math.max(0.5, p * 100)}%`;
        list.append(
          el(
            'li',
            {
              class: `bar${rank === 0 ? ' first' : ''}`,
              'data-image': photo.name,
              'data-model': m,
              'data-label': label,
              'data-prob': String(p),
              'data-alpha': String(s.alpha),
              title: `${label}: ${(p * 100).toFixed(3)}%`,
            },
            el('span', { class: 'label', text: label, title: `${label}: ${(p * 100).toFixed(3)}% · in lecture mode, click to make it the true label` }),
            el('span', { class: 'track' }, fill),
            el('span', { class: 'pct', text: pct(p) }),
          ),
        );
      });
      col.append(list);
    }
    body.append(col);
  }
  if (tops['zero-shot'] && tops['fine-tuned'] && tops['zero-shot'] !== tops['fine-tuned']) {
    photo.card.dataset.disagree = '1';
  } else {
    delete photo.card.dataset.disagree;
  }
}

function markMergedStale() {
  for (const p of ui.photos.values()) {
    const col = p.body?.querySelector('.col.merged');
    const s = p.scores.merged;
    if (col) col.classList.toggle('stale', !s || s.alpha !== ui.alpha);
    const small = col?.querySelector('h3 small');
    if (small) small.textContent = ` α = ${fmtAlpha(ui.alpha)}`;
  }
}

// ---------------------------------------------------------------- models, labels, α

function presetModel(ref) {
  if (!ref) return null;
  return typeof ref === 'string' ? ui.presets.models[ref] : ref;
}

function sourceFor(role) {
  const files = ui.local[role];
  if (files && files.length) return { files };
  const input = $(role === 'zero-shot' ? 'zs-url' : 'ft-url').value.trim();
  if (!input) return null;
  const url = resolveUrl(input);
  const model = ui.preset && presetModel(role === 'zero-shot' ? ui.preset.zero_shot : ui.preset.fine_tuned);
  const candidates = model?.urls?.map(resolveUrl) ?? [];
  if (candidates[0] === url) return { urls: candidates };
  return { urls: [url] };
}

function startLoad() {
  const zero_shot = sourceFor('zero-shot');
  if (!zero_shot) {
    setModelStatus('Choose a zero-shot checkpoint first: a preset, a URL, or local files.', 'error');
    return;
  }
  const fine_tuned = sourceFor('fine-tuned');
  ui.autoLoad = false;
  ui.loading = true;
  ui.loaded = false;
  ui.loadError = null;
  $('model-status').dataset.error = '';
  $('merge-line').hidden = true;
  $('report-card').hidden = true;
  ui.downloads.clear();
  $('downloads').replaceChildren();
  $('downloads').classList.remove('compact');
  for (const p of ui.photos.values()) {
    p.scores = {};
    renderPhoto(p);
  }
  setModelStatus('Starting …');
  send({ type: 'load', zero_shot, fine_tuned, backend: ui.backend });
  updateUrl();
}

function currentTemplates() {
  const choice = $('templates').value;
  if (choice === 'task' && ui.preset?.templates?.length) return { set: 'custom', list: ui.preset.templates };
  if (choice === 'imagenet80') return { set: 'imagenet80', list: [] };
  return { set: 'single', list: [] };
}

function readLabels() {
  return $('labels')
    .value.split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

function sendLabels() {
  ui.labels = readLabels();
  for (const p of ui.photos.values()) {
    assignTruth(p);
    renderMeta(p);
  }
  updateSetCounts();
  if (!ui.labels.length) showMessage('warn', 'Enter at least one label (one class name per line).', { key: 'no-labels' });
  for (const p of ui.photos.values()) {
    p.scores = {};
    renderPhoto(p);
  }
  send({ type: 'set_labels', labels: ui.labels, templates: currentTemplates() });
  updateUrl();
}

function sendAlpha() {
  ui.alphaInFlight = true;
  ui.alphaSent = ui.alpha;
  send({ type: 'set_alpha', alpha: ui.alpha });
}

function setAlpha(a) {
  ui.alpha = Math.min(1, Math.max(0, a));
  $('alpha-out').value = fmtAlpha(ui.alpha);
  $('alpha').setAttribute('aria-valuetext', `α = ${fmtAlpha(ui.alpha)}: ${Math.round(ui.alpha * 100)}% fine-tuned`);
  document.documentElement.style.setProperty('--alpha', String(ui.alpha));
  if ($('export-alpha')) $('export-alpha').textContent = fmtAlpha(ui.alpha);
  if (ui.sweep) drawPlots();
}

function onAlphaInput() {
  setAlpha(parseFloat($('alpha').value));
  markMergedStale();
  if (ui.engineUp && !ui.alphaInFlight) sendAlpha();
  updateUrl();
}

function setLoadLabel(stored) {
  $('load').textContent = stored ? 'Load models (stored in this browser)' : 'Load models';
  $('load').dataset.stored = stored ? '1' : '';
}

// Asks the worker whether the selected preset's files are already in Cache Storage.
function probePreset() {
  setLoadLabel(false);
  if (!ui.engineUp || !ui.preset) return;
  const zs = presetModel(ui.preset.zero_shot)?.urls?.map(resolveUrl) ?? [];
  const ft = presetModel(ui.preset.fine_tuned)?.urls?.map(resolveUrl) ?? [];
  ui.probe = { id: ui.preset.id, zs, ft };
  send({ type: 'probe_cache', urls: [...zs, ...ft] });
}

function applyPreset(id, { fillLabels = true } = {}) {
  const p = ui.presets.presets.find((x) => x.id === id) || null;
  ui.preset = p;
  $('preset').value = p ? p.id : '';
  const note = $('preset-note');
  const task = $('templates').querySelector('option[value=task]');
  if (!p) {
    $('samples').hidden = true;
    note.textContent = 'Custom checkpoints: give their URLs or local files below.';
    $('custom').open = true;
    task.disabled = true;
    task.textContent = "The task's templates";
    if ($('templates').value === 'task') $('templates').value = 'single';
    return;
  }
  const zs = presetModel(p.zero_shot);
  const ft = presetModel(p.fine_tuned);
  $('samples').hidden = !p.samples?.length;
  $('samples').textContent = `Try the ${p.samples?.length || 0} sample photos of this preset`;
  $('zs-url').value = zs?.urls?.[0] ? resolveUrl(zs.urls[0]) : '';
  $('ft-url').value = ft?.urls?.[0] ? resolveUrl(ft.urls[0]) : '';
  ui.local = { 'zero-shot': null, 'fine-tuned': null };
  renderLocal();
  const size = Math.round((zs?.size_mb || 0) + (ft?.size_mb || 0));
  const where = p.offline ? ' · served by this site, no network needed' : size ? ` · about ${size} MB to download once, then kept in the browser` : '';
  note.textContent = `${p.about || ''} ${zs?.name || ''} + ${ft?.name || ''}${where}`.trim();
  task.disabled = !p.templates?.length;
  task.textContent = `The task's templates (${p.templates?.length || 0})`;
  if (fillLabels) {
    $('labels').value = (p.labels || []).join('\n');
    $('templates').value = p.templates?.length ? 'task' : 'single';
  }
}

function renderLocal() {
  for (const [role, id] of [
    ['zero-shot', 'zs-files'],
    ['fine-tuned', 'ft-files'],
  ]) {
    const files = ui.local[role];
    $(id).textContent = files?.length ? files.map((f) => f.name).join(', ') : 'drop or click: weights (+ config.json)';
    $(role === 'zero-shot' ? 'zs-drop' : 'ft-drop').classList.toggle('chosen', !!files?.length);
  }
}

function chooseLocal(role, files) {
  files = [...files];
  if (!files.length) return;
  ui.local[role] = files;
  if (ui.preset) {
    applyPreset('', { fillLabels: false });
    sendLabels();
  }
  ui.local[role] = files;
  renderLocal();
  setModelStatus(`${role}: ${files.length} local file(s) chosen; press Load models.`);
}

function pickLocal(role) {
  // A detached input: the page keeps exactly one <input type=file> (the photos').
  const input = el('input', { type: 'file', multiple: true, accept: '.safetensors,.bin,.pt,.json' });
  input.onchange = () => chooseLocal(role, input.files);
  input.click();
}

function updateUrl() {
  const q = new URLSearchParams();
  const zsUrl = $('zs-url').value.trim();
  const ftUrl = $('ft-url').value.trim();
  const preset = ui.preset;
  const pz = preset && presetModel(preset.zero_shot)?.urls?.[0];
  const pf = preset && presetModel(preset.fine_tuned)?.urls?.[0];
  if (preset && resolveUrl(pz) === resolveUrl(zsUrl) && resolveUrl(pf) === resolveUrl(ftUrl)) {
    q.set('preset', preset.id);
  } else {
    if (zsUrl && !ui.local['zero-shot']) q.set('zs', zsUrl);
    if (ftUrl && !ui.local['fine-tuned']) q.set('ft', ftUrl);
  }
  q.set('alpha', fmtAlpha(ui.alpha));
  if (ui.backend) q.set('backend', ui.backend);
  if (ui.lecture) q.set('lecture', '1');
  const labels = readLabels();
  if (!preset || labels.join('\n') !== (preset.labels || []).join('\n')) q.set('labels', labels.join(','));
  const t = $('templates').value;
  if (t !== (preset?.templates?.length ? 'task' : 'single')) q.set('templates', t);
  const query = q.toString().replace(/%2C/g, ',').replace(/%2F/g, '/').replace(/%3A/g, ':');
  history.replaceState(null, '', `${location.pathname}?${query}`);
}

// ---------------------------------------------------------------- wiring

function wire() {
  $('preset').onchange = () => {
    applyPreset($('preset').value);
    sendLabels();
    probePreset();
  };
  $('load').onclick = startLoad;
  $('samples').onclick = addSamples;
  $('cancel').onclick = () => ui.worker?.postMessage({ type: 'cancel' });
  $('clear-cache').onclick = () => send({ type: 'clear_cache' });
  $('apply-labels').onclick = sendLabels;
  $('labels').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) sendLabels();
  });
  $('templates').onchange = sendLabels;
  for (const id of ['zs-url', 'ft-url']) {
    $(id).addEventListener('change', () => {
      ui.local[id === 'zs-url' ? 'zero-shot' : 'fine-tuned'] = null;
      renderLocal();
      updateUrl();
    });
  }
  $('alpha').addEventListener('input', onAlphaInput);
  wireLecture();
  $('photos').addEventListener('change', (e) => {
    addPhotos(e.target.files);
    e.target.value = '';
  });

  for (const id of ['zs-drop', 'ft-drop']) {
    const zone = $(id);
    const role = zone.dataset.role;
    zone.onclick = () => pickLocal(role);
    zone.onkeydown = (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        pickLocal(role);
      }
    };
  }

  // Drops: on a model box → that checkpoint's files; anywhere else → photos.
  document.addEventListener('dragover', (e) => {
    if (![...(e.dataTransfer?.types || [])].includes('Files')) return;
    e.preventDefault();
    document.body.classList.add('dragging');
    document.querySelectorAll('.local-drop').forEach((z) => z.classList.toggle('over', z.contains(e.target)));
  });
  document.addEventListener('dragleave', (e) => {
    if (e.relatedTarget === null) document.body.classList.remove('dragging');
  });
  document.addEventListener('drop', (e) => {
    if (!e.dataTransfer?.files?.length) return;
    e.preventDefault();
    document.body.classList.remove('dragging');
    document.querySelectorAll('.local-drop').forEach((z) => z.classList.remove('over'));
    const zone = e.target.closest?.('.local-drop');
    // Dropped folders: their files, each photo labelled by the folder it sits in (as "Add a
    // labelled folder" does); on a model box, a model folder's weights and JSON files.
    const entries = [...(e.dataTransfer.items || [])].map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
    if (entries.some((x) => x.isDirectory)) {
      filesInEntries(entries).then(
        (found) => {
          if (zone) {
            chooseLocal(zone.dataset.role, found.map((f) => f.file));
            return;
          }
          const images = found.filter((f) => /\.(png|jpe?g|gif|bmp|webp)$/i.test(f.file.name));
          const dirOf = new Map(images.map((f) => [f.file, f.dir]));
          if (!images.length) showMessage('warn', 'The dropped folder holds no photos (png, jpeg, gif, bmp, webp).');
          addPhotos(images.map((f) => f.file), { set: $('folder-set').value, folderOf: (f) => dirOf.get(f) });
        },
        (err) => showMessage('error', `The dropped folder could not be read: ${err?.message || err}`),
      );
      return;
    }
    if (zone) {
      chooseLocal(zone.dataset.role, e.dataTransfer.files);
      return;
    }
    const files = [...e.dataTransfer.files];
    const checkpoints = files.filter((f) => /\.(safetensors|bin|pt)$/i.test(f.name));
    if (checkpoints.length) {
      showMessage('warn', 'Checkpoint files go on the Zero-shot / Fine-tuned boxes under "Custom URLs or local files".');
    }
    addPhotos(files.filter((f) => !checkpoints.includes(f)));
  });
  document.addEventListener('paste', (e) => {
    const files = [...(e.clipboardData?.files || [])];
    if (files.length) {
      e.preventDefault();
      addPhotos(files);
    }
  });
}

/** Every file under dropped entries (folders walked), with the name of the folder holding it. */
async function filesInEntries(entries) {
  const out = [];
  const walk = async (entry, dir) => {
    if (entry.isFile) {
      out.push({ file: await new Promise((res, rej) => entry.file(res, rej)), dir });
      return;
    }
    const reader = entry.createReader();
    // readEntries returns the listing in batches until an empty one.
    for (;;) {
      const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
      if (!batch.length) break;
      for (const child of batch) await walk(child, entry.name);
    }
  };
  for (const entry of entries) await walk(entry, null);
  return out;
}

async function loadPresets() {
  try {
    const r = await fetch('www/presets.json');
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    ui.presets = await r.json();
  } catch (e) {
    showMessage('warn', `The presets (www/presets.json) could not be read (${e.message}); custom URLs and local files still work.`);
  }
  const select = $('preset');
  select.replaceChildren(
    ...ui.presets.presets.map((p) => el('option', { value: p.id, text: p.name })),
    el('option', { value: '', text: 'Custom (URLs or local files)' }),
  );
}

async function main() {
  wire();
  setAlpha(0.5);
  updateState();
  startWorker();
  await loadPresets();

  const q = new URLSearchParams(location.search);
  // backend=gpu|cpu overrides the automatic choice (gpu also takes a software adapter).
  ui.backend = ['gpu', 'cpu'].includes(q.get('backend')) ? q.get('backend') : null;
  // bench=1: once loaded, time the model (runs=N, prompts=N through the text tower).
  if (q.get('bench') === '1') {
    const int = (k, d) => Math.max(1, parseInt(q.get(k), 10) || d);
    ui.bench = { runs: int('runs', 1), prompts: int('prompts', 10), sent: false };
  }
  const presetId = q.get('preset') ?? (q.has('zs') ? '' : ui.presets.default || ui.presets.presets[0]?.id || '');
  applyPreset(presetId);
  if (q.has('zs')) {
    $('zs-url').value = q.get('zs');
    $('ft-url').value = q.get('ft') ?? '';
    if (ui.preset) {
      ui.preset = null;
      $('preset').value = '';
    }
  }
  if (q.has('labels')) $('labels').value = q.get('labels').split(',').map((s) => s.trim()).filter(Boolean).join('\n');
  const t = q.get('templates');
  if (t && $('templates').querySelector(`option[value="${t}"]:not([disabled])`)) $('templates').value = t;
  if (q.has('alpha')) {
    const a = parseFloat(q.get('alpha'));
    if (a >= 0 && a <= 1) {
      $('alpha').value = String(a);
      setAlpha(a);
    }
  }
  if (q.get('lecture') === '1') setLecture(true);
  if (q.get('presenter') === '1') setPresenter(true);
  // A link that names models loads them at once; a bare visit loads an offline default preset (served
  // by this site, no download), so the page works at once.
  ui.autoLoad = q.has('zs') || q.has('preset') || (Boolean(ui.preset?.offline) && !location.search);
  if (!ui.autoLoad) setModelStatus('Press Load models to download the pair (once; later visits read it from the browser).');
  ui.initDone = true;
  begin();
  updateUrl();
  updateState();
}

// Once both the page is set up and the engine said hello: labels, α, and the load a link asks for.
function begin() {
  if (!ui.initDone || !ui.engineUp || ui.begun) return;
  ui.begun = true;
  sendLabels();
  sendAlpha();
  if (ui.autoLoad) startLoad();
  else probePreset();
}

// ---------------------------------------------------------------- lecture mode: labelled sets, α sweep, plots, export

const SETS = { task: 'fine-tuning task', other: 'everything else' };
const SET_COLORS = { task: '#e0761b', other: '#2f6fdb', avg: '#6b7280' };
const SWEEP_ALPHAS = Array.from({ length: 21 }, (_, k) => k / 20);

const norm = (s) => s.toLowerCase().replace(/[_\-]+/g, ' ').replace(/\s+/g, ' ').trim();
const bare = (s) => s.replace(/^(a|an|the) /, '');

/** The label (from the current list) a folder name or a file-name prefix stands for, or null. */
function matchLabel(text, { prefix = false } = {}) {
  const t = norm(text);
  let best = null;
  for (const label of ui.labels) {
    for (const form of new Set([norm(label), bare(norm(label))])) {
      if (!form) continue;
      const hit = prefix ? t.startsWith(form) && (t.length === form.length || /[\s\d.]/.test(t[form.length])) : t === form;
      if (hit && (!best || form.length > best[1])) best = [label, form.length];
    }
  }
  return best ? best[0] : null;
}

/** Keeps a photo's true label in step with the labels: a click wins, then the folder, then the name. */
function assignTruth(photo) {
  if (photo.source === 'click' && ui.labels.includes(photo.truth)) return;
  const byFolder = photo.folder ? matchLabel(photo.folder) : null;
  const byName = matchLabel(photo.name.replace(/\.[^.]*$/, ''), { prefix: true });
  photo.truth = byFolder || byName || null;
  photo.source = byFolder ? 'folder' : byName ? 'name' : null;
}

function renderMeta(photo) {
  if (!photo.meta) return;
  const card = photo.card;
  card.dataset.set = photo.set;
  card.dataset.truth = photo.truth || '';
  const select = el('select', { class: 'truth', 'aria-label': `True label of ${photo.name}` });
  select.append(el('option', { value: '', text: 'no true label' }), ...ui.labels.map((l) => el('option', { value: l, text: l })));
  select.value = photo.truth || '';
  select.onchange = () => setTruth(photo, select.value || null);
  const toggle = el('button', {
    type: 'button',
    class: `set-toggle ${photo.set}`,
    text: SETS[photo.set],
    title: 'Which set this photo counts in (click to move it)',
    'aria-label': `${photo.name} is in the set ${SETS[photo.set]}; move it`,
  });
  toggle.onclick = () => {
    photo.set = photo.set === 'task' ? 'other' : 'task';
    renderMeta(photo);
    updateSetCounts();
  };
  const src = photo.source ? el('small', { class: 'hint', text: photo.source === 'click' ? 'picked' : `from ${photo.source}` }) : null;
  photo.meta.replaceChildren(select, toggle, src || '');
}

function setTruth(photo, label) {
  photo.truth = label;
  photo.source = label ? 'click' : null;
  renderMeta(photo);
  updateSetCounts();
}

function labelledPhotos() {
  return [...ui.photos.values()].filter((p) => p.truth && !p.error && ui.labels.includes(p.truth));
}

function updateSetCounts() {
  const list = labelledPhotos();
  const n = (set) => list.filter((p) => p.set === set).length;
  $('set-counts').textContent = `Labelled photos: ${n('task')} in “${SETS.task}”, ${n('other')} in “${SETS.other}” · ${ui.photos.size - list.length} without a true label.`;
}

function setLecture(on) {
  ui.lecture = on;
  $('lecture').hidden = !on;
  document.body.classList.toggle('lecture', on);
  $('lecture-toggle').setAttribute('aria-pressed', String(on));
  if (on) {
    updateSetCounts();
    drawPlots();
  }
  if (ui.initDone) updateUrl();
}

function setPresenter(on) {
  document.body.classList.toggle('presenter', on);
  $('presenter').setAttribute('aria-pressed', String(on));
  if (on && !ui.lecture) setLecture(true);
  drawPlots();
}

function sweepButtons() {
  $('sweep').disabled = !!ui.sweepRunning;
  // visibility, not display: the row does not move when the button comes and goes
  $('sweep-cancel').style.visibility = ui.sweepRunning ? 'visible' : 'hidden';
}

function startSweep() {
  const list = labelledPhotos();
  if (!ui.loaded) {
    $('sweep-status').textContent = 'Load the models first.';
    return;
  }
  if (!list.length) {
    $('sweep-status').textContent = 'No photo has a true label yet.';
    return;
  }
  ui.sweepRunning = true;
  ui.sweepPhotos = list.map((p) => ({ id: p.id, name: p.name, set: p.set, truth: p.truth }));
  $('sweep-progress').value = 0;
  $('sweep-progress').max = SWEEP_ALPHAS.length;
  $('sweep-status').textContent = `Sweeping α over ${list.length} photo(s) …`;
  $('lecture').dataset.sweep = 'running';
  sweepButtons();
  send({ type: 'sweep', alphas: SWEEP_ALPHAS, photos: list.map((p) => ({ id: p.id, label: ui.labels.indexOf(p.truth) })) });
}

function onSweepProgress(ev) {
  $('sweep-progress').max = ev.n;
  $('sweep-progress').value = ev.k;
  $('sweep-status').textContent = `α = ${fmtAlpha(ev.alpha)} done (${ev.k} of ${ev.n})`;
}

/** Per set and α: {alpha, correct, n, accuracy}; per photo: [{alpha, p, predicted}]. */
function summarise(ev, photos) {
  const byId = new Map(photos.map((p) => [p.id, p]));
  const sets = { task: [], other: [] };
  const perPhoto = new Map(photos.map((p) => [p.id, []]));
  for (const point of ev.points) {
    const count = { task: [0, 0], other: [0, 0] };
    for (const s of point.scores) {
      const p = byId.get(s.image);
      if (!p) continue;
      count[p.set][1]++;
      if (s.predicted === p.truth) count[p.set][0]++;
      perPhoto.get(p.id).push({ alpha: point.alpha, p: s.p_true, predicted: s.predicted });
    }
    for (const set of Object.keys(sets)) {
      const [correct, n] = count[set];
      if (n) sets[set].push({ alpha: point.alpha, correct, n, accuracy: correct / n });
    }
  }
  return { sets, perPhoto, photos };
}

function onSweep(ev) {
  ui.sweepRunning = false;
  sweepButtons();
  ui.sweep = summarise(ev, ui.sweepPhotos || []);
  $('sweep-status').textContent = `Sweep done: ${ev.points.length} α values.`;
  $('export-csv').disabled = false;
  const lec = $('lecture');
  lec.dataset.sweep = 'done';
  lec.dataset.points = JSON.stringify({ task: ui.sweep.sets.task.length, other: ui.sweep.sets.other.length });
  drawPlots();
  describeBest();
}

function bestOf(points, value) {
  if (!points.length) return null;
  const top = Math.max(...points.map(value));
  const at = points.filter((p) => Math.abs(value(p) - top) < 1e-12).map((p) => p.alpha);
  return { top, at };
}

function alphaList(at) {
  if (at.length === 1) return `α = ${fmtAlpha(at[0])}`;
  const contiguous = at.every((a, i) => i === 0 || Math.abs(a - at[i - 1] - 0.05) < 1e-9);
  if (contiguous) return `α from ${fmtAlpha(at[0])} to ${fmtAlpha(at[at.length - 1])}`;
  return `α = ${at.slice(0, 6).map(fmtAlpha).join(', ')}${at.length > 6 ? ', …' : ''}`;
}

function averageSeries() {
  const { task, other } = ui.sweep.sets;
  if (!task.length || !other.length) return [];
  return task.map((t, i) => ({ alpha: t.alpha, accuracy: (t.accuracy + other[i].accuracy) / 2 }));
}

function describeBest() {
  const parts = [];
  const measured = [];
  for (const set of ['task', 'other']) {
    const pts = ui.sweep.sets[set];
    const b = bestOf(pts, (p) => p.accuracy);
    if (!b) continue;
    const zs = pts[0];
    const ft = pts[pts.length - 1];
    const mid = pts.find((p) => p.alpha === 0.5);
    const who = set === 'task' ? 'the fine-tuning task' : 'everything else';
    parts.push(`Best α for ${who} (${zs.n} photos): ${alphaList(b.at)}, ${(b.top * 100).toFixed(1)}% accuracy.`);
    measured.push([SETS[set], zs, ft, mid, zs.n]);
  }
  const avg = averageSeries();
  const b = bestOf(avg, (p) => p.accuracy);
  if (b) parts.push(`Best α for their average: ${alphaList(b.at)}, ${(b.top * 100).toFixed(1)}%.`);
  $('best').textContent = parts.join(' ');
  const table = el('table', {}, el('thead', {}, el('tr', {}, el('th'), el('th', { text: 'zero-shot' }), el('th', { text: 'fine-tuned' }), el('th', { text: 'α=0.5' }))));
  const body = el('tbody');
  const f = (p) => (p ? `${(p.accuracy * 100).toFixed(1)} (${p.correct}/${p.n})` : '—');
  for (const [name, zs, ft, mid] of measured) body.append(el('tr', {}, el('th', { text: name }), el('td', { text: f(zs) }), el('td', { text: f(ft) }), el('td', { text: f(mid) })));
  table.append(body);
  $('measured').replaceChildren(table, el('p', { class: 'hint', text: 'Accuracy in % (correct/photos) on the photos on this page.' }));
}

function renderExplainModels(ev) {
  const box = $('explain-models');
  box.replaceChildren();
  const params = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : `${(n / 1e3).toFixed(1)} k`);
  const list = el('ul');
  for (const m of ev.models) {
    const which = m.role === 'zero-shot' ? 'θ₀ (zero-shot)' : 'θ₁ (fine-tuned)';
    list.append(el('li', {}, el('strong', { text: `${which}: ` }), `${shortName(m.name)} · ${m.layout} · ${params(m.parameters)} parameters in ${m.tensors} tensors`));
  }
  box.append(list);
  const r = ev.report;
  box.append(
    el('p', {
      text: r
        ? `Interpolated: ${r.interpolated.length} tensors (${params(r.interpolated_parameters)} parameters) · kept from θ₀: ${r.kept.length} (${params(r.kept_parameters)})` +
          (r.extra.length ? ` · ignored (fine-tuned only): ${r.extra.length}` : '')
        : 'Only a zero-shot checkpoint: α has no effect.',
    }),
  );
}

// ---- drawing

function canvasCtx(id) {
  const c = $(id);
  const ctx = c.getContext('2d');
  const big = document.body.classList.contains('presenter');
  const W = 800;
  const scale = c.width / W;
  const H = c.height / scale;
  ctx.setTransform(scale, 0, 0, scale, 0, 0);
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, W, H);
  ctx.font = `${big ? 17 : 15}px system-ui, sans-serif`;
  return { c, ctx, W, H, big };
}

function noData(ctx, W, H, text) {
  ctx.fillStyle = '#5f6b7f';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(text, W / 2, H / 2);
}

function title(ctx, text) {
  const base = ctx.font;
  ctx.fillStyle = '#1d2433';
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  ctx.font = `600 ${base}`;
  ctx.fillText(text, 16, 10);
  ctx.font = base;
}

/** Axes with ticks and labels; returns the mapping to pixels. */
function axes(ctx, box, { x0, x1, y0, y1, xTicks, yTicks, xFmt, yFmt, xLabel, yLabel }) {
  const { l, t, r, b } = box;
  const X = (v) => l + ((v - x0) / (x1 - x0)) * (r - l);
  const Y = (v) => b - ((v - y0) / (y1 - y0)) * (b - t);
  ctx.strokeStyle = '#e1e5ec';
  ctx.lineWidth = 1;
  ctx.fillStyle = '#1d2433';
  ctx.textBaseline = 'top';
  ctx.textAlign = 'center';
  for (const v of xTicks) {
    ctx.beginPath();
    ctx.moveTo(X(v), t);
    ctx.lineTo(X(v), b);
    ctx.stroke();
    ctx.fillText(xFmt(v), X(v), b + 6);
  }
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const v of yTicks) {
    ctx.beginPath();
    ctx.moveTo(l, Y(v));
    ctx.lineTo(r, Y(v));
    ctx.stroke();
    ctx.fillText(yFmt(v), l - 8, Y(v));
  }
  ctx.strokeStyle = '#1d2433';
  ctx.beginPath();
  ctx.moveTo(l, t);
  ctx.lineTo(l, b);
  ctx.lineTo(r, b);
  ctx.stroke();
  ctx.textAlign = 'center';
  ctx.textBaseline = 'bottom';
  ctx.fillText(xLabel, (l + r) / 2, b + 50);
  ctx.save();
  ctx.translate(l - 64, (t + b) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = 'top';
  ctx.fillText(yLabel, 0, 0);
  ctx.restore();
  return { X, Y };
}

/** Draws a legend row from (x, y), wrapping before `maxX`; returns the y below it. */
function legend(ctx, x, y, items, maxX = 790) {
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  const x0 = x;
  for (const it of items) {
    const w = 32 + ctx.measureText(it.label).width;
    if (x > x0 && x + w > maxX) {
      x = x0;
      y += 24;
    }
    ctx.strokeStyle = it.color;
    ctx.fillStyle = it.color;
    ctx.lineWidth = 3;
    ctx.setLineDash(it.dash || []);
    if (it.marker) marker(ctx, it.marker, x + 12, y, it.color);
    else {
      ctx.beginPath();
      ctx.moveTo(x, y);
      ctx.lineTo(x + 24, y);
      ctx.stroke();
    }
    ctx.setLineDash([]);
    ctx.fillStyle = '#1d2433';
    ctx.fillText(it.label, x + 32, y);
    x += w + 22;
  }
  return y + 16;
}

function marker(ctx, kind, x, y, color, size = 7) {
  ctx.fillStyle = color;
  ctx.strokeStyle = '#1d2433';
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  if (kind === 'square') ctx.rect(x - size, y - size, 2 * size, 2 * size);
  else if (kind === 'triangle') {
    ctx.moveTo(x, y - size * 1.2);
    ctx.lineTo(x + size * 1.1, y + size * 0.8);
    ctx.lineTo(x - size * 1.1, y + size * 0.8);
    ctx.closePath();
  } else if (kind === 'star') {
    for (let i = 0; i < 10; i++) {
      const r = i % 2 ? size * 0.5 : size * 1.3;
      const a = (Math.PI / 5) * i - Math.PI / 2;
      ctx.lineTo(x + r * Math.cos(a), y + r * Math.sin(a));
    }
    ctx.closePath();
  } else ctx.arc(x, y, size * 0.55, 0, 2 * Math.PI);
  ctx.fill();
  ctx.stroke();
}

function line(ctx, pts, X, Y, color, { dash = [], width = 3 } = {}) {
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.setLineDash(dash);
  ctx.beginPath();
  pts.forEach(([x, y], i) => (i ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
  ctx.stroke();
  ctx.setLineDash([]);
}

const tenths = Array.from({ length: 11 }, (_, i) => i / 10);
const pctTick = (v) => `${Math.round(v * 100)}%`;

function drawAccuracy() {
  const { ctx, W, H } = canvasCtx('plot-acc');
  const box = { l: 96, t: 56, r: W - 24, b: H - 70 };
  title(ctx, 'Accuracy vs α');
  if (!ui.sweep) return noData(ctx, W, H, 'Run the α sweep to draw this plot.');
  const items = [];
  for (const set of ['task', 'other']) {
    const pts = ui.sweep.sets[set];
    if (pts.length) items.push({ label: `${SETS[set]} (n=${pts[0].n})`, color: SET_COLORS[set] });
  }
  const avg = averageSeries();
  if (avg.length) items.push({ label: 'average of the two', color: SET_COLORS.avg, dash: [8, 6] });
  items.push({ label: `current α = ${fmtAlpha(ui.alpha)}`, color: '#4f46e5', dash: [4, 4] });
  box.t = legend(ctx, box.l, 42, items) + 10;
  const { X, Y } = axes(ctx, box, {
    x0: 0, x1: 1, y0: 0, y1: 1, xTicks: tenths, yTicks: [0, 0.2, 0.4, 0.6, 0.8, 1],
    xFmt: (v) => v.toFixed(1), yFmt: pctTick, xLabel: 'α  (0 = zero-shot, 1 = fine-tuned)', yLabel: 'accuracy',
  });
  ctx.strokeStyle = '#4f46e5';
  ctx.setLineDash([4, 4]);
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  ctx.moveTo(X(ui.alpha), box.t);
  ctx.lineTo(X(ui.alpha), box.b);
  ctx.stroke();
  ctx.setLineDash([]);
  for (const set of ['task', 'other']) {
    const pts = ui.sweep.sets[set];
    if (!pts.length) continue;
    line(ctx, pts.map((p) => [p.alpha, p.accuracy]), X, Y, SET_COLORS[set]);
    for (const p of pts) marker(ctx, 'dot', X(p.alpha), Y(p.accuracy), SET_COLORS[set], 6);
  }
  if (avg.length) line(ctx, avg.map((p) => [p.alpha, p.accuracy]), X, Y, SET_COLORS.avg, { dash: [8, 6], width: 2 });
}

function niceRange(values) {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  lo = Math.max(0, Math.floor((lo - 0.05) * 10) / 10);
  hi = Math.min(1, Math.ceil((hi + 0.05) * 10) / 10);
  if (hi - lo < 0.2) {
    const mid = (hi + lo) / 2;
    lo = Math.max(0, mid - 0.1);
    hi = Math.min(1, lo + 0.2);
    lo = hi - 0.2;
  }
  const step = hi - lo > 0.5 ? 0.2 : 0.1;
  const ticks = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + 1e-9; v += step) ticks.push(Math.round(v * 100) / 100);
  return { lo, hi, ticks };
}

function drawPareto() {
  const { ctx, W, H } = canvasCtx('plot-pareto');
  const box = { l: 96, t: 56, r: W - 24, b: H - 70 };
  title(ctx, 'Fine-tuning task vs everything else along the α path');
  if (!ui.sweep) return noData(ctx, W, H, 'Run the α sweep to draw this plot.');
  const { task, other } = ui.sweep.sets;
  if (!task.length || !other.length) return noData(ctx, W, H, 'This plot needs labelled photos in both sets.');
  const marks = [
    ['square', 0, SET_COLORS.other, 'zero-shot (α=0)'],
    ['triangle', 1, SET_COLORS.task, 'fine-tuned (α=1)'],
    ['star', 0.5, '#16a34a', 'WiSE-FT (α=0.5)'],
  ];
  box.t =
    legend(ctx, box.l, 42, [
      { label: 'α path (0 → 1, steps of 0.05)', color: '#7c3aed' },
      ...marks.map(([kind, , color, label]) => ({ label, color, marker: kind })),
      { label: `current α = ${fmtAlpha(ui.alpha)}`, color: '#4f46e5', marker: 'dot' },
    ]) + 14;
  const xr = niceRange(task.map((p) => p.accuracy));
  const yr = niceRange(other.map((p) => p.accuracy));
  // a little room beyond the ticks so markers on the edges stay clear of the axes
  const px = (xr.hi - xr.lo) * 0.04;
  const py = (yr.hi - yr.lo) * 0.05;
  const { X, Y } = axes(ctx, box, {
    x0: xr.lo - px, x1: xr.hi + px, y0: yr.lo - py, y1: yr.hi + py, xTicks: xr.ticks, yTicks: yr.ticks, xFmt: pctTick, yFmt: pctTick,
    xLabel: `accuracy on the ${SETS.task} (n=${task[0].n})`, yLabel: `accuracy on ${SETS.other} (n=${other[0].n})`,
  });
  const path = task.map((t, i) => [t.accuracy, other[i].accuracy]);
  line(ctx, path, X, Y, '#7c3aed', { width: 2.5 });
  for (const [x, y] of path) marker(ctx, 'dot', X(x), Y(y), '#7c3aed', 5);
  const at = (a) => task.findIndex((t) => Math.abs(t.alpha - a) < 1e-9);
  const cur = task.reduce((b, t, i) => (Math.abs(t.alpha - ui.alpha) < Math.abs(task[b].alpha - ui.alpha) ? i : b), 0);
  marker(ctx, 'dot', X(path[cur][0]), Y(path[cur][1]), '#4f46e5', 14);
  for (const [kind, a, color] of marks) {
    const i = at(a);
    if (i >= 0) marker(ctx, kind, X(path[i][0]), Y(path[i][1]), color, 9);
  }
}

// Up to this many photos get a small chart each; more are drawn together in one chart, so the
// plot keeps a fixed height however many photos a lecture brings.
const PHOTO_CHARTS_MAX = 24;

function drawPhotos() {
  const c = $('plot-photos');
  const photos = ui.sweep ? ui.sweep.photos : [];
  if (photos.length > PHOTO_CHARTS_MAX) return drawPhotosTogether(c, photos);
  const cols = 4;
  const rows = Math.max(1, Math.ceil(photos.length / cols));
  const cellH = 170;
  const top = 62;
  const want = Math.round((top + rows * cellH) * (c.width / 800));
  if (c.height !== want) c.height = want;
  c.dataset.mode = 'grid';
  const { ctx, W } = canvasCtx('plot-photos');
  title(ctx, 'Probability of the true label vs α, per photo');
  if (!photos.length) return noData(ctx, W, top + cellH / 2, 'Run the α sweep to draw this plot.');
  legend(ctx, 16, 42, [
    { label: SETS.task, color: SET_COLORS.task },
    { label: SETS.other, color: SET_COLORS.other },
  ]);
  ctx.fillStyle = '#5f6b7f';
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  ctx.font = '14px system-ui, sans-serif';
  ctx.fillText('filled dot: top label right · hollow: wrong', W - 12, 42);
  const cellW = (W - 16) / cols;
  ctx.font = '12px system-ui, sans-serif';
  photos.forEach((p, i) => {
    const cx = 8 + (i % cols) * cellW;
    const cy = top + Math.floor(i / cols) * cellH;
    const box = { l: cx + 40, t: cy + 22, r: cx + cellW - 10, b: cy + cellH - 34 };
    ctx.fillStyle = '#1d2433';
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    const full = `${p.name} — ${p.truth}`;
    let text = full;
    while (ctx.measureText(`${text}…`).width > cellW - 16 && text.length > 4) text = text.slice(0, -1);
    ctx.fillText(text === full ? full : `${text}…`, cx + 6, cy + 4);
    const X = (v) => box.l + v * (box.r - box.l);
    const Y = (v) => box.b - v * (box.b - box.t);
    ctx.strokeStyle = '#e1e5ec';
    ctx.lineWidth = 1;
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'right';
    for (const v of [0, 0.5, 1]) {
      ctx.beginPath();
      ctx.moveTo(box.l, Y(v));
      ctx.lineTo(box.r, Y(v));
      ctx.stroke();
      ctx.fillText(v.toFixed(1), box.l - 5, Y(v));
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const v of [0, 0.5, 1]) ctx.fillText(`α ${v}`, X(v), box.b + 4);
    const series = ui.sweep.perPhoto.get(p.id) || [];
    line(ctx, series.map((s) => [s.alpha, s.p]), X, Y, SET_COLORS[p.set], { width: 2 });
    for (const s of series) {
      ctx.beginPath();
      ctx.arc(X(s.alpha), Y(s.p), 2.6, 0, 2 * Math.PI);
      ctx.fillStyle = s.predicted === p.truth ? SET_COLORS[p.set] : '#ffffff';
      ctx.strokeStyle = SET_COLORS[p.set];
      ctx.fill();
      ctx.stroke();
    }
  });
}

/** Every photo's true-label probability as a thin line, with the mean of each set drawn thick. */
function drawPhotosTogether(c, photos) {
  const want = Math.round(500 * (c.width / 800));
  if (c.height !== want) c.height = want;
  const { ctx, W, H } = canvasCtx('plot-photos');
  c.dataset.mode = 'together';
  title(ctx, `Probability of the true label vs α, ${photos.length} photos`);
  const box = { l: 80, t: 70, r: W - 24, b: H - 60 };
  const { X, Y } = axes(ctx, box, {
    x0: 0, x1: 1, y0: 0, y1: 1, xTicks: [0, 0.25, 0.5, 0.75, 1], yTicks: [0, 0.25, 0.5, 0.75, 1],
    xFmt: (v) => String(v), yFmt: (v) => v.toFixed(2), xLabel: 'α', yLabel: 'p(true label)',
  });
  const sums = {};
  for (const p of photos) {
    const series = ui.sweep.perPhoto.get(p.id) || [];
    ctx.globalAlpha = 0.25;
    line(ctx, series.map((x) => [x.alpha, x.p]), X, Y, SET_COLORS[p.set], { width: 1 });
    ctx.globalAlpha = 1;
    const acc = (sums[p.set] ??= new Map());
    for (const x of series) {
      const [sum, n] = acc.get(x.alpha) || [0, 0];
      acc.set(x.alpha, [sum + x.p, n + 1]);
    }
  }
  const items = [];
  for (const [set, acc] of Object.entries(sums)) {
    const mean = [...acc.entries()].sort((a, b) => a[0] - b[0]).map(([a, [sum, n]]) => [a, sum / n]);
    line(ctx, mean, X, Y, SET_COLORS[set], { width: 3.5 });
    items.push({ label: `${SETS[set]} (mean, thick)`, color: SET_COLORS[set] });
  }
  legend(ctx, 16, 44, items);
}

function drawPlots() {
  if (!ui.lecture) return;
  drawAccuracy();
  drawPareto();
  drawPhotos();
}

// ---- export

function download(blob, name) {
  const a = el('a', { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60000);
}

function sweepCsv() {
  const q = (v) => (/[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
  const rows = [['kind', 'alpha', 'set', 'accuracy', 'correct', 'n', 'photo', 'true_label', 'predicted', 'p_true']];
  for (const set of ['task', 'other']) {
    for (const p of ui.sweep.sets[set]) rows.push(['set', p.alpha, SETS[set], p.accuracy, p.correct, p.n, '', '', '', '']);
  }
  for (const p of ui.sweep.photos) {
    for (const s of ui.sweep.perPhoto.get(p.id) || []) rows.push(['photo', s.alpha, SETS[p.set], '', '', '', p.name, p.truth, s.predicted, s.p]);
  }
  return rows.map((r) => r.map(q).join(',')).join('\n') + '\n';
}

function onMerged(ev) {
  ui.mergedConfig = ev.config;
  $('export-config').hidden = !ev.config;
  $('export-status').textContent = `${mb(ev.bytes.byteLength)} written at α = ${fmtAlpha(ev.alpha)}; put config.json beside it for transformers.`;
  download(new Blob([ev.bytes], { type: 'application/octet-stream' }), `wiseft-merged-alpha-${fmtAlpha(ev.alpha)}.safetensors`);
}

function wireLecture() {
  $('lecture-toggle').onclick = () => setLecture(!ui.lecture);
  $('presenter').onclick = () => setPresenter(!document.body.classList.contains('presenter'));
  $('folder-button').onclick = () => {
    // Detached, like the checkpoint picker: the page keeps exactly one <input type=file>.
    const input = el('input', { type: 'file', multiple: true });
    input.webkitdirectory = true;
    input.onchange = () =>
      addPhotos([...input.files].filter((f) => /\.(png|jpe?g|gif|bmp|webp)$/i.test(f.name)), { set: $('folder-set').value, folders: true });
    input.click();
  };
  $('sweep').onclick = startSweep;
  $('sweep-cancel').onclick = () => ui.worker?.postMessage({ type: 'cancel' });
  $('export-csv').onclick = () => ui.sweep && download(new Blob([sweepCsv()], { type: 'text/csv' }), 'wiseft-sweep.csv');
  $('export-merged').onclick = () => {
    if (!ui.loaded) {
      $('export-status').textContent = 'Load the models first.';
      return;
    }
    $('export-status').textContent = `Merging at α = ${fmtAlpha(ui.alpha)} …`;
    send({ type: 'export_merged', alpha: ui.alpha });
  };
  $('export-config').onclick = () => ui.mergedConfig && download(new Blob([ui.mergedConfig], { type: 'application/json' }), 'config.json');
  for (const b of document.querySelectorAll('[data-png]')) {
    b.onclick = () => $(b.dataset.png).toBlob((blob) => download(blob, `wiseft-${b.dataset.png}.png`), 'image/png');
  }
  // In lecture mode a click on a result's label makes it the photo's true label.
  $('results').addEventListener('click', (e) => {
    const bar = e.target.closest?.('li.bar');
    if (!bar || !ui.lecture) return;
    const photo = [...ui.photos.values()].find((p) => p.name === bar.dataset.image);
    if (photo) setTruth(photo, bar.dataset.label);
  });
  // ← / → move α by 0.05 unless a text field has the focus.
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
    if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    const t = e.target;
    const texty = t.isContentEditable || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || (t.tagName === 'INPUT' && !['range', 'checkbox', 'radio', 'button', 'file'].includes(t.type));
    // The slider itself keeps its own fine steps (0.01); elsewhere an arrow is a 0.05 step.
    if (texty || t.id === 'alpha') return;
    e.preventDefault();
    const a = Math.min(1, Math.max(0, Math.round((ui.alpha + (e.key === 'ArrowRight' ? 0.05 : -0.05)) * 20) / 20));
    $('alpha').value = String(a);
    onAlphaInput();
  });
}

main();
