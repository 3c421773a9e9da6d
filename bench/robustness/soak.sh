#!/usr/bin/env bash
# Soak: real calls at a fixed share of the measured capacity for a long time, with the server's
# RSS and file descriptors sampled (docs/robustness.md "Soak"). One command:
#
#   bench/robustness/soak.sh [SWITCHBOARD] [BENCH_LOADGEN] [OUT_DIR]
#
# env: MINUTES (default 30), CALLS (relayed sessions held, default 400; 80 % of a knee measured by
# bench/loadgen/scale.sh is the soak the issue asks for: 1,200 on the 2-vCPU build machine, pinned,
# docs/benchmarks.md), SHARDS
# (default 1), SCENARIO (relay, srtp or transcode; default relay), CHURN_RATE (sessions/s of
# extra dial→5 s→BYE churn on top, default 2: so that call setup and teardown run the whole time),
# CHURN_SESSIONS (reuse, default: churned calls dial into sessions whose earlier call has ended,
# as apps reuse a session per room — so RSS measures calls; new: one new session per call, which
# also grows the session store by ≈ 0.7 KiB per session, since sessions never expire), PIN (1: the
# server's shards on CPUs 0..SHARDS-1 and the generators on the CPUs after them, the held calls'
# generator with as many workers as bench/loadgen/scale.sh gives it — so a soak at 80 % of that
# knee runs in the knee's conditions; the churn generator, one worker, shares the generators'
# CPUs), LAUNCH_RATE (held sessions dialed per second at the start, default 200 as bench_loadgen's).
# Checks and records: 0 failed calls (held and churned), late frames at the far ends within
# LATE_PCT (default 0.1 %), RSS and file descriptors flat (last sample within 5 % / 8 fds of the
# sample after the first five minutes), plotted to soak.png when gnuplot is installed.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
sb_bin=${1:-$here/build/release/switchboard}
lg_bin=${2:-$here/build/release/bench/bench_loadgen}
out=${3:-$here/docs/bench/robustness/soak-$(date +%F)}
minutes=${MINUTES:-30} calls=${CALLS:-400} shards=${SHARDS:-1} scenario=${SCENARIO:-relay}
churn=${CHURN_RATE:-2} late_max=${LATE_PCT:-0.1} churn_sessions=${CHURN_SESSIONS:-reuse}
reuse_flag="" pin=${PIN:-0} lg_pin=() workers=1
[ "$churn_sessions" = reuse ] && reuse_flag=--reuse-sessions
mkdir -p "$out"
. "$here/bench/loadgen/server.sh"
sampler="" churn_pid=""
cleanup() {
  for p in $sampler $churn_pid; do kill "$p" 2>/dev/null || true; done
  sb_stop
}
trap cleanup EXIT
if [ "$pin" = 1 ]; then
  ncpu=$(nproc)
  [ "$shards" -lt "$ncpu" ] || { echo "PIN=1 needs more CPUs ($ncpu) than SHARDS ($shards)" >&2; exit 2; }
  sb_start "$sb_bin" "$shards" --pin-threads
  # Shard i pins itself to CPU i; the main thread (it waits for signals) joins the shards' CPUs
  # (-p without -a: the shards keep their own pinning); the generators get the rest.
  taskset -p -c "0-$((shards - 1))" "$SB_PID" >/dev/null
  sb_generator_cpus "$shards"
  lg_pin=(taskset -c "$LG_CPUS") workers=$LG_WORKERS
elif [ "$pin" = 0 ]; then
  sb_start "$sb_bin" "$shards"
else
  echo "PIN must be 0 or 1" >&2; exit 2
fi
secs=$((minutes * 60))
(echo "t,fds,rss_kib,calls_active"; t=0
 while kill -0 "$SB_PID" 2>/dev/null; do
   echo "$t,$(ls /proc/$SB_PID/fd | wc -l),$(awk '/VmRSS/ {print $2}' /proc/$SB_PID/status),$(curl -s "$SB_URL/metrics" | sed -n 's/^switchboard_calls_active \([0-9]*\)/\1/p')"
   sleep 10; t=$((t + 10))
 done) >"$out/resources.csv" &
sampler=$!
if [ "$churn" != 0 ]; then
  ${lg_pin[@]+"${lg_pin[@]}"} "$lg_bin" --url "$SB_URL" --scenario churn --rate "$churn" --seconds "$((secs - 10))" --lifetime-ms 5000 $reuse_flag --check \
    --json "$out/churn.json" >"$out/churn.out" 2>"$out/churn.err" &
  churn_pid=$!
fi
echo "soak: $calls $scenario sessions on $shards shard(s) for $minutes min, churn $churn/s ($churn_sessions sessions)${lg_pin[@]+, pinned, $workers generator workers}"
lg_rc=0
${lg_pin[@]+"${lg_pin[@]}"} "$lg_bin" --url "$SB_URL" --server-pid "$SB_PID" --scenario "$scenario" --calls "$calls" --seconds "$secs" \
  --workers "$workers" --launch-rate "${LAUNCH_RATE:-200}" --settle-seconds 5 --check --json "$out/loadgen.json" >"$out/loadgen.out" 2>"$out/loadgen.err" || lg_rc=$?
