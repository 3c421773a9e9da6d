#!/usr/bin/env bash
# A webhook receiver that is down while calls come and go, then comes back (docs/robustness.md
# "Webhook receiver down"). One command:
#
#   bench/robustness/webhook_outage.sh [SWITCHBOARD] [BENCH_LOADGEN] [OUT_DIR]
#
# env: OUTAGE (seconds the receiver stays down, default 300), MODE (refuse: nothing listens, the
# connection is refused; 500: a receiver answers 500 to everything; slow: a receiver that takes
# SLOW_MS (default 2000) to answer each event — it processes them, slowly, and with SLOW_MS over
# the sender's 5 s request timeout every event times out and is sent again), RATE (calls/s,
# default 2), CHURN (seconds of call arrivals, default 60; each call lasts 5 s), MEDIA (1; 0 dials
# the calls without RTP, for a run beside a soak).
# The project's callbackUrl points at a port where, for OUTAGE seconds, nothing (or a 500-only
# receiver) listens; calls are dialed, answered, talk and hang up meanwhile (bench_loadgen churn).
# Then the real receiver starts, and the script waits for the backlog to drain. It checks and
# records: every event the server queued was delivered (switchboard_webhook_enqueued_total =
# _delivered_total, nothing dropped), each call's events arrived in order (callCreated first,
# callDestroyed last, every call complete), no event twice once de-duplicated by its id, the
# backlog's peak (from /metrics, sampled each second) and how long the queue took to drain after the
# receiver returned.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
sb_bin=${1:-$here/build/release/switchboard}
lg_bin=${2:-$here/build/release/bench/bench_loadgen}
out=${3:-$here/docs/bench/robustness/webhook-outage-$(date +%F)}
outage=${OUTAGE:-300} mode=${MODE:-refuse} rate=${RATE:-2} churn=${CHURN:-60} slow_ms=${SLOW_MS:-2000}
media_flag=""
[ "${MEDIA:-1}" = 0 ] && media_flag=--no-media
mkdir -p "$out"
. "$here/bench/loadgen/server.sh"
work=$(mktemp -d /tmp/sb-webhook.XXXXXX)
rx_pid="" down_pid="" sampler=""
cleanup() {
  for p in $rx_pid $down_pid $sampler; do kill "$p" 2>/dev/null || true; done
  sb_stop
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/config.json" <<EOF
{"projects": [{"apiKey": "46000001", "apiSecret": "5b0a7f9c3e1d4a2b8c6e0f1a2b3c4d5e6f708192",
               "callbackUrl": "http://127.0.0.1:$port/hooks"}]}
EOF
sb_start "$sb_bin" 2 --config "$work/config.json"
metric() { curl -s "$SB_URL/metrics" | sed -n "s/^$1 \([0-9.e+]*\)$/\1/p" | head -1; }
(echo "t,backlog,enqueued,delivered,retries"; t=0
 while kill -0 "$SB_PID" 2>/dev/null; do
   echo "$t,$(metric switchboard_webhook_backlog),$(metric switchboard_webhook_enqueued_total),$(metric switchboard_webhook_delivered_total),$(metric switchboard_webhook_retries_total)"
   sleep 1; t=$((t + 1))
 done) >"$out/backlog.csv" &
sampler=$!
if [ "$mode" = 500 ]; then
  python3 "$here/bench/robustness/webhook_receiver.py" "$port" 500 /dev/null & down_pid=$!
elif [ "$mode" = slow ]; then
  python3 "$here/bench/robustness/webhook_receiver.py" "$port" 200 "$out/received.jsonl" "$slow_ms" & down_pid=$!
  mode="slow $slow_ms ms"
fi
start=$(date +%s)
echo "receiver down ($mode) for $outage s; churn: $rate calls/s for $churn s"
"$lg_bin" --url "$SB_URL" --server-pid "$SB_PID" --scenario churn --rate "$rate" --seconds "$churn" \
  --lifetime-ms 5000 $media_flag --check --json "$out/loadgen.json" >"$out/loadgen.out" 2>"$out/loadgen.err"
left=$((outage - ($(date +%s) - start)))
[ "$left" -gt 0 ] && sleep "$left"
[ -n "$down_pid" ] && { kill "$down_pid"; wait "$down_pid" 2>/dev/null || true; down_pid=""; }
enq_at_return=$(metric switchboard_webhook_enqueued_total)
backlog_at_return=$(metric switchboard_webhook_backlog)
python3 "$here/bench/robustness/webhook_receiver.py" "$port" 200 "$out/received.jsonl" & rx_pid=$!
back=$(date +%s.%N)
for _ in $(seq 600); do
  [ "$(metric switchboard_webhook_backlog)" = 0 ] && break
  sleep 0.5
done
drained=$(date +%s.%N)
sleep 1
curl -s "$SB_URL/metrics" | grep -E '^switchboard_webhook' >"$out/metrics-after.txt"
python3 - "$out" "$outage" "$mode" "$backlog_at_return" "$enq_at_return" "$back" "$drained" <<'EOF'
import collections, json, sys
out, outage, mode, backlog_ret, enq_ret, back, drained = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(float(sys.argv[4] or 0)), int(float(sys.argv[5] or 0)), float(sys.argv[6]), float(sys.argv[7])
m = {}
for line in open(out + "/metrics-after.txt"):
    k, _, v = line.rpartition(" ")
    m[k] = float(v)
import os
rows = [json.loads(l) for l in open(out + "/received.jsonl")] if os.path.exists(out + "/received.jsonl") else []
seen, uniq = set(), []
for r in rows:
    if r["id"] in seen: continue
    seen.add(r["id"]); uniq.append(r["body"])
calls = collections.OrderedDict()
for b in uniq:
    calls.setdefault(b.get("call", {}).get("id"), []).append(b.get("event"))
bad = [cid for cid, ev in calls.items() if not ev or ev[0] != "callCreated" or ev[-1] != "callDestroyed" or ev.count("callDestroyed") != 1]
peak = 0
for line in list(open(out + "/backlog.csv"))[1:]:
    f = line.strip().split(",")
    if len(f) > 1 and f[1]: peak = max(peak, int(float(f[1])))
enq, dlv = m.get("switchboard_webhook_enqueued_total", 0), m.get("switchboard_webhook_delivered_total", 0)
dropped = sum(v for k, v in m.items() if k.startswith("switchboard_webhook_dropped_total"))
fails = []
if dlv != enq: fails.append("delivered %d of %d queued" % (dlv, enq))
if dropped: fails.append("%d dropped" % dropped)
if len(uniq) != enq: fails.append("receiver got %d distinct events, server queued %d" % (len(uniq), enq))
if bad: fails.append("%d calls' events out of order or incomplete, e.g. %s: %s" % (len(bad), bad[0], calls[bad[0]]))
summary = "\n".join([
    "# Webhook receiver down for %d s (%s)" % (outage, mode), "",
    "Verdict: **%s**" % ("pass" if not fails else "FAIL"), *["- " + f for f in fails],
    "- calls: %d (each callCreated … callDestroyed, in order: %d)" % (len(calls), len(calls) - len(bad)),
    "- events queued %d, delivered %d, distinct at the receiver %d (%d deliveries incl. repeats), dropped %d, retries %d" % (
        enq, dlv, len(uniq), len(rows), dropped, m.get("switchboard_webhook_retries_total", 0)),
    "- backlog when the receiver returned: %d (queued by then: %d); peak backlog %d (queue limit 10000 per shard)" % (backlog_ret, enq_ret, peak),
    "- distinct events received before the receiver returned (slow mode: those it processed slowly): %d" % len({r["id"] for r in rows if r["t"] < back}),
    "- drained %.1f s after the receiver returned" % (drained - back), ""])
open(out + "/summary.md", "w").write(summary)
print(summary)
sys.exit(1 if fails else 0)
EOF
