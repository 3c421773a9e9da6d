#!/usr/bin/env bash
# Media side by side: the same far ends, speech and call count through Switchboard (1 shard) and
# through rtpengine (Debian's rtpengine-daemon, userspace only: --table=-1, one worker thread),
# one after the other on the same machine; CPU per call per 20 ms of each whole process (/proc)
# and the ratio (issue 10). Transcoding runs both at Opus complexity 10 (rtpengine's libopus
# encoder through libavcodec uses its default, 10; Switchboard is configured to match).
#   bench/loadgen/vs_rtpengine.sh [RUNS=3] [SECONDS=10] [BUILD_DIR=build/release]
# Needs rtpengine-daemon (scripts/setup.sh --bench installs it).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-3} secs=${2:-10} build=${3:-$here/build/release}
command -v rtpengine >/dev/null || { echo "rtpengine not installed (scripts/setup.sh --bench)" >&2; exit 2; }
. "$here/bench/loadgen/server.sh"
dir=$(mktemp -d /tmp/sb-rtpe.XXXXXX)
rtpe_pid=""
stop_rtpe() {
  [ -n "$rtpe_pid" ] && { kill "$rtpe_pid"; wait "$rtpe_pid"; } 2>/dev/null || true
  rtpe_pid=""
}
trap 'stop_rtpe; sb_stop; rm -rf "$dir"' EXIT
ng_port=$(python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
cfg="$dir/sb.json"
echo '{"media": {"opusComplexity": 10}}' >"$cfg"
field() { python3 -c "import json,sys; s=json.load(open('$1'))['steps'][0]; print(round(s['$2'],2) if isinstance(s['$2'],float) else s['$2'])"; }
echo "| scenario | calls | run | Switchboard µs/call/20ms | rtpengine µs/call/20ms | rtpengine ÷ Switchboard | latency p50 SB / rtpe (ms) | loss SB / rtpe |"
echo "|---|---|---|---|---|---|---|---|"
for sc in "relay 200" "srtp 200" "transcode 20"; do
  set -- $sc
  name=$1 calls=$2
  for run in $(seq "$runs"); do
    rm -f "$dir/sb.json.out" "$dir/rtpe.json.out"  # a failed run must not report the last one's figures
    sb_start "$build/switchboard" 1 --config "$cfg"
    "$build/bench/bench_loadgen" --url "$SB_URL" --server-pid "$SB_PID" --scenario "$name" --calls "$calls" \
      --seconds "$secs" --opus-complexity 10 --json "$dir/sb.json.out" >/dev/null 2>"$dir/lg.log" ||
      { tail -5 "$dir/lg.log" >&2; exit 1; }
    sb_stop
    rtpengine --interface=127.0.0.1 --listen-ng="127.0.0.1:$ng_port" --foreground --log-stderr --table=-1 \
      --port-min=40000 --port-max=49999 --num-threads=1 --no-redis-required --log-level=4 --delete-delay=0 \
      >"$dir/rtpe.log" 2>&1 &
    rtpe_pid=$!
    sleep 1
    "$build/bench/bench_loadgen" --rtpengine "127.0.0.1:$ng_port" --server-pid "$rtpe_pid" --scenario "$name" \
      --calls "$calls" --seconds "$secs" --opus-complexity 10 --json "$dir/rtpe.json.out" >/dev/null 2>"$dir/lg.log" ||
      { tail -5 "$dir/lg.log" >&2; exit 1; }
    stop_rtpe
    sb_us=$(field "$dir/sb.json.out" server_us_per_call_per_20ms)
    re_us=$(field "$dir/rtpe.json.out" server_us_per_call_per_20ms)
    ratio=$(python3 -c "print(round($re_us/$sb_us,2) if $sb_us>0 else 'n/a')")
    sb_lat=$(python3 -c "import json; print(round(json.load(open('$dir/sb.json.out'))['steps'][0]['latency_ms']['p50'],2))")
    re_lat=$(python3 -c "import json; print(round(json.load(open('$dir/rtpe.json.out'))['steps'][0]['latency_ms']['p50'],2))")
    echo "| $name | $calls | $run | $sb_us | $re_us | $ratio | $sb_lat / $re_lat | $(field "$dir/sb.json.out" loss_pct) % / $(field "$dir/rtpe.json.out" loss_pct) % |"
  done
done
