#!/usr/bin/env node
// The scaling plot of docs/BENCHMARKS.md: speed-up against threads (image encode, batch 1 and 8)
// of the WiSE-FT page's CPU engine and onnxruntime-web's wasm back end, from one run of
// bench/browser/run.mjs with the cases wiseft-cpu-1t, wiseft-cpu, ort-wasm, ort-wasm-nt.
//
//   node bench/browser/scaling.mjs [--in target/bench/browser.json] [--out docs/bench-scaling.svg]
//
// A plain SVG, written by hand (a dozen shapes; no plotting library is worth a dependency here).

import fs from 'node:fs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const input = args.in ?? 'target/bench/browser.json';
const out = args.out ?? 'docs/bench-scaling.svg';
const report = JSON.parse(fs.readFileSync(input, 'utf8'));
const cores = report.cpu?.logical_cpus ?? 2;

// engine → [case at 1 thread, case at N threads]
const ENGINES = [
  ['wiseft', 'wiseft-cpu-1t', 'wiseft-cpu', '#1f6feb'],
  ['onnxruntime-web', 'ort-wasm', 'ort-wasm-nt', '#d1242f'],
];
const METRICS = [
  ['image_b1_s', 'batch 1', ''],
  ['image_b8_s', 'batch 8', '6 3'],
];

const series = [];
for (const [engine, one, many, color] of ENGINES) {
  for (const [metric, what, dash] of METRICS) {
    const t1 = report.cases[one]?.[metric];
    const tn = report.cases[many]?.[metric];
    if (!(t1 > 0) || !(tn > 0)) throw new Error(`${input}: ${one} / ${many} lack ${metric}`);
    series.push({ name: `${engine}, ${what}`, color, dash, points: [[1, 1], [cores, t1 / tn]], t1, tn });
  }
}

const W = 520;
const H = 300;
const M = { l: 52, r: 190, t: 30, b: 44 };
const maxY = Math.max(cores, ...series.flatMap((s) => s.points.map((p) => p[1]))) * 1.05;
const X = (t) => M.l + ((t - 1) / Math.max(1, cores - 1)) * (W - M.l - M.r);
const Y = (v) => H - M.b - (v / maxY) * (H - M.t - M.b);
const f = (x) => x.toFixed(1);
const parts = [];
parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
parts.push(`<text x="${M.l}" y="18" font-size="13" font-weight="600">Speed-up against threads, CLIP ViT-B/32 image encode (Chromium, wasm)</text>`);
// axes and grid
for (let v = 0; v <= maxY; v += 0.5) {
  parts.push(`<line x1="${M.l}" x2="${W - M.r}" y1="${f(Y(v))}" y2="${f(Y(v))}" stroke="#eee"/>`);
  parts.push(`<text x="${M.l - 6}" y="${f(Y(v) + 4)}" font-size="11" text-anchor="end">${v.toFixed(1)}×</text>`);
}
for (let t = 1; t <= cores; t++) {
  parts.push(`<text x="${f(X(t))}" y="${H - M.b + 16}" font-size="11" text-anchor="middle">${t}</text>`);
}
parts.push(`<text x="${f((M.l + W - M.r) / 2)}" y="${H - 8}" font-size="11" text-anchor="middle">threads (this machine has ${cores} cores)</text>`);
parts.push(`<line x1="${f(X(1))}" y1="${f(Y(1))}" x2="${f(X(cores))}" y2="${f(Y(cores))}" stroke="#999" stroke-dasharray="2 3"/>`);
parts.push(`<text x="${f(X(cores) - 4)}" y="${f(Y(cores) - 6)}" font-size="10" fill="#777" text-anchor="end">ideal</text>`);
series.forEach((s, i) => {
  const d = s.points.map(([t, v], k) => `${k ? 'L' : 'M'}${f(X(t))},${f(Y(v))}`).join(' ');
  parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2" ${s.dash ? `stroke-dasharray="${s.dash}"` : ''}/>`);
  for (const [t, v] of s.points) parts.push(`<circle cx="${f(X(t))}" cy="${f(Y(v))}" r="3" fill="${s.color}"/>`);
  const ly = M.t + 14 + i * 34;
  parts.push(`<line x1="${W - M.r + 14}" x2="${W - M.r + 40}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2" ${s.dash ? `stroke-dasharray="${s.dash}"` : ''}/>`);
  parts.push(`<text x="${W - M.r + 46}" y="${ly + 4}" font-size="11">${s.name}</text>`);
  parts.push(`<text x="${W - M.r + 46}" y="${ly + 18}" font-size="10" fill="#555">${s.t1.toFixed(2)} s → ${s.tn.toFixed(2)} s (${(s.t1 / s.tn).toFixed(2)}×)</text>`);
});
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">\n${parts.join('\n')}\n</svg>\n`;
fs.writeFileSync(out, svg);
console.log(`wrote ${out}: ${series.map((s) => `${s.name} ${(s.t1 / s.tn).toFixed(2)}×`).join(', ')}`);
