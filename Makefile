# AndeChain stack. `make up` runs the local stack; `make test` runs every test.
SHELL := /bin/bash
CARGO ?= cargo
ANDE := target/release/ande
E2E := tests/e2e

ANDE_IMAGE ?= andechain/ande:local
# Every image `make docker-image` builds is also tagged with its version, the workspace's and
# the commit's (-dirty for a tree with changes), so the versions a stack ran stay on the host
# for `make prod-rollback`.
ANDE_VERSION ?= $(shell v=$$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1); \
	c=$$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown); \
	git diff --quiet HEAD 2>/dev/null || c=$$c-dirty; echo $$v-$$c)
ANDE_REPO ?= andechain/ande
# The tests' images (never the production tag), their version tags removed when they end.
TEST_REPO := andechain/ande-ci
PROD := scripts/prod.sh

.PHONY: all build frontend up test test-rust test-e2e test-docker e2e-deps bench bench-frontend bench-bridge bench-docker clean help docker-image \
	prod-secrets prod-start prod-stop prod-restart prod-status prod-logs prod-health prod-backup prod-restore prod-rollback prod-deploy-contracts

all: build

help:
	@echo "make up        build and run the local stack (sequencer on genesis/local.json, chain 1234, DA node, faucet, explorer, bundler, dApp, contracts, the bridge to a local chain 31337)"
	@echo "make test      run every test (Rust unit and integration tests, end-to-end with real clients)"
	@echo "make bench     run the benchmarks against anvil (see docs/benchmarks.md)"
	@echo "make prod-start [ENV=local|testnet|mainnet]   the Docker production stack (docs/docker.md);"
	@echo "     prod-stop, prod-restart, prod-status, prod-health, prod-backup, prod-restore ARCHIVE=...,"
	@echo "     prod-logs [SERVICE=a,b] [SINCE=10m LEVEL=warn GREP=text: the matching lines, merged by time],"
	@echo "     prod-rollback [ARCHIVE=... WIPE=1] (the version that ran before, and the backup when given),"
	@echo "     prod-deploy-contracts (deploys what is missing, writes deployments/<env>.json)"

build:
	$(CARGO) build --release --locked

# The dApp's static export (frontend/out): one build for every network, rebuilt when its
# sources change. Offline once npm has its packages: system fonts, no telemetry.
FRONTEND_SOURCES := $(shell find frontend/app frontend/components frontend/lib frontend/scripts -type f 2>/dev/null) \
	frontend/package.json frontend/package-lock.json frontend/next.config.mjs frontend/tsconfig.json
frontend: frontend/out/index.html
frontend/out/index.html: $(FRONTEND_SOURCES)
	cd frontend && npm ci --no-audit --no-fund && NEXT_TELEMETRY_DISABLED=1 npm run build

up: build frontend
	$(ANDE) up

# End-to-end dependencies: real clients (cast, anvil, viem, solc-js) from npm, pinned by the lock
# file, and real servers and a browser from Debian (redis-server, chromium).
e2e-deps:
	scripts/install-test-deps.sh

test: test-rust test-e2e test-docker

test-rust:
	$(CARGO) test --release --locked --workspace

test-e2e: build frontend e2e-deps
	cd $(E2E) && ANDE_BIN=$(CURDIR)/$(ANDE) npm test

# The production stack on a real Docker engine (provisioned when none answers): image, compose
# file, health, restart, backup and restore.
test-docker: e2e-deps
	scripts/provision-docker.sh
	$(MAKE) docker-image ANDE_IMAGE=$(TEST_REPO):local ANDE_REPO=$(TEST_REPO)
	cd $(E2E) && ANDE_IMAGE=$(TEST_REPO):local ANDE_REPO=$(TEST_REPO) ANDE_BIN=$(CURDIR)/target/image/ande node --test docker/*.test.js

# The ande image from the binary built here (the Dockerfile's `host` target); `docker build .`
# builds it from source on the Rust image instead.
docker-image: frontend
	cargo build --locked --profile image -p ande --bin ande
	mkdir -p target/docker
	cp target/image/ande target/docker/ande
	docker build --quiet --target host --label org.opencontainers.image.version=$(ANDE_VERSION) \
		-t $(ANDE_IMAGE) -t $(ANDE_REPO):$(ANDE_VERSION) . >/dev/null
	@docker image inspect $(ANDE_IMAGE) --format 'image $(ANDE_IMAGE) = $(ANDE_REPO):$(ANDE_VERSION): {{.Size}} bytes'

# The production stack (docker-compose.prod.yml); ENV=local|testnet|mainnet picks .env.$(ENV).
prod-secrets: docker-image
	$(PROD) secrets
prod-start: docker-image
	$(PROD) start
prod-stop:
	$(PROD) stop
prod-restart:
	$(PROD) restart
prod-status:
	$(PROD) status
prod-logs:
	$(PROD) logs $(SERVICE)
prod-health:
	$(PROD) health
prod-backup:
	$(PROD) backup
prod-restore:
	$(PROD) restore $(ARCHIVE)
prod-rollback:
	ARCHIVE=$(ARCHIVE) $(PROD) rollback
# The spec's form: scripts/deploy-contracts.sh --network testnet (ENV picks the network here).
prod-deploy-contracts:
	$(PROD) deploy-contracts

# The dApp in Chromium: interaction latency and Lighthouse scores; figures in docs/benchmarks.md.
bench-frontend: build frontend e2e-deps
	cd $(E2E) && ANDE_BIN=$(CURDIR)/$(ANDE) node bench/frontend.js

# The bridge with production timing: latency by part, messages a second; docs/benchmarks.md.
bench-bridge: build e2e-deps
	cd $(E2E) && ANDE_BIN=$(CURDIR)/$(ANDE) node bench/bridge.js

# Cold start of the Docker stack (images built), median of RUNS; figures in docs/docker.md.
bench-docker: docker-image
	scripts/bench-cold-start.sh

# Side by side with anvil, same genesis and workload; figures in docs/benchmarks.md.
bench: build e2e-deps
	target/release/ande-bench throughput
	target/release/ande-bench rpc
	target/release/ande-bench cadence --seconds 300
	target/release/ande-bench da
	target/release/ande-bench memory
	target/release/ande-bench state
	target/release/ande-bench faucet
	target/release/ande-bench bundler
	target/release/ande-bench ratelimit
	$(MAKE) bench-frontend
	$(MAKE) bench-bridge

clean:
	$(CARGO) clean
	rm -rf data frontend/out frontend/.next
