#!/usr/bin/env bash
# Overload (docs/robustness.md "Overload"): one shard pinned to CPU 0 and the load generators on
# the other CPUs, as bench/loadgen/scale.sh measures the knee. HOLD_PCT of the knee is held as
# relayed calls; after a quiet window, open-loop arrivals offer OFFER_PCT − HOLD_PCT more for as
# long as the overload window lasts (calls of LIFETIME_MS at the rate that keeps that many up).
# The held calls are measured twice with the same generator: the quiet window, then a window
# entirely inside the overload. One command:
#
#   bench/robustness/overload.sh [SWITCHBOARD] [BENCH_LOADGEN] [OUT_DIR]
#
# env: KNEE (relayed calls one shard carries, default 1500: docs/benchmarks.md, the 2-vCPU machine
# pinned; set it from your own scale.sh run), HOLD_PCT (default 80), OFFER_PCT (default 150),
# STEP_SECONDS (each window, default 30), LIFETIME_MS (the offered calls', default 20000), BUSY_PERCENT
# (the server's limits.shardBusyPercent, default: the server's own, 95), CORPUS (bench_loadgen
# --corpus, for machines without espeak-ng/sox).
# Checks: the shard sheds the excess with 503 "Server busy" only (its own count of those equals
# the generators'; no other dial failure, no failed call) and the held calls keep their quality
# inside the overload window: no failure, loss within 0.1 % and late frames within 0.5 % (the
# knee's own criteria); the server exits 0 after its drain.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
sb_bin=${1:-$here/build/release/switchboard}
lg_bin=${2:-$here/build/release/bench/bench_loadgen}
out=${3:-$here/docs/bench/robustness/overload-$(date +%F)}
knee=${KNEE:-1500} hold_pct=${HOLD_PCT:-80} offer_pct=${OFFER_PCT:-150} step=${STEP_SECONDS:-30}
lifetime_ms=${LIFETIME_MS:-20000} corpus=${CORPUS:-} busy=${BUSY_PERCENT:-}
hold=$((knee * hold_pct / 100)) offer=$((knee * offer_pct / 100))
[ "$offer" -gt "$hold" ] || { echo "OFFER_PCT must be above HOLD_PCT" >&2; exit 2; }
ncpu=$(nproc)
[ "$ncpu" -ge 2 ] || { echo "needs 2 CPUs: one for the shard, the rest for the generators" >&2; exit 2; }
# Arrivals per second that keep (offer − hold) offered calls up.
rate=$(awk -v n=$((offer - hold)) -v l="$lifetime_ms" 'BEGIN { printf "%.2f", n * 1000 / l }')
mkdir -p "$out"
. "$here/bench/loadgen/server.sh"
cfg=$(mktemp /tmp/sb-overload.XXXXXX.json)
held_pid="" over_pid=""
cleanup() {
  for p in $held_pid $over_pid; do kill "$p" 2>/dev/null || true; done
  sb_stop
  rm -f "$cfg"
}
trap cleanup EXIT
# A wide RTP range: the offered calls' legs (two ports each) must not run out of ports before the
# shard runs out of CPU.
limits=""
[ -n "$busy" ] && limits=", \"limits\": {\"shardBusyPercent\": $busy}"
echo "{\"media\": {\"rtpPortMin\": 10000, \"rtpPortMax\": 60999}$limits}" >"$cfg"
sb_start "$sb_bin" 1 --pin-threads --config "$cfg"
sb_generator_cpus 1
lg=(taskset -c "$LG_CPUS" "$lg_bin" --url "$SB_URL" --server-pid "$SB_PID" ${corpus:+--corpus "$corpus"})
echo "overload: knee $knee${busy:+, shardBusyPercent $busy}; hold $hold ($hold_pct %), then $rate arrivals/s of ${lifetime_ms} ms calls: $offer ($offer_pct %) offered; windows of $step s"
# Held calls: two steps, HOLD and HOLD + 1; the second step's one new session is only there to
# give its window, which the overload below covers from start to end.
"${lg[@]}" --workers "$LG_WORKERS" --scenario relay --ramp "$hold:1:$((hold + 1))" --step-seconds "$step" --launch-rate 100 \
  --label "held, knee=$knee" --json "$out/held.json" >"$out/held.out" 2>"$out/held.err" &
held_pid=$!
# The quiet window ends when the generator prints its step; the overload starts then and lasts
# past the second window (≤ 20 s for its session to come up or be refused, 2 s settling, STEP).
for _ in $(seq $((step * 10 + 600))); do
  grep -q "^step $hold calls" "$out/held.err" 2>/dev/null && break
  kill -0 "$held_pid" 2>/dev/null || break
  sleep 0.2
done
grep -q "^step $hold calls" "$out/held.err" || { echo "the held calls never finished their quiet window" >&2; tail -5 "$out/held.err" >&2; exit 1; }
"${lg[@]}" --scenario churn --rate "$rate" --seconds "$((step + 35))" --lifetime-ms "$lifetime_ms" \
  --label "offered, knee=$knee" --json "$out/offered.json" >"$out/offered.out" 2>"$out/offered.err" &
