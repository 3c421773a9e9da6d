# Sourced by run.sh and smoke.sh: start and stop one Switchboard on free loopback ports.
#   sb_start BIN SHARDS [extra server flags...]  → sets SB_PID, SB_URL, SB_DIR
#   sb_stop                                      → SIGTERM (drain), then SIGKILL after 20 s
sb_start() {
  local bin=$1 shards=$2
  shift 2
  SB_DIR=$(mktemp -d /tmp/sb-loadgen.XXXXXX)
  "$bin" --threads "$shards" --http-listen 127.0.0.1:0 --sip-port-base 0 --log-level warn \
    --ready-file "$SB_DIR/ready" "$@" >"$SB_DIR/server.log" 2>&1 &
  SB_PID=$!
  for _ in $(seq 100); do
    [ -s "$SB_DIR/ready" ] && break
    kill -0 "$SB_PID" 2>/dev/null || { cat "$SB_DIR/server.log" >&2; echo "server exited" >&2; return 1; }
    sleep 0.1
  done
  [ -s "$SB_DIR/ready" ] || { echo "server not ready in 10 s" >&2; return 1; }
  local port
  port=$(sed -n 's/.*"httpPort":\([0-9]*\).*/\1/p' "$SB_DIR/ready")
  SB_URL="http://127.0.0.1:$port"
}

# SB_RC: the server's exit status (0 after a clean drain; a crash or sanitizer abort is not 0).
sb_stop() {
  SB_RC=0
  [ -n "${SB_PID:-}" ] || return 0
  kill -TERM "$SB_PID" 2>/dev/null || true
  for _ in $(seq 200); do kill -0 "$SB_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SB_PID" 2>/dev/null || true
  wait "$SB_PID" 2>/dev/null || SB_RC=$?
  [ "$SB_RC" = 0 ] || tail -20 "$SB_DIR/server.log" >&2
  SB_PID=""
  rm -rf "$SB_DIR"
}

# Where the load generator runs beside a server whose K shards are pinned to CPUs 0..K-1
# (--pin-threads): LG_CPUS, the CPUs after them (all of them when K ≥ the CPU count), and
# LG_WORKERS, as many workers as shards that fit there, at least 2. scale.sh measures the knee
# this way; soak.sh (PIN=1) and overload.sh run in the same conditions.
#   sb_generator_cpus K
sb_generator_cpus() {
  local k=$1 ncpu
  ncpu=$(nproc)
  LG_CPUS="$k-$((ncpu - 1))"; [ "$k" -ge "$ncpu" ] && LG_CPUS="0-$((ncpu - 1))"
  LG_WORKERS=$((ncpu - k)); [ "$LG_WORKERS" -gt "$k" ] && LG_WORKERS=$k
  [ "$LG_WORKERS" -lt 2 ] && LG_WORKERS=2
  return 0
}
