// The lecture's three plots, drawn by hand on their canvases (#plot-acc, #plot-pareto,
// #plot-photos): axes, ticks, legends and markers, so that the page needs no plotting library and
// the PNG export is the canvas itself. Drawing only: the sweep summary and α come as arguments.

import { $, fmtAlpha } from './dom.js';
import { averageSeries } from './sweep.js';
import { SETS } from './truth.js';
import { RULE_STYLE } from './rules-view.js';

/** @typedef {import('./sweep.js').Summary} Summary */
/** @typedef {import('./protocol.js').Rules} Rules */

/** The rules that picked an α, each with how many picked the same α before it (for stacking). */
function picks(rules) {
  if (!rules) return [];
  const seen = new Map();
  return rules.rules
    .filter((r) => r.alpha != null)
    .map((r) => {
      const stack = seen.get(r.alpha) || 0;
      seen.set(r.alpha, stack + 1);
      return { ...r, stack, ...RULE_STYLE[r.rule] };
    });
}

const ruleLegend = (rules, c = 'α') => picks(rules).map((r) => ({ label: `${r.name}: ${c}=${fmtAlpha(r.alpha)}`, color: r.color, marker: r.marker }));

/** What the sweep moved: α (0 = zero-shot, 1 = fine-tuned) or a recipe's λ (task vectors scaled). */
const coef = (sweep) => sweep?.coefficient ?? 'α';
const axisLabel = (c) => (c === 'λ' ? 'λ  (0 = zero-shot, 1 = θ₀ + the whole task vectors)' : 'α  (0 = zero-shot, 1 = fine-tuned)');

const SET_COLORS = { task: '#e0761b', other: '#2f6fdb', avg: '#6b7280' };
// The named sets (one task of several): thinner lines of their own colours and dash patterns, with
// small dots — the rules' α already use the shaped markers.
const NAMED_COLORS = ['#8d6e00', '#7e57c2', '#c62828', '#546e7a', '#2e7d32', '#ad1457', '#3949ab', '#6d4c41'];
const NAMED_DASHES = [[10, 4], [3, 3], [12, 4, 3, 4], []];
const namedStyle = (i) => ({ color: NAMED_COLORS[i % NAMED_COLORS.length], dash: NAMED_DASHES[i % NAMED_DASHES.length] });

function canvasCtx(id) {
  const c = $(id);
  const ctx = c.getContext('2d');
  const big = document.body.classList.contains('presenter');
  const W = 800;
  const scale = c.width / W;
  const H = c.height / scale;
  ctx.setTransform(scale, 0, 0, scale, 0, 0);
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, W, H);
  ctx.font = `${big ? 17 : 15}px system-ui, sans-serif`;
  return { c, ctx, W, H, big };
}

function noData(ctx, W, H, text) {
  ctx.fillStyle = '#5f6b7f';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(text, W / 2, H / 2);
}

function title(ctx, text) {
  const base = ctx.font;
  ctx.fillStyle = '#1d2433';
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  ctx.font = `600 ${base}`;
  ctx.fillText(text, 16, 10);
  ctx.font = base;
}

/** Axes with ticks and labels; returns the mapping to pixels. */
function axes(ctx, box, { x0, x1, y0, y1, xTicks, yTicks, xFmt, yFmt, xLabel, yLabel }) {
  const { l, t, r, b } = box;
  const X = (v) => l + ((v - x0) / (x1 - x0)) * (r - l);
  const Y = (v) => b - ((v - y0) / (y1 - y0)) * (b - t);
  ctx.strokeStyle = '#e1e5ec';
  ctx.lineWidth = 1;
  ctx.fillStyle = '#1d2433';
  ctx.textBaseline = 'top';
  ctx.textAlign = 'center';
  for (const v of xTicks) {
    ctx.beginPath();
    ctx.moveTo(X(v), t);
    ctx.lineTo(X(v), b);
    ctx.stroke();
    ctx.fillText(xFmt(v), X(v), b + 6);
  }
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const v of yTicks) {
    ctx.beginPath();
    ctx.moveTo(l, Y(v));
    ctx.lineTo(r, Y(v));
    ctx.stroke();
    ctx.fillText(yFmt(v), l - 8, Y(v));
  }
  ctx.strokeStyle = '#1d2433';
  ctx.beginPath();
  ctx.moveTo(l, t);
  ctx.lineTo(l, b);
  ctx.lineTo(r, b);
  ctx.stroke();
  ctx.textAlign = 'center';
  ctx.textBaseline = 'bottom';
  ctx.fillText(xLabel, (l + r) / 2, b + 50);
  ctx.save();
  ctx.translate(l - 64, (t + b) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = 'top';
  ctx.fillText(yLabel, 0, 0);
  ctx.restore();
  return { X, Y };
}

