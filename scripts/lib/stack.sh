# Sourced by the production scripts (prod.sh, backup.sh, restore.sh): checks Docker, loads the
# environment file (.env.$ENV, default local) and defines `compose` for that environment.

ENV=${ENV:-local}
ENV_FILE=${ENV_FILE:-.env.$ENV}
case $ENV_FILE in /*) ;; *) ENV_FILE=./$ENV_FILE ;; esac
say() { echo "prod: $*" >&2; }
die() { say "$*"; exit 1; }

[ -f "$ENV_FILE" ] || die "no $ENV_FILE: ENV must be one of $(ls .env.* | sed 's/^\.env\.//' | grep -v example | tr '\n' ' ')"
command -v docker >/dev/null || die "Docker is not installed: install Docker Engine with the compose v2 plugin (see docs/docker.md)"
docker compose version >/dev/null 2>&1 || die "docker compose (v2) is missing: install the compose plugin (see docs/docker.md)"
docker info >/dev/null 2>&1 || die "the Docker engine does not answer: start dockerd (or check your permissions on its socket)"

# The environment's settings, read as compose reads an env file (KEY=VALUE lines, optional
# quotes), never run as shell code. The process environment wins, as it does for compose.
while IFS= read -r line || [ -n "$line" ]; do
  [[ "$line" =~ ^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
  key=${BASH_REMATCH[1]}
  value=${BASH_REMATCH[2]}
  [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]] && value=${BASH_REMATCH[1]}
  [ -n "${!key+set}" ] || export "$key=$value"
done <"$ENV_FILE"
STACK_ENV=${STACK_ENV:-$ENV}
SECRETS=${SECRETS_DIR:-./secrets}/$STACK_ENV
PROJECT=andechain-$STACK_ENV
ANDE_IMAGE=${ANDE_IMAGE:-andechain/ande:local}

# DA_LAYER: `local` runs `ande da` as celestia-da; `celestia` a celestia-node light node.
DA_LAYER=${DA_LAYER:-local}
compose_args=(-f docker-compose.prod.yml)
case $DA_LAYER in
  local) ;;
  # A light node's first sync takes minutes; the local stack is healthy in seconds.
  celestia) compose_args+=(-f docker-compose.celestia.yml); WAIT_TIMEOUT=${WAIT_TIMEOUT:-900} ;;
  *) die "DA_LAYER=$DA_LAYER in $ENV_FILE: it must be local or celestia" ;;
esac
WAIT_TIMEOUT=${WAIT_TIMEOUT:-180}
[ -n "${DEBUG_PORTS:-}" ] && compose_args+=(-f docker-compose.debug-ports.yml)
# ENABLE_MONITORING=true adds Prometheus and Alertmanager (the `monitoring` profile);
[ "${ENABLE_MONITORING:-false}" = true ] && compose_args+=(--profile monitoring)
# ENABLE_PAYMASTER=true the sponsoring paymaster (the `sponsor` profile), which the dApp then
# offers.
if [ "${ENABLE_PAYMASTER:-false}" = true ]; then
  compose_args+=(--profile sponsor)
  export FRONTEND_PAYMASTER_URL=http://paymaster:4338
fi
compose() { docker compose --env-file "$ENV_FILE" "${compose_args[@]}" "$@"; }

# Every service but the edge publishes on the host's loopback; the edge on BIND_ADDR.
edge_host() { case "${BIND_ADDR:-0.0.0.0}" in 0.0.0.0|"") echo 127.0.0.1 ;; *) echo "$BIND_ADDR" ;; esac; }

