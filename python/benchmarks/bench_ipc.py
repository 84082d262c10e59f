#!/usr/bin/env python3
"""ToonDB's IPC server against Redis and ToonDB's original server, side by side.

Usage (from the repository root; ``make bench-ipc`` builds and installs what it needs)::

    python3 python/benchmarks/bench_ipc.py --toondb-server .build/release/toondb-server \\
        --load .build/release/toondb-ipc-bench --sochdb-server PATH [--runs 3]

Servers, each on a Unix domain socket in a fresh directory:

``toondb``
    ``toondb-server`` with ``--sync-mode normal`` (the WAL is written on every commit and
    fsynced every 100 ms: a machine crash loses at most that window).
``redis``
    ``redis-server`` with ``appendonly yes`` and ``appendfsync everysec`` (the AOF is written
    on every command and fsynced once a second), RDB snapshots off. Matched durability: both
    acknowledge after writing to the OS, and both bound the loss on a machine crash by a
    periodic fsync (ToonDB's window is the shorter).
``sochdb``
    ToonDB's original server, ``sochdb-server`` from the ``sochdb`` wheel on PyPI (same wire
    protocol), default settings. It fsyncs every PUT, so its load runs are cut after 10 s and
    measured on the requests that completed; under concurrent PUTs of the same key it answers
    some with "Write-write conflict detected" (counted as requests, listed after the table).

Load: for Redis, ``redis-benchmark -t set,get``; for the two ToonDB-protocol servers,
``toondb-ipc-bench``, which has redis-benchmark's shape: ``-c`` connections driven from one
event-loop thread, each sending a batch of ``-P`` requests and waiting for all of its replies
before the next batch (``-P 1``: no pipelining). Keys ``key:NNNNNNNNNNNN`` (16 bytes) drawn at
random from 100,000; values of 100 bytes; SET first (which also fills the key space), then GET.
ToonDB-protocol SET is PUT (0x01) and GET is GET (0x02), the opcodes ToonDB's clients use.

Each run starts every server afresh; servers are interleaved within a run and their order
rotates between runs. The table reports the median requests/s over the runs and the ratios
toondb/redis and toondb/sochdb.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Tuple

KEYSPACE = 100_000
VALUE_SIZE = 100
ERRORS: Dict[str, List[str]] = {}


def wait_for_socket(path: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening on {path}")
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(path)
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {path} after {timeout} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Server:
    name = ""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.directory = ""
        self.process: Optional[subprocess.Popen] = None

    def socket_path(self) -> str:
        return os.path.join(self.directory, "s.sock")

    def command(self) -> List[str]:
        raise NotImplementedError

    def start(self) -> None:
        self.directory = tempfile.mkdtemp(prefix=f"bench-ipc-{self.name}-", dir=self.args.work_dir)
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.directory)
        wait_for_socket(self.socket_path(), self.process)

    def stop(self) -> None:
        if self.process:
            stop(self.process)
        shutil.rmtree(self.directory, ignore_errors=True)

    #: Error replies are a failed run, except for servers known to send them under load.
    tolerates_errors = False
    #: Seconds a load run may take before it is cut short and measured on what completed
    #: (None: the run must complete).
    time_limit: Optional[float] = None

    def run(self, op: str, clients: int, pipeline: int, requests: int) -> float:
        """Requests per second of one load run (error replies count as requests, but are
        reported; they fail the run unless the server ``tolerates_errors``)."""
        command = [self.args.load, "--socket", self.socket_path(), "--op", op, "--clients", str(clients),
                   "--pipeline", str(pipeline), "--requests", str(requests), "--value-size", str(VALUE_SIZE),
                   "--keyspace", str(KEYSPACE)]
        if self.time_limit:
            command += ["--timeout", str(self.time_limit), "--allow-partial"]
        else:
            command += ["--timeout", str(self.args.timeout)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=self.args.timeout + 30)
        if result.returncode != 0:
            raise RuntimeError(f"{self.name} {op} c={clients} P={pipeline}: {result.stderr.strip() or result.stdout.strip()}")
        report = json.loads(result.stdout.strip().splitlines()[-1])
        if report["errors"]:
            message = f"{self.name} {op} c={clients} P={pipeline}: {report['errors']} error replies ({result.stderr.strip()})"
            if not self.tolerates_errors:
                raise RuntimeError(message)
            print(f"note: {message}", file=sys.stderr)
            ERRORS.setdefault(self.name, []).append(message)
        return float(report["rps"])


class ToonDB(Server):
    name = "toondb"

    def command(self) -> List[str]:
        return [self.args.toondb_server, "--db", os.path.join(self.directory, "db"), "--socket", self.socket_path(),
                "--sync-mode", "normal", "--max-clients", "1000", "--timeout-ms", "0", "--log-level", "warning"]


class SochDB(Server):
    name = "sochdb"
    # ToonDB's server answers concurrent PUTs of the same key with "Write-write conflict
    # detected" (each PUT is its own transaction there); those replies are counted and listed.
    tolerates_errors = True
    # Its PUT fsyncs every write (under 1,000/s here): each load run is cut after 10 s.
    time_limit = 10.0

    def command(self) -> List[str]:
        return [self.args.sochdb_server, "--db", os.path.join(self.directory, "db"), "--socket", self.socket_path(),
                "--max-clients", "1000", "--log-level", "warn"]


class Redis(Server):
    name = "redis"

    def command(self) -> List[str]:
        return ["redis-server", "--port", "0", "--unixsocket", self.socket_path(), "--unixsocketperm", "700",
                "--dir", self.directory, "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                "--maxclients", "1000", "--daemonize", "no"]

    def run(self, op: str, clients: int, pipeline: int, requests: int) -> float:
        command = ["redis-benchmark", "-s", self.socket_path(), "-t", op, "-n", str(requests), "-c", str(clients),
                   "-P", str(pipeline), "-d", str(VALUE_SIZE), "-r", str(KEYSPACE), "--csv"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=self.args.timeout + 30)
        if result.returncode != 0:
            raise RuntimeError(f"redis-benchmark: {result.stderr.strip()}")
        for row in csv.reader(io.StringIO(result.stdout)):
            if row and row[0].upper() == op.upper():
                return float(row[1])
        raise RuntimeError(f"redis-benchmark printed no {op} row: {result.stdout!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--toondb-server", required=True)
    parser.add_argument("--load", required=True, help="toondb-ipc-bench")
    parser.add_argument("--sochdb-server", help="ToonDB's original server binary (omit to skip it)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", default="1,16,64")
    parser.add_argument("--pipelines", default="1,16")
    parser.add_argument("--requests", type=int, default=200_000, help="requests per unpipelined cell")
    parser.add_argument("--pipelined-requests", type=int, default=1_000_000, help="requests per pipelined cell")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a single load run may take")
    parser.add_argument("--work-dir", default=None, help="where the servers' directories go (default: /tmp)")
    parser.add_argument("--json", help="also write every measurement to this file")
    args = parser.parse_args()
    # The servers run in their own directories: make the binaries' paths absolute.
    args.toondb_server = os.path.abspath(args.toondb_server)
    args.load = os.path.abspath(args.load)
    if args.sochdb_server:
        args.sochdb_server = os.path.abspath(args.sochdb_server)

    servers: List[Server] = [ToonDB(args), Redis(args)]
    if args.sochdb_server:
        servers.append(SochDB(args))
    clients = [int(c) for c in args.clients.split(",")]
    pipelines = [int(p) for p in args.pipelines.split(",")]
    cells = [(op, c, p) for p in pipelines for c in clients for op in ("set", "get")]
    results: Dict[Tuple[str, str, int, int], List[float]] = {}

    for run in range(args.runs):
        order = servers[run % len(servers):] + servers[:run % len(servers)]
        for server in order:
            # A fresh server per (run, pipeline depth): SET fills it, GET reads it.
            for pipeline in pipelines:
                server.start()
                try:
                    for clients_n in clients:
                        for op in ("set", "get"):
                            requests = args.pipelined_requests if pipeline > 1 else args.requests
                            rps = server.run(op, clients_n, pipeline, requests)
                            results.setdefault((server.name, op, clients_n, pipeline), []).append(rps)
                            print(f"run {run + 1} {server.name:7} {op} c={clients_n:<3} P={pipeline:<3} {rps:12,.0f} req/s",
                                  file=sys.stderr, flush=True)
                finally:
                    server.stop()

    def median(name: str, op: str, c: int, p: int) -> Optional[float]:
        values = results.get((name, op, c, p))
        return statistics.median(values) if values else None

    print(f"\nToonDB IPC vs Redis {redis_version()} and sochdb-server; {platform.node()}, {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d')}; median of {args.runs} runs, requests/s\n")
    header = "| op | clients | pipeline | toondb | redis | toondb/redis |"
    line = "|---|---|---|---|---|---|"
    if args.sochdb_server:
        header += " sochdb | toondb/sochdb |"
        line += "---|---|"
    print(header)
    print(line)
    for op, c, p in cells:
        t, r = median("toondb", op, c, p), median("redis", op, c, p)
        row = f"| {op.upper()} | {c} | {p} | {t:,.0f} | {r:,.0f} | {t / r:.2f}× |"
        if args.sochdb_server:
            s = median("sochdb", op, c, p)
            row += f" {s:,.0f} | {t / s:.1f}× |"
        print(row)
    for name, messages in ERRORS.items():
        print(f"\n{name}: {len(messages)} load runs had error replies, e.g. {messages[0]}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump([{"server": k[0], "op": k[1], "clients": k[2], "pipeline": k[3], "rps": v} for k, v in results.items()], out, indent=1)
    return 0


def redis_version() -> str:
    try:
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
        return out.split("v=")[1].split()[0]
    except Exception:  # noqa: BLE001 - only for the table's title
        return "?"


if __name__ == "__main__":
    sys.exit(main())