over_pid=$!
held_rc=0 over_rc=0
wait "$held_pid" || held_rc=$?
held_pid=""
wait "$over_pid" || over_rc=$?
over_pid=""
curl -s --max-time 5 "$SB_URL/metrics" >"$out/metrics-end.txt" || true
tail -c 1000000 "$SB_DIR/server.log" >"$out/server-warn.log" || true
sb_stop
python3 - "$out" "$held_rc" "$over_rc" "$SB_RC" "$knee" "$hold" "$offer" "$rate" "$lifetime_ms" "${busy:-95 (default)}" <<'EOF'
import json, os, sys
out = sys.argv[1]
held_rc, over_rc, sb_rc, knee, hold, offer = map(int, sys.argv[2:8])
rate, lifetime_ms, busy = float(sys.argv[8]), int(sys.argv[9]), sys.argv[10]
fails = []
def load(name):
    try:
        return json.load(open(os.path.join(out, name)))
    except (OSError, ValueError) as e:
        fails.append("%s: %s" % (name, e))
        return {"steps": [], "totals": {}}
held, offered = load("held.json"), load("offered.json")
steps = {int(s["target"]): s for s in held["steps"]}
ht, ot = held["totals"], offered["totals"]
metrics = {}
for l in open(os.path.join(out, "metrics-end.txt"), errors="replace"):
    f = l.split()
    if len(f) == 2 and not l.startswith("#"):
        metrics[f[0]] = float(f[1])
refusals = [l.split(": ", 1)[1].strip() for n in ("held.err", "offered.err") if os.path.exists(os.path.join(out, n))
            for l in open(os.path.join(out, n), errors="replace") if l.startswith("dial refused")]
if held_rc: fails.append("held calls' generator exit %d" % held_rc)
if over_rc: fails.append("offered calls' generator exit %d" % over_rc)
if sb_rc: fails.append("server exit status %d after the drain" % sb_rc)
quiet, during = steps.get(hold), steps.get(hold + 1)
if not quiet or not during: fails.append("a held window is missing: %s" % sorted(steps))
for name, s in (("quiet", quiet), ("overload", during)):
    if not s: continue
    if s["failures"]: fails.append("%d held calls failed in the %s window" % (s["failures"], name))
    if s["loss_pct"] > 0.1: fails.append("held calls lost %.3f %% in the %s window" % (s["loss_pct"], name))
    if s["late_pct"] > 0.5: fails.append("held calls %.3f %% late in the %s window" % (s["late_pct"], name))
refused = ht.get("dials_refused", 0) + ot.get("dials_refused", 0)
busy_count = metrics.get("switchboard_dials_refused_busy_total", -1)
if refused == 0: fails.append("no dial was refused: the offer was not an overload")
if busy_count != refused: fails.append("server counted %.0f busy refusals, the generators %d 503s" % (busy_count, refused))
if any("Server busy" not in r for r in refusals): fails.append("a 503 other than 'Server busy': %s" % sorted(set(refusals)))
if ht.get("dial_failures", 0) or ot.get("dial_failures", 0):
    fails.append("dial failures other than 503: held %d, offered %d" % (ht.get("dial_failures", 0), ot.get("dial_failures", 0)))
ostep = offered["steps"][0] if offered["steps"] else {}
if ostep.get("failures"):
    fails.append("%d offered sessions failed: %d sessions (REST create not 200, or the run aborted), %d legs after their dial" % (
        ostep["failures"], ot.get("session_failures", 0), ot.get("legs_failed", 0)))
def row(name, s):
    return "| %s | %d | %.3f %% | %.4f %% | %.2f / %.2f / %.2f ms | %.0f %% | %.0f %% |" % (
        name, s["calls_active"], s["loss_pct"], s["late_pct"], s["latency_ms"]["p50"], s["latency_ms"]["p95"],
        s["latency_ms"]["p99"], s["server_cpu_pct"], s["loadgen_cpu_pct"])
summary = "\n".join([
    "# Overload: one pinned shard, knee %d; %d held, %d offered (%.2f arrivals/s of %d ms calls on top); shardBusyPercent %s" % (
        knee, hold, offer, rate, lifetime_ms, busy),
    "", "Verdict: **%s**" % ("pass" if not fails else "FAIL"), *["- " + f for f in fails], "",
    "Held calls (the same %d sessions in both windows):" % hold, "",
    "| window | held calls up | loss | late | added latency p50 / p95 / p99 | server CPU | held generator CPU |",
    "|---|---:|---:|---:|---|---:|---:|",
    *[row(n, s) for n, s in (("quiet", quiet), ("overload", during)) if s], "",
    "- offered on top: %d sessions (%d dials), %d dials refused 503; %d failures (sessions (REST create not 200, or the run aborted) %d, "
    "legs after their dial %d); dial latency p50 %.2f ms, p99 %.2f ms" % (
        ot.get("sessions", 0), ostep.get("dials", 0), ostep.get("dials_refused_503", 0), ostep.get("failures", 0),
        ot.get("session_failures", 0), ot.get("legs_failed", 0),
        ostep.get("dial_latency_ms", {}).get("p50", 0), ostep.get("dial_latency_ms", {}).get("p99", 0)),
    "- offered calls' legs: %s heard media, %s deaf (one leg of the session refused), loss %.3f %%" % (
        ot.get("legs_heard", "-"), ot.get("legs_deaf", "-"), ostep.get("loss_pct", 0.0)),
    "- dials refused 503: %d (server: switchboard_dials_refused_busy_total %.0f); other dial failures: held %s, offered %s" % (
        refused, busy_count, ht.get("dial_failures", "-"), ot.get("dial_failures", "-")),
    "- what the refusals said: %s" % ("; ".join(sorted(set(refusals))) or "none"),
    "- generators' late send slots (> 2 ms): held %s, offered %s" % (ht.get("send_late", "-"), ot.get("send_late", "-")),
    "- server exit status after the drain: %d" % sb_rc, ""])
open(os.path.join(out, "summary.md"), "w").write(summary)
print(summary)
sys.exit(1 if fails else 0)
EOF
