#!/usr/bin/env bash
# The main job: builds the `wiseft` CLI (release) and runs it with the given arguments. Without
# arguments it classifies the fixture photos with the fixture models, merged at α = 0.5.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --bin wiseft
if [ $# -eq 0 ]; then
  set -- classify --zero-shot tests/fixtures/models/a_zs --fine-tuned tests/fixtures/models/a_ft \
    --alpha 0.5 --labels "cat,dog,red car,tree,the ocean" tests/fixtures/images/photo.png tests/fixtures/images/gray.png
fi
exec target/release/wiseft "$@"
