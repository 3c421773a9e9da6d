#!/usr/bin/env bash
# Hostile SIP and RTP against a running Switchboard while it carries real calls (docs/robustness.md
# "Hostile SIP"). One command:
#
#   bench/robustness/hostile_sip.sh [SWITCHBOARD] [BENCH_LOADGEN] [OUT_DIR]
#
# defaults: build/release/switchboard, build/release/bench/bench_loadgen,
# docs/bench/robustness/hostile-sip-<date>. Starts a 2-shard server with a TLS listener (a
# throw-away self-signed certificate), puts 20 relayed calls on it (bench_loadgen, real SIP and
# RTP from 127.0.0.1), then, against every SIP port of every shard: SIPVicious (svmap, svwar,
# svcrack), sipsak over UDP/TCP/TLS, and the hand-made probes of sip_probes.py (oversized headers,
# 10,000 Vias, bad Content-Length, half-sent messages and TLS handshakes held open, garbage floods
# from one and from 500 sources, a flood of connections). Afterwards it checks and records:
#   - nothing answered (no scanner found a SIP device, no probe got a byte back);
#   - every held-open stream was closed by the server within its deadline (30 s for a message or
#     a silent accepted connection, 4 s for a TLS handshake);
#   - the calls kept their audio (bench_loadgen --check: every call up, both ways, relay held;
#     its loss and late-frame figures are recorded);
#   - file descriptors and RSS before, at peak and after (sampled every second);
#   - what /metrics counted (switchboard_sip_dropped_total by reason, connections evicted …).
# Exit status non-zero if any check failed. Needs: sipvicious, sipsak, python3, openssl
# (scripts/setup.sh --robustness installs them).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
sb_bin=${1:-$here/build/release/switchboard}
lg_bin=${2:-$here/build/release/bench/bench_loadgen}
out=${3:-$here/docs/bench/robustness/hostile-sip-$(date +%F)}
calls=${CALLS:-20}
for tool in svmap svwar svcrack sipsak python3 openssl; do
  command -v "$tool" >/dev/null || { echo "hostile_sip: $tool is missing (scripts/setup.sh --robustness)" >&2; exit 2; }
