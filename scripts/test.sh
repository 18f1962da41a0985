#!/usr/bin/env bash
# Runs every test: set-up, the Rust tests (reference, checkpoint, merge, CLI, downloads) and the
# wasm32 build of the library.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --lib --target wasm32-unknown-unknown
cargo test --all-targets
# The web page end to end: trunk build --release, then headless Chromium against the CLI (tests/e2e/).
scripts/e2e.sh
