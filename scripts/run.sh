#!/usr/bin/env bash
# Builds the `wiseft` CLI (release) and runs it with the given arguments. Without arguments it
# classifies a few shipped samples with the built-in generated-world pair, merged at α = 0.5.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --bin wiseft
if [ $# -eq 0 ]; then
  set -- classify --alpha 0.5 www/samples/toy/task/star/sketch-0.png www/samples/toy/shift/star/photo-0.png \
    www/samples/toy/shift/moon/grayscale-0.png
fi
exec target/release/wiseft "$@"
