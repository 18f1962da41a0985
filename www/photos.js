// The photos (#results): adding them (picker, samples), their cards with the result bars of the
// three models (for a recipe: the zero-shot model, each fine-tune on its own and the merge), each
// photo's true label and set, and removing them.

import { $, checkpointNote, el, fmtAlpha, mb, pct, resolveUrl } from './dom.js';
import { engine } from './engine.js';
import { showFailure, showMessage } from './messages.js';
import { currentLabels, labelsChanged } from './labels.js';
import { alphaChanged, currentAlpha } from './alpha.js';
import { isLoaded, pairChanged, shownColumns } from './models.js';
import { recipeChanged, recipeLoaded, recipePending, recipeSettled } from './recipe.js';
import { SETS, assignTruth } from './truth.js';
import { signal } from './signal.js';

const TOP_K = 5;
const MAX_PHOTO_BYTES = 64e6;
const PHOTO_NAME = /\.(png|jpe?g|gif|bmp|webp)$/i;

/**
 * @typedef {object} Photo
 * @property {number} id
 * @property {string} name unique on the page
 * @property {string} url its preview (an object URL)
 * @property {HTMLElement|null} card
 * @property {HTMLElement} [body] the result columns
 * @property {HTMLElement} [meta] the true-label row
 * @property {string|null} error
 * @property {Record<string, {alpha: number|null, setting: string|null, probs: number[], labels: string[]}>} scores by model
 * @property {'task'|'other'} set
 * @property {string|null} group the named labelled set it belongs to within its set (one task of
 *   several, e.g. a sub-folder's name), for lecture mode's one accuracy curve per named set
 * @property {string|null} truth
 * @property {'click'|'folder'|'name'|null} source where the true label came from
 * @property {string|null} folder the folder it came in
 */

/** @type {Map<number, Photo>} */
const photos = new Map();
let lastId = 0;

/** A fresh photo id (the camera's frames take theirs from the same counter: ids never collide). */
export const nextPhotoId = () => ++lastId;

/** Photos came or went, or a true label or a set changed. */
export const photosChanged = signal();
/** Scores arrived for some photos. */
export const scoresChanged = signal();

export const allPhotos = () => [...photos.values()];
export const photoCount = () => photos.size;

/** The photos with a true label among the current labels (and no error): the sweep's. */
export function labelledPhotos() {
  const labels = currentLabels();
  return allPhotos().filter((p) => p.truth && !p.error && labels.includes(p.truth));
}

/**
 * How many of the labelled photos each result column gets right (its top label is the true one),
 * over the photos that column has scores for: `{[model]: {correct, n}}`.
 * @returns {Record<string, {correct: number, n: number}>}
 */
export function labelledAccuracy() {
  const out = {};
  for (const p of labelledPhotos()) {
    for (const [model, s] of Object.entries(p.scores)) {
      const top = s.labels[s.probs.indexOf(Math.max(...s.probs))];
      const a = (out[model] ??= { correct: 0, n: 0 });
      a.n++;
      if (top === p.truth) a.correct++;
    }
  }
  return out;
}

/** Whether a file's name says it is a photo. */
export const isPhotoFile = (f) => PHOTO_NAME.test(f.name);

function renderEmpty() {
  $('empty').hidden = photos.size > 0;
}

/**
 * Adds photos and sends them to the engine. `set`: the set they count in; `folders`: each
 * file's folder (a directory upload) labels it, and in a folder laid out `<name>/<label>/…` the
 * `<name>` is the photo's named set (`group`); `folderOf` / `groupOf`: the folder and named set of
 * each file, given.
 * @param {Iterable<File>} files
 * @param {{set?: 'task'|'other', folders?: boolean, folderOf?: ((f: File) => string|undefined)|null, groupOf?: ((f: File) => string|undefined)|null}} [options]
 */
export function addPhotos(files, { set = 'other', folders = false, folderOf = null, groupOf = null } = {}) {
  const images = [];
  const unmatched = new Set();
  for (const file of files) {
    const id = nextPhotoId();
    let name = file.name || `pasted-${id}.png`;
    const taken = new Set(allPhotos().map((p) => p.name));
    for (let i = 2; taken.has(name); i++) name = `${file.name || 'photo'} (${i})`;
    /** @type {Photo} */
    const photo = { id, name, url: URL.createObjectURL(file), card: null, error: null, scores: {}, set, group: null, truth: null, source: null, folder: null };
    if (folderOf) {
      photo.folder = folderOf(file) ?? null;
      photo.group = groupOf?.(file) ?? null;
    } else if (folders) {
      // picked/<label>/photo, or picked/<named set>/<label>/photo
      const parts = (file.webkitRelativePath || '').split('/');
      if (parts.length >= 2) photo.folder = parts[parts.length - 2];
      if (parts.length >= 4) photo.group = parts[parts.length - 3];
    }
    assignTruth(photo, currentLabels());
    if (photo.folder && !photo.truth) unmatched.add(photo.folder);
    photos.set(id, photo);
    if (file.size > MAX_PHOTO_BYTES) {
      photo.error = `too large (${mb(file.size)}; the limit is ${mb(MAX_PHOTO_BYTES)}): scale it down first`;
    } else {
      images.push({ id, name, blob: file });
    }
    renderPhoto(photo);
  }
  if (images.length) engine.addImages(images).catch(showFailure);
  if (unmatched.size) {
    showMessage('warn', `Folder name(s) not among the labels: ${[...unmatched].join(', ')}. Add them to the labels (step 2) or pick a label on each photo.`);
  }
  renderEmpty();
  photosChanged.emit();
}

