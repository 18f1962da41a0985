#!/bin/sh
# Writes DIR/site-files.json: the built site's files (path and size) and a version (a hash of their
# contents), for "Prepare for offline" (www/offline.js) and the service worker (sw.js). Run by
# trunk after each build (Trunk.toml, post_build hook, on its staging folder); by hand:
#   scripts/site-manifest.sh dist
# Left out: the service worker itself (the browser keeps it), and checkpoints under www/models/
# (*.safetensors, *.bin), which the engine stores in its own cache (src/web/fetch.rs).
set -eu
dir=${1:?usage: site-manifest.sh DIR}
cd "$dir"
list=$(find . -type f ! -name site-files.json ! -name sw.js ! -path './www/models/*.safetensors' ! -path './www/models/*.bin' | sed 's|^\./||' | LC_ALL=C sort)
version=$(printf '%s\n' "$list" | while IFS= read -r f; do sha256sum "$f"; done | sha256sum | cut -c1-16)
{
  printf '{"version": "%s", "files": [' "$version"
  sep=''
  printf '%s\n' "$list" | while IFS= read -r f; do
    case $f in *'"'* | *'\'*) echo "site-manifest.sh: a file name with a quote or backslash: $f" >&2; exit 1 ;; esac
    printf '%s\n  {"path": "%s", "bytes": %s}' "$sep" "$f" "$(wc -c < "$f" | tr -d ' ')"
    sep=','
  done
  printf '\n]}\n'
} > site-files.json.tmp
mv site-files.json.tmp site-files.json
