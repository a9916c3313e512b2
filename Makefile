# AndeChain stack. `make up` runs the local stack; `make test` runs every test.
SHELL := /bin/bash
CARGO ?= cargo
ANDE := target/release/ande
E2E := tests/e2e

.PHONY: all build up test test-rust test-e2e e2e-deps bench clean help

all: build

help:
	@echo "make up        build and run the local stack (sequencer on genesis/local.json, chain 1234)"
	@echo "make test      run every test (Rust unit and integration tests, end-to-end with real clients)"
	@echo "make bench     run the benchmarks against anvil (see docs/benchmarks.md)"

build:
	$(CARGO) build --release --locked

up: build
	$(ANDE) up

# End-to-end dependencies: real clients (cast, anvil, viem, solc-js) from npm, pinned by the lock
# file, and real servers and a browser from Debian (redis-server, chromium).
e2e-deps:
	scripts/install-test-deps.sh

test: test-rust test-e2e

test-rust:
	$(CARGO) test --release --locked --workspace

test-e2e: build e2e-deps
	cd $(E2E) && ANDE_BIN=$(CURDIR)/$(ANDE) npm test

# Side by side with anvil, same genesis and workload; figures in docs/benchmarks.md.
bench: build e2e-deps
	target/release/ande-bench throughput
	target/release/ande-bench rpc
	target/release/ande-bench cadence --seconds 300
	target/release/ande-bench memory
	target/release/ande-bench faucet

clean:
	$(CARGO) clean
	rm -rf data
