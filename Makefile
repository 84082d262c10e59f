# ToonDB: build, test, run and benchmark.   `make help` lists the targets.
#
# Variables (override on the command line, e.g. `make run SCRATCH=.build-cli`):
#   SCRATCH       SwiftPM build directory (default .build)
#   CONFIG        node configuration used by `make run` (default config/node.toml)
#   TEST_RESULTS  where `make test` leaves xUnit files (default $(SCRATCH)/test-results)
#   TEST_PASSES   the test passes `make test` runs, each a `test-<pass>` target
#   SAMPLE_COUNT, BENCH_NUM, BENCH_SYNC_NUM, BENCH_THREADS
SHELL := /bin/bash
.DEFAULT_GOAL := help

SWIFT          ?= swift
SCRATCH        ?= .build
SWIFT_FLAGS     = --scratch-path $(SCRATCH)
DEBUG_BIN       = $(SCRATCH)/debug/toondb
RELEASE_BIN     = $(SCRATCH)/release/toondb
CONFIG         ?= config/node.toml
TEST_RESULTS   ?= $(SCRATCH)/test-results
# To add a pass (e.g. pytest), append its name here and define a `test-<name>` target that
# writes <name>.xml (xUnit/JUnit) into $(TEST_RESULTS); .ci/run counts every *.xml there.
TEST_PASSES    ?= swift-posix swift-io_uring pytest
VENV           ?= .venv
PYTHON          = $(VENV)/bin/python
# The SDK's optional C extension, compiled next to its source (tests and benchmarks import the
# SDK from python/).
BUILD_SPEEDUPS  = cd python && $(abspath $(PYTHON)) setup.py -q build_ext --inplace
SAMPLE_COUNT   ?= 100000
BENCH_NUM      ?= 1000000
BENCH_SYNC_NUM ?= 10000
BENCH_THREADS  ?= 16

.PHONY: help deps build release build-tests test clean-test-results $(addprefix test-,$(TEST_PASSES)) run bench bench-embedded bench-ipc bench-vectors wheel venv clean

help:
	@echo "make deps      install missing system packages (liburing-dev, pkg-config)"
	@echo "make build     debug build"
	@echo "make release   release build ($(RELEASE_BIN))"
	@echo "make test      build the tests and run every pass: $(TEST_PASSES)"
	@echo "               (xUnit results in $(TEST_RESULTS); .ci/run sums them)"
	@echo "make run       release build, load $(SAMPLE_COUNT) sample pairs into ./data, serve them on ./data/toondb.sock (Ctrl-C stops)"
	@echo "make bench     toondb bench and RocksDB db_bench on the same workloads (BENCH_NUM=$(BENCH_NUM))"
	@echo "make bench-embedded  the Python SDK against rocksdict, plyvel and lmdb (python/benchmarks)"
	@echo "make bench-ipc the IPC server against redis-server and ToonDB's sochdb-server (BENCH_ARGS=--runs 3 ...)"
	@echo "make bench-vectors  the HNSW index against hnswlib, faiss, usearch (VECTOR_DATA=../shared/vectors)"
	@echo "make wheel     release library bundled into a Python wheel in dist/"
	@echo "make clean     remove build products, test results and bench-data/ (./data is kept)"

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build $(SWIFT_FLAGS)

release: deps
	$(SWIFT) build -c release $(SWIFT_FLAGS)

build-tests: deps
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)

# Every pass runs even when an earlier one fails; the target fails if any did. Old results
# go first, so a failed build never leaves stale ones to be counted.
test: clean-test-results build-tests
	@status=0; for pass in $(TEST_PASSES); do \
	    $(MAKE) --no-print-directory test-$$pass || status=1; \
	done; \
	echo "test results: $(TEST_RESULTS)"; exit $$status

clean-test-results:
	@rm -rf $(TEST_RESULTS) && mkdir -p $(TEST_RESULTS)

test-swift-posix:
	@TOONDB_IO=posix scripts/swift-test-pass.sh swift-posix $(TEST_RESULTS) $(SWIFT_FLAGS)

# Only where the kernel lets this process use io_uring (automatic selection says so).
test-swift-io_uring:
	@backend=$$(scripts/io-backend.sh $(DEBUG_BIN)) || exit 1; \
	if [ "$$backend" = io_uring ]; then \
	    TOONDB_IO=io_uring scripts/swift-test-pass.sh swift-io_uring $(TEST_RESULTS) $(SWIFT_FLAGS); \
	else \
	    echo "=== skipping the io_uring pass: io_uring is not usable here (automatic selection chose $$backend) ==="; \
	fi

