#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, then builds and runs every test:
#   1. the whole suite (unit, in-process REST, real peers, the Node SDK) under ASan + UBSan;
#   2. the release build, checked to be one fully static binary;
#   3. each libFuzzer target for a short run over its seed corpus (clang preset).
# FUZZ_SECONDS (default 10) sets the per-target fuzz time; SKIP_FUZZ=1 skips step 3.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh"
cd "$here"
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
# Paths under the checkout are hashed relative to it, so a fresh clone elsewhere (CI) reuses the
# objects an earlier build of the same sources left in the cache.
export CCACHE_BASEDIR="$here"
jobs=${JOBS:-$(nproc)}

echo "== 1/3 test suite under ASan+UBSan"
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$jobs"
ctest --preset asan -j 2

echo "== 2/3 release build: one static binary"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs" --target switchboard
desc=$(file -L build/release/switchboard)
echo "$desc"
case "$desc" in
  *"statically linked"*) echo "static: ok" ;;
  *) echo "static: FAILED (not statically linked)"; exit 1 ;;
esac
build/release/switchboard --version

if [ "${SKIP_FUZZ:-0}" != 1 ]; then
  echo "== 3/3 fuzz targets, ${FUZZ_SECONDS:-10} s each"
  cmake --preset fuzz >/dev/null
  targets=$(cd fuzz && ls *.cpp | sed 's/\.cpp$//; s/^/fuzz_/')
  cmake --build --preset fuzz -j "$jobs" --target $targets
  "$here/scripts/fuzz.sh" "${FUZZ_SECONDS:-10}"
fi
echo "all tests passed"