/** Draws a legend row from (x, y), wrapping before `maxX`; returns the y below it. */
function legend(ctx, x, y, items, maxX = 790) {
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  const x0 = x;
  for (const it of items) {
    const w = 32 + ctx.measureText(it.label).width;
    if (x > x0 && x + w > maxX) {
      x = x0;
      y += 24;
    }
    ctx.strokeStyle = it.color;
    ctx.fillStyle = it.color;
    ctx.lineWidth = 3;
    ctx.setLineDash(it.dash || []);
    if (it.marker) marker(ctx, it.marker, x + 12, y, it.color);
    else {
      ctx.beginPath();
      ctx.moveTo(x, y);
      ctx.lineTo(x + 24, y);
      ctx.stroke();
    }
    ctx.setLineDash([]);
    ctx.fillStyle = '#1d2433';
    ctx.fillText(it.label, x + 32, y);
    x += w + 22;
  }
  return y + 16;
}

function marker(ctx, kind, x, y, color, size = 7) {
  ctx.fillStyle = color;
  ctx.strokeStyle = '#1d2433';
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  if (kind === 'square') ctx.rect(x - size, y - size, 2 * size, 2 * size);
  else if (kind === 'triangle') {
    ctx.moveTo(x, y - size * 1.2);
    ctx.lineTo(x + size * 1.1, y + size * 0.8);
    ctx.lineTo(x - size * 1.1, y + size * 0.8);
    ctx.closePath();
  } else if (kind === 'diamond') {
    ctx.moveTo(x, y - size * 1.3);
    ctx.lineTo(x + size, y);
    ctx.lineTo(x, y + size * 1.3);
    ctx.lineTo(x - size, y);
    ctx.closePath();
  } else if (kind === 'star') {
    for (let i = 0; i < 10; i++) {
      const r = i % 2 ? size * 0.5 : size * 1.3;
      const a = (Math.PI / 5) * i - Math.PI / 2;
      ctx.lineTo(x + r * Math.cos(a), y + r * Math.sin(a));
    }
    ctx.closePath();
  } else ctx.arc(x, y, size * 0.55, 0, 2 * Math.PI);
  ctx.fill();
  ctx.stroke();
}

