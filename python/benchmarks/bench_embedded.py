#!/usr/bin/env python3
"""ToonDB embedded mode against RocksDB, LevelDB and LMDB, driven from Python, side by side.

Usage (from the repository root)::

    .venv/bin/python python/benchmarks/bench_embedded.py                  # defaults below
    .venv/bin/python python/benchmarks/bench_embedded.py --num 200000 --sync-num 2000 --runs 1

Engines (each through its usual Python binding, with one adapter class per engine below):
``toondb`` (this repository's SDK over ``libtoondb_storage.so``), ``rocksdict`` (RocksDB),
``plyvel`` (LevelDB) and ``lmdb`` (py-lmdb).

Data: ``--num`` pairs (default 1,000,000). A key is the 16-byte zero-padded decimal of a
number in ``range(num)``; the numbers are shuffled with a fixed seed, so every engine gets
the same keys in the same random order. A value is 100 pseudo-random bytes (fixed seed, so
incompressible: RocksDB's and LevelDB's default Snappy compression gains nothing from it)
chosen by the key's number. Every subprocess builds exactly the same bytes before it starts
its clock.

Workloads (the timed part is the loop only; opening, closing, building the data and the
checks are outside the clock and reported in the JSON output):

``fill_single``
    ``num`` puts one at a time into a fresh database, in the shuffled order, no fsync.
    lmdb has no auto-commit put, so each put is its own write transaction (one commit per
    put, as in the other engines).
``fill_batch``
    The same pairs into a fresh database in atomic batches of ``--batch`` (1,000):
    toondb ``put_many``, rocksdict ``WriteBatch`` + ``write``, plyvel ``write_batch``,
    lmdb one write transaction per batch. No fsync.
``fill_sync``
    The first ``--sync-num`` (10,000) pairs, one put at a time, each durable before the call
    returns: toondb ``sync_mode="full"``, rocksdict ``WriteOptions.sync = True``, plyvel
    ``put(sync=True)``, lmdb environment opened with ``sync=True`` (LMDB's default
    ``metasync`` stays on) and one write transaction per put. Fresh database.
``read_random``
    ``num`` gets of keys that are all present, in a second shuffled order, on the database
    that ``fill_single`` built in the same run, reopened by the subprocess (so each engine
    reads its persisted state plus whatever it keeps in memory; the OS page cache is warm,
    as nothing drops it). lmdb reads everything in one read transaction, which is how LMDB
    is used for reads (a transaction per get would measure transaction setup, not reads).
``scan_full``
    One full scan of that same database in key order, counting the pairs.

Durability is matched in the non-sync rows: every engine writes its log/pages to the OS on
each commit but never fsyncs (toondb ``sync_mode="off"``, RocksDB and LevelDB defaults with
their WAL on, lmdb ``sync=False``), so a process crash loses nothing and a machine crash may.

Fairness:

* Every (engine, workload, run) runs in its own subprocess: a fresh interpreter, so memory,
  allocator and GC state do not carry from one engine to the next. The subprocess builds the
  data, then ``gc.collect()`` + ``gc.freeze()`` so that garbage collection does not rescan
  the million-item data lists during the clock (the same for every engine).
* Engines are interleaved: for each run, for each workload, each engine. The engine order
  rotates by one per run, so no engine always follows the same neighbour.
* The driver calls ``sync()`` before starting each subprocess, so the previous engine's
  dirty pages are not written back during the next engine's measurement.
* rocksdict and plyvel use default options (rocksdict in raw mode, which only means keys and
  values are stored as the given bytes instead of pickled). lmdb uses ``map_size`` large
  enough for the data, ``writemap=False`` and otherwise default flags.
* Each subprocess has a timeout (``--timeout``, 600 s); a subprocess that runs over it is
  killed and its cell reported as a timeout. Every loop is bounded by a count.

Checks (outside the clock): after each fill, 100 random gets of written keys must return
their values; after ``read_random``, the same on 100 random keys; ``scan_full`` must count
exactly ``num`` pairs. A failed check fails the cell.

Report: the median ops/s of the ``--runs`` runs per (workload, engine), the best peer (the
fastest of rocksdict, plyvel and lmdb) and the ratio toondb / best peer; then every run's
figure; then the machine, date and versions. ``--json FILE`` writes every raw result.

The driver sets ``PYTHONPATH`` to this checkout's ``python/`` folder and, when unset,
``TOONDB_LIB_PATH`` to ``.build/release`` for the subprocesses.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

ENGINES = ("toondb", "rocksdict", "plyvel", "lmdb")
PEERS = ("rocksdict", "plyvel", "lmdb")
WORKLOADS = ("fill_single", "fill_batch", "fill_sync", "read_random", "scan_full")
# Workloads that run on the database fill_single built in the same run.
ON_FILLED = ("read_random", "scan_full")

KEY_SIZE = 16
VALUE_SIZE = 100
ORDER_SEED = 1       # write order
READ_SEED = 2        # read order
VALUE_SEED = 3       # value bytes
CHECK_SEED = 4       # which keys the spot checks read
SPOT_CHECKS = 100

REPO = Path(__file__).resolve().parents[2]
RESULT_PREFIX = "RESULT "


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------

def make_key(number: int) -> bytes:
    return b"%016d" % number


class Dataset:
    """The keys and values of a run, the same bytes in every subprocess."""

    def __init__(self, num: int) -> None:
        import numpy

        self.num = num
        self._values = numpy.random.default_rng(VALUE_SEED).bytes(num * VALUE_SIZE)
        self._order = numpy.random.default_rng(ORDER_SEED).permutation(num).tolist()

    def value_of(self, number: int) -> bytes:
        start = number * VALUE_SIZE
        return self._values[start:start + VALUE_SIZE]

    def write_pairs(self, count: int) -> Tuple[List[bytes], List[bytes]]:
        """The first ``count`` keys of the write order and their values."""
        numbers = self._order[:count]
        return [make_key(n) for n in numbers], [self.value_of(n) for n in numbers]

    def read_keys(self) -> List[bytes]:
        """Every key once, in the read order (a different shuffle)."""
        import numpy

        return [make_key(n) for n in numpy.random.default_rng(READ_SEED).permutation(self.num).tolist()]

    def spot_check(self, engine: "Engine", written: int) -> None:
        """Reads SPOT_CHECKS random keys among the first ``written`` of the write order."""
        import random

        rng = random.Random(CHECK_SEED)
        for _ in range(min(SPOT_CHECKS, written)):
            number = self._order[rng.randrange(written)]
            got = engine.get(make_key(number))
            if got != self.value_of(number):
                raise AssertionError(f"key {make_key(number)!r}: got {got!r:.60}, expected its value")


# ---------------------------------------------------------------------------------------
# Engines: one adapter per engine, all with the same methods. The timed loops live in the
# adapters so that each uses its binding the usual way (methods bound to locals alike).
# ---------------------------------------------------------------------------------------

class Engine:
    """An engine's adapter. The defaults serve bindings with ``db.put``/``db.get``/``db.close``
    (toondb, rocksdict, plyvel); an adapter overrides what its binding does differently."""

    name = ""
    db: Any = None

    def open(self, path: str, sync: bool, num: int) -> None:
        """Opens (creating if needed) the database at ``path``; ``sync``: fsync each commit."""
        raise NotImplementedError

    def put_each(self, keys: Sequence[bytes], values: Sequence[bytes]) -> None:
        """One committed put per pair."""
        put = self.db.put
        for key, value in zip(keys, values):
            put(key, value)

    def put_batches(self, keys: Sequence[bytes], values: Sequence[bytes], batch: int) -> None:
        """The pairs in atomic batches of ``batch``."""
        raise NotImplementedError

    def get_each(self, keys: Sequence[bytes]) -> None:
        """One get per key."""
        get = self.db.get
        for key in keys:
            get(key)

    def get(self, key: bytes) -> Optional[bytes]:
        return self.db.get(key)

    def scan_count(self) -> int:
        """Iterates over every (key, value) pair in key order; returns how many."""
        raise NotImplementedError

    def close(self) -> None:
        self.db.close()

    @staticmethod
    def versions() -> Dict[str, str]:
        raise NotImplementedError


class ToonDB(Engine):
    name = "toondb"

    def open(self, path: str, sync: bool, num: int) -> None:
        import toondb

        self.db = toondb.Database.open(path, {"sync_mode": "full" if sync else "off"})

    def put_batches(self, keys: Sequence[bytes], values: Sequence[bytes], batch: int) -> None:
        put_many = self.db.put_many
        for start in range(0, len(keys), batch):
            put_many(zip(keys[start:start + batch], values[start:start + batch]))

    def scan_count(self) -> int:
        count = 0
        for _pair in self.db.scan():
            count += 1
        return count

    @staticmethod
    def versions() -> Dict[str, str]:
        import toondb
        from toondb import _native

        library = Path(_native.find_library())
        built = datetime.datetime.fromtimestamp(library.stat().st_mtime).isoformat(timespec="seconds")
        return {"toondb (Python SDK)": toondb.__version__, "libtoondb_storage.so": f"{library} (modified {built})"}


class RocksDict(Engine):
    name = "rocksdict"

    def open(self, path: str, sync: bool, num: int) -> None:
        import rocksdict

        self._rocksdict = rocksdict
        self.db = rocksdict.Rdict(path, rocksdict.Options(raw_mode=True))
        if sync:
            options = rocksdict.WriteOptions()
            options.sync = True
            self.db.set_write_options(options)

    def put_batches(self, keys: Sequence[bytes], values: Sequence[bytes], batch: int) -> None:
        write = self.db.write
        WriteBatch = self._rocksdict.WriteBatch
        for start in range(0, len(keys), batch):
            write_batch = WriteBatch(raw_mode=True)
            put = write_batch.put
            for key, value in zip(keys[start:start + batch], values[start:start + batch]):
                put(key, value)
            write(write_batch)

    def scan_count(self) -> int:
        count = 0
        for _pair in self.db.items():
            count += 1
        return count

    @staticmethod
    def versions() -> Dict[str, str]:
        import importlib.metadata

        import rocksdict

        # rocksdict does not expose RocksDB's version; RocksDB writes it into its LOG file.
        rocksdb = "?"
        with tempfile.TemporaryDirectory(dir=".") as scratch:
            db = rocksdict.Rdict(scratch, rocksdict.Options(raw_mode=True))
            db.close()
            for line in Path(scratch, "LOG").read_text(errors="replace").splitlines():
                if "RocksDB version:" in line:
                    rocksdb = line.split("RocksDB version:", 1)[1].strip()
                    break
        return {"rocksdict": importlib.metadata.version("rocksdict"), "RocksDB": rocksdb}


class Plyvel(Engine):
    name = "plyvel"

    def open(self, path: str, sync: bool, num: int) -> None:
        import plyvel

        self.db = plyvel.DB(path, create_if_missing=True)
        self.sync = sync

    def put_each(self, keys: Sequence[bytes], values: Sequence[bytes]) -> None:
        put = self.db.put
        sync = self.sync
        for key, value in zip(keys, values):
            put(key, value, sync=sync)

    def put_batches(self, keys: Sequence[bytes], values: Sequence[bytes], batch: int) -> None:
        write_batch = self.db.write_batch
        for start in range(0, len(keys), batch):
            with write_batch(sync=self.sync) as pending:
                put = pending.put
                for key, value in zip(keys[start:start + batch], values[start:start + batch]):
                    put(key, value)

    def scan_count(self) -> int:
        count = 0
        for _pair in self.db.iterator():
            count += 1
        return count

    @staticmethod
    def versions() -> Dict[str, str]:
        import plyvel

        return {"plyvel": plyvel.__version__, "LevelDB": plyvel.__leveldb_version__}


class Lmdb(Engine):
    name = "lmdb"

    def open(self, path: str, sync: bool, num: int) -> None:
        import lmdb

        # Virtual address space only (the file grows as pages are used): ~8x the raw data.
        map_size = max(1 << 30, num * 1024)
        self.env = lmdb.open(path, map_size=map_size, writemap=False, sync=sync)

    def put_each(self, keys: Sequence[bytes], values: Sequence[bytes]) -> None:
        begin = self.env.begin
        for key, value in zip(keys, values):
            with begin(write=True) as txn:
                txn.put(key, value)

    def put_batches(self, keys: Sequence[bytes], values: Sequence[bytes], batch: int) -> None:
        begin = self.env.begin
        for start in range(0, len(keys), batch):
            with begin(write=True) as txn:
                put = txn.put
                for key, value in zip(keys[start:start + batch], values[start:start + batch]):
                    put(key, value)

    def get_each(self, keys: Sequence[bytes]) -> None:
        with self.env.begin() as txn:
            get = txn.get
            for key in keys:
                get(key)

    def get(self, key: bytes) -> Optional[bytes]:
        with self.env.begin() as txn:
            return txn.get(key)

    def scan_count(self) -> int:
        count = 0
        with self.env.begin() as txn:
            for _pair in txn.cursor():
                count += 1
        return count

    def close(self) -> None:
        self.env.close()

    @staticmethod
    def versions() -> Dict[str, str]:
        import lmdb

        return {"py-lmdb": lmdb.__version__, "LMDB": ".".join(map(str, lmdb.version()))}


ADAPTERS = {cls.name: cls for cls in (ToonDB, RocksDict, Plyvel, Lmdb)}


# ---------------------------------------------------------------------------------------
# Subprocess side: one workload on one engine
# ---------------------------------------------------------------------------------------

def run_workload(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Runs ``spec["workload"]`` on ``spec["engine"]`` at ``spec["path"]``; returns timings."""
    workload, num, sync_num, batch = spec["workload"], spec["num"], spec["sync_num"], spec["batch"]
    data = Dataset(num)
    engine: Engine = ADAPTERS[spec["engine"]]()

    if workload == "fill_sync":
        keys, values = data.write_pairs(sync_num)
    elif workload in ("fill_single", "fill_batch"):
        keys, values = data.write_pairs(num)
    elif workload == "read_random":
        keys, values = data.read_keys(), []
    elif workload == "scan_full":
        keys, values = [], []
    else:
        raise ValueError(f"unknown workload {workload}")
    ops = len(keys) if keys else num

    gc.collect()
    gc.freeze()

    started = time.perf_counter()
    engine.open(spec["path"], workload == "fill_sync", num)
    opened = time.perf_counter()
    if workload in ("fill_single", "fill_sync"):
        engine.put_each(keys, values)
    elif workload == "fill_batch":
        engine.put_batches(keys, values, batch)
    elif workload == "read_random":
        engine.get_each(keys)
    else:
        count = engine.scan_count()
    done = time.perf_counter()

    if workload == "scan_full":
        if count != num:
            raise AssertionError(f"scan counted {count} pairs, expected {num}")
    else:
        data.spot_check(engine, sync_num if workload == "fill_sync" else num)
    checked = time.perf_counter()
    engine.close()
    closed = time.perf_counter()

    seconds = done - opened
    return {"ops": ops, "seconds": seconds, "ops_per_s": ops / seconds,
            "open_s": opened - started, "check_s": checked - done, "close_s": closed - checked}


