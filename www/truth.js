// A photo's true label and its set, for the lecture's sweep: the label a folder or a file name
// stands for, and the two sets a photo can count in. Pure functions, no state.

/** The sets, by key, as the page names them. */
export const SETS = { task: 'fine-tuning task', other: 'everything else' };

const norm = (s) => s.toLowerCase().replace(/[_\-]+/g, ' ').replace(/\s+/g, ' ').trim();
const bare = (s) => s.replace(/^(a|an|the) /, '');

/**
 * The label (of `labels`) a folder name, or with `prefix` a file-name prefix, stands for; or null.
 * @param {string} text
 * @param {string[]} labels
 */
export function matchLabel(text, labels, { prefix = false } = {}) {
  const t = norm(text);
  let best = null;
  for (const label of labels) {
    for (const form of new Set([norm(label), bare(norm(label))])) {
      if (!form) continue;
      const hit = prefix ? t.startsWith(form) && (t.length === form.length || /[\s\d.]/.test(t[form.length])) : t === form;
      if (hit && (!best || form.length > best[1])) best = [label, form.length];
    }
  }
  return best ? best[0] : null;
}

/**
 * Keeps a photo's true label in step with the labels: a click wins, then the folder, then the name.
 * @param {{name: string, folder: string|null, truth: string|null, source: string|null}} photo
 * @param {string[]} labels
 */
export function assignTruth(photo, labels) {
  if (photo.source === 'click' && labels.includes(photo.truth)) return;
  const byFolder = photo.folder ? matchLabel(photo.folder, labels) : null;
  const byName = matchLabel(photo.name.replace(/\.[^.]*$/, ''), labels, { prefix: true });
  photo.truth = byFolder || byName || null;
  photo.source = byFolder ? 'folder' : byName ? 'name' : null;
}
