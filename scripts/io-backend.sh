#!/usr/bin/env bash
# Prints the I/O backend the engine picks automatically here ("io_uring" or "posix"): opens a
# throwaway database with the given toondb binary and reads `stats --json`. TOONDB_IO is
# ignored, so this answers "is io_uring usable?" (it is refused in many containers).
#
# Usage: scripts/io-backend.sh path/to/toondb
set -euo pipefail
toondb="${1:?usage: io-backend.sh path/to/toondb}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
json="$(env -u TOONDB_IO "$toondb" stats --json --db "$tmp/db" --io-backend auto --log-level error)"
backend="$(printf '%s' "$json" | grep -o '"io_backend": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/')"
[ -n "$backend" ] || { echo "io-backend: no io_backend in: $json" >&2; exit 1; }
echo "$backend"
