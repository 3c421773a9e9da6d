#!/usr/bin/env bash
# Call-setup cost, Switchboard vs a sipp UAC: the same call flow against the same sipp UAS on the
# same machine, CPU per call of the calling process (issue 10 "side by side").
#   bench/loadgen/setup_vs_sipp.sh [RATE=100] [SECONDS=10] [RUNS=3] [BUILD_DIR=build/release]
# Flow: INVITE (our offer) → 180 → 200 → ACK → 200 ms → the UAS holds (re-INVITE a=sendonly,
# answered recvonly) → the UAS hangs up (BYE). Switchboard's calls start with a REST dial from
# bench_loadgen (--scenario setup --target …); its CPU is the switchboard process's (/proc) from the
# first dial until its last call ended, REST included. The baseline is sipp -sf uac_hold.xml at the
# same rate and count; its CPU is the sipp process's (getrusage of the child). Prints one line per
# run and the ratio. Each side must complete every call (the script says when one did not).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
rate=${1:-100} secs=${2:-10} runs=${3:-3} build=${4:-$here/build/release}
calls=$(python3 -c "print(int($rate*$secs))")
. "$here/bench/loadgen/server.sh"
dir=$(mktemp -d /tmp/sb-sipp.XXXXXX)
port=$(python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
sipp -sf "$here/bench/loadgen/sipp/uas_hold_bye.xml" -i 127.0.0.1 -p "$port" -nostdin -max_socket 8192 \
  >"$dir/uas.log" 2>&1 &
uas=$!
cleanup() { kill "$uas" 2>/dev/null || true; wait "$uas" 2>/dev/null || true; sb_stop; rm -rf "$dir"; }
trap cleanup EXIT
sleep 0.5
echo "| run | calls | rate/s | Switchboard CPU ms/call | sipp UAC CPU ms/call | ratio | Switchboard failures | sipp failed calls |"
echo "|---|---|---|---|---|---|---|---|"
for run in $(seq "$runs"); do
  rm -f "$dir/sb.json"  # a failed run must not report the last one's figures
  sb_start "$build/switchboard" 1
  "$build/bench/bench_loadgen" --url "$SB_URL" --server-pid "$SB_PID" --scenario setup --target "sip:uas@127.0.0.1:$port" \
    --rate "$rate" --seconds "$secs" --json "$dir/sb.json" >/dev/null 2>"$dir/lg.log" || true
  [ -s "$dir/sb.json" ] || { tail -5 "$dir/lg.log" >&2; exit 1; }
  sb_stop
  read -r sb_ms sb_fail < <(python3 -c "
import json; s=json.load(open('$dir/sb.json'))['steps'][0]
print(round(s['server_cpu_ms_per_call'],3), int(s['failures'] + s['dials'] - s.get('server_calls_ended_normal',0)))")
  read -r sipp_cpu sipp_rc < <(python3 - "$here" "$port" "$rate" "$calls" <<'PY'
import resource, subprocess, sys
here, port, rate, calls = sys.argv[1:5]
p = subprocess.run(["sipp", "-sf", f"{here}/bench/loadgen/sipp/uac_hold.xml", "-i", "127.0.0.1", "-p", "0",
                    "-r", rate, "-m", calls, "-nostdin", "-max_socket", "8192", "-timeout", "120s",
                    f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(r.ru_utime + r.ru_stime, p.returncode)
PY
)
  sipp_ms=$(python3 -c "print(round($sipp_cpu*1000/$calls,3))")
  ratio=$(python3 -c "print(round($sb_ms/$sipp_ms,2) if $sipp_ms>0 else 'n/a')")
  echo "| $run | $calls | $rate | $sb_ms | $sipp_ms | $ratio | $sb_fail | $([ "$sipp_rc" = 0 ] && echo 0 || echo "some (sipp rc $sipp_rc)") |"
done
