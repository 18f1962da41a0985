// What the page says: dismissible message boxes (#messages, one per key) and the models' status
// line (#model-status).

import { $, el } from './dom.js';

/** key → its box */
const boxes = new Map();

/**
 * Shows a message box; one with the same key has its text replaced. Info boxes go away by
 * themselves after 12 s unless sticky.
 * @param {'info'|'warn'|'error'} level
 * @param {string} text
 * @param {{key?: string, sticky?: boolean}} [options]
 */
export function showMessage(level, text, { key = text, sticky = false } = {}) {
  const old = boxes.get(key);
  if (old) {
    old.querySelector('p').textContent = text;
    return;
  }
  const close = el('button', { class: 'close', type: 'button', 'aria-label': 'Dismiss', text: '×' });
  const box = el('div', { class: `msg ${level}`, role: level === 'error' ? 'alert' : 'status' }, el('p', { text }), close);
  close.onclick = () => {
    box.remove();
    boxes.delete(key);
  };
  boxes.set(key, box);
  box.dataset.key = key;
  $('messages').append(box);
  if (!sticky && level === 'info') setTimeout(() => close.onclick(), 12000);
}

/** Removes the boxes whose key starts with `prefix`. */
export function dismissMessages(prefix) {
  for (const [key, box] of boxes) {
    if (key.startsWith(prefix)) {
      box.remove();
      boxes.delete(key);
    }
  }
}

/** A worker's notice: a warning stays, information goes away by itself. */
export function showNotice(ev) {
  showMessage(ev.level === 'warn' ? 'warn' : 'info', ev.text, { key: ev.key || ev.text, sticky: ev.level === 'warn' });
}

/**
 * A failed request as an error box; nothing for a cancel, or when the engine stopped (the badge
 * and the status line say that).
 * @param {{message: string, cancelled?: boolean, dead?: boolean}} err
 */
export function showFailure(err) {
  if (err.cancelled || err.dead) return;
  showMessage('error', err.message);
}

/** @param {string} text @param {''|'ok'|'error'} [level] */
export function setModelStatus(text, level = '') {
  const s = $('model-status');
  s.textContent = text;
  s.className = `status ${level}`;
}

export const modelStatusText = () => $('model-status').textContent;
