#!/usr/bin/env bash
# Plots of the recorded load runs (docs/bench/loadgen/*) as PNGs in docs/bench/plots/, with
# Debian's gnuplot (scripts/setup.sh --bench). Reads only the committed JSON results.
#   bench/loadgen/plot.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
src="$here/docs/bench/loadgen" out="$here/docs/bench/plots"
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$src" "$tmp" <<'PY'
import json, sys, glob, os
src, tmp = sys.argv[1:3]
def steps(path):
    try:
        return json.load(open(path))["steps"]
    except Exception:
        return []
# Relay ramps on the 16-core machine: CPU per call and latency vs calls, per shard count.
for k in (1, 2, 4, 8):
    rows = []
    for run in ("xeon16-run1", "xeon16-run2"):
        for s in steps(f"{src}/{run}/relay/k{k}.json"):
            rows.append((s["target"], s["server_us_per_call_per_20ms"], s["latency_ms"]["p50"], s["latency_ms"]["p95"],
                         s["latency_ms"]["p99"], s["late_pct"]))
    rows.sort()
    with open(f"{tmp}/relay_k{k}.dat", "w") as f:
        for r in rows:
            f.write(" ".join(str(x) for x in r) + "\n")
# Shard scaling: the knee (last step without late frames) per shard count.
with open(f"{tmp}/knee.dat", "w") as f:
    for k in (1, 2, 4, 8):
        best = 0
        for run in ("xeon16-run1", "xeon16-run2"):
            for s in steps(f"{src}/{run}/relay/k{k}.json"):
                if s["late_pct"] <= 0.5 and s["loss_pct"] <= 0.1 and s["failures"] == 0:
                    best = max(best, s["target"])
        f.write(f"{k} {best} {best / k}\n")
# Switchboard vs rtpengine, CPU per call per 20 ms (the side-by-side table's rows).
rows = {}
path = f"{src}/vm2-vs-rtpengine.txt"
if os.path.exists(path):
    for line in open(path):
        c = [x.strip() for x in line.split("|")]
        if len(c) > 6 and c[1] in ("relay", "srtp", "transcode"):
            rows.setdefault(c[1], []).append((float(c[4]), float(c[5])))
with open(f"{tmp}/vs_rtpengine.dat", "w") as f:
    for i, name in enumerate(("relay", "srtp", "transcode")):
        if name in rows:
            sb = sorted(r[0] for r in rows[name])[len(rows[name]) // 2]
            re_ = sorted(r[1] for r in rows[name])[len(rows[name]) // 2]
            f.write(f'{i} "{name}" {sb} {re_}\n')
PY
gnuplot <<GP
set terminal pngcairo size 900,560 font ",11"
set grid
set key top left

set output "$out/relay-cpu-per-call.png"
set title "Relayed PCMU calls, 16-core Xeon: server CPU per call per 20 ms (bench_loadgen)"
set xlabel "concurrent calls"; set ylabel "µs per call per 20 ms"; set yrange [0:*]
plot for [k in "1 2 4 8"] "$tmp/relay_k".k.".dat" using 1:2 with linespoints title k." shard(s)"

set output "$out/relay-latency.png"
set title "Relayed PCMU calls, 1 shard, 16-core Xeon: added latency (probe tone) vs load"
set xlabel "concurrent calls"; set ylabel "ms"; set logscale y; set yrange [0.1:*]
plot "$tmp/relay_k1.dat" using 1:3 with linespoints title "p50", "" using 1:4 with linespoints title "p95", \
     "" using 1:5 with linespoints title "p99"
unset logscale y

set output "$out/shard-scaling.png"
set title "Shard scaling, relayed PCMU calls, 16-core Xeon: the knee (no late frames)"
set xlabel "shards (pinned, one core each)"; set ylabel "calls"; set yrange [0:*]; set xrange [0:9]
plot "$tmp/knee.dat" using 1:2 with linespoints title "calls at the knee", \
     "$tmp/knee.dat" using 1:(\$1*1100) with lines dashtype 2 title "1,100 per shard (linear)"
set xrange [*:*]

set output "$out/vs-rtpengine.png"
set title "CPU per call per 20 ms, same calls and machine (2 vCPU): Switchboard vs rtpengine userspace"
set style data histograms; set style histogram clustered gap 1; set style fill solid 0.8 border -1
set ylabel "µs per call per 20 ms"; set xlabel ""; set logscale y; set yrange [10:*]
plot "$tmp/vs_rtpengine.dat" using 3:xtic(2) title "Switchboard", "" using 4 title "rtpengine"
GP
ls -1 "$out"
