// The labels (#labels, one class name per line) and the prompt templates (#templates), and sending
// them to the engine. The "task's templates" are the chosen preset's.

import { $ } from './dom.js';
import { engine } from './engine.js';
import { showFailure, showMessage } from './messages.js';
import { currentPreset } from './presets.js';
import { signal } from './signal.js';

/** The labels last applied (sent to the engine). */
let applied = [];

/** Emitted when labels are applied, before they are sent. */
export const labelsChanged = signal();

/** The labels last applied. */
export const currentLabels = () => applied;

/** The labels as typed now (not necessarily applied). */
export function readLabels() {
  return $('labels')
    .value.split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** The template choice as picked: `single`, `task` or `imagenet80`. */
export const templateChoice = () => $('templates').value;

/** @returns {import('./protocol.js').TemplateChoice} */
function currentTemplates() {
  const choice = templateChoice();
  const task = currentPreset()?.templates;
  if (choice === 'task' && task?.length) return { set: 'custom', list: task };
  if (choice === 'imagenet80') return { set: 'imagenet80', list: [] };
  return { set: 'single', list: [] };
}

/** Reads the labels, tells the modules that follow them, and sends them with the templates. */
export function applyLabels() {
  applied = readLabels();
  labelsChanged.emit();
  if (!applied.length) showMessage('warn', 'Enter at least one label (one class name per line).', { key: 'no-labels' });
  engine.setLabels(applied, currentTemplates()).catch(showFailure);
}

/**
 * The "task's templates" option for a preset (none: custom checkpoints); `fill` also puts the
 * preset's labels and its template choice in place.
 * @param {import('./presets.js').Preset|null} preset
 */
export function showPresetLabels(preset, { fill = true } = {}) {
  const task = $('templates').querySelector('option[value=task]');
  if (!preset) {
    task.disabled = true;
    task.textContent = "The task's templates";
    if (templateChoice() === 'task') $('templates').value = 'single';
    return;
  }
  const n = preset.templates?.length || 0;
  task.disabled = !n;
  task.textContent = `The task's templates (${n})`;
  if (fill) {
    $('labels').value = (preset.labels || []).join('\n');
    $('templates').value = n ? 'task' : 'single';
  }
}

/** Labels and templates from the address (not applied yet). */
export function setLabelsText(list) {
  $('labels').value = list.join('\n');
}

/** Picks a template choice if it is offered. */
export function chooseTemplates(choice) {
  if ($('templates').querySelector(`option[value="${choice}"]:not([disabled])`)) $('templates').value = choice;
}

export function wireLabels() {
  $('apply-labels').onclick = applyLabels;
  $('labels').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) applyLabels();
  });
  $('templates').onchange = applyLabels;
}

