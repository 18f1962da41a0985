#!/usr/bin/env bash
# Runs every test: set-up, the Rust tests (reference, checkpoint, merge, CLI, downloads) and the
# wasm32 build of the library.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --lib --target wasm32-unknown-unknown
cargo test --all-targets
