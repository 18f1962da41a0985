// The checkpoint pairs of www/presets.json, and which one is chosen (null: custom URLs or files).

import { $, el, resolveUrl } from './dom.js';
import { showMessage } from './messages.js';

/**
 * @typedef {object} PresetModel
 * @property {string} name
 * @property {string[]} urls candidates, tried in order
 * @property {number} [size_mb]
 */
/**
 * @typedef {object} Preset
 * @property {string} id
 * @property {string} name
 * @property {string} [about]
 * @property {boolean} [offline] served by this site
 * @property {string|PresetModel} zero_shot a key of `models`, or the model itself
 * @property {string|PresetModel} [fine_tuned]
 * @property {(string|PresetModel)[]} [more_fine_tuned] further fine-tunes of the same zero-shot
 *   model, merged with `fine_tuned` by `recipe`
 * @property {{method: string, lambda?: number, top_k?: number}} [recipe] the merge of a multi-task preset
 * @property {string[]} [labels]
 * @property {string[]} [templates]
 * @property {string[]} [samples] photo addresses, …/<task|shift>/<label>/<file> when labelled
 * @property {string[]} [tasks] a multi-task preset: the presets whose labels and templates classify
 *   the photos, one at a time (the first by default; its own `labels` then come from it)
 * @property {Published} [published] numbers a paper or benchmark reports for this merge
 */
/**
 * @typedef {object} Published average accuracy (%) as published, never measured here
 * @property {string} source
 * @property {number} zero_shot
 * @property {number} fine_tuned one fine-tune per task, each on its own task
 * @property {number} [average]
 * @property {number} [task-arithmetic]
 * @property {number} [ties]
 */

/** @type {{default?: string, models: Record<string, PresetModel>, presets: Preset[]}} */
let catalogue = { models: {}, presets: [] };
/** @type {Preset|null} */
let current = null;

/** Reads www/presets.json and fills the preset picker (custom last). */
export async function loadPresets() {
  try {
    const r = await fetch('www/presets.json');
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    catalogue = await r.json();
  } catch (e) {
    showMessage('warn', `The presets (www/presets.json) could not be read (${e.message}); custom URLs and local files still work.`);
  }
  $('preset').replaceChildren(
    ...catalogue.presets.map((p) => el('option', { value: p.id, text: p.name })),
    el('option', { value: '', text: 'Custom (URLs or local files)' }),
  );
}

/** The preset a bare visit starts with. */
export const defaultPresetId = () => catalogue.default || catalogue.presets[0]?.id || '';

export const currentPreset = () => current;

/** Every preset, in the picker's order. */
export const allPresets = () => catalogue.presets;

/** Chooses a preset by id (none: custom) in the picker; returns it. */
export function choosePreset(id) {
  current = catalogue.presets.find((x) => x.id === id) || null;
  $('preset').value = current ? current.id : '';
  return current;
}

/** @param {string|PresetModel|undefined} ref @returns {PresetModel|null} */
export function presetModel(ref) {
  if (!ref) return null;
  return typeof ref === 'string' ? catalogue.models[ref] : ref;
}

/**
 * A preset's candidate weights URLs for a role, made absolute.
 * @param {Preset|null} preset
 * @param {'zero-shot'|'fine-tuned'} role
 */
export function presetUrls(preset, role) {
  const model = preset && presetModel(role === 'zero-shot' ? preset.zero_shot : preset.fine_tuned);
  return model?.urls?.map(resolveUrl) ?? [];
}

/**
 * The preset whose labels and templates classify the photos: for a multi-task preset its task
 * `taskId` (its first task when that is not one of them), else the preset itself.
 * @param {Preset|null} preset
 * @param {string} [taskId]
 * @returns {Preset|null}
 */
export function taskPreset(preset, taskId) {
  if (!preset?.tasks?.length) return preset;
  const id = preset.tasks.includes(taskId) ? taskId : preset.tasks[0];
  return catalogue.presets.find((x) => x.id === id) ?? null;
}