# The Python SDK's tests against the debug library and server that build-tests produced.
test-pytest:
	@scripts/python-venv.sh $(VENV) test
	@echo "=== building the SDK's C extension in place (python/toondb/_speedups) ==="
	@$(BUILD_SPEEDUPS)
	@echo "=== pytest (python/tests, library $(SCRATCH)/debug) ==="
	@TOONDB_EXPECT_SPEEDUPS=1 TOONDB_LIB_PATH=$(abspath $(SCRATCH))/debug TOONDB_SERVER=$(abspath $(SCRATCH))/debug/toondb-server \
	    TOONDB_BULK_PATH=$(abspath $(SCRATCH))/debug/toondb-bulk \
	    PYTHONPATH=python $(PYTHON) -m pytest python/tests -q \
	    -p no:cacheprovider --junitxml=$(TEST_RESULTS)/pytest.xml

venv:
	@scripts/python-venv.sh $(VENV) test bench

# A wheel with the self-contained release library inside (py3-none-<platform>).
wheel: deps
	$(SWIFT) build -c release --product toondb_storage $(SWIFT_FLAGS)
	@# toondb-bulk with the Swift runtime linked in (its own build folder: the flag changes every product).
	$(SWIFT) build -c release --product toondb-bulk --static-swift-stdlib --scratch-path $(SCRATCH)-static
	@scripts/python-venv.sh $(VENV)
	rm -rf python/toondb/lib python/toondb/_bin python/build && mkdir -p python/toondb/lib python/toondb/_bin/$$(uname -m)-unknown-linux-gnu
	cp $(SCRATCH)/release/libtoondb_storage.so python/toondb/lib/
	strip --strip-debug python/toondb/lib/libtoondb_storage.so
	cp $(SCRATCH)-static/release/toondb-bulk python/toondb/_bin/$$(uname -m)-unknown-linux-gnu/
	$(PYTHON) -m pip wheel -q --no-deps -w dist ./python
	rm -rf python/toondb/lib python/toondb/_bin python/build
	@ls dist/toondb-*.whl

bench-embedded: deps venv
	$(SWIFT) build -c release --product toondb_storage $(SWIFT_FLAGS)
	@$(BUILD_SPEEDUPS)
	TOONDB_LIB_PATH=$(abspath $(SCRATCH))/release PYTHONPATH=python $(PYTHON) python/benchmarks/bench_embedded.py $(BENCH_ARGS)

# A node: loads the (deterministic, so idempotent) sample into the configured data directory,
# then serves it on its Unix socket until Ctrl-C (SIGINT), which shuts it down cleanly.
run: release
	@scripts/run-node.sh $(RELEASE_BIN) $(CONFIG) $(SAMPLE_COUNT)

# The IPC server against redis-server (Debian) and ToonDB's original server (the sochdb wheel).
bench-ipc: deps
	$(SWIFT) build -c release --product toondb-server $(SWIFT_FLAGS)
	$(SWIFT) build -c release --product toondb-ipc-bench $(SWIFT_FLAGS)
	@scripts/install-deps.sh redis-server redis-tools
	@scripts/sochdb-server.sh bench-data/sochdb > /dev/null
	python3 python/benchmarks/bench_ipc.py --toondb-server $(SCRATCH)/release/toondb-server \
	    --load $(SCRATCH)/release/toondb-ipc-bench --sochdb-server "$$(scripts/sochdb-server.sh bench-data/sochdb)" $(BENCH_ARGS)

# The HNSW index (through toondb-bulk) against hnswlib, faiss and usearch. VECTOR_DATA holds the
# MiniLM vectors (minilm384_*.npy); BENCH_ARGS adds e.g. --random 100000 --runs 3.
VECTOR_DATA ?= ../shared/vectors
bench-vectors: deps venv
	$(SWIFT) build -c release --product toondb-bulk $(SWIFT_FLAGS)
	$(PYTHON) python/benchmarks/bench_vectors.py --bulk $(SCRATCH)/release/toondb-bulk --data $(VECTOR_DATA) $(BENCH_ARGS)

bench: release
	TOONDB=$(RELEASE_BIN) scripts/bench-rocksdb.sh --num $(BENCH_NUM) --sync-num $(BENCH_SYNC_NUM) --threads $(BENCH_THREADS)

clean:
	-$(SWIFT) package clean $(SWIFT_FLAGS)
	rm -rf $(TEST_RESULTS) bench-data
