#!/usr/bin/env bash
# Serves the web page locally: installs what is missing (scripts/setup.sh), builds the site with
# trunk (release) and serves it, rebuilding on changes. Open the address it prints.
#   scripts/serve.sh [--port N] [other `trunk serve` options]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
port=8080 # Trunk.toml's [serve] port
prev=""
for a in "$@"; do
  [ "$prev" = "--port" ] && port="$a"
  case "$a" in --port=*) port="${a#--port=}" ;; esac
  prev="$a"
done
echo "serve: building the site (the first build takes a few minutes), then serving it at http://127.0.0.1:${port}/ — Ctrl+C stops"
exec trunk serve --release "$@"