done
mkdir -p "$out"
. "$here/bench/loadgen/server.sh"
work=$(mktemp -d /tmp/sb-hostile.XXXXXX)
bg_pids=()
cleanup() {
  for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sb_stop
  rm -rf "$work"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
printf '{"sip": {"tlsCert": "%s", "tlsKey": "%s"}}\n' "$work/cert.pem" "$work/key.pem" >"$work/config.json"
sb_start "$sb_bin" 2 --config "$work/config.json"
cp "$SB_DIR/ready" "$out/ready.json"
echo "server pid $SB_PID, $(cat "$SB_DIR/ready")"

fds() { ls "/proc/$SB_PID/fd" 2>/dev/null | wc -l; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$SB_PID/status" 2>/dev/null || echo 0; }
metrics() { curl -s "$SB_URL/metrics" | grep -E '^switchboard_(sip_|calls_|media_legs|media_relaying|rtp_dropped|media_socket_drops|rtp_lost)' || true; }

# Resources every second, for the whole run.
(echo "t,fds,rss_kib"; t=0; while kill -0 "$SB_PID" 2>/dev/null; do echo "$t,$(fds),$(rss)"; sleep 1; t=$((t + 1)); done) \
  >"$out/resources.csv" &
bg_pids+=($!)

# Real calls first (from 127.0.0.1), up before the attack starts.
"$lg_bin" --url "$SB_URL" --server-pid "$SB_PID" --scenario relay --calls "$calls" --seconds 110 \
  --settle-seconds 2 --check --expect-relay yes --json "$out/loadgen.json" >"$out/loadgen.out" 2>"$out/loadgen.err" &
lg_pid=$!
for _ in $(seq 100); do
  [ "$(curl -s "$SB_URL/metrics" | sed -n 's/^switchboard_media_relaying \([0-9]*\)/\1/p')" = "$calls" ] && break
  sleep 0.2
done
sleep 2
metrics >"$out/metrics-before.txt"
fds_before=$(fds) rss_before=$(rss)
echo "before the attack: $fds_before fds, $rss_before KiB RSS, $(grep -c . "$out/metrics-before.txt") metric lines"

# Hand-made probes (their own sources, 127.0.0.2 and up), side by side with the scanners.
python3 "$here/bench/robustness/sip_probes.py" --ready "$SB_DIR/ready" >"$out/probes.json" 2>"$out/probes.log" &
probe_pid=$!

mapfile -t udp_ports < <(python3 -c 'import json,sys; [print(s["udp"]) for s in json.load(open(sys.argv[1]))["sip"]]' "$SB_DIR/ready")
mapfile -t tcp_ports < <(python3 -c 'import json,sys; [print(s["tcp"]) for s in json.load(open(sys.argv[1]))["sip"]]' "$SB_DIR/ready")
mapfile -t tls_ports < <(python3 -c 'import json,sys; [print(s["tls"]) for s in json.load(open(sys.argv[1]))["sip"]]' "$SB_DIR/ready")
: >"$out/scanners.log"
found=0
for i in "${!udp_ports[@]}"; do
  u=${udp_ports[$i]} t=${tcp_ports[$i]} tl=${tls_ports[$i]}
  {
    echo "== svmap -p $u"; timeout 60 svmap -b 127.0.0.10 -p "$u" 127.0.0.1 2>&1 || true
    echo "== svwar -e100-399 -p $u"; timeout 60 svwar -b 127.0.0.10 -e100-399 -p "$u" --force 127.0.0.1 2>&1 || true
    echo "== svcrack -u100 -r1000-1299 -p $u"; timeout 60 svcrack -b 127.0.0.10 -u100 -r1000-1299 -p "$u" 127.0.0.1 2>&1 || true
    # sipsak exits 3 when nothing answered (timeout's 124 when it was still waiting).
    for tr in udp tcp tls; do
      case $tr in udp) p=$u uri="sip:100@127.0.0.1:$u" ;; tcp) p=$t uri="sip:100@127.0.0.1:$t" ;; tls) p=$tl uri="sip:100@127.0.0.1:$tl" ;; esac
      [ "$p" != 0 ] || continue
      echo "== sipsak $tr $p"; rc=0; timeout 12 sipsak -E "$tr" -s "$uri" 2>&1 || rc=$?; echo "sipsak exit $rc"
    done
  } >>"$out/scanners.log"
done
wait "$probe_pid" || { echo "hostile_sip: the probe script failed" >&2; tail "$out/probes.log" >&2; exit 1; }
# Hostile media: every RTP port of the calls' legs.
python3 "$here/bench/robustness/rtp_probes.py" --pid "$SB_PID" >"$out/rtp_probes.json"
peak_fds=$(awk -F, 'NR > 1 && $2 > m {m = $2} END {print m}' "$out/resources.csv")
peak_rss=$(awk -F, 'NR > 1 && $3 > m {m = $3} END {print m}' "$out/resources.csv")
sleep 3
metrics >"$out/metrics-after.txt"
fds_after=$(fds) rss_after=$(rss)
lg_rc=0
wait "$lg_pid" || lg_rc=$?
sleep 1

python3 - "$out" "$lg_rc" "$fds_before" "$fds_after" "$peak_fds" "$rss_before" "$rss_after" "$peak_rss" <<'EOF'
import json, re, sys
out, lg_rc = sys.argv[1], int(sys.argv[2])
fb, fa, fp, rb, ra, rp = map(int, sys.argv[3:9])
probes = json.load(open(out + "/probes.json"))
rtpp = json.load(open(out + "/rtp_probes.json"))
scan = open(out + "/scanners.log").read()
try:
    lg = json.load(open(out + "/loadgen.json"))
except (OSError, ValueError):
    lg = {}
def metrics(f):
    m = {}
    for line in open(f):
        k, _, v = line.rpartition(" ")
        m[k] = float(v)
    return m