churn_rc=0
[ -n "$churn_pid" ] && { wait "$churn_pid" || churn_rc=$?; churn_pid=""; }
kill "$sampler" 2>/dev/null || true
sampler=""
# What the server itself counted (refusals by cause, drops) and said at warn level, kept beside the
# verdict so that a failed dial can be explained after the fact.
curl -s --max-time 5 "$SB_URL/metrics" >"$out/metrics-end.txt" || true
tail -c 1000000 "$SB_DIR/server.log" >"$out/server-warn.log" || true
if command -v gnuplot >/dev/null; then
  gnuplot <<EOF
set terminal pngcairo size 900,420 font ",10"
set output "$out/soak.png"
set datafile separator ","
set key top left
set xlabel "minutes"
set ylabel "RSS (MiB)"
set y2label "file descriptors"
set y2tics
set ytics nomirror
set yrange [0:*]
set y2range [0:*]
set title "Soak: $calls $scenario sessions on $shards shard(s), churn $churn/s ($churn_sessions sessions)"
plot "$out/resources.csv" every ::1 using (\$1/60):(\$3/1024) with lines lw 2 title "RSS", \
     "" every ::1 using (\$1/60):2 axes x1y2 with lines lw 2 title "fds"
EOF
fi
python3 - "$out" "$lg_rc" "$churn_rc" "$late_max" "$churn_sessions" "$minutes" "$pin" "$shards" "$workers" <<'EOF'
import json, os, sys
out, lg_rc, churn_rc, late_max = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
churn_sessions, minutes, pin, shards, workers = sys.argv[5], sys.argv[6], sys.argv[7] == "1", int(sys.argv[8]), int(sys.argv[9])
rows = [l.strip().split(",") for l in list(open(out + "/resources.csv"))[1:] if l.count(",") == 3]
rows = [(int(t), int(f), int(r)) for t, f, r, _ in rows if f and r]
lg = json.load(open(out + "/loadgen.json"))
step = lg["steps"][-1]
fails = []
if lg_rc: fails.append("held calls: bench_loadgen --check exit %d" % lg_rc)
if churn_rc: fails.append("churn: bench_loadgen --check exit %d" % churn_rc)
if step["late_pct"] > late_max: fails.append("late frames %.3f %% > %.3f %%" % (step["late_pct"], late_max))
ref = next((r for r in rows if r[0] >= 300), rows[0] if rows else (0, 0, 0))
last = rows[-1] if rows else (0, 0, 0)
if rows and last[2] > ref[2] * 1.05: fails.append("RSS grew %d -> %d KiB after minute 5" % (ref[2], last[2]))
if rows and last[1] > ref[1] + 8: fails.append("fds grew %d -> %d after minute 5" % (ref[1], last[1]))
churn = json.load(open(out + "/churn.json"))["totals"] if os.path.exists(out + "/churn.json") else {}
summary = "\n".join([
    "# Soak (%s minutes)" % minutes, "", "Verdict: **%s**" % ("pass" if not fails else "FAIL"), *["- " + f for f in fails],
    "- %d shard(s)%s" % (shards, ", pinned to CPUs 0..%d, generators on the CPUs after them (held calls: %d workers)" % (shards - 1, workers) if pin else ", unpinned"),
    "- held: %s calls for %.0f s: loss %.3f %%, late %.3f %%, probe latency p50 %.2f ms p99 %.2f ms, server %.1f µs per call per 20 ms" % (
        step["calls_active"], step["seconds"], step["loss_pct"], step["late_pct"], step["latency_ms"]["p50"], step["latency_ms"]["p99"],
        step["server_us_per_call_per_20ms"]),
    "- churn: %s calls dialed (%s sessions), %s dial failures, %s failed legs" % (
        churn.get("sessions", "-"), churn_sessions, churn.get("dial_failures", "-"), churn.get("legs_failed", "-")),
    "- refused or failed dials, as the generators logged them: %s" % (
        "; ".join(sorted({l.split(": ", 1)[1].strip() for f in ("churn.err", "loadgen.err") if os.path.exists(out + "/" + f)
                          for l in open(out + "/" + f, errors="replace") if l.startswith("dial ")})) or "none"),
    "- RSS: %d KiB at minute 5, %d KiB at the end (max %d); fds: %d at minute 5, %d at the end (max %d)" % (
        ref[2], last[2], max(r[2] for r in rows) if rows else 0, ref[1], last[1], max(r[1] for r in rows) if rows else 0),
    ""])
open(out + "/summary.md", "w").write(summary)
print(summary)
sys.exit(1 if fails else 0)
EOF