function line(ctx, pts, X, Y, color, { dash = [], width = 3 } = {}) {
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.setLineDash(dash);
  ctx.beginPath();
  pts.forEach(([x, y], i) => (i ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
  ctx.stroke();
  ctx.setLineDash([]);
}

const tenths = Array.from({ length: 11 }, (_, i) => i / 10);
const pctTick = (v) => `${Math.round(v * 100)}%`;

/** @param {Summary|null} sweep @param {number|null} alpha @param {Rules|null} rules */
function drawAccuracy(sweep, alpha, rules) {
  const { ctx, W, H } = canvasCtx('plot-acc');
  const box = { l: 96, t: 56, r: W - 24, b: H - 70 };
  const c = coef(sweep);
  title(ctx, `Accuracy vs ${c}`);
  if (!sweep) return noData(ctx, W, H, 'Run the α sweep to draw this plot.');
  const items = [];
  for (const set of ['task', 'other']) {
    const pts = sweep.sets[set];
    if (pts.length) items.push({ label: `${SETS[set]} (n=${pts[0].n})`, color: SET_COLORS[set] });
  }
  const avg = averageSeries(sweep);
  if (avg.length) items.push({ label: 'average of the two', color: SET_COLORS.avg, dash: [8, 6] });
  sweep.named.forEach((g, i) => items.push({ label: `${g.label} (n=${g.points[0].n})`, ...namedStyle(i) }));
  if (alpha != null) items.push({ label: `current ${c} = ${fmtAlpha(alpha)}`, color: '#4f46e5', dash: [4, 4] });
  items.push(...ruleLegend(rules, c));
  // A strip above the plot for the rules' markers (stacked where rules agree), clear of the curves.
  const chosen = picks(rules);
  const strip = chosen.length ? 18 * (1 + Math.max(...chosen.map((r) => r.stack))) + 4 : 0;
  box.t = legend(ctx, box.l, 42, items) + 10 + strip;
  const { X, Y } = axes(ctx, box, {
    x0: 0, x1: 1, y0: 0, y1: 1, xTicks: tenths, yTicks: [0, 0.2, 0.4, 0.6, 0.8, 1],
    xFmt: (v) => v.toFixed(1), yFmt: pctTick, xLabel: axisLabel(c), yLabel: 'accuracy',
  });
  if (alpha != null) {
    ctx.strokeStyle = '#4f46e5';
    ctx.setLineDash([4, 4]);
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(X(alpha), box.t);
    ctx.lineTo(X(alpha), box.b);
    ctx.stroke();
    ctx.setLineDash([]);
  }
  for (const set of ['task', 'other']) {
    const pts = sweep.sets[set];
    if (!pts.length) continue;
    line(ctx, pts.map((p) => [p.alpha, p.accuracy]), X, Y, SET_COLORS[set]);
    for (const p of pts) marker(ctx, 'dot', X(p.alpha), Y(p.accuracy), SET_COLORS[set], 6);
  }
  if (avg.length) line(ctx, avg.map((p) => [p.alpha, p.accuracy]), X, Y, SET_COLORS.avg, { dash: [8, 6], width: 2 });
  sweep.named.forEach((g, i) => {
    const { color, dash } = namedStyle(i);
    line(ctx, g.points.map((p) => [p.alpha, p.accuracy]), X, Y, color, { width: 2.5, dash });
    for (const p of g.points) marker(ctx, 'dot', X(p.alpha), Y(p.accuracy), color, 4);
  });
  // Each rule's α: a marker in the strip above the plot and a dotted line down to the axis.
  for (const r of chosen) {
    const y = box.t - strip + 9 + r.stack * 18;
    ctx.strokeStyle = r.color;
    ctx.setLineDash([2, 4]);
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(X(r.alpha), y);
    ctx.lineTo(X(r.alpha), box.b);
    ctx.stroke();
    ctx.setLineDash([]);
    marker(ctx, r.marker, X(r.alpha), y, r.color, r.marker === 'dot' ? 12 : 7);
  }
}

function niceRange(values) {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  lo = Math.max(0, Math.floor((lo - 0.05) * 10) / 10);
  hi = Math.min(1, Math.ceil((hi + 0.05) * 10) / 10);
  if (hi - lo < 0.2) {
    const mid = (hi + lo) / 2;
    lo = Math.max(0, mid - 0.1);
    hi = Math.min(1, lo + 0.2);
    lo = hi - 0.2;
  }
  const step = hi - lo > 0.5 ? 0.2 : 0.1;
  const ticks = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + 1e-9; v += step) ticks.push(Math.round(v * 100) / 100);
  return { lo, hi, ticks };
}

/** @param {Summary|null} sweep @param {number|null} alpha @param {Rules|null} rules */
function drawPareto(sweep, alpha, rules) {
  const { ctx, W, H } = canvasCtx('plot-pareto');
  const box = { l: 96, t: 56, r: W - 24, b: H - 70 };
  const c = coef(sweep);
  title(ctx, `Fine-tuning task vs everything else along the ${c} path`);
  if (!sweep) return noData(ctx, W, H, 'Run the α sweep to draw this plot.');
  const { task, other } = sweep.sets;
  if (!task.length || !other.length) return noData(ctx, W, H, 'This plot needs labelled photos in both sets.');
  const marks =
    c === 'λ'
      ? [['square', 0, SET_COLORS.other, 'zero-shot (λ=0)'], ['triangle', 1, SET_COLORS.task, 'θ₀ + task vectors (λ=1)'], ['star', 0.5, '#16a34a', 'λ=0.5']]
      : [['square', 0, SET_COLORS.other, 'zero-shot (α=0)'], ['triangle', 1, SET_COLORS.task, 'fine-tuned (α=1)'], ['star', 0.5, '#16a34a', 'WiSE-FT (α=0.5)']];
  box.t =
    legend(ctx, box.l, 42, [
      { label: `${c} path (0 → 1, steps of 0.05)`, color: '#7c3aed' },
      ...marks.map(([kind, , color, label]) => ({ label, color, marker: kind })),
      ...(alpha != null ? [{ label: `current ${c} = ${fmtAlpha(alpha)}`, color: '#4f46e5', marker: 'dot' }] : []),
      ...ruleLegend(rules, c).map((it) => ({ ...it, label: `rule ${it.label}` })),
    ]) + 14;
  const xr = niceRange(task.map((p) => p.accuracy));
  const yr = niceRange(other.map((p) => p.accuracy));
  // a little room beyond the ticks so markers on the edges stay clear of the axes
  const px = (xr.hi - xr.lo) * 0.04;
  const py = (yr.hi - yr.lo) * 0.05;
  const { X, Y } = axes(ctx, box, {
    x0: xr.lo - px, x1: xr.hi + px, y0: yr.lo - py, y1: yr.hi + py, xTicks: xr.ticks, yTicks: yr.ticks, xFmt: pctTick, yFmt: pctTick,
    xLabel: `accuracy on the ${SETS.task} (n=${task[0].n})`, yLabel: `accuracy on ${SETS.other} (n=${other[0].n})`,
  });
  const path = task.map((t, i) => [t.accuracy, other[i].accuracy]);
  line(ctx, path, X, Y, '#7c3aed', { width: 2.5 });
  for (const [x, y] of path) marker(ctx, 'dot', X(x), Y(y), '#7c3aed', 5);
  const at = (a) => task.findIndex((t) => Math.abs(t.alpha - a) < 1e-9);
  if (alpha != null) {
    const cur = task.reduce((b, t, i) => (Math.abs(t.alpha - alpha) < Math.abs(task[b].alpha - alpha) ? i : b), 0);
    marker(ctx, 'dot', X(path[cur][0]), Y(path[cur][1]), '#4f46e5', 14);
  }
  for (const [kind, a, color] of marks) {
    const i = at(a);
    if (i >= 0) marker(ctx, kind, X(path[i][0]), Y(path[i][1]), color, 9);
  }
  // Each rule's pick on the path, beside the point, fanned out when rules agree.
  for (const r of picks(rules)) {
    const i = at(r.alpha);
    if (i < 0) continue;
    const [x, y] = [X(path[i][0]), Y(path[i][1])];
    // fanned out to the right, or to the left near the right edge
    const dx = (x > box.r - 80 ? -1 : 1) * (16 + r.stack * 16);
    ctx.strokeStyle = r.color;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x + dx, y - 16);
    ctx.stroke();
    marker(ctx, r.marker, x + dx, y - 16, r.color, r.marker === 'dot' ? 11 : 6);
  }
}

