#!/usr/bin/env bash
# Runs RocksDB's db_bench (Debian rocksdb-tools) and `toondb bench` on the same workloads and
# prints one combined table (ops/s of each and the ratio toondb/rocksdb).
#
#   fillseq      db_bench --benchmarks=fillseq                      toondb fillseq
#   fillrandom   db_bench --benchmarks=fillrandom                   toondb fillrandom
#   readrandom   db_bench --benchmarks=readrandom --use_existing_db=1 (on the fillrandom db)
#   readseq      db_bench --benchmarks=readseq --use_existing_db=1    (same)
#   syncwrite    db_bench --benchmarks=fillrandom --sync=1 --num=SYNC_NUM --threads=1
#   syncwrite16  db_bench --benchmarks=fillrandom --sync=1 --num=SYNC_NUM/THREADS --threads=THREADS
#   rawsync      toondb only: 4 KiB pwrite+fdatasync appends (the disk's baseline)
# (db_bench's `fillsync` ignores --num in this version and runs unbounded: not used.)
#
# Both tools get --key_size=16 --value_size=100, no compression, the same NUM and SYNC_NUM.
#
# Usage: scripts/bench-rocksdb.sh [--num N] [--sync-num N] [--threads N] [--dir DIR] [--keep]
#   --dir   working directory (default bench-data/); raw outputs stay in DIR/results
#   TOONDB=path/to/toondb to use a given binary (default: builds .build/release/toondb)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

num=1000000
sync_num=10000
threads=16
dir=bench-data
keep=0
key_size=16
value_size=100
while [ $# -gt 0 ]; do
    case "$1" in
        --num) num="$2"; shift 2 ;;
        --sync-num) sync_num="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --dir) dir="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-rocksdb: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
for value in "$num" "$sync_num" "$threads"; do
    [[ "$value" =~ ^[1-9][0-9]*$ ]] || { echo "bench-rocksdb: expected a positive integer, got '$value'" >&2; exit 2; }
done
per_thread=$(( sync_num / threads ))
[ "$per_thread" -ge 1 ] || { echo "bench-rocksdb: --sync-num must be at least --threads" >&2; exit 2; }

if ! command -v db_bench >/dev/null 2>&1; then
    scripts/install-deps.sh rocksdb-tools
fi
db_bench="$(command -v db_bench)"

toondb="${TOONDB:-}"
if [ -z "$toondb" ]; then
    swift build -c release >&2
    toondb=.build/release/toondb
fi

rm -rf "$dir/rocksdb" "$dir/rocksdb-sync" "$dir/rocksdb-sync16" "$dir/toondb" "$dir/results"
mkdir -p "$dir/results"
out="$dir/results"
common=(--key_size="$key_size" --value_size="$value_size" --compression_type=none --histogram=1)

run_db_bench() {  # NAME ARGS...: one db_bench run, its output in $out/rocksdb-NAME.txt
    local name="$1"; shift
    echo "bench-rocksdb: db_bench $name" >&2
    "$db_bench" "${common[@]}" "$@" > "$out/rocksdb-$name.txt" 2>&1 || {
        echo "bench-rocksdb: db_bench $name failed:" >&2; tail -5 "$out/rocksdb-$name.txt" >&2; exit 1; }
}
run_db_bench fillseq --benchmarks=fillseq --num="$num" --db="$dir/rocksdb"
run_db_bench fillrandom --benchmarks=fillrandom --num="$num" --db="$dir/rocksdb"
run_db_bench read --benchmarks=readrandom,readseq --use_existing_db=1 --num="$num" --db="$dir/rocksdb"
run_db_bench syncwrite --benchmarks=fillrandom --sync=1 --num="$sync_num" --threads=1 --db="$dir/rocksdb-sync"
run_db_bench syncwrite16 --benchmarks=fillrandom --sync=1 --num="$per_thread" --threads="$threads" --db="$dir/rocksdb-sync16"

echo "bench-rocksdb: toondb bench" >&2
keep_flag=()
[ "$keep" = 1 ] && keep_flag=(--keep)
"$toondb" bench --json --num "$num" --sync-num "$sync_num" --threads "$threads" --key-size "$key_size" \
    --value-size "$value_size" --dir "$dir/toondb" --log-level warning "${keep_flag[@]}" > "$out/toondb.jsonl"

[ "$keep" = 1 ] || rm -rf "$dir/rocksdb" "$dir/rocksdb-sync" "$dir/rocksdb-sync16"
python3 scripts/bench_table.py "$out" --num "$num" --sync-num "$sync_num" --threads "$threads" | tee "$out/summary.md"
