#!/usr/bin/env bash
# Checks every service of the stack and reports each one; exits non-zero if any failed.
#   - the sequencer: a JSON-RPC eth_blockNumber POST, then the head must advance;
#   - celestia-da: a JSON-RPC header.NetworkHead with the token in DA_TOKEN_FILE (both DA layers,
#     `ande da` and celestia-node, answer it), then its head must advance within DA_HEAD_WAIT;
#   - every service with a /health endpoint: HTTP 200 and "status":"ok";
#   - with EDGE_DOMAIN: the /health of each name in EDGE_NAMES (rpc, explorer, ...) through the
#     edge, over HTTPS on EDGE_ADDR:EDGE_PORT, its certificate checked (against EDGE_CACERT when set);
#   - with COMPOSE_PROJECT set: every container of that project running and, when it has a
#     health check, healthy (this covers Postgres and Redis, which are not published); the
#     one-shot deploy-contracts exited with 0.
# URLs come from the environment (defaults: the stack's ports on 127.0.0.1); an empty URL skips
# that service. `make prod-health` sets them from the environment file.
set -uo pipefail

RPC_URL=${RPC_URL-http://127.0.0.1:8545}
HEAD_WAIT=${HEAD_WAIT:-10}
DA_URL=${DA_URL-}
DA_HEAD_WAIT=${DA_HEAD_WAIT:-30}
declare -A HEALTH=(
  [faucet-api]=${FAUCET_API_URL-http://127.0.0.1:8081}
  [faucet-ui]=${FAUCET_UI_URL-http://127.0.0.1:3001}
  [frontend]=${FRONTEND_URL-}
  [explorer]=${EXPLORER_URL-}
  [bundler-4337]=${BUNDLER_URL-}
  [paymaster]=${PAYMASTER_URL-}
)
# Services that run once at start and must have finished cleanly.
ONE_SHOT=" deploy-contracts "

failed=()
ok() { echo "✓ $1: $2"; }
bad() { echo "✗ $1: $2"; failed+=("$1"); }

# A head read by GETTER (a decimal number; empty when nothing answered) must pass its first
# value within SECONDS: check_advances SERVICE LABEL URL SECONDS GETTER METHOD.
check_advances() {
  local service=$1 label=$2 url=$3 seconds=$4 getter=$5 method=$6 first now
  first=$($getter)
  if [ -z "$first" ]; then
    bad "$service" "no $method answer at $url"
    return
  fi
  for _ in $(seq 1 "$((seconds * 2))"); do
    now=$($getter)
    if [ -n "$now" ] && [ "$now" -gt "$first" ]; then
      ok "$service" "$label $first -> $now at $url"
      return
    fi
    sleep 0.5
  done
  bad "$service" "$label stuck at $first for ${seconds}s at $url"
}

block_number() {
  local hex
  hex=$(curl -sS --max-time 5 -H 'content-type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}' "$RPC_URL" 2>/dev/null |
    sed -n 's/.*"result":"\(0x[0-9a-fA-F]*\)".*/\1/p')
  [ -z "$hex" ] || echo $((hex))
}

# The token goes to curl on stdin, never on a command line.
da_height() {
  local token=
  [ -n "${DA_TOKEN_FILE-}" ] && token=$(cat "$DA_TOKEN_FILE")
  printf 'header = "Authorization: Bearer %s"\n' "$token" |
    curl -sS --max-time 5 -K - -H 'content-type: application/json' \
      -d '{"jsonrpc":"2.0","id":1,"method":"header.NetworkHead","params":[]}' "$DA_URL" 2>/dev/null |
    sed -n 's/.*"result":.*"height":"\([0-9]*\)".*/\1/p'
}

[ -z "$RPC_URL" ] || check_advances ev-reth-sequencer head "$RPC_URL" "$HEAD_WAIT" block_number eth_blockNumber
[ -z "$DA_URL" ] || check_advances celestia-da "DA head" "$DA_URL" "$DA_HEAD_WAIT" da_height header.NetworkHead

# GET URL/health must answer 200 with "status":"ok": check_health SERVICE URL [CURL_ARGS...].
check_health() {
  local service=$1 url=$2 body code
  shift 2
  body=$(curl -sS --max-time 5 "$@" -w '\n%{http_code}' "$url/health" 2>&1)
  code=${body##*$'\n'}
  body=${body%$'\n'*}
  if [ "$code" = 200 ] && echo "$body" | grep -q '"status":"ok"'; then
    ok "$service" "$url/health"
  else
    bad "$service" "$url/health answered ${code:-nothing}: $(echo "$body" | head -c 300)"
  fi
}

for service in "${!HEALTH[@]}"; do
  [ -z "${HEALTH[$service]}" ] || check_health "$service" "${HEALTH[$service]}"
done

if [ -n "${EDGE_DOMAIN-}" ]; then
  for name in ${EDGE_NAMES:-rpc explorer faucet bundler}; do
    hostport=$name.$EDGE_DOMAIN:${EDGE_PORT:-443}
    edge_args=(--resolve "$hostport:${EDGE_ADDR:-127.0.0.1}")
    [ -z "${EDGE_CACERT-}" ] || edge_args+=(--cacert "$EDGE_CACERT")
    check_health "edge ($name.)" "https://$hostport" "${edge_args[@]}"
  done
fi

if [ -n "${COMPOSE_PROJECT:-}" ]; then
  containers=$(docker ps --all --filter "label=com.docker.compose.project=$COMPOSE_PROJECT" \
    --format '{{.Label "com.docker.compose.service"}} {{.State}} {{.Status}}' 2>/dev/null | sort)
  if [ -z "$containers" ]; then
    bad "$COMPOSE_PROJECT" "no containers"
  fi
  while read -r service state status; do
    [ -n "$service" ] || continue
    if [[ "$ONE_SHOT" == *" $service "* ]]; then
      if [[ "$status" == "Exited (0)"* ]]; then ok "$service" "ran once: $status"; else bad "$service" "one-shot container $state ($status)"; fi
    elif [ "$state" != running ]; then
      bad "$service" "container $state ($status)"
    elif [[ "$status" == *"(unhealthy)"* || "$status" == *"(health: starting)"* ]]; then
      bad "$service" "container $status"
    else
      ok "$service" "container $status"
    fi
  done <<<"$containers"
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "unhealthy: ${failed[*]}"
  exit 1
fi
echo "all services healthy"
