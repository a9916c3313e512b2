#!/usr/bin/env bash
# `make prod-restore ARCHIVE=backups/....tar.gz`: brings an empty stack (no containers, no
# volumes) back to the archive's point, then starts it. With WIPE=1 it first removes this
# environment's containers and volumes. Refuses an archive of another chain id.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/stack.sh
. scripts/lib/stack.sh

archive=${1:-${ARCHIVE:-}}
[ -n "$archive" ] && [ -f "$archive" ] || die "usage: make prod-restore ARCHIVE=backups/<name>.tar.gz"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xzf "$archive"
src=$(find "$work" -mindepth 2 -maxdepth 2 -name manifest.json -printf '%h\n' | head -1)
[ -n "$src" ] || die "$archive has no manifest.json: not a backup of this stack"
archived_chain=$(sed -n 's/.*"chain_id": *\([0-9]*\).*/\1/p' "$src/manifest.json")
[ "$archived_chain" = "$CHAIN_ID" ] || die "$archive holds chain $archived_chain, this environment ($ENV_FILE) is chain $CHAIN_ID"
# da-data holds that layer's node (archives from before DA_LAYER are of the local one).
archived_layer=$(sed -n 's/.*"da_layer": *"\([a-z]*\)".*/\1/p' "$src/manifest.json")
[ "${archived_layer:-local}" = "$DA_LAYER" ] || die "$archive is of a stack on DA_LAYER=${archived_layer:-local}, this environment ($ENV_FILE) runs DA_LAYER=$DA_LAYER"
for part in node-data.tar da-data.tar redis/dump.rdb postgres.dump; do
  [ -s "$src/$part" ] || die "$archive lacks $part: nothing was changed"
done
# Archives from before the deployments volume have none: the next start deploys again.
volumes="node-data da-data"
[ -s "$src/deployments.tar" ] && volumes="$volumes deployments"
[ -s "$src/edge-data.tar" ] && volumes="$volumes edge-data"

if [ -n "${WIPE:-}" ]; then
  say "WIPE=1: removing $PROJECT's containers and volumes"
  compose down --volumes --remove-orphans
fi
existing=$(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT")
[ -z "$existing" ] || die "$PROJECT still has volumes ($(echo $existing)): restore needs an empty stack (make prod-stop, then WIPE=1)"

say "creating the stack's volumes"
compose create >/dev/null

for volume in $volumes; do
  say "volume $volume"
  docker run --rm --user 0 --entrypoint tar -v "${PROJECT}_$volume:/data" -v "$src:/backup:ro" "$ANDE_IMAGE" \
    -C /data --same-owner -xf "/backup/$volume.tar"
done

# Redis loads an RDB only without an append-only file: load it with AOF off, then turn AOF on,
# which writes the AOF from memory, and shut down cleanly. As root: the archive's files are
# owner-only; /data is handed to the redis user at the end.
say "Redis: claims and cooldowns"
docker run --rm --user 0 --entrypoint sh -v "${PROJECT}_redis-data:/data" -v "$src/redis:/backup:ro" "${REDIS_IMAGE:-redis:7}" -c '
  set -e
  cp /backup/dump.rdb /data/dump.rdb
  redis-server --dir /data --appendonly no --daemonize yes --port 6390 >/dev/null
  until redis-cli -p 6390 ping >/dev/null 2>&1; do sleep 0.1; done
  redis-cli -p 6390 config set appendonly yes >/dev/null
  until redis-cli -p 6390 info persistence | grep -q "aof_rewrite_in_progress:0" &&
        redis-cli -p 6390 info persistence | grep -q "aof_rewrite_scheduled:0" &&
        redis-cli -p 6390 info persistence | grep -q "aof_enabled:1"; do sleep 0.1; done
  redis-cli -p 6390 shutdown >/dev/null 2>&1 || true
  if [ "$(id -u)" = 0 ] && id redis >/dev/null 2>&1; then chown -R redis /data; fi'

say "Postgres: pg_restore"
compose up -d --wait postgres >/dev/null
compose exec -T postgres sh -c 'pg_restore -U "$POSTGRES_USER" -d "$POSTGRES_DB" --clean --if-exists --no-owner' <"$src/postgres.dump"

say "starting the stack"
compose up -d --wait --wait-timeout "$WAIT_TIMEOUT"
say "restored $(basename "$archive")"
