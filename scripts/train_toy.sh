#!/usr/bin/env bash
# Regenerates the offline default models and everything derived from them (issue 6):
# www/models/toy/{zs,ft,ft-sketch,ft-striped,ft-pixelated,eval.json,samples_expected*.json}, www/samples/toy{,-sketch}/,
# the offline presets in www/presets.json, docs/TOY_WORLD.md.
# Deterministic on one machine, whatever --jobs; about 29 minutes on a 2-core machine (two job processes of one torch thread each; timed in docs/TOY_WORLD.md). Needs the packages of scripts/requirements-fixtures.txt:
#   python -m venv .venv && .venv/bin/pip install -r scripts/requirements-fixtures.txt
#   PYTHON=.venv/bin/python scripts/train_toy.sh
# Extra arguments go to scripts/toy/train.py (--jobs N (default 2), --threads N (default 1), --eval-only, --keep-zero-shot, --smoke --out DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ -z "${PYTHON##*/*}" ] || command -v "$PYTHON" >/dev/null; then :; else
  echo "train_toy: $PYTHON not found (set PYTHON=path/to/venv/bin/python)" >&2; exit 1
fi
exec "$PYTHON" scripts/toy/train.py "$@"
