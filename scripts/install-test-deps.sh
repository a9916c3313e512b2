#!/usr/bin/env bash
# Installs what the end-to-end tests need on a fresh machine: Debian's redis-server (real Redis
# for the faucet's tests), postgresql (the explorer's tests) and chromium (headless browser tests), and the npm clients pinned in
# tests/e2e/package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-test-deps: need ${missing[*]}; run as root or install them with apt-get" >&2
    exit 1
  fi
  echo "install-test-deps: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

(cd tests/e2e && npm ci --no-audit --no-fund)
