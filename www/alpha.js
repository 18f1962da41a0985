// The mixing coefficient α: the slider (#alpha), its read-out, the keyboard steps, and keeping the
// engine at the α shown (one set_alpha in flight at a time; the latest α goes next).

import { $, fmtAlpha } from './dom.js';
import { engine } from './engine.js';
import { showFailure } from './messages.js';
import { signal } from './signal.js';

let alpha = 0.5;
/** The α of the last set_alpha sent, and whether it is still being worked on. */
let sent = null;
let inFlight = false;

/** Emitted whenever the α shown changes. */
export const alphaChanged = signal();

export const currentAlpha = () => alpha;

/** Shows α (clamped to [0, 1]) everywhere it appears; does not send it. */
export function showAlpha(a) {
  alpha = Math.min(1, Math.max(0, a));
  $('alpha-out').value = fmtAlpha(alpha);
  $('alpha').setAttribute('aria-valuetext', `α = ${fmtAlpha(alpha)}: ${Math.round(alpha * 100)}% fine-tuned`);
  document.documentElement.style.setProperty('--alpha', String(alpha));
  $('export-alpha').textContent = fmtAlpha(alpha);
  alphaChanged.emit();
}

/** Puts the slider at `a` and shows it (the address's α). */
export function setSlider(a) {
  $('alpha').value = String(a);
  showAlpha(a);
}

/** Sends the α shown; when that is done, the α shown then if it moved meanwhile. */
export function sendAlpha() {
  inFlight = true;
  sent = alpha;
  engine
    .setAlpha(alpha)
    .catch(showFailure)
    .finally(() => {
      inFlight = false;
      if (sent !== alpha) sendAlpha();
    });
}

/** The slider moved (by hand or by a key). */
function onInput() {
  showAlpha(parseFloat($('alpha').value));
  if (engine.ready && !inFlight) sendAlpha();
}

/** ← / → anywhere but in a text field: α in steps of 0.05. */
function onKey(e) {
  if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
  if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
  const t = e.target;
  const texty = t.isContentEditable || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || (t.tagName === 'INPUT' && !['range', 'checkbox', 'radio', 'button', 'file'].includes(t.type));
  // The slider itself keeps its own fine steps (0.01); elsewhere an arrow is a 0.05 step.
  if (texty || t.id === 'alpha') return;
  e.preventDefault();
  $('alpha').value = String(Math.min(1, Math.max(0, Math.round((alpha + (e.key === 'ArrowRight' ? 0.05 : -0.05)) * 20) / 20)));
  onInput();
}

export function wireAlpha() {
  $('alpha').addEventListener('input', onInput);
  document.addEventListener('keydown', onKey);
}
