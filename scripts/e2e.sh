#!/usr/bin/env bash
# End-to-end tests of the web page: builds the CLI (the reference) and the site (trunk), then runs
# tests/e2e/ with node's test runner in headless Chromium (Debian's /usr/bin/chromium through
# playwright-core). Screenshots go to target/e2e/. Needs what scripts/setup.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
{ [ -d node_modules/playwright-core ] && [ -d node_modules/jsqr ]; } || npm ci --no-audit --no-fund --loglevel=error
cargo build --bin wiseft
trunk build --release
mkdir -p target/e2e
exec node --test --test-reporter=spec tests/e2e/*.test.mjs
