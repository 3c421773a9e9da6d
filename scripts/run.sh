#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds the release (fully static) binary and starts it.
# With no arguments it runs the embedded development project on loopback and prints its key and
# secret; any arguments are passed to the server (see docs/config.md).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh"
cd "$here"
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
cmake --preset release >/dev/null
cmake --build --preset release --target switchboard
exec "$here/build/release/switchboard" "$@"
