#!/usr/bin/env bash
# Installs what building and testing need on a fresh machine (Debian, Rust via rustup).
# Idempotent: each step is skipped when its tool is already there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# Debian packages: Mesa's lavapipe (Vulkan on the CPU) for native wgpu without a GPU; Chromium and
# npm for the end-to-end tests.
need_apt=()
ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || need_apt+=(mesa-vulkan-drivers)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v npm >/dev/null || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  echo "setup: rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# The threaded CPU engine (scripts/build-threaded.sh) needs the standard library rebuilt with
# atomics: a pinned nightly with its sources, for that build only (everything else is stable).
nightly=nightly-2026-05-20
if ! rustup run "$nightly" rustc --version >/dev/null 2>&1 || [ ! -d "$(rustup run "$nightly" rustc --print sysroot)/lib/rustlib/src/rust/library" ] \
  || ! rustup +"$nightly" target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  echo "setup: rustup toolchain install $nightly (rust-src, wasm32) for the threaded build"
  rustup toolchain install "$nightly" --profile minimal --component rust-src --target wasm32-unknown-unknown
fi

# trunk builds the page; wasm-bindgen-cli must equal the wasm-bindgen crate's version (trunk then
# uses it from PATH and downloads nothing).
if [ "$(trunk --version 2>/dev/null)" != "trunk 0.21.14" ]; then
  echo "setup: cargo install trunk 0.21.14"
  cargo install trunk --version 0.21.14 --locked
fi
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen 0.2.130" ]; then
  echo "setup: cargo install wasm-bindgen-cli 0.2.130"
  cargo install wasm-bindgen-cli --version 0.2.130 --force
fi

# playwright-core drives Debian's Chromium; it never downloads a browser.
# jsqr decodes the share dialog's QR code in the e2e.
if [ ! -d "$root/node_modules/playwright-core" ] || [ ! -d "$root/node_modules/jsqr" ]; then
  echo "setup: npm ci (playwright-core, jsqr)"
  (cd "$root" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
