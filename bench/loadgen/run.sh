#!/usr/bin/env bash
# One command for a load run: starts Switchboard (N shards, free loopback ports), runs
# bench_loadgen against it with the arguments after --, stops the server by PID. The JSON result
# goes to stdout, progress to stderr. Builds the release binaries first unless NO_BUILD=1.
#   bench/loadgen/run.sh [-s SHARDS] [-d BUILD_DIR] [-p] -- <bench_loadgen arguments>
#   bench/loadgen/run.sh -s 1 -- --scenario relay --ramp 100:100:1000
# -p pins the server's shard threads (--pin-threads is a config key: written to a config file).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
shards=1 build="$here/build/release" pin=0
while [ $# -gt 0 ]; do
  case $1 in
    -s) shards=$2; shift 2 ;;
    -d) build=$2; shift 2 ;;
    -p) pin=1; shift ;;
    --) shift; break ;;
    *) echo "usage: $0 [-s SHARDS] [-d BUILD_DIR] [-p] -- loadgen args" >&2; exit 2 ;;
  esac
done
if [ "${NO_BUILD:-0}" != 1 ]; then
  (cd "$here" && cmake --preset release >/dev/null && cmake --build --preset release --target switchboard bench_loadgen >/dev/null)
fi
. "$here/bench/loadgen/server.sh"
trap sb_stop EXIT
extra=()
if [ "$pin" = 1 ]; then
  cfg=$(mktemp /tmp/sb-pin.XXXXXX.json)
  echo '{"pinThreads": true}' >"$cfg"
  extra=(--config "$cfg")
fi
sb_start "$build/switchboard" "$shards" "${extra[@]}"
"$build/bench/bench_loadgen" --url "$SB_URL" --server-pid "$SB_PID" "$@"
