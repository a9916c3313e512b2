#!/usr/bin/env bash
# Checks every service of the stack and reports each one; exits non-zero if any failed.
#   - the sequencer: a JSON-RPC eth_blockNumber POST, then the head must advance;
#   - celestia-da: a JSON-RPC header.NetworkHead with the token in DA_TOKEN_FILE (both DA layers,
#     `ande da` and celestia-node, answer it), then its head must advance within DA_HEAD_WAIT;
#   - every service with a /health endpoint: HTTP 200 and "status":"ok";
#   - with COMPOSE_PROJECT set: every container of that project running and, when it has a
#     health check, healthy (this covers Postgres and Redis, which are not published).
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
  [explorer]=${EXPLORER_URL-}
)

failed=()
ok() { echo "✓ $1: $2"; }
bad() { echo "✗ $1: $2"; failed+=("$1"); }

block_number() {
  curl -sS --max-time 5 -H 'content-type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}' "$RPC_URL" 2>/dev/null |
    sed -n 's/.*"result":"\(0x[0-9a-fA-F]*\)".*/\1/p'
}

if [ -n "$RPC_URL" ]; then
  first=$(block_number)
  if [ -z "$first" ]; then
    bad ev-reth-sequencer "no eth_blockNumber answer at $RPC_URL"
  else
    advanced=
    for _ in $(seq 1 "$((HEAD_WAIT * 2))"); do
      now=$(block_number)
      if [ -n "$now" ] && [ $((now)) -gt $((first)) ]; then advanced=$now; break; fi
      sleep 0.5
    done
    if [ -n "$advanced" ]; then
      ok ev-reth-sequencer "head $((first)) -> $((advanced)) at $RPC_URL"
    else
      bad ev-reth-sequencer "head stuck at $((first)) for ${HEAD_WAIT}s at $RPC_URL"
    fi
  fi
fi

# The token goes to curl on stdin, never on a command line.
da_height() {
  local token=
  [ -n "${DA_TOKEN_FILE-}" ] && token=$(cat "$DA_TOKEN_FILE")
  printf 'header = "Authorization: Bearer %s"\n' "$token" |
    curl -sS --max-time 5 -K - -H 'content-type: application/json' \
      -d '{"jsonrpc":"2.0","id":1,"method":"header.NetworkHead","params":[]}' "$DA_URL" 2>/dev/null |
    sed -n 's/.*"result":.*"height":"\([0-9]*\)".*/\1/p'
}

if [ -n "$DA_URL" ]; then
  first=$(da_height)
  if [ -z "$first" ]; then
    bad celestia-da "no header.NetworkHead answer at $DA_URL"
  else
    advanced=
    for _ in $(seq 1 "$DA_HEAD_WAIT"); do
      now=$(da_height)
      if [ -n "$now" ] && [ "$now" -gt "$first" ]; then advanced=$now; break; fi
      sleep 1
    done
    if [ -n "$advanced" ]; then
      ok celestia-da "DA head $first -> $advanced at $DA_URL"
    else
      bad celestia-da "DA head stuck at $first for ${DA_HEAD_WAIT}s at $DA_URL"
    fi
  fi
fi

for service in "${!HEALTH[@]}"; do
  url=${HEALTH[$service]}
  [ -n "$url" ] || continue
  body=$(curl -sS --max-time 5 -w '\n%{http_code}' "$url/health" 2>&1)
  code=${body##*$'\n'}
  body=${body%$'\n'*}
  if [ "$code" = 200 ] && echo "$body" | grep -q '"status":"ok"'; then
    ok "$service" "$url/health"
  else
    bad "$service" "$url/health answered ${code:-nothing}: $(echo "$body" | head -c 300)"
  fi
done

if [ -n "${COMPOSE_PROJECT:-}" ]; then
  containers=$(docker ps --all --filter "label=com.docker.compose.project=$COMPOSE_PROJECT" \
    --format '{{.Label "com.docker.compose.service"}} {{.State}} {{.Status}}' 2>/dev/null | sort)
  if [ -z "$containers" ]; then
    bad "$COMPOSE_PROJECT" "no containers"
  fi
  while read -r service state status; do
    [ -n "$service" ] || continue
    if [ "$state" != running ]; then
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
