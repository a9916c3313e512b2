#!/usr/bin/env bash
# `make prod-deploy-contracts`: deploys the stack's contracts that are missing on the running
# Docker stack's chain (`ande deploy` in a one-off container on the stack's network, as every
# start runs it; what is deployed is only checked) and copies the stack's deployments file to
# $DEPLOYMENTS_DIR/<env>.json (./deployments), the file the services and the dApp read.
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
compose run --rm --no-deps -T deploy-contracts >&2 || die "the deployment failed (its log is above)"
docker run --rm --network none --entrypoint cat -v "${PROJECT}_deployments:/deployments:ro" "$ANDE_IMAGE" \
  "/deployments/$STACK_ENV.json" >"$out_dir/$STACK_ENV.json.new"
mv "$out_dir/$STACK_ENV.json.new" "$out_dir/$STACK_ENV.json"
say "addresses written to $out_dir/$STACK_ENV.json"
cat "$out_dir/$STACK_ENV.json"