/**
 * A preset's sample photos. Those laid out as …/<task|shift>/<label>/<file> arrive labelled and in
 * their set (task: the fine-tuning task; shift: everything else), ready for the lecture sweep;
 * …/<task|shift>/<name>/<label>/<file> also puts them in the named set `<name>` (one task of
 * several: lecture mode draws a curve for each).
 * @param {string[]} urls
 */
export async function addSamples(urls) {
  const groups = { task: [], other: [], plain: [] };
  const folders = new Map();
  const named = new Map();
  for (const u of urls) {
    try {
      const r = await fetch(resolveUrl(u));
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const parts = u.split('/');
      const file = new File([await r.blob()], decodeURIComponent(parts[parts.length - 1]), { type: r.headers.get('content-type') || '' });
      const isSet = (dir) => dir === 'task' || dir === 'shift';
      const setAt = isSet(parts[parts.length - 3]) ? parts.length - 3 : isSet(parts[parts.length - 4]) ? parts.length - 4 : -1;
      if (setAt >= 0) {
        folders.set(file, decodeURIComponent(parts[parts.length - 2]));
        if (setAt === parts.length - 4) named.set(file, decodeURIComponent(parts[parts.length - 3]));
        groups[parts[setAt] === 'task' ? 'task' : 'other'].push(file);
      } else {
        groups.plain.push(file);
      }
    } catch (e) {
      showMessage('warn', `Sample ${u} could not be read (${e.message}).`);
    }
  }
  const given = { folderOf: (f) => folders.get(f), groupOf: (f) => named.get(f) };
  if (groups.task.length) addPhotos(groups.task, { set: 'task', ...given });
  if (groups.other.length) addPhotos(groups.other, { set: 'other', ...given });
  if (groups.plain.length) addPhotos(groups.plain);
}

function removePhoto(id) {
  const p = photos.get(id);
  if (!p) return;
  p.card?.remove();
  URL.revokeObjectURL(p.url);
  photos.delete(id);
  engine.removeImage(id).catch(showFailure);
  renderEmpty();
  photosChanged.emit();
}

/** @param {Photo} photo */
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
  const { cols, tops } = resultColumns(photo);
  body.append(...cols);
  if (tops['zero-shot'] && tops['fine-tuned'] && tops['zero-shot'] !== tops['fine-tuned']) {
    photo.card.dataset.disagree = '1';
  } else {
    delete photo.card.dataset.disagree;
  }
}

/**
 * The result columns (top-5 bars of each model shown) of a photo's scores, and each model's top
 * label; the camera view (camera.js) draws its frames with them too. The columns are the
 * session's, as the `loaded` event listed them (which models, their order and titles).
 * @param {{name: string, scores: Photo['scores']}} photo
 */
export function resultColumns(photo) {
  const tops = {};
  const cols = [];
  const recipe = recipeLoaded();
  const shown = shownColumns();
  if (!shown.length) cols.push(el('p', { class: 'wait', text: 'waiting for the models' }));
  for (const c of shown) {
    const m = c.model;
    const s = photo.scores[m];
    const wantAlpha = m === 'zero-shot' ? 0 : m === 'fine-tuned' ? 1 : currentAlpha();
    const stale = !s || (m === 'merged' && (recipe ? recipePending() : s.alpha !== wantAlpha));
    const own = m.startsWith('fine-tuned-');
    const col = el('div', { class: `col ${own ? 'own-fine-tune' : m}${stale ? ' stale' : ''}`, 'data-model': m });
    col.append(el('h3', { title: c.checkpoint ?? '' }, el('span', { class: 'col-title', text: c.title }), el('small', { text: ` ${columnNote(c, s, wantAlpha)}` })));
    if (!s) {
      col.append(el('p', { class: 'wait', text: isLoaded() ? 'classifying …' : 'waiting for the models' }));
    } else {
      const order = s.probs.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]).slice(0, TOP_K);
      tops[m] = s.labels[order[0][1]];
      col.append(el('ol', { class: 'bars' }, ...order.map(([p, i], rank) => resultBar(photo, m, s, s.labels[i], p, rank))));
    }
    cols.push(col);
  }
  return { cols, tops };
}

/** What a column's heading says beside its title: its α, the recipe's setting, or which
 *  checkpoint a recipe's fine-tune column is (the last parts of its name).
 *  @param {import('./protocol.js').ColumnInfo} c */
