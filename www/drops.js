// Files dropped on or pasted into the page: on a model box (#zs-drop, #ft-drop) a checkpoint's
// files, anywhere else photos; a dropped folder is walked, each photo labelled by its folder.

import { $ } from './dom.js';
import { showMessage } from './messages.js';
import { chooseLocal } from './models.js';
import { addPhotos, isPhotoFile } from './photos.js';

/**
 * Every file under dropped entries (folders walked), with the name of the folder holding it.
 * @param {FileSystemEntry[]} entries
 * @returns {Promise<{file: File, dir: string|null}[]>}
 */
async function filesInEntries(entries) {
  const out = [];
  const walk = async (entry, dir) => {
    if (entry.isFile) {
      out.push({ file: await new Promise((res, rej) => entry.file(res, rej)), dir });
      return;
    }
    const reader = entry.createReader();
    // readEntries returns the listing in batches until an empty one.
    for (;;) {
      const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
      if (!batch.length) break;
      for (const child of batch) await walk(child, entry.name);
    }
  };
  for (const entry of entries) await walk(entry, null);
  return out;
}

/** Dropped folders: on a model box a model folder's files, elsewhere photos labelled by folder. */
function dropFolders(entries, zone) {
  filesInEntries(entries).then(
    (found) => {
      if (zone) {
        chooseLocal(zone.dataset.role, found.map((f) => f.file));
        return;
      }
      const images = found.filter((f) => isPhotoFile(f.file));
      const dirOf = new Map(images.map((f) => [f.file, f.dir]));
      if (!images.length) showMessage('warn', 'The dropped folder holds no photos (png, jpeg, gif, bmp, webp).');
      addPhotos(images.map((f) => f.file), { set: $('folder-set').value, folderOf: (f) => dirOf.get(f) });
    },
    (err) => showMessage('error', `The dropped folder could not be read: ${err?.message || err}`),
  );
}

function onDrop(e) {
  if (!e.dataTransfer?.files?.length) return;
  e.preventDefault();
  document.body.classList.remove('dragging');
  document.querySelectorAll('.local-drop').forEach((z) => z.classList.remove('over'));
  const zone = e.target.closest?.('.local-drop');
  // Dropped folders: their files, each photo labelled by the folder it sits in (as "Add a
  // labelled folder" does); on a model box, a model folder's weights and JSON files.
  const entries = [...(e.dataTransfer.items || [])].map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  if (entries.some((x) => x.isDirectory)) {
    dropFolders(entries, zone);
    return;
  }
  if (zone) {
    chooseLocal(zone.dataset.role, e.dataTransfer.files);
    return;
  }
  const files = [...e.dataTransfer.files];
  const checkpoints = files.filter((f) => /\.(safetensors|bin|pt)$/i.test(f.name));
  if (checkpoints.length) {
    showMessage('warn', 'Checkpoint files go on the Zero-shot / Fine-tuned boxes under "Custom URLs or local files".');
  }
  addPhotos(files.filter((f) => !checkpoints.includes(f)));
}

export function wireDrops() {
  document.addEventListener('dragover', (e) => {
    if (![...(e.dataTransfer?.types || [])].includes('Files')) return;
    e.preventDefault();
    document.body.classList.add('dragging');
    document.querySelectorAll('.local-drop').forEach((z) => z.classList.toggle('over', z.contains(e.target)));
  });
  document.addEventListener('dragleave', (e) => {
    if (e.relatedTarget === null) document.body.classList.remove('dragging');
  });
  document.addEventListener('drop', onDrop);
  document.addEventListener('paste', (e) => {
    const files = [...(e.clipboardData?.files || [])];
    if (files.length) {
      e.preventDefault();
      addPhotos(files);
    }
  });
}
