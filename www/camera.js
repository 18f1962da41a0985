// Camera mode (#camera-card): a live camera view classified continuously by the models the page
// shows (zero-shot, merged at α, fine-tuned), with the same bars as a photo, the frame rate, and
// "freeze", which adds the frame on screen as a photo (with a true label, for lecture mode).
//
// A frame is the video drawn on a canvas and encoded as PNG (lossless: the exact pixels classified
// are the file a test, or the person, can give `wiseft classify`). It goes to the engine as a photo
// of its own id and is removed once classified; the next frame is taken only when the engine has
// finished the last one, so frames never queue up behind a slow engine — the frame rate is the
// engine's. Frames go to the engine worker only: nothing from the camera leaves the machine.

import { $, el } from './dom.js';
import { engine } from './engine.js';
import { currentLabels, labelsChanged } from './labels.js';
import { isLoaded } from './models.js';
import { addPhotos, nextPhotoId, resultColumns } from './photos.js';
import { alphaChanged } from './alpha.js';

/** The frame-rate read-out averages over the frames of this many seconds. */
const FPS_WINDOW_S = 3;

let open = false;
/** @type {MediaStream|null} */
let stream = null;
/** Bumped at every start and stop: a loop or a getUserMedia of an older generation ends quietly. */
let generation = 0;
/** The frame on screen: its PNG and its scores. @type {{blob: Blob, scores: Record<string, any>, n: number}|null} */
let shown = null;
let frames = 0;
/** Completion times (ms) of the recent frames. @type {number[]} */
let doneAt = [];
/** @type {HTMLCanvasElement|null} */
let canvas = null;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function setState(state, text = '') {
  $('camera-card').dataset.camera = state;
  $('camera-status').textContent = text;
}

/** Opens the camera view and starts the camera chosen. */
export function openCamera() {
  open = true;
  $('camera-card').hidden = false;
  $('camera-open').setAttribute('aria-pressed', 'true');
  fillTruth();
  start();
}

/** Closes the view; the camera stops (its light goes off). */
export function closeCamera() {
  open = false;
  stop();
  $('camera-card').hidden = true;
  $('camera-open').setAttribute('aria-pressed', 'false');
  setState('off');
}

function stop() {
  generation++;
  stream?.getTracks().forEach((t) => t.stop());
  stream = null;
  const video = /** @type {HTMLVideoElement} */ ($('camera-video'));
  video.srcObject = null;
  doneAt = [];
  showFps();
}

/** The constraints of the camera chosen: a device, or a facing (front/back on phones). */
function constraints() {
  const choice = $('camera-choice').value || 'environment';
  const video = choice.startsWith('device:') ? { deviceId: { exact: choice.slice(7) } } : { facingMode: { ideal: choice } };
  return { video, audio: false };
}

async function start() {
  stop();
  const gen = generation;
  if (!navigator.mediaDevices?.getUserMedia) {
    setState('failed', 'This browser gives no camera to this page (it needs https or localhost, and a browser with getUserMedia).');
    return;
  }
  setState('starting', 'Asking for the camera …');
  let got;
  try {
    got = await navigator.mediaDevices.getUserMedia(constraints());
  } catch (e) {
    if (gen === generation) setState('failed', `The camera could not be opened: ${e.name === 'NotAllowedError' ? 'permission was refused' : e.message || e.name}.`);
    return;
  }
  if (gen !== generation) {
    got.getTracks().forEach((t) => t.stop());
    return;
  }
  stream = got;
  const video = /** @type {HTMLVideoElement} */ ($('camera-video'));
  video.srcObject = stream;
  try {
    await video.play();
  } catch {
    // autoplay of a muted inline video is allowed; a refusal only delays the first frame
  }
  fillDevices();
  setState('on', 'Classifying the camera live: frames are taken as fast as the engine finishes them.');
  loop(gen);
}

/** The camera choice: back / front (phones), then each camera the browser names. */
async function fillDevices() {
  const select = /** @type {HTMLSelectElement} */ ($('camera-choice'));
  const keep = select.value;
  let devices = [];
  try {
    devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');
  } catch {
    // the two facings still work
  }
  const current = stream?.getVideoTracks()[0]?.getSettings().deviceId;
  select.replaceChildren(
    el('option', { value: 'environment', text: 'Back camera' }),
    el('option', { value: 'user', text: 'Front camera' }),
    ...devices.map((d, i) => el('option', { value: `device:${d.deviceId}`, text: d.label || `Camera ${i + 1}` })),
  );
  select.value = [...select.options].some((o) => o.value === keep) ? keep : 'environment';
  $('camera-card').dataset.device = current || '';
}