function columnNote(c, s, wantAlpha) {
  if (recipeLoaded()) {
    if (c.model === 'merged') return s?.setting ?? '';
    // Left-to-right marks around the name: the heading is right-to-left (cut at its start), and
    // without them a name's closing punctuation ("ft (2)") would move to its other end.
    if (c.model.startsWith('fine-tuned-')) return `\u200e${checkpointNote(c.checkpoint ?? '')}\u200e`;
    return '';
  }
  return `α = ${fmtAlpha(s && c.model === 'merged' ? s.alpha : wantAlpha)}`;
}

/** One label's probability bar. */
function resultBar(photo, model, s, label, p, rank) {
  const fill = el('span', { class: 'fill' });
  fill.style.width = `${Math.max(0.5, p * 100)}%`;
  return el(
    'li',
    {
      class: `bar${rank === 0 ? ' first' : ''}`,
      'data-image': photo.name,
      'data-model': model,
      'data-label': label,
      'data-prob': String(p),
      'data-alpha': String(s.alpha),
      'data-setting': s.setting ?? '',
      title: `${label}: ${(p * 100).toFixed(3)}%`,
    },
    el('span', { class: 'label', text: label, title: `${label}: ${(p * 100).toFixed(3)}% · in lecture mode, click to make it the true label` }),
    el('span', { class: 'track' }, fill),
    el('span', { class: 'pct', text: pct(p) }),
  );
}

/** The true-label picker and the set toggle under a photo. @param {Photo} photo */
function renderMeta(photo) {
  if (!photo.meta) return;
  const card = photo.card;
  card.dataset.set = photo.set;
  card.dataset.truth = photo.truth || '';
  if (photo.group) card.dataset.group = photo.group;
  const select = el('select', { class: 'truth', 'aria-label': `True label of ${photo.name}` });
  select.append(el('option', { value: '', text: 'no true label' }), ...currentLabels().map((l) => el('option', { value: l, text: l })));
  select.value = photo.truth || '';
  select.onchange = () => setTruth(photo, select.value || null);
  const toggle = el('button', {
    type: 'button',
    class: `set-toggle ${photo.set}`,
    text: photo.group ? `${SETS[photo.set]} · ${photo.group}` : SETS[photo.set],
    title: `Which set this photo counts in${photo.group ? ` (and its named set, “${photo.group}”)` : ''} (click to move it)`,
    'aria-label': `${photo.name} is in the set ${SETS[photo.set]}; move it`,
  });
  toggle.onclick = () => {
    photo.set = photo.set === 'task' ? 'other' : 'task';
    renderMeta(photo);
    photosChanged.emit();
  };
  const src = photo.source ? el('small', { class: 'hint', text: photo.source === 'click' ? 'picked' : `from ${photo.source}` }) : null;
  photo.meta.replaceChildren(select, toggle, src || '');
}

/** A true label picked by hand (null: none). @param {Photo} photo @param {string|null} label */
export function setTruth(photo, label) {
  photo.truth = label;
  photo.source = label ? 'click' : null;
  renderMeta(photo);
  photosChanged.emit();
}

/** The photo a result bar (or anything with data-image) belongs to. */
export const photoNamed = (name) => allPhotos().find((p) => p.name === name);

/** Every photo's scores are void (new labels, a new pair): they show as waiting. */
function clearScores() {
  for (const p of photos.values()) {
    p.scores = {};
    renderPhoto(p);
  }
}

/** New labels: the true labels follow them, the scores are void. */
function relabel() {
  const labels = currentLabels();
  for (const p of photos.values()) {
    assignTruth(p, labels);
    renderMeta(p);
  }
  photosChanged.emit();
  clearScores();
}

/** After α or the recipe moved: the merged column is stale until its new scores arrive. */
function markMergedStale() {
  const alpha = currentAlpha();
  const recipe = recipeLoaded();
  for (const p of photos.values()) {
    const col = p.body?.querySelector('.col.merged');
    const s = p.scores.merged;
    if (col) col.classList.toggle('stale', !s || (recipe ? recipePending() : s.alpha !== alpha));
    const small = col?.querySelector('h3 small');
    if (small && !recipe) small.textContent = ` α = ${fmtAlpha(alpha)}`;
  }
}

/** @param {import('./protocol.js').ResultsEvent} ev */
function onResults(ev) {
  for (const s of ev.scores) {
    const photo = photos.get(s.image);
    if (!photo) continue;
    photo.error = null;
    photo.scores[s.model] = { alpha: s.alpha, setting: s.setting ?? null, probs: s.probs, labels: ev.labels };
    renderPhoto(photo);
  }
  scoresChanged.emit();
}

/** @param {import('./protocol.js').ImageErrorEvent} ev */
function onImageError(ev) {
  const photo = photos.get(ev.image);
  if (photo) {
    photo.error = ev.message;
    renderPhoto(photo);
  }
}

export function wirePhotos() {
  $('photos').addEventListener('change', (e) => {
    addPhotos(e.target.files);
    e.target.value = '';
  });
  engine.on('results', onResults);
  engine.on('image_error', onImageError);
  labelsChanged.on(relabel);
  alphaChanged.on(markMergedStale);
  recipeChanged.on(markMergedStale);
  recipeSettled.on(markMergedStale);
  pairChanged.on((what) => (what === 'loading' ? clearScores() : photos.forEach(renderPhoto)));
  renderEmpty();
}
