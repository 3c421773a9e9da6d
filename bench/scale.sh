#!/usr/bin/env bash
# Multi-core scaling of the media path: K copies of the single-shard media harness
# (bench_media_cpu) side by side, each on its own port range, K = 1, 2, 4, 8 … up to the cores.
# Shards share nothing in the server, so K independent harness processes stand for K shards of
# one process (each harness process has a second thread playing its far ends, so K copies use
# 2K threads). What grows with K is what the kernel and the machine share: UDP stack, caches,
# memory bandwidth. Prints each run's line and, per K, the median CPU per call.
#   bench/scale.sh <bench_media_cpu> "<pair args>" [K list] [repeats]
# e.g. bench/scale.sh build/release/bench/bench_media_cpu "pcmu pcmu 200 5" "1 2 4 8" 2
set -euo pipefail
bin=$1
args=$2
ks=${3:-"1 2 4 8"}
reps=${4:-2}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
for k in $ks; do
  for r in $(seq 1 "$reps"); do
    dir=$(mktemp -d)
    for i in $(seq 0 $((k - 1))); do
      SB_BENCH_PORT_BASE=$((20000 + i * 2500)) "$bin" pair $args >"$dir/$i.txt" 2>&1 &
    done
    wait
    per_call=$(grep -ho 'per call [0-9.]*' "$dir"/*.txt | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    runs=$(cat "$dir"/*.txt | grep -c '^pair' || true)
    echo "K=$k run $r: median per call ${per_call} µs / 20 ms over $runs harness runs"
    sed "s/^/  K=$k run $r: /" "$dir"/*.txt | sed 's/pkts in.*concealed/…concealed/'
    rm -rf "$dir"
  done
done
