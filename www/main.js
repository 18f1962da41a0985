// The page's entry: wires the modules together and starts the engine. The page draws, reads the
// person's input and talks to the engine worker (src/web, Rust/wasm) through the typed messages of
// protocol.js; no model logic lives here.

import { $ } from './dom.js';
import { engine, initEngineBadge } from './engine.js';
import { setModelStatus, showMessage, showNotice } from './messages.js';
import { currentPreset, loadPresets } from './presets.js';
import { applyLabels, wireLabels } from './labels.js';
import { sendAlpha, showAlpha, wireAlpha } from './alpha.js';
import { probePreset, startLoad, wireModels } from './models.js';
import { addSamples, wirePhotos } from './photos.js';
import { wireLecture } from './lecture.js';
import { wireDrops } from './drops.js';
import { initBench } from './bench.js';
import { restoreAddress, trackAddress } from './url-state.js';
import { loadOrAsk } from './link-check.js';
import { wireRecipeView } from './recipe-view.js';
import { wireCamera } from './camera.js';
import { wireShare } from './share.js';
import { wireOffline } from './offline.js';
import { wirePublished } from './published.js';

async function main() {
  initEngineBadge();
  engine.on('notice', showNotice);
  engine.on('unclaimed_failure', (ev) => showMessage('error', ev.message));
  // Before the models: the recipe must know what was loaded before the photos redraw for it.
  wireRecipeView();
  wireModels();
  wireLabels();
  wireAlpha();
  wirePhotos();
  wirePublished();
  wireLecture();
  wireDrops();
  wireCamera();
  wireShare();
  $('samples').onclick = () => addSamples(currentPreset()?.samples || []);
  showAlpha(0.5);
  initBench(new URLSearchParams(location.search));

  const hello = engine.start();
  hello.catch(() => {}); // handled below, once the page is set up
  await loadPresets();
  const autoLoad = restoreAddress(location.search);
  if (!autoLoad) setModelStatus('Press Load models to download the pair (once; later visits read it from the browser).');
  trackAddress();
  wireOffline();

  // Once the page is set up and the engine said hello: labels, α, and the load a link asks for.
  try {
    await hello;
  } catch {
    return; // the badge and the status line say why
  }
  applyLabels();
  sendAlpha();
  // A link's checkpoints from a host no preset uses wait for a click (www/link-check.js).
  if (autoLoad) loadOrAsk(startLoad);
  else probePreset();
}

main();
