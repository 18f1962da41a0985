// What a load shows: one progress row per file (#downloads) and the merge report (#report-card,
// #merge-line). Rendering only; models.js says when.

import { $, el, fmtDuration, mb, millions, shortName } from './dom.js';

/** role|file → its row */
const rows = new Map();

/** Forgets the rows and the report of the last load. */
export function clearLoadView() {
  $('merge-line').hidden = true;
  $('report-card').hidden = true;
  rows.clear();
  $('downloads').replaceChildren();
  $('downloads').classList.remove('compact');
}

/** @param {import('./protocol.js').ProgressEvent} ev */
export function showProgress(ev) {
  // A recipe has several fine-tunes: one row each, named by its source.
  const key = `${ev.role}|${ev.file}${ev.role === 'fine-tuned' ? `|${ev.url}` : ''}`;
  let row = rows.get(key);
  if (!row) {
    const bar = el('progress', { max: 1, value: 0 });
    const nums = el('span', { class: 'nums' });
    row = {
      bar,
      nums,
      box: el(
        'div',
        { class: 'dl', 'data-role': ev.role, 'data-file': ev.file },
        el('div', { class: 'dl-head' }, el('span', { class: 'dl-name', text: `${ev.role} · ${ev.url ? shortName(ev.url) : ev.file}`, title: ev.url }), nums),
        bar,
      ),
    };
    rows.set(key, row);
    $('downloads').append(row.box);
  }
  const secs = ev.elapsed_ms / 1000;
  const rate = secs > 0 ? ev.loaded / secs : 0;
  const source = ev.origin === 'cache' ? 'from cache' : ev.origin === 'local' ? 'read' : 'downloaded';
  row.box.dataset.origin = ev.origin;
  row.box.dataset.done = ev.done ? '1' : '';
  if (ev.total) {
    row.bar.max = ev.total;
    row.bar.value = ev.loaded;
  } else {
    row.bar.removeAttribute('value');
  }
  let text;
  if (ev.done) {
    text = `${mb(ev.loaded)} ${source}${secs >= 1 ? ` in ${fmtDuration(secs)}` : ''} ✓`;
  } else {
    const left = ev.total && rate > 0 ? ` · ${fmtDuration((ev.total - ev.loaded) / rate)} left` : '';
    const attempt = ev.attempt > 1 ? ` · attempt ${ev.attempt}` : '';
    text = `${mb(ev.loaded)}${ev.total ? ` / ${mb(ev.total)}` : ''} · ${(rate / 1e6).toFixed(1)} MB/s${left}${attempt}`;
  }
  // The GPU path uploads tensors as they arrive; the bar says how much is on the device already.
  if (ev.uploaded != null && ev.uploaded > 0) {
    text += ` · ${mb(ev.uploaded)} on the GPU`;
    if (!ev.done) row.box.dataset.uploadedEarly = '1';
  }
  row.nums.textContent = text;
}

/** The checkpoints and what the merge does with their tensors. @param {import('./protocol.js').LoadedEvent} ev */
export function showReport(ev) {
  $('downloads').classList.add('compact');
  const card = $('report-card');
  const box = $('report');
  box.replaceChildren();
  card.hidden = false;
  const models = el('ul', { class: 'models' });
  for (const m of ev.models) {
    const config = m.config_file ? 'config.json' : `config inferred from shapes`;
    models.append(
      el(
        'li',
        {},
        el('strong', { text: `${m.role}: ` }),
        el('span', { class: 'mono', text: shortName(m.name), title: m.name }),
        el('br'),
        el('small', {
          text: `${m.layout} · ${millions(m.parameters)} parameters · ${m.format} (${m.dtypes.join(', ')}) · ${config} · ${m.origin === 'cache' ? 'from cache' : m.origin}`,
        }),
      ),
    );
  }
  box.append(models);
  const r = ev.report;
  const line = $('merge-line');
  line.hidden = false;
  const titles = ev.columns.map((c) => c.title);
  $('drop-columns').textContent =
    titles.length > 1 ? `They are classified by ${titles.length} models: ${titles.join(', ')}.` : 'They are classified by the zero-shot model.';
  if (!r) {
    box.append(el('p', { class: 'hint', text: 'No fine-tuned checkpoint: α has no effect.' }));
    line.textContent = 'Only a zero-shot checkpoint is loaded: α has no effect.';
    return;
  }
  line.textContent = ev.recipe
    ? `Recipe over ${ev.fine_tunes.length} fine-tune(s): ${r.interpolated.length} tensors combined · ${r.kept.length} kept from the zero-shot model`
    : `Merge: ${r.interpolated.length} tensors interpolated · ${r.kept.length} kept from the zero-shot model` + (r.extra.length ? ` · ${r.extra.length} ignored (fine-tuned only)` : '');
  // Each fine-tune against θ₀: what it changes, and how far it is (far: probably not a fine-tune of it).
  if (ev.fine_tunes?.length) {
    box.append(
      el(
        'ul',
        { class: 'models fine-tune-reports' },
        ...ev.fine_tunes.map((f) =>
          el(
            'li',
            { 'data-distance': String(f.relative_distance) },
            el('span', { class: 'mono', text: shortName(f.checkpoint), title: f.checkpoint }),
            el('br'),
            el('small', { text: `changes ${f.changed.length} tensors (${millions(f.changed_parameters)} parameters)${f.missing.length ? `, lacks ${f.missing.length}` : ''} · ‖θᵢ − θ₀‖/‖θ₀‖ = ${f.relative_distance.toFixed(4)}` }),
          ),
        ),
      ),
    );
  }
  box.append(
    el(
      'p',
      { class: 'report-line' },
      el('span', { class: 'chip interp', text: `${r.interpolated.length} interpolated` }),
      ` tensors (${millions(r.interpolated_parameters)} parameters) · `,
      el('span', { class: 'chip kept', text: `${r.kept.length} kept` }),
      ` from the zero-shot model (${millions(r.kept_parameters)})`,
      r.extra.length ? ` · ${r.extra.length} only in the fine-tuned model, ignored` : '',
    ),
  );
  const list = (title, names) =>
    names.length ? el('details', {}, el('summary', { text: `${title} (${names.length})` }), el('p', { class: 'mono names', text: names.join('\n') })) : null;
  box.append(...[list('Interpolated', r.interpolated), list('Kept from zero-shot', r.kept), list('Ignored (fine-tuned only)', r.extra)].filter(Boolean));
}
