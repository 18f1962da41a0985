#!/bin/sh
# Builds the threaded CPU engine (issue 18) into DIR/threaded/: the page's worker compiled with
# WebAssembly threads (+atomics, +bulk-memory: one shared memory, rayon's pool on Web Workers,
# src/web/threads.rs), beside the single-threaded build trunk makes. www/worker-loader.js loads it
# where the page is cross-origin isolated and reports more than one core.
#
# Threads need the standard library rebuilt with atomics (-Z build-std), so this build alone uses
# a pinned nightly (scripts/setup.sh installs it with rust-src); the default build stays on stable.
# Run by trunk after each build (Trunk.toml, post_build hook, on its staging folder); by hand:
#   scripts/build-threaded.sh dist
# WISEFT_THREADED=0 skips it (the page then says it runs one thread, and why).
set -eu
dir=${1:?usage: build-threaded.sh DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
toolchain=nightly-2026-05-20
if [ "${WISEFT_THREADED:-1}" = 0 ]; then
  echo "build-threaded: skipped (WISEFT_THREADED=0): the page will run its CPU engine on one thread" >&2
  exit 0
fi
if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
  echo "build-threaded: the $toolchain toolchain is missing: run scripts/setup.sh (or WISEFT_THREADED=0 to build without threads)" >&2
  exit 1
fi
profile=release
case "${TRUNK_PROFILE:-release}" in debug) profile=debug ;; esac
# Its own target folder: other RUSTFLAGS and another compiler would otherwise rebuild the stable
# build's artifacts every time.
target="$root/target/threaded"
# RUSTFLAGS replaces .cargo/config.toml's flags, so they are repeated here (simd128, getrandom's
# backend). The shared memory's maximum is the 4 GiB a wasm32 module can address (rustc's default
# for atomics is 1 GiB, too little for ViT-B/32 and a merge).
flags='-C target-feature=+simd128,+relaxed-simd,+atomics,+bulk-memory,+mutable-globals --cfg getrandom_backend="wasm_js" -C link-arg=--max-memory=4294967296'
set -- --bin wiseft-worker --target wasm32-unknown-unknown -Z build-std=panic_abort,std --target-dir "$target"
[ "$profile" = release ] && set -- "$@" --release
# The shared memory itself is the final link's business (wasm-ld: shared, imported so that every
# thread's instance gets the same one, and the thread-local storage symbols wasm-bindgen's thread
# set-up calls); `cargo rustc` gives these to the worker's link alone, so the libraries' artifacts
# stay as they are.
(cd "$root" && RUSTFLAGS="$flags" cargo "+$toolchain" rustc "$@" -- \
  -C link-arg=--shared-memory -C link-arg=--import-memory \
  -C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size -C link-arg=--export=__tls_align -C link-arg=--export=__tls_base)
mkdir -p "$dir/threaded"
# no-modules: the engine's worker and its thread workers load it with importScripts and hand each
# thread the same module and memory.
wasm-bindgen --target no-modules --no-typescript --out-dir "$dir/threaded" --out-name wiseft-worker \
  "$target/wasm32-unknown-unknown/$profile/wiseft-worker.wasm"
