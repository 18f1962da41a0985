#!/usr/bin/env bash
# Runs every test: set-up, the Rust tests (reference, checkpoint, merge, CLI, downloads) and the
# wasm32 build of the library.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# A clean run gains nothing from incremental caches, and they are a large part of target/ on disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# Mesa's lavapipe complains on stderr without a runtime directory (the CLI sets its own).
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/wiseft-runtime-tests"
  mkdir -p -m 700 "$XDG_RUNTIME_DIR"
fi
cargo build --lib --target wasm32-unknown-unknown
cargo test --all-targets
# The numpy reference of the α rules still computes the committed fixture tests/choose.rs reads.
if python3 -c 'import numpy' 2>/dev/null; then
  python3 scripts/alpha_rules.py --check tests/fixtures/choose/rules.json
else
  echo "note: no numpy: skipping scripts/alpha_rules.py --check" >&2
fi
# The web page end to end: trunk build --release, then headless Chromium against the CLI (tests/e2e/).
scripts/e2e.sh