def child_main(spec_text: str) -> int:
    spec = json.loads(spec_text)
    if spec.get("versions"):
        result: Dict[str, Any] = {"numpy": __import__("numpy").__version__}
        for name in spec["engines"]:
            result.update(ADAPTERS[name].versions())
    else:
        result = run_workload(spec)
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


# ---------------------------------------------------------------------------------------
# Driver side
# ---------------------------------------------------------------------------------------

def child_env() -> Dict[str, str]:
    env = dict(os.environ)
    python_dir = str(REPO / "python")
    env["PYTHONPATH"] = python_dir + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    release = REPO / ".build" / "release"
    if not env.get("TOONDB_LIB_PATH") and release.is_dir():
        env["TOONDB_LIB_PATH"] = str(release)
    return env


def run_child(spec: Dict[str, Any], timeout: float, cwd: str) -> Dict[str, Any]:
    """Runs one subprocess; returns its result, or ``{"status": "failed"|"timeout", ...}``."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    if "path" in spec:
        os.makedirs(os.path.dirname(spec["path"]), exist_ok=True)
    os.sync()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=child_env(), cwd=cwd, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return {"status": "timeout", "error": f"killed after {timeout:g} s"}
    results = [line[len(RESULT_PREFIX):] for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if process.returncode != 0 or not results:
        tail = (stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"status": "failed", "error": f"exit {process.returncode}: {tail}", "stderr": stderr[-4000:]}
    return {"status": "ok", **json.loads(results[-1])}


def machine_info(data_dir: str) -> Dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB"
    except OSError:
        pass
    filesystem = "?"
    try:
        # The mount point holding the data directory: the longest one that prefixes it.
        real = os.path.realpath(data_dir)
        best = ""
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, fstype = line.split()[:3]
            if (real == mount or real.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
                best, filesystem = mount, f"{fstype} on {device} (mounted at {mount})"
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "memory": memory,
            "kernel": f"{platform.system()} {platform.release()}", "data filesystem": filesystem}


def fmt_ops(value: Optional[float]) -> str:
    return "—" if value is None else f"{value:,.0f}"


class Results:
    """Every subprocess result, and the tables made from them."""

    def __init__(self, engines: Sequence[str], workloads: Sequence[str]) -> None:
        self.engines, self.workloads = list(engines), list(workloads)
        self.raw: List[Dict[str, Any]] = []

    def add(self, run: int, workload: str, engine: str, result: Dict[str, Any]) -> None:
        self.raw.append({"run": run, "workload": workload, "engine": engine, **result})

    def cell(self, workload: str, engine: str) -> List[Dict[str, Any]]:
        return [r for r in self.raw if r["workload"] == workload and r["engine"] == engine]

    def median(self, workload: str, engine: str) -> Optional[float]:
        ok = [r["ops_per_s"] for r in self.cell(workload, engine) if r["status"] == "ok"]
        return statistics.median(ok) if ok else None

    def median_text(self, workload: str, engine: str) -> str:
        results = self.cell(workload, engine)
        ok = [r for r in results if r["status"] == "ok"]
        if not ok:
            statuses = sorted({r["status"] for r in results}) or ["not run"]
            return "/".join(statuses)
        text = fmt_ops(self.median(workload, engine))
        return text if len(ok) == len(results) else f"{text} ({len(ok)}/{len(results)} ok)"

    def summary_table(self) -> str:
        peers = [e for e in self.engines if e in PEERS]
        header = ["workload", *(f"{e} ops/s" for e in self.engines)]
        if peers:
            header.append("best peer ops/s")
        if "toondb" in self.engines and peers:
            header.append("toondb / best peer")
        lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
        for workload in self.workloads:
            row = [workload, *(self.median_text(workload, e) for e in self.engines)]
            best = max(((self.median(workload, p), p) for p in peers if self.median(workload, p) is not None),
                       default=(None, ""))
            if peers:
                row.append(f"{fmt_ops(best[0])} ({best[1]})" if best[0] is not None else "—")
            if "toondb" in self.engines and peers:
                toon = self.median(workload, "toondb")
                row.append(f"{toon / best[0]:.2f}" if toon is not None and best[0] else "—")
            lines.append("| " + " | ".join(row) + " |")
        return "\n".join(lines)

    def runs_table(self) -> str:
        header = ["workload", *self.engines]
        lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * len(self.engines) + "|"]
        for workload in self.workloads:
            row = [workload]
            for engine in self.engines:
                by_run = sorted(self.cell(workload, engine), key=lambda r: r["run"])
                row.append(" / ".join(fmt_ops(r["ops_per_s"]) if r["status"] == "ok" else r["status"]
                                      for r in by_run) or "—")
            lines.append("| " + " | ".join(row) + " |")
        return "\n".join(lines)

    def failures(self) -> List[str]:
        return [f"run {r['run']} {r['workload']} {r['engine']}: {r['status']}: {r.get('error', '')}"
                for r in self.raw if r["status"] != "ok"]


def parse_list(text: str, allowed: Sequence[str], what: str) -> List[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in items if item not in allowed]
    if unknown or not items:
        given = ", ".join(unknown) or "(none)"
        raise argparse.ArgumentTypeError(f"unknown {what} {given}; choose from {', '.join(allowed)}")
    return [item for item in allowed if item in items]  # canonical order


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="See the module docstring for the methodology.")
    parser.add_argument("--num", type=int, default=1_000_000, help="pairs for fill/read/scan (default 1,000,000)")
    parser.add_argument("--sync-num", type=int, default=10_000, help="synced puts in fill_sync (default 10,000)")
    parser.add_argument("--batch", type=int, default=1000, help="pairs per batch in fill_batch (default 1000)")
    parser.add_argument("--runs", type=int, default=3, help="runs of every (engine, workload); the median is reported")
    parser.add_argument("--engines", default=",".join(ENGINES), type=lambda t: parse_list(t, ENGINES, "engine"),
                        help=f"comma list (default {','.join(ENGINES)})")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), type=lambda t: parse_list(t, WORKLOADS, "workload"),
                        help=f"comma list (default {','.join(WORKLOADS)})")
    parser.add_argument("--data", default=".", help="directory in which a temporary data folder is made and removed "
                                                   "(default: the current directory)")
    parser.add_argument("--json", metavar="FILE", help="write the raw results and metadata to FILE")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per subprocess (default 600)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is None:
        if not 1 <= args.num < 10 ** KEY_SIZE:
            parser.error(f"--num must be between 1 and {10 ** KEY_SIZE - 1}")
        if not 1 <= args.sync_num <= args.num:
            parser.error("--sync-num must be between 1 and --num")
        if args.batch < 1 or args.runs < 1 or args.timeout <= 0:
            parser.error("--batch, --runs and --timeout must be positive")
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    if args.child is not None:
        return child_main(args.child)

    engines, workloads = args.engines, args.workloads
    os.makedirs(args.data, exist_ok=True)
    root = os.path.abspath(tempfile.mkdtemp(prefix="bench_embedded_", dir=args.data))
    started = datetime.datetime.now(datetime.timezone.utc)
    results = Results(engines, workloads)
    base = {"num": args.num, "sync_num": args.sync_num, "batch": args.batch}
    try:
        versions = run_child({"versions": True, "engines": engines}, args.timeout, root)
        if versions["status"] != "ok":
            log(f"cannot read the versions: {versions['error']}")
        for run in range(1, args.runs + 1):
            shift = (run - 1) % len(engines)
            order = engines[shift:] + engines[:shift]
            run_dir = Path(root, f"run{run}")
            filled: Dict[str, bool] = {}
            # read_random and scan_full need fill_single's database; build it untimed if
            # fill_single itself is not among the workloads.
            if any(w in ON_FILLED for w in workloads) and "fill_single" not in workloads:
                for engine in order:
                    path = str(run_dir / engine / "fill_single")
                    result = run_child({**base, "engine": engine, "workload": "fill_single", "path": path},
                                       args.timeout, root)
                    filled[engine] = result["status"] == "ok"
                    log(f"[run {run}/{args.runs}] setup fill_single {engine}: {result['status']}")
            for workload in workloads:
                for engine in order:
                    path = run_dir / engine / ("fill_single" if workload in ON_FILLED else workload)
                    if workload in ON_FILLED and not filled.get(engine):
                        result = {"status": "skipped", "error": "fill_single failed in this run"}
                    else:
                        result = run_child({**base, "engine": engine, "workload": workload, "path": str(path)},
                                           args.timeout, root)
                    if workload == "fill_single":
                        filled[engine] = result["status"] == "ok"
                    if workload in ("fill_batch", "fill_sync"):
                        shutil.rmtree(path, ignore_errors=True)
                    results.add(run, workload, engine, result)
                    status = f"{fmt_ops(result['ops_per_s'])} ops/s ({result['seconds']:.2f} s)" \
                        if result["status"] == "ok" else f"{result['status']}: {result.get('error', '')}"
                    log(f"[run {run}/{args.runs}] {workload} {engine}: {status}")
            shutil.rmtree(run_dir, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    machine = machine_info(args.data)
    version_info = {k: v for k, v in versions.items() if k != "status"} if versions["status"] == "ok" else {}
    command = " ".join([os.path.relpath(sys.executable), os.path.relpath(__file__), *argv])
    print("## ToonDB embedded vs RocksDB / LevelDB / LMDB from Python\n")
    print(f"- **Command:** `{command}`")
    print(f"- **Date:** {started.isoformat(timespec='seconds')}")
    print(f"- **Machine:** {machine['nproc']} CPUs ({machine['cpu']}), {machine['memory']} RAM, "
          f"{machine['kernel']}; data on {machine['data filesystem']}")
    print(f"- **Python:** {platform.python_version()} ({sys.executable})")
    print("- **Versions:** " + ", ".join(f"{k} {v}" for k, v in version_info.items()))
    print(f"- **Workloads:** {args.num:,} pairs of {KEY_SIZE}-byte keys / {VALUE_SIZE}-byte values; "
          f"fill_sync {args.sync_num:,} puts; batches of {args.batch:,}; "
          f"median of {args.runs} run{'s' if args.runs != 1 else ''}\n")
    print(results.summary_table())
    if args.runs > 1:
        print("\nEvery run (ops/s, run 1 / run 2 / ...):\n")
        print(results.runs_table())
    failures = results.failures()
    if failures:
        print("\nFailures:\n")
        for failure in failures:
            print(f"- {failure}")

    if args.json:
        report = {"date": started.isoformat(), "command": command, "settings": {**base, "runs": args.runs,
                  "engines": engines, "workloads": workloads, "timeout": args.timeout},
                  "machine": machine, "python": platform.python_version(), "versions": version_info,
                  "results": results.raw,
                  "medians": {w: {e: results.median(w, e) for e in engines} for w in workloads}}
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
