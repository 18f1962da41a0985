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
    engineFailed(`the engine worker failed: ${e.message || 'could not load its script or WebAssembly'}`);
  };
  worker.onmessageerror = () => showMessage('error', 'A message from the engine could not be read.');
  setTimeout(() => {
    if (!ui.engineUp && !ui.engineDead) {
      engineFailed(`the engine (WebAssembly in a Web Worker) did not start within ${HELLO_TIMEOUT_MS / 1000} s`);
    }
  }, HELLO_TIMEOUT_MS);
}

function engineFailed(why) {
  ui.engineDead = why;
  $('backend').textContent = 'Engine not running';
  $('backend').className = 'backend bad';
  setModelStatus(`${why}. Reload the page; if it persists, this browser may lack WebAssembly SIMD or Web Workers.`, 'error');
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

function onFailed(ev) {
  if (ev.what === 'crash') {
    engineFailed(ev.message);
    return;
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

function addPhotos(files) {
  const images = [];
  for (const file of files) {
    const id = ++ui.photoSeq;
    let name = file.name || `pasted-${id}.png`;
    const taken = new Set([...ui.photos.values()].map((p) => p.name));
    for (let i = 2; taken.has(name); i++) name = `${file.name || 'photo'} (${i})`;
    const photo = { id, name, url: URL.createObjectURL(file), card: null, error: null, scores: {} };
    ui.photos.set(id, photo);
    if (file.size > MAX_PHOTO_BYTES) {
      photo.error = `too large (${mb(file.size)}; the limit is ${mb(MAX_PHOTO_BYTES)}): scale it down first`;
    } else {
      images.push({ id, name, blob: file });
    }
    renderPhoto(photo);
  }
  if (images.length) send({ type: 'add_images', images });
  updateState();
}

async function addSamples() {
  const files = [];
  for (const u of ui.preset?.samples || []) {
    try {
      const r = await fetch(resolveUrl(u));
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      files.push(new File([await r.blob()], decodeURIComponent(u.split('/').pop()), { type: r.headers.get('content-type') || '' }));
    } catch (e) {
      showMessage('warn', `Sample ${u} could not be read (${e.message}).`);
    }
  }
  addPhotos(files);
}

function removePhoto(id) {
  const p = ui.photos.get(id);
  if (!p) return;
  p.card?.remove();
  URL.revokeObjectURL(p.url);
  ui.photos.delete(id);
  send({ type: 'remove_image', id });
  updateState();
}

function renderPhoto(photo) {
  if (!photo.card) {
    const img = el('img', { src: photo.url, alt: photo.name, loading: 'lazy' });
    img.onerror = () => img.replaceWith(el('div', { class: 'noimg', text: 'no preview' }));
    const remove = el('button', { class: 'close', type: 'button', 'aria-label': `Remove ${photo.name}`, text: '×' });
    remove.onclick = () => removePhoto(photo.id);
    photo.body = el('div', { class: 'cols' });
    photo.card = el(
      'article',
      { class: 'photo', 'data-image': photo.name },
      el('figure', {}, img, el('figcaption', { title: photo.name, text: photo.name })),
      photo.body,
      remove,
    );
    $('results').append(photo.card);
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
            el('span', { class: 'label', text: label }),
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
  const size = (zs?.size_mb || 0) + (ft?.size_mb || 0);
  note.textContent = `${p.about || ''} ${zs?.name || ''} + ${ft?.name || ''}${size ? ` · about ${size} MB to download once, then kept in the browser` : ''}`.trim();
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
  ui.autoLoad = q.has('zs') || q.has('preset');
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

main();