/** The video's current frame as a PNG. */
function grab(video) {
  canvas ??= document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('the frame could not be encoded'))), 'image/png'));
}

/** One frame at a time, each after the engine finished the last. */
async function loop(gen) {
  const video = /** @type {HTMLVideoElement} */ ($('camera-video'));
  while (gen === generation) {
    if (!engine.ready || !isLoaded() || video.readyState < 2 || !video.videoWidth) {
      if (!isLoaded() && engine.ready) $('camera-status').textContent = 'Load the models to classify the camera.';
      await sleep(100);
      continue;
    }
    let blob;
    try {
      blob = await grab(video);
    } catch (e) {
      setState('failed', e.message);
      return;
    }
    if (gen !== generation) return;
    const id = nextPhotoId();
    /** @type {Record<string, any>} */
    const scores = {};
    let error = null;
    const offResults = engine.on('results', (ev) => {
      for (const s of ev.scores) if (s.image === id) scores[s.model] = { alpha: s.alpha, setting: s.setting ?? null, probs: s.probs, labels: ev.labels };
    });
    const offError = engine.on('image_error', (ev) => {
      if (ev.image === id) error = ev.message;
    });
    try {
      await engine.addImages([{ id, name: `camera frame ${id}`, blob }]);
    } catch (e) {
      error = e.message;
    } finally {
      offResults();
      offError();
      // Queued behind nothing but this frame's own results: the session forgets the frame.
      engine.removeImage(id).catch(() => {});
    }
    if (gen !== generation) return;
    if (error) {
      $('camera-status').textContent = `A frame could not be classified: ${error}`;
      await sleep(500);
      continue;
    }
    shown = { blob, scores, n: ++frames };
    showFrame();
    doneAt.push(performance.now());
    showFps();
  }
}

/** The bars of the frame on screen (again after α moved: its merged column is stale then). */
function showFrame() {
  if (!shown) return;
  const { cols } = resultColumns({ name: 'camera', scores: shown.scores });
  $('camera-cols').replaceChildren(...cols);
  $('camera-card').dataset.frames = String(shown.n);
}

function showFps() {
  const now = performance.now();
  doneAt = doneAt.filter((t) => now - t <= FPS_WINDOW_S * 1000);
  const fps = doneAt.length >= 2 ? ((doneAt.length - 1) * 1000) / (doneAt[doneAt.length - 1] - doneAt[0]) : 0;
  const out = $('camera-fps');
  out.value = fps ? `${fps.toFixed(1)} frames/s` : '– frames/s';
  out.dataset.fps = fps.toFixed(2);
}

/** Adds the frame on screen as a photo, with the true label and set chosen beside the button. */
function freeze() {
  if (!shown) {
    $('camera-status').textContent = 'No frame classified yet.';
    return;
  }
  const truth = $('camera-truth').value;
  const file = new File([shown.blob], `camera-${shown.n}.png`, { type: 'image/png' });
  // The label travels as the photo's folder would: a folder named after a label labels its photos.
  addPhotos([file], { set: $('camera-set').value, folderOf: () => truth || undefined });
  $('camera-status').textContent = `Frame ${shown.n} added as a photo${truth ? ` labelled “${truth}”` : ''}.`;
}

function fillTruth() {
  const select = /** @type {HTMLSelectElement} */ ($('camera-truth'));
  const keep = select.value;
  select.replaceChildren(el('option', { value: '', text: 'no true label' }), ...currentLabels().map((l) => el('option', { value: l, text: l })));
  select.value = currentLabels().includes(keep) ? keep : '';
}

/** A photo taken with the device's camera app (phones offer it for `capture`), added as any photo. */
function takePhoto() {
  const input = el('input', { type: 'file', accept: 'image/*' });
  input.setAttribute('capture', 'environment');
  input.onchange = () => addPhotos([...input.files]);
  input.click();
}

export function wireCamera() {
  $('take-photo').onclick = takePhoto;
  $('camera-open').onclick = () => (open ? closeCamera() : openCamera());
  $('camera-close').onclick = closeCamera;
  $('camera-freeze').onclick = freeze;
  $('camera-choice').onchange = () => open && start();
  labelsChanged.on(fillTruth);
  alphaChanged.on(showFrame);
  // A hidden page (another tab, a locked phone) stops the camera; it comes back with the page.
  document.addEventListener('visibilitychange', () => {
    if (!open) return;
    if (document.hidden) {
      stop();
      setState('paused', 'The page is hidden: the camera is off until it is shown again.');
    } else {
      start();
    }
  });
}
