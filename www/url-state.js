// The shareable address: what the page was opened with (preset or zs= / ft=, labels, templates,
// alpha, backend, lecture, presenter), and keeping the address in step with the page afterwards.

import { fmtAlpha, resolveUrl } from './dom.js';
import { showMessage } from './messages.js';
import { currentPreset, defaultPresetId, presetModel } from './presets.js';
import { applyPreset, backendChoice, chosenUrls, choiceChanged, hasLocalFiles, setBackendChoice, useCustomUrls } from './models.js';
import { chooseTemplates, labelsChanged, readLabels, setLabelsText, templateChoice } from './labels.js';
import { alphaChanged, currentAlpha, setSlider } from './alpha.js';
import { isLecture, lectureChanged, setLecture, setPresenter } from './lecture.js';

/**
 * Sets the page up as the address says; returns whether to load the models at once: a link that
 * names models loads them, and so does a bare visit to an offline default preset (served by this
 * site, no download), so that the page works at once.
 * @param {string} search location.search
 */
export function restoreAddress(search) {
  const q = new URLSearchParams(search);
  // backend=gpu|cpu overrides the automatic choice (gpu also takes a software adapter).
  setBackendChoice(q.get('backend'));
  applyPreset(q.get('preset') ?? (q.has('zs') ? '' : defaultPresetId()));
  if (q.has('zs')) useCustomUrls(q.get('zs'), q.get('ft') ?? '');
  if (q.has('labels')) setLabelsText(q.get('labels').split(',').map((s) => s.trim()).filter(Boolean));
  if (q.get('templates')) chooseTemplates(q.get('templates'));
  // α enters here once: a value outside [0, 1] (or not a number) is said, not used.
  if (q.has('alpha')) {
    const raw = q.get('alpha');
    const a = Number(raw);
    if (raw.trim() !== '' && a >= 0 && a <= 1) setSlider(a);
    else showMessage('warn', `alpha=${raw} in the address is not a number in [0, 1]; α stays at ${fmtAlpha(currentAlpha())}.`, { key: 'url-alpha' });
  }
  if (q.get('lecture') === '1') setLecture(true);
  if (q.get('presenter') === '1') setPresenter(true);
  return q.has('zs') || q.has('preset') || (Boolean(currentPreset()?.offline) && !search);
}

/** Writes the page's state into the address (replacing the history entry). */
export function saveAddress() {
  const q = new URLSearchParams();
  const { zs, ft } = chosenUrls();
  const preset = currentPreset();
  const pz = preset && presetModel(preset.zero_shot)?.urls?.[0];
  const pf = preset && presetModel(preset.fine_tuned)?.urls?.[0];
  if (preset && resolveUrl(pz) === resolveUrl(zs) && resolveUrl(pf) === resolveUrl(ft)) {
    q.set('preset', preset.id);
  } else {
    if (zs && !hasLocalFiles('zero-shot')) q.set('zs', zs);
    if (ft && !hasLocalFiles('fine-tuned')) q.set('ft', ft);
  }
  q.set('alpha', fmtAlpha(currentAlpha()));
  if (backendChoice()) q.set('backend', backendChoice());
  if (isLecture()) q.set('lecture', '1');
  const labels = readLabels();
  if (!preset || labels.join('\n') !== (preset.labels || []).join('\n')) q.set('labels', labels.join(','));
  const t = templateChoice();
  if (t !== (preset?.templates?.length ? 'task' : 'single')) q.set('templates', t);
  const query = q.toString().replace(/%2C/g, ',').replace(/%2F/g, '/').replace(/%3A/g, ':');
  history.replaceState(null, '', `${location.pathname}?${query}`);
}

/** From now on the address follows the page. */
export function trackAddress() {
  for (const changed of [choiceChanged, labelsChanged, alphaChanged, lectureChanged]) changed.on(saveAddress);
  saveAddress();
}
