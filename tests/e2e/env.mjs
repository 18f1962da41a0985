// What every end-to-end test shares: where things are, and how Chromium is started (Debian's
// /usr/bin/chromium through playwright-core, never a downloaded browser; WebGPU on SwiftShader
// without a GPU, or WebGPU switched off for the CPU fallback).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DIST = process.env.E2E_DIST || path.join(ROOT, 'dist');
export const FIXTURES = path.join(ROOT, 'tests/fixtures');
export const OUT = path.join(ROOT, 'target/e2e');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const WISEFT =
  process.env.WISEFT_BIN ||
  [path.join(ROOT, 'target/debug/wiseft'), path.join(ROOT, 'target/release/wiseft')].find((p) => fs.existsSync(p));
export const READY_TIMEOUT = Number(process.env.E2E_READY_TIMEOUT_MS || 120000);

export const BASE_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];
export const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader'];
export const NO_WEBGPU_ARGS = ['--disable-features=WebGPU,Vulkan', '--disable-gpu'];

/** A fake camera that plays `file` (a .y4m video) to getUserMedia, with permission granted. */
export const fakeCameraArgs = (file) => ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-video-capture=${file}`];

/** Headless Chromium with WebGPU on SwiftShader (`webgpu`) or without WebGPU; `extra`: more flags. */
export function launch(webgpu, extra = []) {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...BASE_ARGS, ...(webgpu ? WEBGPU_ARGS : NO_WEBGPU_ARGS), ...extra] });
}
