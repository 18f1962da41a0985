// The α sweep as the page draws it: the session's accuracy curves per set and named set with their
// best α (counted in Rust, src/session/table.rs, the same numbers as the CSV and `wiseft sweep`),
// each photo's true-label probability along α, and the words. Pure functions of a sweep, no DOM.

import { fmtAlpha } from './dom.js';
import { SETS } from './truth.js';

/** 0, 0.05, …, 1. */
export const SWEEP_ALPHAS = Array.from({ length: 21 }, (_, k) => k / 20);

/** @typedef {{id: number, name: string, set: 'task'|'other', group: string|null, truth: string}} SweptPhoto */
/** @typedef {{alpha: number, correct: number, n: number, accuracy: number}} SetPoint */
/** @typedef {{alpha: number, p: number, predicted: string}} PhotoPoint */
/** @typedef {{top: number, at: number[]}} Best the highest accuracy and the values that reach it */
/** @typedef {{name: string, label: string, set: 'task'|'other', points: SetPoint[], best: Best}} NamedSet label: the name, with its set where the name is in both */
/**
 * @typedef {object} Summary
 * @property {{task: SetPoint[], other: SetPoint[]}} sets per set, one point per α
 * @property {{task: Best|null, other: Best|null}} best per set (null: no photo in it)
 * @property {NamedSet[]} named the named sets within them (one task of several), in the order their
 *   first photo was swept, one point per α each
 * @property {Map<number, PhotoPoint[]>} perPhoto by photo id
 * @property {SweptPhoto[]} photos
 * @property {'α'|'λ'} coefficient what was swept: α, or a recipe's λ
 */

/** The page calls the session's shift set `other`. @param {'task'|'shift'} set */
const pageSet = (set) => (set === 'task' ? 'task' : 'other');

/**
 * @param {import('./protocol.js').SweepEvent} ev
 * @param {SweptPhoto[]} photos the photos as they were when the sweep started
 * @returns {Summary}
 */
export function summarise(ev, photos) {
  const sets = { task: [], other: [] };
  const best = { task: null, other: null };
  /** @type {NamedSet[]} */
  const named = [];
  for (const c of ev.curves) {
    const set = pageSet(c.set);
    const b = { top: c.top, at: c.best };
    if (c.name == null) {
      sets[set] = c.points;
      best[set] = b;
    } else {
      named.push({ name: c.name, label: c.label, set, points: c.points, best: b });
    }
  }
  const byId = new Map(photos.map((p) => [p.id, p]));
  const perPhoto = new Map(photos.map((p) => [p.id, []]));
  for (const point of ev.points) {
    for (const s of point.scores) {
      if (byId.has(s.image)) perPhoto.get(s.image).push({ alpha: point.alpha, p: s.p_true ?? 0, predicted: s.predicted });
    }
  }
  return { sets, best, named, perPhoto, photos, coefficient: ev.coefficient ?? 'α' };
}

/** The mean accuracy of the two sets at each α (empty unless both have photos). @param {Summary} sweep */
export function averageSeries(sweep) {
  const { task, other } = sweep.sets;
  if (!task.length || !other.length) return [];
  return task.map((t, i) => ({ alpha: t.alpha, accuracy: (t.accuracy + other[i].accuracy) / 2 }));
}

/** The highest accuracy and the α values that reach it (for the average; the sets' come from the session). */
function bestOf(points) {
  if (!points.length) return null;
  const top = Math.max(...points.map((p) => p.accuracy));
  const at = points.filter((p) => Math.abs(p.accuracy - top) < 1e-12).map((p) => p.alpha);
  return { top, at };
}

function alphaList(at, c) {
  if (at.length === 1) return `${c} = ${fmtAlpha(at[0])}`;
  const contiguous = at.every((a, i) => i === 0 || Math.abs(a - at[i - 1] - 0.05) < 1e-9);
  if (contiguous) return `${c} from ${fmtAlpha(at[0])} to ${fmtAlpha(at[at.length - 1])}`;
  return `${c} = ${at.slice(0, 6).map(fmtAlpha).join(', ')}${at.length > 6 ? ', …' : ''}`;
}

/**
 * The best α for each set and for their average, in words; and per set its zero-shot, fine-tuned
 * and α = 0.5 points.
 * @param {Summary} sweep
 */
export function bestAlphas(sweep) {
  const c = sweep.coefficient;
  const parts = [];
  /** @type {[string, SetPoint, SetPoint, SetPoint|undefined][]} */
  const measured = [];
  for (const set of /** @type {const} */ (['task', 'other'])) {
    const pts = sweep.sets[set];
    const b = sweep.best[set];
    if (!b || !pts.length) continue;
    const zs = pts[0];
    const who = set === 'task' ? 'the fine-tuning task' : 'everything else';
    parts.push(`Best ${c} for ${who} (${zs.n} photos): ${alphaList(b.at, c)}, ${(b.top * 100).toFixed(1)}% accuracy.`);
    measured.push([SETS[set], zs, pts[pts.length - 1], pts.find((p) => p.alpha === 0.5)]);
  }
  const b = bestOf(averageSeries(sweep));
  if (b) parts.push(`Best ${c} for their average: ${alphaList(b.at, c)}, ${(b.top * 100).toFixed(1)}%.`);
  // Each named set (one task of several): where its own curve peaks, and its three points.
  for (const g of sweep.named) {
    const bg = g.best;
    const zs = g.points[0];
    parts.push(`Best ${c} for “${g.label}” (${zs.n} photos): ${alphaList(bg.at, c)}, ${(bg.top * 100).toFixed(1)}%.`);
    measured.push([`${SETS[g.set]} · ${g.name}`, zs, g.points[g.points.length - 1], g.points.find((p) => p.alpha === 0.5)]);
  }
  return { text: parts.join(' '), measured };
}
