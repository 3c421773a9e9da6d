#!/usr/bin/env bash
# Runs the built libFuzzer targets (build/fuzz/fuzz/fuzz_*) over a scratch copy of their seed
# corpora and prints one table row per target: executions, execs/s, wall seconds, coverage (cov:
# edges and ft: features from libFuzzer's last status line), corpus size, and crashes.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      each target for SECONDS (default 20): CI's smoke run
#   scripts/fuzz.sh --runs N [--jobs J] [--report FILE] [TARGET...]
#                                              each target for N executions (-runs=N): a campaign
#
# TARGET is a name without the fuzz_ prefix (sip_message); none means all. --jobs J runs J targets
# at once (default 1); --report FILE also writes the table there as markdown (--jobs and --report
# work in either mode). execs/s is executions over wall time (process start-up included).
# New inputs go to fuzz/corpus-work/<name>/ (kept between runs, git-ignored); the committed seeds in
# fuzz/corpus/<name>/ are only read. The dictionary is fuzz/dict/<layer>.dict and
# fuzz/dict/<name>.dict merged (libFuzzer takes one -dict). Crash, timeout, OOM and leak
# reproducers land in fuzz/corpus-work/artifacts/<name>/; a target's full log in
# fuzz/corpus-work/<name>.log. One target failing does not stop the others; the exit status is 1 if
# any failed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bindir="$here/build/fuzz/fuzz"
work="$here/fuzz/corpus-work"

secs=20 runs="" jobs=1 report="" targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    --jobs) jobs=${2:?--jobs needs a number}; shift 2 ;;
    --report) report=${2:?--report needs a file}; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) if [ ${#targets[@]} -eq 0 ] && [[ $1 =~ ^[0-9]+$ ]] && [ -z "$runs" ]; then secs=$1; else targets+=("$1"); fi
       shift ;;
  esac
done
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --jobs needs a positive number" >&2; exit 2; }
[ -z "$runs" ] || [[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --runs needs a positive number" >&2; exit 2; }

if [ ${#targets[@]} -eq 0 ]; then
  for bin in "$bindir"/fuzz_*; do [ -x "$bin" ] && targets+=("$(basename "$bin" | sed 's/^fuzz_//')"); done
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz.sh: no targets in $bindir (cmake --preset fuzz && cmake --build build/fuzz)" >&2; exit 2; }
for name in "${targets[@]}"; do
  [ -x "$bindir/fuzz_$name" ] || { echo "fuzz.sh: no target $bindir/fuzz_$name" >&2; exit 2; }
done
mode=$([ -n "$runs" ] && echo "$runs runs" || echo "${secs}s")

# Runs one target; writes "name|execs|execs/s|wall|cov|ft|corpus|result" to $work/<name>.row.
fuzz_one() {
  local name=$1 bin="$bindir/fuzz_$1" seeds="$here/fuzz/corpus/$1" log="$work/$1.log"
  local art="$work/artifacts/$name/" dict="$work/$name.dict"
  mkdir -p "$work/$name" "$art"
  local args=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art")
  if [ -n "$runs" ]; then args+=(-runs="$runs"); else args+=(-max_total_time="$secs"); fi
  : > "$dict"
  for d in "$here/fuzz/dict/${name%%_*}.dict" "$here/fuzz/dict/$name.dict"; do
    [ -f "$d" ] && cat "$d" >> "$dict"
  done
  [ -s "$dict" ] && args+=(-dict="$dict")
  local dirs=("$work/$name")
  [ -d "$seeds" ] && dirs+=("$seeds")
  local t0 t1 rc=0
  t0=$(date +%s.%N)
  "$bin" "${args[@]}" "${dirs[@]}" > "$log" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  local execs wall eps status cov ft corp result
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
  eps=$([ -n "$execs" ] && awk -v n="$execs" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", n/(b-a)}' || true)
  status=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$status")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$status")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<< "$status")
  if [ "$rc" -eq 0 ]; then
    result=0
  else
    result=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    result=${result#"$here"/}
    [ -n "$result" ] || result="failed (exit $rc, no artifact)"
  fi
  printf '%s|%s|%s|%s|%s|%s|%s|%s\n' "$name" "${execs:-?}" "${eps:-?}" "$wall" "${cov:-?}" \
    "${ft:-?}" "${corp:-?}" "$result" > "$work/$name.row"
  [ "$rc" -eq 0 ]
}

row() { awk -F'|' '{printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8}'; }
header="| target | executions | execs/s | wall s | cov (edges) | ft (features) | corpus (units/bytes) | crashes/timeouts/OOMs |
|---|---:|---:|---:|---:|---:|---:|---|"

mkdir -p "$work"
echo "fuzz.sh: ${#targets[@]} targets, $mode each, $jobs at a time"
running=0 failed=()
for name in "${targets[@]}"; do
  rm -f "$work/$name.row"
  if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
  ( if fuzz_one "$name"; then echo "-- $name: ok"; else echo "-- FUZZ FAILURE in $name:"; tail -40 "$work/$name.log"; fi ) &
  running=$((running + 1))
done
wait

table="$header"
for name in "${targets[@]}"; do
  [ -f "$work/$name.row" ] || echo "$name|?|?|?|?|?|?|no result" > "$work/$name.row"
  [ "$(cut -d'|' -f8 "$work/$name.row")" = 0 ] || failed+=("$name")
  table+=$'\n'"$(row < "$work/$name.row")"
done
echo
echo "$table"
if [ -n "$report" ]; then
  {
    echo "# Fuzz run: $mode per target"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$here" diff --quiet HEAD 2>/dev/null || echo ' (uncommitted changes)'), $(nproc) CPUs, $jobs job(s)."
    echo
    echo "$table"
    [ ${#failed[@]} -eq 0 ] || { echo; echo "Failed: ${failed[*]} (logs in fuzz/corpus-work/<name>.log)"; }
  } > "$report"
  echo "report written to $report"
fi
[ ${#failed[@]} -eq 0 ] || { echo "fuzz.sh: failed: ${failed[*]}" >&2; exit 1; }
