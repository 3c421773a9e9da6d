#!/usr/bin/env bash
# Installs every package Switchboard needs to build and test on a fresh Debian 12 machine,
# then builds the static third-party pieces Debian does not ship (libsrtp2 on OpenSSL).
# Idempotent: a second run only checks.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

# Build toolchain and libraries (static archives are required: the binary links fully static).
BUILD_PKGS="build-essential cmake ninja-build ccache pkg-config clang lld libclang-rt-14-dev
  libboost1.81-dev libssl-dev libopus-dev libspandsp-dev libspeexdsp-dev libfmt-dev doctest-dev
  dpkg-dev autoconf automake libtool"
# Real peers and tools the test suite drives (see docs/testing.md).
TEST_PKGS="curl python3 sip-tester baresip kamailio kamailio-sqlite-modules
  dnsmasq-base sqlite3 espeak-ng sox python3-numpy chromium iproute2"

# Only for the side-by-side benchmarks (`scripts/setup.sh --bench`; docs/benchmarks.md): rtpengine
# (its userspace daemon alone: the metapackage would pull a kernel module) and gnuplot for the plots.
BENCH_PKGS=""
[ "${1:-}" = "--bench" ] && BENCH_PKGS="rtpengine-daemon gnuplot-nox"
# Only for the robustness scripts (`scripts/setup.sh --robustness`; docs/robustness.md): the SIP
# scanners an attacker would use.
[ "${1:-}" = "--robustness" ] && BENCH_PKGS="sipvicious sipsak"

missing=""
for p in $BUILD_PKGS $TEST_PKGS $BENCH_PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Node.js: Debian's nodejs+npm, unless a Node (with its own npm) is already on the machine.
command -v node >/dev/null && command -v npm >/dev/null || missing="$missing nodejs npm"
if [ -n "$missing" ]; then
  echo "setup: installing:$missing"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# libsrtp2: Debian's build links NSS, which has no static libraries. Build Debian's own source
# package against OpenSSL (also ~3x faster, see ../shared PERF notes) into .deps/ (gitignored).
"$here/scripts/build-libsrtp2.sh"

# Node SDK used by the compatibility tests (tests/sdk/package.json pins it).
if [ -f "$here/tests/sdk/package.json" ] && [ ! -d "$here/tests/sdk/node_modules/opentok" ]; then
  (cd "$here/tests/sdk" && npm install --no-audit --no-fund --loglevel=error)
fi
# Browser tests: playwright-core (drives Debian's chromium), the OpenTok.js client and the Node SDK
# (tests/browser/package.json pins them).
if [ -f "$here/tests/browser/package.json" ] && [ ! -d "$here/tests/browser/node_modules/playwright-core" ]; then
  (cd "$here/tests/browser" && npm install --no-audit --no-fund --loglevel=error)
fi
# The OpenTok.js client the server's demo page serves at /opentok.js (.deps/ is gitignored).
if [ ! -f "$here/.deps/opentok-client/node_modules/@opentok/client/dist/js/opentok.js" ]; then
  npm install --no-audit --no-fund --loglevel=error --prefix "$here/.deps/opentok-client" @opentok/client@2.35.2
fi
echo "setup: ok"
