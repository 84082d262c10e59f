#!/usr/bin/env bash
# `make run`: loads the sample dataset, then serves it over IPC until Ctrl-C.
# Usage: scripts/run-node.sh TOONDB_BINARY CONFIG SAMPLE_COUNT
set -euo pipefail
toondb=${1:?toondb binary}
config=${2:?config file}
count=${3:-100000}

"$toondb" sample --config "$config" --count "$count"
data=$(sed -n 's/^data_dir *= *"\(.*\)"/\1/p' "$config" | head -1)
data=${data:-./data}
socket="$data/toondb.sock"
cat <<MSG

Reach it from Python (another terminal, in this directory):

  PYTHONPATH=python python3 -c '
from toondb import IpcClient
with IpcClient.connect("$socket") as db:
    print(db.query("users/").select(["name", "email"]).limit(3).execute())
    print(db.stats()["memtable_size_bytes"])'

Ctrl-C stops the node (it finishes in-flight requests, syncs and removes the socket).

MSG
exec "$toondb" serve --config "$config"
