#!/usr/bin/env bash
# Shard scaling with real calls (issue 10 scenario g): for each K in SHARD_LIST, one server with K
# pinned shards on CPUs 0..K-1 and the load generator (W workers) on the CPUs after them, then
# bench_loadgen's ramp with LOADGEN_ARGS; one JSON per K in OUT_DIR. Needs static release binaries
# (switchboard, bench/bench_loadgen) in BUILD_DIR and a corpus file (bench_loadgen --corpus) when
# the machine has no espeak-ng/sox.
#   bench/loadgen/scale.sh BUILD_DIR OUT_DIR "1 2 4 8" "--scenario relay --ramp-per-shard 400:400:2000" [corpus]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=$1 out=$2 shards_list=$3 args=$4 corpus=${5:-}
mkdir -p "$out"
. "$here/bench/loadgen/server.sh"
trap sb_stop EXIT
cfg=$(mktemp /tmp/sb-scale.XXXXXX.json)
# Wide RTP range (each leg reserves an even/odd pair, each shard a slice); pinned shards.
echo '{"pinThreads": true, "media": {"rtpPortMin": 10000, "rtpPortMax": 60999}}' >"$cfg"
for k in $shards_list; do
  # ramp-per-shard START:STEP:MAX scales with K
  a=$(echo "$args" | awk -v k="$k" '{for(i=1;i<=NF;i++){if($i=="--ramp-per-shard"){split($(i+1),r,":");$i="--ramp";$(i+1)=r[1]*k":"r[2]*k":"r[3]*k}}print}')
  # As many generator workers as shards, on the CPUs the shards leave free (at least 2).
  sb_generator_cpus "$k"
  workers=$LG_WORKERS lg_cpus=$LG_CPUS
  sb_start "$build/switchboard" "$k" --config "$cfg"
  echo "== K=$k shards (CPUs 0-$((k - 1))), loadgen $workers workers on CPUs $lg_cpus: $a" >&2
  # shellcheck disable=SC2086
  taskset -c "$lg_cpus" "$build/bench/bench_loadgen" --url "$SB_URL" --server-pid "$SB_PID" --workers "$workers" \
    ${corpus:+--corpus "$corpus"} --label "shards=$k" --json "$out/k$k.json" $a >/dev/null 2>"$out/k$k.log" || true
  grep -E "^step|^rate" "$out/k$k.log" >&2 || tail -5 "$out/k$k.log" >&2
  sb_stop
done
