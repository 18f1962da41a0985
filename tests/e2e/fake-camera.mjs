// The fake camera of the camera e2e tests: a YUV4MPEG2 (.y4m) video made at test time from the
// shipped sample pictures, each held for a number of frames, which Chromium plays to getUserMedia
// (`--use-file-for-fake-video-capture`). The pictures are decoded by Chromium itself (a canvas), so
// no image library is needed here; the video is not committed (it is made in target/e2e/).

import fs from 'node:fs';

/**
 * Writes `out`: the PNGs `files`, scaled (nearest neighbour) to `size`², each held `hold` frames,
 * at `fps` frames per second; 4:2:0 full-range BT.601, as the JPEG colour space (C420jpeg).
 * @param {import('playwright-core').Browser} browser
 * @param {string[]} files
 * @param {string} out
 */
export async function writeFakeCamera(browser, files, out, { size = 128, hold = 10, fps = 10 } = {}) {
  const page = await browser.newPage();
  let rgba;
  try {
    rgba = await page.evaluate(
      async ({ pngs, size }) => {
        const out = [];
        for (const b64 of pngs) {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
          const canvas = new OffscreenCanvas(size, size);
          const ctx = canvas.getContext('2d');
          ctx.imageSmoothingEnabled = false;
          ctx.drawImage(bitmap, 0, 0, size, size);
          out.push(Array.from(ctx.getImageData(0, 0, size, size).data));
        }
        return out;
      },
      { pngs: files.map((f) => fs.readFileSync(f).toString('base64')), size },
    );
  } finally {
    await page.close();
  }
  const half = size / 2;
  const frames = [];
  for (const px of rgba) {
    const y = Buffer.alloc(size * size);
    const u = Buffer.alloc(half * half);
    const v = Buffer.alloc(half * half);
    const at = (x, yy) => 4 * (yy * size + x);
    const clamp = (n) => Math.max(0, Math.min(255, Math.round(n)));
    for (let j = 0; j < size; j++) {
      for (let i = 0; i < size; i++) {
        const k = at(i, j);
        y[j * size + i] = clamp(0.299 * px[k] + 0.587 * px[k + 1] + 0.114 * px[k + 2]);
      }
    }
    for (let j = 0; j < half; j++) {
      for (let i = 0; i < half; i++) {
        let r = 0, g = 0, b = 0;
        for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
          const k = at(2 * i + dx, 2 * j + dy);
          r += px[k] / 4;
          g += px[k + 1] / 4;
          b += px[k + 2] / 4;
        }
        u[j * half + i] = clamp(128 - 0.168736 * r - 0.331264 * g + 0.5 * b);
        v[j * half + i] = clamp(128 + 0.5 * r - 0.418688 * g - 0.081312 * b);
      }
    }
    frames.push(Buffer.concat([Buffer.from('FRAME\n'), y, u, v]));
  }
  const parts = [Buffer.from(`YUV4MPEG2 W${size} H${size} F${fps}:1 Ip A1:1 C420jpeg\n`)];
  for (const f of frames) for (let k = 0; k < hold; k++) parts.push(f);
  fs.writeFileSync(out, Buffer.concat(parts));
  return { frames: frames.length * hold, bytes: parts.reduce((n, p) => n + p.length, 0) };
}
