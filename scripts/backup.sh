#!/usr/bin/env bash
# `make prod-backup`: one timestamped archive of the stack's state, in $BACKUP_DIR (./backups):
#   node-data.tar   the sequencer's volume (redb files are consistent only when closed)
#   da-data.tar     celestia-da's volume: the local DA node's redb files, or with
#                   DA_LAYER=celestia the light node's store (its account key among them)
#   deployments.tar the deployments volume: deployments/<env>.json and the deployer's journal
#   redis/dump.rdb  SAVE: claims, cooldowns, the payout queue, the senders' journals, the
#                   bundler's mempool, bundles and reputation, the paymaster's budget
#   postgres.dump   pg_dump in custom format
# taken during one short stop of the sequencer, the DA node, faucet-api, the bundler and the
# paymaster, so they agree.
#   manifest.json   environment, chain id, time, and the head seen before the stop
# Restore with `make prod-restore ARCHIVE=...` (docs/docker.md, "Backup and restore").
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/stack.sh
. scripts/lib/stack.sh

# Archives hold keys (the light node's account) and every claim: owner-only.
umask 077
out_dir=${BACKUP_DIR:-./backups}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
name=andechain-$STACK_ENV-$stamp
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/$name/redis" "$out_dir"
dest=$work/$name
rpc_url=http://127.0.0.1:${RPC_HOST_PORT:-8545}

rpc() {
  curl -sS --max-time 5 -H 'content-type: application/json' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}" "$rpc_url"
}

# One point in time for all three: the sequencer and the faucet stop first, so no payout is
# mined after the Redis snapshot (it would be paid again after a restore) and no claim is
# accepted after it. faucet-ui stays up and answers 502 meanwhile.
head=$(rpc eth_getBlockByNumber '["latest",false]' | sed -n 's/.*"hash":"\(0x[0-9a-f]*\)".*"number":"\(0x[0-9a-f]*\)".*/\2 \1/p' || true)
# The paymaster too when it runs: no sponsorship charged after the snapshot.
writers=(faucet-api bundler-4337)
[ "${ENABLE_PAYMASTER:-false}" = true ] && writers+=(paymaster)
say "stopping ${writers[*]}, the sequencer and the DA node for a consistent copy (head before: ${head:-unknown})"
compose stop "${writers[@]}" ev-reth-sequencer celestia-da >/dev/null
restart() { compose up -d --no-deps --wait celestia-da ev-reth-sequencer "${writers[@]}" >/dev/null; }
trap 'restart; rm -rf "$work"' EXIT

say "Redis: SAVE"
compose exec -T redis redis-cli SAVE >/dev/null
compose cp redis:/data/dump.rdb "$dest/redis/dump.rdb" >/dev/null

say "Postgres: pg_dump"
compose exec -T postgres sh -c 'pg_dump -U "$POSTGRES_USER" -d "$POSTGRES_DB" -Fc' >"$dest/postgres.dump"

# edge-data: the edge's certificates, its ACME account and local CA (so a restore neither asks
# Let's Encrypt again nor hands clients a new CA).
for volume in node-data da-data deployments edge-data; do
  say "volume $volume"
  docker run --rm --user 0 --entrypoint tar -v "${PROJECT}_$volume:/data:ro" -v "$dest:/backup" "$ANDE_IMAGE" \
    -C /data -cf "/backup/$volume.tar" .
done
say "starting the DA node, the sequencer and ${writers[*]} again"
restart
trap 'rm -rf "$work"' EXIT

cat >"$dest/manifest.json" <<JSON
{
  "stack_env": "$STACK_ENV",
  "chain_id": ${CHAIN_ID},
  "da_layer": "$DA_LAYER",
  "created_at": "$stamp",
  "head_number_before_stop": "${head%% *}",
  "head_hash_before_stop": "${head##* }",
  "contents": ["node-data.tar", "da-data.tar", "deployments.tar", "redis/dump.rdb", "postgres.dump"]
}
JSON
tar -C "$work" -czf "$out_dir/$name.tar.gz" "$name"
echo "$out_dir/$name.tar.gz"
