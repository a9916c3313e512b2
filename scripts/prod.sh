#!/usr/bin/env bash
# The production stack's commands, behind `make prod-*`:
#   scripts/prod.sh start|stop|restart|status|logs|health|backup|restore ARCHIVE|rollback|secrets|deploy-contracts
# ENV picks the environment file (.env.$ENV, default local); DEBUG_PORTS=1 also maps Postgres and
# Redis on the host's loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=lib/stack.sh
. scripts/lib/stack.sh

# The development keys genesis/local.json lists, in order (DEVELOPMENT ONLY).
dev_keys() { grep -o '"secretKey": *"0x[0-9a-fA-F]*"' genesis/local.json | grep -o '0x[0-9a-fA-F]*'; }
# The development key of the address genesis/local.json names as its sequencer
# (config.ande.sequencerAddress), as `ande up` signs DA batches with.
sequencer_dev_key() {
  address=$(grep -o '"sequencerAddress": *"0x[0-9a-fA-F]*"' genesis/local.json | grep -o '0x[0-9a-fA-F]*')
  grep -A3 "\"$address\": *{" genesis/local.json | grep -o '"secretKey": *"0x[0-9a-fA-F]*"' | grep -o '0x[0-9a-fA-F]*'
}

# With DA_LAYER=celestia the light node's RPC checks HS256 JWTs signed with a key from its
# keystore. The key is made here (celestia_jwt_secret, in the keystore's JSON form; the light
# node's entrypoint installs it) and the sequencer's da_auth_token minted from it by
# `ande celestia-token` (read and write, no admin), the key passed on stdin, never in argv.
celestia_auth() {
  if [ ! -s "$SECRETS/celestia_jwt_secret" ]; then
    say "generating $SECRETS/celestia_jwt_secret (the light node's RPC key)"
    (umask 077; printf '{"body":"%s"}' "$(head -c 32 /dev/urandom | base64 -w0)" >"$SECRETS/celestia_jwt_secret")
    rm -f "$SECRETS/da_auth_token"
  fi
  if [ ! -s "$SECRETS/da_auth_token" ]; then
    say "minting $SECRETS/da_auth_token from it"
    docker image inspect "$ANDE_IMAGE" >/dev/null 2>&1 || die "no image $ANDE_IMAGE: run make docker-image"
    if ! (umask 077
          docker run --rm -i --network none --entrypoint ande "$ANDE_IMAGE" celestia-token \
            <"$SECRETS/celestia_jwt_secret" >"$SECRETS/da_auth_token.new"); then
      rm -f "$SECRETS/da_auth_token.new"
      die "could not mint da_auth_token from $SECRETS/celestia_jwt_secret"
    fi
    mv "$SECRETS/da_auth_token.new" "$SECRETS/da_auth_token"
  fi
}

