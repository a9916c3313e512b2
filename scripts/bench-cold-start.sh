#!/usr/bin/env bash
# Cold start of the Docker stack, images built: RUNS times (default 5) `prod-start` from nothing
# (no containers; volumes kept, as after a `prod-stop`) until every service is healthy; prints
# each time and the median. ENV picks the environment as for make prod-*.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
scripts/prod.sh stop >/dev/null 2>&1
times=()
for i in $(seq 1 "$runs"); do
  start=$(date +%s.%N)
  if ! out=$(scripts/prod.sh start 2>&1); then
    echo "$out" >&2
    echo "run $i: prod-start failed" >&2
    exit 1
  fi
  end=$(date +%s.%N)
  t=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  times+=("$t")
  echo "run $i: ${t} s"
  scripts/prod.sh stop >/dev/null 2>&1
done
printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "median of %d: %.1f s\n", NR, m }'