// Up to this many photos get a small chart each; more are drawn together in one chart, so the
// plot keeps a fixed height however many photos a lecture brings.
const PHOTO_CHARTS_MAX = 24;

/** @param {Summary|null} sweep */
function drawPhotos(sweep) {
  const c = $('plot-photos');
  const photos = sweep ? sweep.photos : [];
  if (photos.length > PHOTO_CHARTS_MAX) return drawPhotosTogether(c, sweep);
  const cols = 4;
  const rows = Math.max(1, Math.ceil(photos.length / cols));
  const cellH = 170;
  const top = 62;
  const want = Math.round((top + rows * cellH) * (c.width / 800));
  if (c.height !== want) c.height = want;
  c.dataset.mode = 'grid';
  const { ctx, W } = canvasCtx('plot-photos');
  title(ctx, `Probability of the true label vs ${coef(sweep)}, per photo`);
  if (!photos.length) return noData(ctx, W, top + cellH / 2, 'Run the α sweep to draw this plot.');
  legend(ctx, 16, 42, [
    { label: SETS.task, color: SET_COLORS.task },
    { label: SETS.other, color: SET_COLORS.other },
  ]);
  ctx.fillStyle = '#5f6b7f';
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  ctx.font = '14px system-ui, sans-serif';
  ctx.fillText('filled dot: top label right · hollow: wrong', W - 12, 42);
  const cellW = (W - 16) / cols;
  ctx.font = '12px system-ui, sans-serif';
  photos.forEach((p, i) => {
    const cx = 8 + (i % cols) * cellW;
    const cy = top + Math.floor(i / cols) * cellH;
    const box = { l: cx + 40, t: cy + 22, r: cx + cellW - 10, b: cy + cellH - 34 };
    ctx.fillStyle = '#1d2433';
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    const full = `${p.name} — ${p.truth}`;
    let text = full;
    while (ctx.measureText(`${text}…`).width > cellW - 16 && text.length > 4) text = text.slice(0, -1);
    ctx.fillText(text === full ? full : `${text}…`, cx + 6, cy + 4);
    const X = (v) => box.l + v * (box.r - box.l);
    const Y = (v) => box.b - v * (box.b - box.t);
    ctx.strokeStyle = '#e1e5ec';
    ctx.lineWidth = 1;
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'right';
    for (const v of [0, 0.5, 1]) {
      ctx.beginPath();
      ctx.moveTo(box.l, Y(v));
      ctx.lineTo(box.r, Y(v));
      ctx.stroke();
      ctx.fillText(v.toFixed(1), box.l - 5, Y(v));
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const v of [0, 0.5, 1]) ctx.fillText(`${coef(sweep)} ${v}`, X(v), box.b + 4);
    const series = sweep.perPhoto.get(p.id) || [];
    line(ctx, series.map((s) => [s.alpha, s.p]), X, Y, SET_COLORS[p.set], { width: 2 });
    for (const s of series) {
      ctx.beginPath();
      ctx.arc(X(s.alpha), Y(s.p), 2.6, 0, 2 * Math.PI);
      ctx.fillStyle = s.predicted === p.truth ? SET_COLORS[p.set] : '#ffffff';
      ctx.strokeStyle = SET_COLORS[p.set];
      ctx.fill();
      ctx.stroke();
    }
  });
}

