#!/usr/bin/env bash
# Browser benchmark (onnxruntime-web wasm/webgpu vs the WiSE-FT page) in Debian's /usr/bin/chromium.
# A benchmark, NOT a test: minutes to an hour on SwiftShader, ~1.2 GB of model files. Never run in CI.
#
#   scripts/bench/browser.sh [--cases ort-wasm,ort-webgpu,wiseft-cpu,wiseft-gpu] [--runs N] [...]
#
# Makes target/bench-model (random-weight CLIP ViT-B/32, scripts/bench/make_vitb32.py) if missing,
# installs bench/browser/node_modules if missing, then runs bench/browser/run.mjs with the arguments.
# Env: BENCH_PYTHON (default /work/venv/ref/bin/python), BENCH_MODEL_DIR (default target/bench-model),
#      BENCH_TIMEOUT_S (per case, default 1800).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PY="${BENCH_PYTHON:-/work/venv/ref/bin/python}"
MODEL_DIR="${BENCH_MODEL_DIR:-target/bench-model}"

if [[ -n "${CI:-}" ]]; then
  echo "scripts/bench/browser.sh is a benchmark, not a test: refusing to run with CI set" >&2
  exit 2
fi

if [[ ! -f "$MODEL_DIR/onnx/vision.onnx" || ! -f "$MODEL_DIR/zs/model.safetensors" || ! -f "$MODEL_DIR/ft/model.safetensors" ]]; then
  if [[ ! -x "$PY" ]]; then
    echo "error: $MODEL_DIR is missing and the reference venv python ($PY) is absent." >&2
    echo "       Make a venv with torch, transformers, safetensors, onnx, onnxscript, onnxruntime and set BENCH_PYTHON." >&2
    exit 1
  fi
  for mod in torch transformers safetensors onnx onnxscript onnxruntime; do
    "$PY" -c "import $mod" 2>/dev/null || { echo "installing $mod into $("$PY" -c 'import sys; print(sys.prefix)')" >&2; "$PY" -m pip install -q "$mod"; }
  done
  echo "== making $MODEL_DIR (random CLIP ViT-B/32)" >&2
  "$PY" scripts/bench/make_vitb32.py --out "$MODEL_DIR"
fi

if [[ ! -d bench/browser/node_modules/onnxruntime-web || ! -d bench/browser/node_modules/playwright-core ]]; then
  echo "== npm install in bench/browser" >&2
  (cd bench/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund)
fi

exec node bench/browser/run.mjs --model-dir "$MODEL_DIR" "$@"
