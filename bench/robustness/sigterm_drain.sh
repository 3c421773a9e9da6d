#!/usr/bin/env bash
# SIGTERM under load (docs/robustness.md "Shutdown"). One command:
#
#   bench/robustness/sigterm_drain.sh [SWITCHBOARD] [BENCH_LOADGEN] [OUT_DIR]
#
# env: CALLS (relayed sessions, two SIP legs each; default 50). A 2-shard server whose project
# posts its callbacks to a local receiver carries CALLS sessions of real calls (bench_loadgen);
# once they are all up it gets SIGTERM. Checks and records: the server exits 0 within its drain
# deadline; every answered leg got a BYE from the server (bench_loadgen counts the BYEs it
# received); every call's callDestroyed reached the receiver before the process exited
# (events expected vs delivered, with their arrival times against the exit time).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
sb_bin=${1:-$here/build/release/switchboard}
lg_bin=${2:-$here/build/release/bench/bench_loadgen}
out=${3:-$here/docs/bench/robustness/sigterm-$(date +%F)}
calls=${CALLS:-50}
mkdir -p "$out"
. "$here/bench/loadgen/server.sh"
work=$(mktemp -d /tmp/sb-sigterm.XXXXXX)
rx_pid="" lg_pid=""
cleanup() {
  for p in $rx_pid $lg_pid; do kill "$p" 2>/dev/null || true; done
  sb_stop
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rm -f "$out/received.jsonl"
python3 "$here/bench/robustness/webhook_receiver.py" "$port" 200 "$out/received.jsonl" & rx_pid=$!
cat >"$work/config.json" <<EOF
{"projects": [{"apiKey": "46000001", "apiSecret": "5b0a7f9c3e1d4a2b8c6e0f1a2b3c4d5e6f708192",
               "callbackUrl": "http://127.0.0.1:$port/hooks"}]}
EOF
sb_start "$sb_bin" 2 --config "$work/config.json"
"$lg_bin" --url "$SB_URL" --server-pid "$SB_PID" --scenario relay --calls "$calls" --seconds 20 --settle-seconds 1 \
  --json "$out/loadgen.json" >"$out/loadgen.out" 2>"$out/loadgen.err" &
lg_pid=$!
for _ in $(seq 300); do
  [ "$(curl -s "$SB_URL/metrics" | sed -n 's/^switchboard_media_relaying \([0-9]*\)/\1/p')" = "$calls" ] && break
  sleep 0.2
done
sleep 2
active=$(curl -s "$SB_URL/metrics" | sed -n 's/^switchboard_calls_active \([0-9]*\)/\1/p')
echo "$active calls up; SIGTERM"
t_term=$(date +%s.%N)
kill -TERM "$SB_PID"
rc=0
wait "$SB_PID" || rc=$?
t_exit=$(date +%s.%N)
SB_PID=""
wait "$lg_pid" || true
lg_pid=""
sleep 0.5
python3 - "$out" "$active" "$rc" "$t_term" "$t_exit" <<'EOF'
import collections, json, os, sys
out, active, rc, t_term, t_exit = sys.argv[1], int(sys.argv[2] or 0), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
rows = [json.loads(l) for l in open(out + "/received.jsonl")] if os.path.exists(out + "/received.jsonl") else []
seen, ev = set(), collections.defaultdict(list)
late = 0
for r in rows:
    if r["id"] in seen: continue
    seen.add(r["id"])
    ev[r["body"].get("call", {}).get("id")].append(r["body"].get("event"))
    if r["t"] > t_exit + 0.05: late += 1
created = sum(1 for e in ev.values() if "callCreated" in e)
destroyed = sum(1 for e in ev.values() if "callDestroyed" in e)
lg = json.load(open(out + "/loadgen.json")) if os.path.exists(out + "/loadgen.json") else {}
t = lg.get("totals", {})
fails = []
if rc != 0: fails.append("the server exited %d" % rc)
if destroyed != created: fails.append("callDestroyed delivered for %d of %d calls" % (destroyed, created))
if created < active: fails.append("callCreated for %d calls, %d were up" % (created, active))
if late: fails.append("%d events arrived after the process exited" % late)
if t and t.get("server_byes", 0) < active: fails.append("BYEs from the server: %d, calls up: %d" % (t.get("server_byes", 0), active))
summary = "\n".join([
    "# SIGTERM with %d calls up" % active, "",
    "Verdict: **%s**" % ("pass" if not fails else "FAIL"), *["- " + f for f in fails],
    "- exit status %d, %.2f s after SIGTERM" % (rc, t_exit - t_term),
    "- BYEs the far ends received from the server: %s (legs answered: %s)" % (t.get("server_byes", "?"), t.get("acked", "?")),
    "- callbacks: callCreated %d, callDestroyed %d (expected = created), all before the exit: %s" % (created, destroyed, "yes" if not late else "no"),
    ""])
open(out + "/summary.md", "w").write(summary)
print(summary)
sys.exit(1 if fails else 0)
EOF
