// The α sweep's numbers: accuracy per set and α, each photo's true-label probability along α, the
// best α. Pure functions of a sweep, no DOM. (The CSV comes from the session: src/session/table.rs.)

import { fmtAlpha } from './dom.js';
import { SETS } from './truth.js';

/** 0, 0.05, …, 1. */
export const SWEEP_ALPHAS = Array.from({ length: 21 }, (_, k) => k / 20);

/** @typedef {{id: number, name: string, set: 'task'|'other', truth: string}} SweptPhoto */
/** @typedef {{alpha: number, correct: number, n: number, accuracy: number}} SetPoint */
/** @typedef {{alpha: number, p: number, predicted: string}} PhotoPoint */
/**
 * @typedef {object} Summary
 * @property {{task: SetPoint[], other: SetPoint[]}} sets per set, one point per α
 * @property {Map<number, PhotoPoint[]>} perPhoto by photo id
 * @property {SweptPhoto[]} photos
 * @property {'α'|'λ'} coefficient what was swept: α, or a recipe's λ
 */

/**
 * @param {import('./protocol.js').SweepEvent} ev
 * @param {SweptPhoto[]} photos the photos as they were when the sweep started
 * @returns {Summary}
 */
export function summarise(ev, photos) {
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
      perPhoto.get(p.id).push({ alpha: point.alpha, p: s.p_true ?? 0, predicted: s.predicted });
    }
    for (const set of Object.keys(sets)) {
      const [correct, n] = count[set];
      if (n) sets[set].push({ alpha: point.alpha, correct, n, accuracy: correct / n });
    }
  }
  return { sets, perPhoto, photos, coefficient: ev.coefficient ?? 'α' };
}

/** The mean accuracy of the two sets at each α (empty unless both have photos). @param {Summary} sweep */
export function averageSeries(sweep) {
  const { task, other } = sweep.sets;
  if (!task.length || !other.length) return [];
  return task.map((t, i) => ({ alpha: t.alpha, accuracy: (t.accuracy + other[i].accuracy) / 2 }));
}

/** The highest accuracy and the α values that reach it. */
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
    const b = bestOf(pts);
    if (!b) continue;
    const zs = pts[0];
    const who = set === 'task' ? 'the fine-tuning task' : 'everything else';
    parts.push(`Best ${c} for ${who} (${zs.n} photos): ${alphaList(b.at, c)}, ${(b.top * 100).toFixed(1)}% accuracy.`);
    measured.push([SETS[set], zs, pts[pts.length - 1], pts.find((p) => p.alpha === 0.5)]);
  }
  const b = bestOf(averageSeries(sweep));
  if (b) parts.push(`Best ${c} for their average: ${alphaList(b.at, c)}, ${(b.top * 100).toFixed(1)}%.`);
  return { text: parts.join(' '), measured };
}
