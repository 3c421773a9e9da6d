#!/usr/bin/env bash
# CI smoke of the load generator (CTest "loadgen"): a handful of calls per scenario against one
# server, each run with --check: zero failures, audio both ways on every leg (and every leg found
# its peer's latency probe), relay or mix chosen as expected. Counts only, never times.
#   bench/loadgen/smoke.sh SWITCHBOARD_BIN LOADGEN_BIN
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
sb_bin=$1 lg_bin=$2
. "$here/bench/loadgen/server.sh"
trap sb_stop EXIT
sb_start "$sb_bin" 2
lg() {
  echo "== loadgen $*"
  rm -f "$SB_DIR/out.json"
  "$lg_bin" --url "$SB_URL" --server-pid "$SB_PID" --check --settle-seconds 1 "$@" >"$SB_DIR/out.json" ||
    { cat "$SB_DIR/out.json"; tail -20 "$SB_DIR/server.log"; return 1; }
  grep -o '"check":"[a-z]*"' "$SB_DIR/out.json"
}
lg --scenario relay --calls 4 --seconds 3 --expect-relay yes                 # (a) passthrough
lg --scenario transcode --calls 2 --seconds 3 --expect-relay no              # (b) PCMU <-> Opus
lg --scenario srtp --calls 2 --seconds 3 --expect-relay yes                  # (c) SDES-SRTP relay
lg --scenario srtp --codecs pcmu,opus --calls 2 --seconds 3 --expect-relay no  # (c) SDES-SRTP transcoded
lg --scenario room --legs 5 --codecs pcmu,g722,opus --seconds 3 --expect-relay no  # (d) one room
lg --scenario churn --rate 4 --seconds 2 --lifetime-ms 3000                  # (e) dial, 3 s, BYE
lg --scenario dialrate --rate 50 --seconds 2                                 # (f) open-loop dials
lg --scenario setup --rate 10 --seconds 2                                    # hold, then BYE
# The server must also stop cleanly (drain, exit 0): a crash or sanitizer report at shutdown fails.
sb_stop
[ "$SB_RC" = 0 ] || { echo "loadgen smoke: the server exited with status $SB_RC" >&2; exit 1; }
echo "loadgen smoke: ok"
