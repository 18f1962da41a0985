// The merge recipe over several fine-tunes: the method, its coefficients (λ, TIES's k, a schedule
// of λ over depth and per tensor family), the fine-tunes beyond the first, and keeping the engine at
// the recipe shown (one set_recipe in flight at a time; the latest goes next). A change the loaded
// merge inputs cannot take (another method family, another k) needs a reload ([`needsReload`]).
//
// WiSE-FT with one fine-tune stays the two-model merge of alpha.js; a recipe is used when the
// method is another one or there are several fine-tunes.

import { engine } from './engine.js';
import { showFailure } from './messages.js';
import { signal } from './signal.js';

/** The methods of the chooser, with what their slider means. */
export const METHODS = {
  'wise-ft': { name: 'WiSE-FT (α)', formula: 'θ = (1 − α)·θ₀ + α·θ₁' },
  'task-arithmetic': { name: 'Task arithmetic (λ)', formula: 'θ = θ₀ + λ·Σᵢ (θᵢ − θ₀)' },
  average: { name: 'Average (uniform soup)', formula: 'θ = mean of the θᵢ' },
  ties: {
    name: 'TIES (λ, top-k %)',
    formula: 'θ = θ₀ + λ·TIES(τ₁ … τₙ; trim to top-k %, elect signs, disjoint mean) · each fine-tune’s own τᵢ is kept beside the merged one for its column, where memory allows',
  },
};
/** The tensor families a schedule can address (src/merge/schedule.rs). */
export const FAMILIES = ['attention', 'mlp', 'norm', 'embedding'];
/** FusionBench's defaults for CLIP ViT-B/32; the recipe's range for λ (src/merge/recipe.rs). */
export const DEFAULT_LAMBDA = 0.3;
export const DEFAULT_TOP_K = 20;
export const MAX_LAMBDA = 10;

/**
 * @typedef {object} Schedule λ beyond one number: the slider's λ holds at the embeddings,
 *   `late` at the last layer (linear in between); a family's own value replaces both for it.
 * @property {number|null} late
 * @property {Record<string, number|null>} families
 */

const state = {
  /** @type {keyof typeof METHODS} */
  method: 'wise-ft',
  lambda: DEFAULT_LAMBDA,
  topK: DEFAULT_TOP_K,
  /** @type {Schedule} */
  schedule: { late: null, families: {} },
  /** @type {string[]} the fine-tunes after the first (URLs or hub ids) */
  more: [],
};

/** The recipe the loaded model was built from (recipe JSON), null for a two-model pair. */
let loaded = null;
/** The recipe JSON of the last set_recipe sent, and whether it is being worked on. */
let sent = null;
let inFlight = false;

/** The recipe shown changed (method, coefficients, fine-tunes): the address and the view follow. */
export const recipeChanged = signal();
/** The merged column caught up with the recipe shown, or fell behind it. */
export const recipeSettled = signal();

/** Local checkpoints among `state.more`, by their key (`local:1` …): the files of one fine-tune. */
const localFiles = new Map();
let lastLocal = 0;

/** Registers one fine-tune's local files; its key goes into `more` like an address. @param {File[]} files */
export function addLocalFineTune(files) {
  const key = `local:${++lastLocal}`;
  localFiles.set(key, files);
  return key;
}
/** The files behind a `local:` key of `more`, else null. */
export const localFineTune = (key) => localFiles.get(key) ?? null;
/** Whether an entry of `more` is local files (never in the address: it cannot be shared). */
export const isLocalFineTune = (key) => key.startsWith('local:');

export const recipeState = () => state;
export const moreFineTunes = () => [...state.more];
/** Whether the page merges with a recipe (not the two-model WiSE-FT of the α slider). */
export const usesRecipe = () => state.method !== 'wise-ft' || state.more.length > 0;
/** Whether the loaded model is a recipe's. */
export const recipeLoaded = () => loaded !== null;
/** Whether the merged column is behind the recipe shown (a change not yet merged). */
export const recipePending = () => loaded !== null && (inFlight || !same(recipeJson(), sentOrLoaded()));

const sentOrLoaded = () => sent ?? loaded;

/** JSON with sorted keys: the worker's recipe (serde_json, keys in order) and the page's compare equal. */
function canon(v) {
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}
const same = (a, b) => canon(a) === canon(b);

/** λ as recipe JSON: a number, or {default: [early, late], family: value, …}. */
export function lambdaJson() {
  const { late, families } = state.schedule;
  const fams = Object.entries(families).filter(([, v]) => v !== null && Number.isFinite(v));
  const base = late === null || late === state.lambda ? state.lambda : [state.lambda, late];
  if (!fams.length) return base;
  return { default: base, ...Object.fromEntries(fams) };
}

/** The recipe shown as recipe JSON (method and coefficients, no checkpoints). */
export function recipeJson() {
  const r = { version: 1, method: state.method };
  if (state.method === 'task-arithmetic' || state.method === 'ties') r.lambda = lambdaJson();
  if (state.method === 'ties') r.top_k = state.topK;
  return r;
}

/** What a recipe's merge inputs depend on: two recipes with the same key share them. */
function inputsKey(r) {
  if (!r) return null;
  if (r.method === 'ties') return `ties:${r.top_k ?? DEFAULT_TOP_K}`;
  if (r.method === 'task-arithmetic' || r.method === 'average') return 'task-vectors';
  return r.method;
}

/** Sets fields of the recipe (from the view, a preset or the address); says whether it changed. */
export function setRecipe(fields) {
  const before = JSON.stringify([recipeJson(), state.more]);
  Object.assign(state, fields);
  // WiSE-FT merges one fine-tune: with several, the page moves to task arithmetic (as the CLI does).
  if (state.method === 'wise-ft' && state.more.length) state.method = 'task-arithmetic';
  const changed = before !== JSON.stringify([recipeJson(), state.more]);
  if (changed) recipeChanged.emit();
  return changed;
}

/** Whether the loaded model cannot show the recipe shown without merging the checkpoints again:
 *  a pair loaded for a recipe or the reverse, another method family, another TIES k. */
export function needsReload() {
  if (!usesRecipe()) return loaded !== null;
  return loaded === null || inputsKey(recipeJson()) !== inputsKey(loaded);
}

/** Sends the recipe shown to the engine, when the loaded recipe's inputs can take it. */
export function syncRecipe() {
  if (!loaded || !engine.ready || needsReload()) return;
  const want = recipeJson();
  if (inFlight) {
    recipeSettled.emit();
    return;
  }
  if (same(want, sentOrLoaded())) return;
  inFlight = true;
  sent = want;
  recipeSettled.emit();
  engine
    .setRecipe(want)
    .catch(showFailure)
    .finally(() => {
      inFlight = false;
      const now = recipeJson();
      if (!needsReload() && !same(now, sent)) syncRecipe();
      else recipeSettled.emit();
    });
}

/** A new load starts: the loaded recipe is gone until the worker says what it loaded. */
export function forgetLoadedRecipe() {
  loaded = null;
  sent = null;
}

export function wireRecipe() {
  engine.on('loaded', (ev) => {
    loaded = ev.recipe ?? null;
    sent = null;
    inFlight = false;
    recipeSettled.emit();
  });
}
