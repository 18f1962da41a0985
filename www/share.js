// The share dialog (#share-dialog): the page's address — which url-state.js keeps in step with the
// models, α or recipe, labels and templates — as a QR code large enough for a projector, and as
// text to copy. The QR code is made by a vendored library (www/vendor/, qrcode-generator 2.0.4,
// MIT) and drawn as one SVG path, so that it stays sharp at any size.

import { $ } from './dom.js';
import { hasLocalFiles } from './models.js';
import qrcode from './vendor/qrcode-generator-2.0.4.mjs';

/** Quiet zone around the code, in modules (the standard asks for 4). */
const QUIET = 4;

/**
 * The QR code of `text` as an SVG element (black modules on white, with the quiet zone).
 * Error correction M (15 %): a projector's glare or a phone held askew still reads.
 * @param {string} text
 */
export function qrSvg(text) {
  const qr = qrcode(0, 'M');
  qr.addData(text, 'Byte');
  qr.make();
  const n = qr.getModuleCount();
  let d = '';
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) if (qr.isDark(r, c)) d += `M${c + QUIET} ${r + QUIET}h1v1h-1z`;
  }
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  const size = n + 2 * QUIET;
  svg.setAttribute('viewBox', `0 0 ${size} ${size}`);
  svg.setAttribute('shape-rendering', 'crispEdges');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `QR code of ${text}`);
  const bg = document.createElementNS(ns, 'rect');
  bg.setAttribute('width', String(size));
  bg.setAttribute('height', String(size));
  bg.setAttribute('fill', '#fff');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', d);
  path.setAttribute('fill', '#000');
  svg.append(bg, path);
  svg.dataset.modules = String(n);
  return svg;
}

/** The link to share: the address as it is now (ASCII: the browser percent-encodes the rest). */
const shareLink = () => new URL(location.href).href;

function openShare() {
  const link = shareLink();
  $('share-qr').replaceChildren(qrSvg(link));
  $('share-qr').dataset.link = link;
  const a = $('share-link');
  a.href = link;
  a.textContent = link;
  const local = hasLocalFiles('zero-shot') || hasLocalFiles('fine-tuned');
  $('share-note').textContent = local
    ? 'Local model files cannot travel in a link: the phone gets the labels and α, and the models chosen before them.'
    : 'Scanning opens this page with the same models, α (or recipe) and labels. The photos stay here.';
  $('share-copied').textContent = '';
  /** @type {HTMLDialogElement} */ ($('share-dialog')).showModal();
}

async function copyLink() {
  try {
    await navigator.clipboard.writeText(shareLink());
    $('share-copied').textContent = 'Copied.';
  } catch {
    // No clipboard permission (or not a secure context): select the text for Ctrl+C instead.
    const range = document.createRange();
    range.selectNodeContents($('share-link'));
    const sel = getSelection();
    sel?.removeAllRanges();
    sel?.addRange(range);
    $('share-copied').textContent = 'Selected: press Ctrl+C to copy.';
  }
}

export function wireShare() {
  $('share').onclick = openShare;
  $('share-copy').onclick = copyLink;
  $('share-close').onclick = () => /** @type {HTMLDialogElement} */ ($('share-dialog')).close();
  // A click on the backdrop (outside the dialog's box) closes it too.
  $('share-dialog').addEventListener('click', (e) => {
    if (e.target === $('share-dialog')) /** @type {HTMLDialogElement} */ ($('share-dialog')).close();
  });
}
