// The labels (#labels, one class name per line) and the prompt templates (#templates), and sending
// them to the engine. The "task's templates" are the chosen preset's.

import { $, el } from './dom.js';
import { engine } from './engine.js';
import { showFailure, showMessage } from './messages.js';
import { currentPreset, taskPreset } from './presets.js';
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
  const task = chosenTask()?.templates;
  if (choice === 'task' && task?.length) return { set: 'custom', list: task };
  if (choice === 'imagenet80') return { set: 'imagenet80', list: [] };
  return { set: 'single', list: [] };
}

/** Reads the labels, tells the modules that follow them, and sends them with the templates. */
export function applyLabels() {
  const previous = applied;
  applied = readLabels();
  labelsChanged.emit();
  if (!applied.length) showMessage('warn', 'Enter at least one label (one class name per line).', { key: 'no-labels' });
  engine.setLabels(applied, currentTemplates()).then(() => showPromptProgress(null), (err) => {
    showPromptProgress(null);
    if (!err.cancelled) return showFailure(err);
    // The engine kept the previous labels: so does the page.
    applied = previous;
    setLabelsText(previous);
    labelsChanged.emit();
    $('prompts-status').textContent = `${err.message} The previous labels are kept.`;
  });
}

/**
 * A large prompt set's progress (the engine encodes it in chunks and estimates the time), with a
 * cancel button while it runs; `null` when it is over.
 * @param {import('./protocol.js').PromptProgressEvent|null} ev
 */
function showPromptProgress(ev) {
  $('prompts-cancel').hidden = !ev || ev.k >= ev.n;
  if (!ev) return;
  const left = ev.eta_s != null ? `, about ${Math.ceil(ev.eta_s)} s left` : '';
  $('prompts-status').textContent = `Encoding prompts: ${ev.k.toLocaleString('en')} of ${ev.n.toLocaleString('en')}${left}`;
}

/** The preset whose labels and templates are the "task's" (a multi-task preset's chosen task). */
const chosenTask = () => taskPreset(currentPreset(), $('task').value);
/** A multi-task preset's chosen task (a preset id), else ''. */
export const chosenTaskId = () => ($('task-field').hidden ? '' : $('task').value);

/** Chooses a multi-task preset's task (from the address): its labels and templates, not yet applied. */
export function chooseTask(id) {
  $('task').value = id;
  showPresetLabels(currentPreset());
}

/**
 * The "task's templates" option for a preset (none: custom checkpoints), and the task chooser of a
 * multi-task preset; `fill` also puts the (chosen task's) labels and template choice in place.
 * @param {import('./presets.js').Preset|null} preset
 */
export function showPresetLabels(preset, { fill = true } = {}) {
  const tasks = (preset?.tasks ?? []).map((id) => taskPreset(preset, id)).filter(Boolean);
  $('task-field').hidden = !tasks.length;
  const keep = $('task').value;
  $('task').replaceChildren(...tasks.map((t) => el('option', { value: t.id, text: t.name })));
  if (tasks.some((t) => t.id === keep)) $('task').value = keep;
  preset = taskPreset(preset, $('task').value);
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
  // A multi-task preset's task: its class names and templates, applied at once.
  $('task').onchange = () => {
    showPresetLabels(currentPreset());
    applyLabels();
  };
  $('prompts-cancel').onclick = () => engine.cancel();
  engine.on('prompt_progress', showPromptProgress);
}

