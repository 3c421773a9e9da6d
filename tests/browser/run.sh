#!/usr/bin/env bash
# Runs the browser end-to-end test (browser_test.js) inside a fresh network namespace that has only
# loopback, so that every packet between Chromium and the server stays on 127.0.0.1 (Chromium
# otherwise sends from its non-loopback address even to a 127.0.0.1 candidate).
# Usage: tests/browser/run.sh SWITCHBOARD_BINARY   (as root: unshare -n needs CAP_SYS_ADMIN)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: $0 SWITCHBOARD_BINARY" >&2; exit 2; }
bin=$(realpath "$1")

for tool in node unshare ip sox sipp baresip /usr/bin/chromium; do
  command -v "$tool" >/dev/null || { echo "browser: missing $tool (run scripts/setup.sh)" >&2; exit 1; }
done
[ -d "$here/node_modules/playwright-core" ] && [ -d "$here/node_modules/@opentok/client" ] \
  && [ -d "$here/node_modules/opentok" ] \
  || { echo "browser: tests/browser/node_modules is incomplete (run scripts/setup.sh)" >&2; exit 1; }

# Never skip silently: a machine that cannot make a namespace fails the test and says why.
if ! err=$(unshare -n true 2>&1); then
  echo "browser: cannot create a network namespace (unshare -n): $err" >&2
  echo "browser: this test needs root (or CAP_SYS_ADMIN); CI runs it as root" >&2
  exit 1
fi

exec unshare -n -- bash -c 'set -e; ip link set lo up; cd "$1"; exec node browser_test.js "$2"' \
  browser "$here" "$bin"
