#!/usr/bin/env bash
# Prints the path of ToonDB's original server binary, `sochdb-server`, from the `sochdb` wheel
# on PyPI (fetched once into DIR, default bench-data/sochdb). Used only by `make bench-ipc`.
set -euo pipefail
dir=${1:-bench-data/sochdb}
version=0.8.3
binary="$dir/sochdb/_bin/x86_64-unknown-linux-gnu/sochdb-server"
if [ ! -x "$binary" ]; then
    mkdir -p "$dir"
    python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: -d "$dir" "sochdb==$version" >&2
    python3 -m zipfile -e "$dir"/sochdb-"$version"-*.whl "$dir" >&2
    chmod +x "$binary"
fi
echo "$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"
