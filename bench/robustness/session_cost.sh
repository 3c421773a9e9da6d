#!/usr/bin/env bash
# What one stored session costs: OpenTok sessions never expire (their guide: "sessions do not
# expire ... cannot explicitly be destroyed"), so Switchboard keeps every session it created until
# limits.sessionsPerShard evicts the oldest idle ones. This creates N sessions through REST on a
# one-shard server and prints the RSS per session (docs/robustness.md "Soak"). One command:
#
#   bench/robustness/session_cost.sh [SWITCHBOARD] [N]      (default build/release/switchboard, 20000)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
sb_bin=${1:-$here/build/release/switchboard}
n=${2:-20000}
. "$here/bench/loadgen/server.sh"
trap sb_stop EXIT
sb_start "$sb_bin" 1
rss() { awk '/VmRSS/ {print $2}' "/proc/$SB_PID/status"; }
create() {  # create N sessions of the embedded development project (its key and secret)
  python3 - "$SB_URL" "$1" <<'PY'
import base64, hashlib, hmac, json, sys, time, uuid, http.client
url, n = sys.argv[1], int(sys.argv[2])
key, secret = "46000001", "5b0a7f9c3e1d4a2b8c6e0f1a2b3c4d5e6f708192"
host, port = url.split("//")[1].split(":")
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")
def jwt():
    now = int(time.time())
    h = b64(b'{"alg":"HS256","typ":"JWT"}')
    p = b64(json.dumps({"iss": key, "ist": "project", "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}).encode())
    return (h + b"." + p + b"." + b64(hmac.new(secret.encode(), h + b"." + p, hashlib.sha256).digest())).decode()
c, ok = http.client.HTTPConnection(host, int(port)), 0
for _ in range(n):
    c.request("POST", "/session/create", "p2p.preference=disabled",
              {"X-OPENTOK-AUTH": jwt(), "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
    r = c.getresponse(); r.read(); ok += r.status == 200
if ok != n: sys.exit("only %d of %d sessions created" % (ok, n))
PY
}
create 2000  # warm-up: allocator arenas, the tables' first growth
r1=$(rss)
create "$n"
r2=$(rss)
held=$(curl -s "$SB_URL/metrics" | sed -n 's/^switchboard_sessions \([0-9]*\)/\1/p')
echo "sessions held: $held; RSS $r1 KiB → $r2 KiB after $n more: $(( (r2 - r1) * 1024 / n )) bytes per session"
