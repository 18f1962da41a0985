// DOM and formatting helpers shared by the page's modules. No state.

/** @param {string} id */
export const $ = (id) => /** @type {HTMLElement & Record<string, any>} */ (document.getElementById(id));

/**
 * An element with attributes (`class`, `text`, `data-*`, properties) and children.
 * @param {string} tag
 * @param {Record<string, unknown>} [attrs]
 * @param {...(Node|string|null|undefined)} children
 */
export function el(tag, attrs = {}, ...children) {
  /** @type {HTMLElement & Record<string, any>} */
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = String(v);
    else if (k === 'text') e.textContent = String(v);
    else if (k.startsWith('data-')) e.setAttribute(k, String(v));
    else if (k in e) e[k] = v;
    else e.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

/** @param {number} b bytes */
export const mb = (b) => (b < 1e5 ? `${(b / 1e3).toFixed(1)} kB` : `${(b / 1e6).toFixed(1)} MB`);
/** @param {number} p a probability */
export const pct = (p) => `${(p * 100).toFixed(1)}%`;

/** A percentage, or a dash where there is none (a set without labels). */
export const pctOrDash = (p) => (p == null ? '—' : pct(p));
/** @param {number} a */
export const fmtAlpha = (a) => (Math.round(a * 100) / 100).toFixed(2);

/** @param {number} s seconds */
export function fmtDuration(s) {
  if (!isFinite(s)) return '…';
  if (s < 60) return `${Math.ceil(s)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - 60 * m)} s`;
}

/** An address relative to the page, made absolute (as given when it is not an address). */
export function resolveUrl(u) {
  try {
    return new URL(u, document.baseURI).href;
  } catch {
    return u;
  }
}

/** "owner/repo @ revision · file" for a hub address (huggingface.co or a mirror), else the last parts of the path. */
export function shortName(url) {
  try {
    const parts = new URL(url).pathname.split('/').filter(Boolean);
    const at = parts.lastIndexOf('resolve');
    if (at >= 2 && parts.length >= at + 3) {
      return `${parts[at - 2]}/${parts[at - 1]} @ ${decodeURIComponent(parts[at + 1])} · ${parts.slice(at + 2).join('/')}`;
    }
    return parts.slice(-3).join('/') || url;
  } catch {
    return url;
  }
}

/**
 * A checkpoint as a result column's heading names it, by what tells fine-tunes apart: a hub
 * address's repository name (huggingface.co or a mirror: not "main/model.safetensors" for each of
 * eight fine-tunes), the folder of a standard weights file, else the file's name.
 */
export function checkpointNote(name) {
  let parts;
  try {
    parts = new URL(name).pathname.split(/[/\\]/);
  } catch {
    parts = name.split(/[/\\]/);
  }
  parts = parts.filter(Boolean);
  const at = parts.lastIndexOf('resolve');
  if (at >= 2 && parts.length >= at + 3) return parts[at - 1];
  const file = parts.at(-1) ?? '';
  return /^(model\.safetensors|pytorch_model\.bin|open_clip_model\.safetensors|open_clip_pytorch_model\.bin)$/.test(file) && parts.length > 1 ? parts.at(-2) : file;
}

/** Millions with one decimal: "12.3 M". */
export const millions = (n) => `${(n / 1e6).toFixed(1)} M`;

/** Saves a blob as a file the browser downloads. */
export function download(blob, name) {
  const a = el('a', { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60000);
}

/** A file picker that is not in the page (the page keeps exactly one <input type=file>, the photos'). */
export function pickFiles({ accept = '', directory = false } = {}, onFiles) {
  const input = el('input', { type: 'file', multiple: true, accept: accept || undefined });
  if (directory) input.webkitdirectory = true;
  input.onchange = () => onFiles([...input.files]);
  input.click();
}
