#!/usr/bin/env bash
# Runs every built libFuzzer target for N seconds (default 20) over a scratch copy of its seed
# corpus (fuzz/corpus/<name>/), with the dictionary fuzz/dict/<prefix>.dict when one exists.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-20}
work="$here/fuzz/corpus-work"
fail=0
for bin in "$here"/build/fuzz/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin"); name=${name#fuzz_}
  mkdir -p "$work/$name"
  seeds="$here/fuzz/corpus/$name"
  args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
  dict="$here/fuzz/dict/${name%%_*}.dict"
  [ -f "$dict" ] && args+=(-dict="$dict")
  [ -f "$here/fuzz/dict/$name.dict" ] && args+=(-dict="$here/fuzz/dict/$name.dict")
  echo "-- fuzz $name (${secs}s)"
  if ! "$bin" "${args[@]}" "$work/$name" ${seeds:+$( [ -d "$seeds" ] && echo "$seeds")} > "$work/$name.log" 2>&1; then
    echo "FUZZ FAILURE in $name:"; tail -40 "$work/$name.log"; fail=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$work/$name.log" | tail -2
  fi
done
exit $fail