# Secrets live in secrets/<env>/ (ignored by git), a 0700 folder; the files in it are made
# readable (0644) for the containers' users, which mount them one by one.
secrets() {
  mkdir -p "$SECRETS"
  chmod 700 "$SECRETS"
  [ -e "$SECRETS/captcha_secret" ] || : >"$SECRETS/captcha_secret"
  # Partners' keys (one a line): no per-client rate on the public RPC, no other namespace.
  [ -e "$SECRETS/rpc_partner_keys" ] || : >"$SECRETS/rpc_partner_keys"
  [ "$DA_LAYER" = celestia ] && celestia_auth
  for random in postgres_password da_auth_token rpc_admin_key; do
    if [ ! -s "$SECRETS/$random" ]; then
      say "generating $SECRETS/$random"
      head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SECRETS/$random"
    fi
  done
  if [ ! -s "$SECRETS/faucet_private_key" ]; then
    if [ "$GENESIS_FILE" = "local.json" ]; then
      # Development only: genesis/local.json lists its keys; the faucet pays from the last one.
      say "using genesis/local.json's last development key for the local faucet"
      (umask 022; dev_keys | tail -1 >"$SECRETS/faucet_private_key")
    else
      die "no faucet key: put the funded faucet account's private key (hex) in $SECRETS/faucet_private_key"
    fi
  fi
  if [ ! -e "$SECRETS/deployer_private_key" ]; then
    if [ "$GENESIS_FILE" = "local.json" ]; then
      # Development only: contracts are deployed from genesis/local.json's second key.
      (umask 022; dev_keys | sed -n 2p >"$SECRETS/deployer_private_key")
    else
      # Empty: `make prod-deploy-contracts` only checks what is deployed until a funded key is put here.
      : >"$SECRETS/deployer_private_key"
    fi
  fi
  if [ ! -s "$SECRETS/bundler_private_key" ]; then
    if [ "$GENESIS_FILE" = "local.json" ]; then
      # Development only: bundles are sent from genesis/local.json's fifth key.
      (umask 022; dev_keys | sed -n 5p >"$SECRETS/bundler_private_key")
    else
      die "no bundler key: put a funded account's private key (hex) in $SECRETS/bundler_private_key"
    fi
  fi
  if [ ! -s "$SECRETS/paymaster_signer_key" ]; then
    if [ "$GENESIS_FILE" = "local.json" ]; then
      (umask 022; dev_keys | sed -n 6p >"$SECRETS/paymaster_signer_key")
    elif [ "${ENABLE_PAYMASTER:-false}" = true ]; then
      # A new key: it only signs sponsorships; the VerifyingPaymaster is deployed for its address.
      say "generating $SECRETS/paymaster_signer_key (the paymaster's signer)"
      (umask 077; printf '0x%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$SECRETS/paymaster_signer_key")
    else
      # Empty: no VerifyingPaymaster is deployed while sponsoring is off.
      : >"$SECRETS/paymaster_signer_key"
    fi
  fi
  if [ "$GENESIS_FILE" = "local.json" ]; then
    # Development only: batches are signed with the key of the sequencer genesis/local.json
    # names, written every time so that a key from an older checkout is replaced.
    (umask 022; sequencer_dev_key >"$SECRETS/sequencer_key") || true
    [ -s "$SECRETS/sequencer_key" ] || die "genesis/local.json lists no development key for its config.ande.sequencerAddress"
  elif [ ! -s "$SECRETS/sequencer_key" ]; then
    # A new key; its address (ande_daStatus "sequencer") is what full nodes set as SEQUENCER_ADDRESS,
    # or what the genesis names as config.ande.sequencerAddress.
    say "generating $SECRETS/sequencer_key (the DA batch signing key)"
    (umask 077; printf '0x%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$SECRETS/sequencer_key")
  fi
  chmod 0644 "$SECRETS"/*
}

# What celestia-da needs before anything starts: a consensus node for a light node, and the
# layer the chain has posted to so far. A chain's blocks are in one DA layer: switching
# would leave them all missing from the new one, so a stack whose node-data exists keeps its
# layer (recorded in the secrets folder; stacks from before DA_LAYER posted to `local`).
check_da() {
  if [ "$DA_LAYER" = celestia ] && [ -z "${CELESTIA_CORE_IP:-}" ]; then
    die "DA_LAYER=celestia needs CELESTIA_CORE_IP in $ENV_FILE: the host of a gRPC endpoint of a consensus node on ${CELESTIA_NETWORK:-mocha} (docs/docker.md, \"Celestia\")"
  fi
  local recorded
  if docker volume inspect "${PROJECT}_node-data" >/dev/null 2>&1; then
    recorded=$(cat "$SECRETS/da_layer" 2>/dev/null || echo local)
    [ "$recorded" = "$DA_LAYER" ] || die "this stack's chain posts its blocks to DA_LAYER=$recorded; on DA_LAYER=$DA_LAYER they would all be missing from DA. Keep DA_LAYER=$recorded, or start a new chain: make prod-stop, then docker volume rm \$(docker volume ls -q --filter label=com.docker.compose.project=$PROJECT)"
  fi
  mkdir -p "$SECRETS"
  echo "$DA_LAYER" >"$SECRETS/da_layer"
}

# With EDGE_TLS=internal the edge's certificates come from its own CA, made at its first start:
# its root certificate (public; the CA's key stays in the edge-data volume) goes to
# secrets/<env>/edge_ca.crt for clients (`curl --cacert`, SSL_CERT_FILE, a browser's trust store).
edge_ca() {
  [ "${EDGE_TLS:-}" = internal ] || return 0
  local root=/data/caddy/pki/authorities/local/root.crt tries=0
  until compose exec -T edge test -s "$root" 2>/dev/null; do
    tries=$((tries + 1))
    [ "$tries" -lt 30 ] || die "the edge made no local CA in 30 s ($root): see make prod-logs SERVICE=edge"
    sleep 1
  done
  compose cp "edge:$root" "$SECRETS/edge_ca.crt" >/dev/null || die "could not copy the edge's local CA certificate"
  chmod 644 "$SECRETS/edge_ca.crt"
}

# The ande image a start or a rollback runs, appended to secrets/<env>/releases (time, image id,
# version tag) when it is not the one that ran last: the versions prod-rollback goes back to.
record_release() {
  local id last tag
  id=$(docker image inspect --format '{{.Id}}' "$1") || die "no image $1"
  last=$( (tail -n 1 "$SECRETS/releases" 2>/dev/null || true) | cut -d' ' -f2)
  [ "$id" != "$last" ] || return 0
  tag=$(docker image inspect --format '{{range .RepoTags}}{{println .}}{{end}}' "$id" | { grep -v ':local$' || true; } | head -n 1)
  # A tag of its own, so a rebuild that moves the version tag (-dirty) leaves it unprunable.
  docker tag "$id" "${ANDE_IMAGE%:*}:run-${id:7:12}"
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $id ${tag:-$1}" >>"$SECRETS/releases"
}

# The image the sequencer runs now (the last recorded one when it runs none).
running_image() {
  local container
  container=$(compose ps -q ev-reth-sequencer 2>/dev/null || true)
  if [ -n "$container" ]; then
    docker inspect --format '{{.Image}}' "$container"
  else
    (tail -n 1 "$SECRETS/releases" 2>/dev/null || true) | cut -d' ' -f2
  fi
}

# Back to the image that ran before the one running now, on the same volumes (with ARCHIVE, the
# backup restored too: WIPE=1 as for prod-restore). ANDE_IMAGE is tagged to it, so every later
# command (backups, restores, deploys) runs it too, until prod-start builds the checkout again.
# A second rollback goes forward again.
rollback() {
  local current previous id tag
  [ -s "$SECRETS/releases" ] || die "no version recorded in $SECRETS/releases: nothing to roll back to"
  current=$(running_image)
  previous=$(awk -v current="$current" '$2 != current { line = $0 } END { print line }' "$SECRETS/releases")
  [ -n "$previous" ] || die "only one version has run here ($current): nothing to roll back to"
  read -r _ id tag <<<"$previous"
  docker image inspect "$id" >/dev/null 2>&1 || die "the previous version ($tag, $id) is no longer on this host"
  say "rolling back to $tag ($id)"
  docker tag "$id" "$ANDE_IMAGE"
  if [ -n "${ARCHIVE:-}" ]; then
    scripts/restore.sh "$ARCHIVE"
    edge_ca
  else
    compose up -d --wait --wait-timeout "$WAIT_TIMEOUT"
  fi
  record_release "$id"
  compose ps
}

# The edge's names with a /health behind them.
edge_names() { echo "app rpc explorer faucet bundler$([ "${ENABLE_PAYMASTER:-false}" = true ] && echo ' paymaster')"; }

# What a newcomer needs after start: the public URLs through the edge.
edge_summary() {
  local port=:${EDGE_HTTPS_HOST_PORT:-443} name
  [ "$port" != :443 ] || port=
  say "public, through the edge on $(edge_host):"
  say "  wss://rpc.$PUBLIC_DOMAIN$port (and wss://ws.$PUBLIC_DOMAIN$port)"
  for name in $(edge_names); do say "  https://$name.$PUBLIC_DOMAIN$port"; done
  [ "${EDGE_TLS:-}" != internal ] || say "  certified by the edge's local CA: $SECRETS/edge_ca.crt"
}

cmd=${1:-}
shift || true
case "$cmd" in
  secrets) secrets ;;
  start)
    [ -n "${CHAIN_ID:-}" ] || die "CHAIN_ID is not set in $ENV_FILE: the stack will not start until the chain id is decided"
    check_da
    secrets
    docker image inspect "$ANDE_IMAGE" >/dev/null 2>&1 || die "no image $ANDE_IMAGE: run make docker-image"
    compose up -d --wait --wait-timeout "$WAIT_TIMEOUT"
    edge_ca
    record_release "$ANDE_IMAGE"
    compose ps
    edge_summary
    ;;
  stop) compose down --remove-orphans ;;
  restart) compose restart "$@" ;;
  status) compose ps --all ;;
  # With a query (LEVEL, SINCE, GREP; SERVICE too), the lines that match, merged by time
  # (scripts/logs.sh); without, the services' logs followed.
  logs)
    if [ -n "${LEVEL:-}${SINCE:-}${GREP:-}" ]; then
      scripts/logs.sh
    else
      read -r -a services <<<"${*//,/ }"
      compose logs --follow --tail "${TAIL:-200}" "${services[@]}"
    fi
    ;;
  health)
    RPC_URL=http://127.0.0.1:${RPC_HOST_PORT:-8545} \
    FAUCET_API_URL=http://127.0.0.1:${FAUCET_API_HOST_PORT:-8081} \
    FAUCET_UI_URL=http://127.0.0.1:${FAUCET_UI_HOST_PORT:-3001} \
    FRONTEND_URL=http://127.0.0.1:${FRONTEND_HOST_PORT:-3000} \
    BUNDLER_URL=http://127.0.0.1:${BUNDLER_HOST_PORT:-4337} \
    PAYMASTER_URL=$([ "${ENABLE_PAYMASTER:-false}" = true ] && echo "http://127.0.0.1:${PAYMASTER_HOST_PORT:-4338}") \
    DA_URL=http://127.0.0.1:${DA_HOST_PORT:-26658} \
    DA_TOKEN_FILE=$SECRETS/da_auth_token \
    EXPLORER_URL=http://127.0.0.1:${EXPLORER_HOST_PORT:-4000} \
    EDGE_DOMAIN=${PUBLIC_DOMAIN:-} EDGE_PORT=${EDGE_HTTPS_HOST_PORT:-443} EDGE_ADDR=$(edge_host) \
    EDGE_NAMES="$(edge_names)" \
    EDGE_CACERT=$([ "${EDGE_TLS:-}" = internal ] && echo "$SECRETS/edge_ca.crt") \
    COMPOSE_PROJECT=$PROJECT \
      scripts/check-services-health.sh
    ;;
  backup) scripts/backup.sh "$@" ;;
  deploy-contracts) secrets; scripts/deploy-contracts.sh "$@" ;;
  restore) check_da; secrets; scripts/restore.sh "$@"; edge_ca ;;
  rollback) check_da; secrets; rollback ;;
  *) die "usage: scripts/prod.sh start|stop|restart|status|logs|health|backup|restore ARCHIVE|rollback|secrets|deploy-contracts" ;;
esac
