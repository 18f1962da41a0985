// The α sweep's numbers: accuracy per set and α, each photo's true-label probability along α, the
// best α. Pure functions of a sweep, no DOM. (The CSV comes from the session: src/session/table.rs.)

import { fmtAlpha } from './dom.js';
import { SETS } from './truth.js';

/** 0, 0.05, …, 1. */
export const SWEEP_ALPHAS = Array.from({ length: 21 }, (_, k) => k / 20);

/** @typedef {{id: number, name: string, set: 'task'|'other', group: string|null, truth: string}} SweptPhoto */
/** @typedef {{alpha: number, correct: number, n: number, accuracy: number}} SetPoint */
/** @typedef {{alpha: number, p: number, predicted: string}} PhotoPoint */
/** @typedef {{name: string, label?: string, set: 'task'|'other', points: SetPoint[]}} NamedSet label: the name, with its set where the name is in both */
/**
 * @typedef {object} Summary
 * @property {{task: SetPoint[], other: SetPoint[]}} sets per set, one point per α
 * @property {NamedSet[]} named the named sets within them (one task of several), in the order their
 *   first photo was swept, one point per α each
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
  // A named set is its set and its name (the same name in both sets is two curves).
  const key = (p) => `${p.set}\u0000${p.group}`;
  /** @type {Map<string, NamedSet>} */
  const named = new Map();
  for (const p of photos) if (p.group && !named.has(key(p))) named.set(key(p), { name: p.group, set: p.set, points: [] });
  for (const point of ev.points) {
    const count = { task: [0, 0], other: [0, 0] };
    const countNamed = new Map([...named.keys()].map((k) => [k, [0, 0]]));
    for (const s of point.scores) {
      const p = byId.get(s.image);
      if (!p) continue;
      const right = s.predicted === p.truth ? 1 : 0;
      count[p.set][1]++;
      count[p.set][0] += right;
      if (p.group) {
        const c = countNamed.get(key(p));
        c[1]++;
        c[0] += right;
      }
      perPhoto.get(p.id).push({ alpha: point.alpha, p: s.p_true ?? 0, predicted: s.predicted });
    }
    for (const set of Object.keys(sets)) {
      const [correct, n] = count[set];
      if (n) sets[set].push({ alpha: point.alpha, correct, n, accuracy: correct / n });
    }
    for (const [k, [correct, n]] of countNamed) if (n) named.get(k).points.push({ alpha: point.alpha, correct, n, accuracy: correct / n });
  }
  // A named set that is its whole set draws the set's curve again: left out. A name in both sets
  // is told apart by its set.
  const kept = [...named.values()].filter((g) => g.points.length && g.points[0].n < sets[g.set][0]?.n);
  for (const g of kept) g.label = kept.some((o) => o !== g && o.name === g.name) ? `${g.name} (${SETS[g.set]})` : g.name;
  return { sets, named: kept, perPhoto, photos, coefficient: ev.coefficient ?? 'α' };
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
  // Each named set (one task of several): where its own curve peaks, and its three points.
  for (const g of sweep.named) {
    const bg = bestOf(g.points);
    const zs = g.points[0];
    parts.push(`Best ${c} for “${g.label}” (${zs.n} photos): ${alphaList(bg.at, c)}, ${(bg.top * 100).toFixed(1)}%.`);
    measured.push([`${SETS[g.set]} · ${g.name}`, zs, g.points[g.points.length - 1], g.points.find((p) => p.alpha === 0.5)]);
  }
  return { text: parts.join(' '), measured };
}
