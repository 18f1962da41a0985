#!/usr/bin/env bash
# Coverage-guided fuzzing of one parser: scripts/fuzz.sh TARGET [SECONDS]   (default 120 s)
# TARGET: safetensors pytorch pickle config infer jpeg image recipe (wiseft::fuzz::TARGETS).
#
# Runs cargo-fuzz (libFuzzer) on a nightly toolchain in fuzz/ (its own workspace), starting from
# the committed seeds of tests/fixtures/fuzz/TARGET (copied to fuzz/corpus/TARGET, which keeps
# what the fuzzer finds between runs). Limits per input: 10 s and 2 GB, so a bomb shows up as a
# crash. A crash leaves fuzz/artifacts/TARGET/crash-*: copy it into tests/fixtures/fuzz/TARGET/
# (any name not starting with "seed-") with the fix, and tests/fuzz_smoke.rs keeps it fixed.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${1:?usage: scripts/fuzz.sh TARGET [SECONDS]  (safetensors pytorch pickle config infer jpeg image recipe)}"
seconds="${2:-120}"
if [[ ! -f "fuzz/fuzz_targets/$target.rs" ]]; then
  echo "unknown target '$target'; the targets are: $(ls fuzz/fuzz_targets | sed 's/\.rs$//' | tr '\n' ' ')" >&2
  exit 2
fi

if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

mkdir -p "fuzz/corpus/$target"
cp -n "tests/fixtures/fuzz/$target"/* "fuzz/corpus/$target/" 2>/dev/null || true

# -s none: no sanitizer (the parsers have no unsafe code — only the CPU engine's SIMD does, and no
# target reaches it; panics, timeouts and the RSS limit are what we look for), which also keeps
# the build small on a few cores.
cd fuzz
exec cargo +nightly fuzz run -s none "$target" "corpus/$target" -- \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1
