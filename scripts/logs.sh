#!/usr/bin/env bash
# `make prod-logs` with a query: the stack's log lines (Docker's json-file logs of every
# container), merged by time, filtered:
#   SERVICE=faucet-api,explorer   these services only (default: all)
#   SINCE=10m | 2026-12-02T03:00:00Z   from then on (default: 1h)
#   LEVEL=warn                    JSON lines at that level or above (trace, debug, info, warn, error)
#   GREP=text                     lines holding the text (any case)
# Each line: the service, Docker's timestamp, the line as the service wrote it. Exits 1 when no
# line matched, as grep does.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=lib/stack.sh
. scripts/lib/stack.sh

# The levels at LEVEL or above, as a regex alternation (warning is warn's other spelling).
levels() {
  local all=(trace debug info warn warning error fatal panic) i
  for i in "${!all[@]}"; do
    [ "${all[$i]}" = "${LEVEL,,}" ] && [ "${LEVEL,,}" != warning ] || continue
    local IFS='|'
    echo "${all[*]:$i}"
    return
  done
  die "LEVEL=$LEVEL: it must be one of trace, debug, info, warn, error"
}

pattern=
[ -z "${LEVEL:-}" ] || pattern=$(levels)
service_list=${SERVICE:-}
read -r -a services <<<"${service_list//,/ }"

errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
# compose writes every container's lines to stdout; its own complaints go to stderr.
matched=$(compose logs --no-color --timestamps --since "${SINCE:-1h}" "${services[@]}" 2>"$errors" |
  # Compose's line prefix is "<service>-<n>  | <time> ": sorted on the time, stably.
  sed 's/\x1b\[[0-9;]*[A-Za-z]//g' | LC_ALL=C sort -s -b -k3,3 |
  { if [ -n "$pattern" ]; then grep -iE "\"level\":\"($pattern)\"" || true; else cat; fi; } |
  { if [ -n "${GREP:-}" ]; then grep -iF -- "$GREP" || true; else cat; fi; }) || { cat "$errors" >&2; die "docker compose logs failed"; }
[ -n "$matched" ] || { say "no line matched"; exit 1; }
printf '%s\n' "$matched"
