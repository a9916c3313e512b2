#!/usr/bin/env bash
# `make prod-deploy-contracts`: deploys the stack's contracts that are missing on the running
# Docker stack's chain (`ande deploy` in a one-off container on the stack's network; what is
# deployed is only checked) and writes the addresses it prints to $DEPLOYMENTS_DIR/<env>.json
# (./deployments), the file the services and the dApp read addresses from.
#   scripts/deploy-contracts.sh [--network local|testnet|mainnet]   (the spec's form; or ENV=...)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--network" ]; then
  [ -n "${2:-}" ] || { echo "deploy-contracts: --network needs a name" >&2; exit 1; }
  export ENV=$2
  shift 2
fi
# shellcheck source=lib/stack.sh
. scripts/lib/stack.sh

out_dir=${DEPLOYMENTS_DIR:-./deployments}
mkdir -p "$out_dir"
say "deploying what is missing on chain $CHAIN_ID ($STACK_ENV)"
if ! compose run --rm --no-deps -T deploy-contracts >"$out_dir/$STACK_ENV.json.new"; then
  rm -f "$out_dir/$STACK_ENV.json.new"
  die "the deployment failed (its log is above); nothing was written"
fi
mv "$out_dir/$STACK_ENV.json.new" "$out_dir/$STACK_ENV.json"
say "addresses written to $out_dir/$STACK_ENV.json"
cat "$out_dir/$STACK_ENV.json"