mb, ma = metrics(out + "/metrics-before.txt"), metrics(out + "/metrics-after.txt")
fails = []
# Nothing answered: SIPVicious prints a table row per device/extension/password it found.
svmap_rows = [l for l in scan.splitlines() if re.match(r"^\|\s*127\.0\.0\.1", l)]
sv_found = [l for l in scan.splitlines() if re.search(r"\|\s*(reqauth|noauth|weird)\s*\|", l)]
cracked = [l for l in scan.splitlines() if re.match(r"^\|\s*\d+\s*\|\s*\S+\s*\|", l)]
sipsak_replies = len(re.findall(r"received|reply|SIP/2\.0 \d{3}", scan.replace("no reply", "")))
if svmap_rows or sv_found or cracked: fails.append("a scanner found something: %s" % (svmap_rows + sv_found + cracked)[:3])
if probes["reply_bytes_total"]: fails.append("probes got %d bytes back" % probes["reply_bytes_total"])
if rtpp["reply_bytes"]: fails.append("media probes got %d bytes back" % rtpp["reply_bytes"])
deadline = {"half_message_held_open": 31.5, "silent_connection": 31.5, "tls_silent_after_handshake": 31.5,
            "tls_handshake_never_sent": 5.5, "tls_partial_client_hello": 5.5}
for p in probes["probes"]:
    lim = deadline.get(p["probe"])
    if lim and not (p.get("closed_by_server") and p["open_seconds"] <= lim):
        fails.append("%s on %d: open %.1f s (limit %.1f), closed by server: %s" % (p["probe"], p["port"], p["open_seconds"], lim, p.get("closed_by_server")))
step = lg["steps"][-1] if lg.get("steps") else {}
if lg_rc != 0: fails.append("the calls did not survive the attack (bench_loadgen --check exit %d)" % lg_rc)
if fa > fb + 8: fails.append("file descriptors grew: %d -> %d" % (fb, fa))
delta = {k: ma.get(k, 0) - mb.get(k, 0) for k in ma if ma.get(k, 0) != mb.get(k, 0)}
rows = ["| probe | transport | port | sent | replies (bytes) | held open (s) | closed by server |", "|---|---|---|---|---|---|---|"]
for p in probes["probes"]:
    sent = p.get("sent", p.get("connected", "1"))
    rows.append("| %s | %s | %d | %s | %s | %s | %s |" % (p["probe"], p["transport"], p["port"], sent, p.get("reply_bytes", "-"),
                p.get("open_seconds", "-"), p.get("closed_by_server", "-")))
summary = [
    "# Hostile SIP run", "",
    "Verdict: **%s**" % ("pass" if not fails else "FAIL"), "",
    *["- " + f for f in fails],
    "- Scanners: svmap rows %d, svwar extensions %d, svcrack passwords %d, sipsak replies %d" % (len(svmap_rows), len(sv_found), len(cracked), sipsak_replies),
    "- Calls during the attack: %s relayed calls, loadgen check exit %d, loss %.3f %%, late %.3f %%, probe latency p50 %.2f ms p99 %.2f ms" % (
        step.get("calls_active", "?"), lg_rc, step.get("loss_pct", -1), step.get("late_pct", -1),
        step.get("latency_ms", {}).get("p50", -1), step.get("latency_ms", {}).get("p99", -1)),
    "- Media: %d RTP ports sprayed from 50 strangers with %s (%d packets/s); replies %d bytes" % (
        rtpp["ports"], rtpp["sent"], rtpp["rate_per_s"], rtpp["reply_bytes"]),
    "- Server file descriptors: %d before, %d peak, %d after; RSS %d KiB before, %d KiB peak, %d KiB after" % (fb, fp, fa, rb, rp, ra),
    "", "## /metrics that moved", "", "```", *["%s %+g" % (k, v) for k, v in sorted(delta.items())], "```",
    "", "## Probes", "", *rows, ""]
open(out + "/summary.md", "w").write("\n".join(summary))
print("\n".join(summary))
sys.exit(1 if fails else 0)
EOF