/** Every photo's true-label probability as a thin line, with the mean of each set drawn thick. */
function drawPhotosTogether(c, sweep) {
  const photos = sweep.photos;
  const want = Math.round(500 * (c.width / 800));
  if (c.height !== want) c.height = want;
  const { ctx, W, H } = canvasCtx('plot-photos');
  c.dataset.mode = 'together';
  title(ctx, `Probability of the true label vs ${coef(sweep)}, ${photos.length} photos`);
  const box = { l: 80, t: 70, r: W - 24, b: H - 60 };
  const { X, Y } = axes(ctx, box, {
    x0: 0, x1: 1, y0: 0, y1: 1, xTicks: [0, 0.25, 0.5, 0.75, 1], yTicks: [0, 0.25, 0.5, 0.75, 1],
    xFmt: (v) => String(v), yFmt: (v) => v.toFixed(2), xLabel: coef(sweep), yLabel: 'p(true label)',
  });
  const sums = {};
  for (const p of photos) {
    const series = sweep.perPhoto.get(p.id) || [];
    ctx.globalAlpha = 0.25;
    line(ctx, series.map((x) => [x.alpha, x.p]), X, Y, SET_COLORS[p.set], { width: 1 });
    ctx.globalAlpha = 1;
    const acc = (sums[p.set] ??= new Map());
    for (const x of series) {
      const [sum, n] = acc.get(x.alpha) || [0, 0];
      acc.set(x.alpha, [sum + x.p, n + 1]);
    }
  }
  const items = [];
  for (const [set, acc] of Object.entries(sums)) {
    const mean = [...acc.entries()].sort((a, b) => a[0] - b[0]).map(([a, [sum, n]]) => [a, sum / n]);
    line(ctx, mean, X, Y, SET_COLORS[set], { width: 3.5 });
    items.push({ label: `${SETS[set]} (mean, thick)`, color: SET_COLORS[set] });
  }
  legend(ctx, 16, 44, items);
}

/**
 * Draws the three plots of a sweep (none yet: each says how to get it) with the α shown and each
 * α rule's pick.
 * @param {Summary|null} sweep
 * @param {number|null} alpha the current value of the swept coefficient (null: none to mark, e.g. a λ schedule)
 * @param {Rules|null} [rules]
 */
export function drawPlots(sweep, alpha, rules = null) {
  drawAccuracy(sweep, alpha, rules);
  drawPareto(sweep, alpha, rules);
  drawPhotos(sweep);
}

/**
 * The label-free per-layer α (#plot-layerwise): α against depth through the knots, beside the
 * single α it started from (flat: one α for every layer).
 * @param {import('./protocol.js').LayerwiseResult} r
 */
export function drawSchedule(r) {
  const { ctx, W, H } = canvasCtx('plot-layerwise');
  // room on the right for the last tick's "last layer"
  const box = { l: 96, t: 56, r: W - 56, b: H - 70 };
  title(ctx, 'Per-layer α found without labels');
  const k = r.knots.length;
  const knots = r.knots.map((a, i) => [i / (k - 1), a]);
  const color = RULE_STYLE['min-entropy'].color;
  box.t = legend(ctx, box.l, 42, [
    { label: `per-layer α (entropy ${r.entropy.toFixed(4)})`, color },
    { label: `single α = ${fmtAlpha(r.start_alpha)} (entropy ${r.start_entropy.toFixed(4)})`, color: '#6b7280', dash: [8, 6] },
  ]) + 10;
  const { X, Y } = axes(ctx, box, {
    x0: 0, x1: 1, y0: 0, y1: 1, xTicks: knots.map(([t]) => t), yTicks: [0, 0.25, 0.5, 0.75, 1],
    xFmt: (t) => (t === 0 ? 'embeddings' : t === 1 ? 'last layer' : `${Math.round(t * 100)}% depth`),
    yFmt: (v) => v.toFixed(2), xLabel: 'depth in each tower (α: 0 = zero-shot, 1 = fine-tuned)', yLabel: 'α',
  });
  line(ctx, [[0, r.start_alpha], [1, r.start_alpha]], X, Y, '#6b7280', { dash: [8, 6], width: 2 });
  line(ctx, knots, X, Y, color);
  for (const [t, a] of knots) marker(ctx, 'diamond', X(t), Y(a), color);
}
