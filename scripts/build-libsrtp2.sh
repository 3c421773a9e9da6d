#!/usr/bin/env bash
# Builds libsrtp2 (Debian's source package, same version Debian ships) as a static library on
# OpenSSL into .deps/srtp. Debian's binary package is built on NSS and ships no .a.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
prefix="$here/.deps/srtp"
[ -f "$prefix/lib/libsrtp2.a" ] && [ -f "$prefix/include/srtp2/crypto_types.h" ] && exit 0
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
work="$here/.deps/src"
mkdir -p "$work"
# A private sources list so apt-get source works without touching the system's lists.
apt_dir="$here/.deps/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/sources.list.d"
cat > "$apt_dir/sources.list" <<SRC
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
SRC
opts=(-o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts="$apt_dir/sources.list.d"
      -o Dir::State::Lists="$apt_dir/lists" -o APT::Sandbox::User=root)
apt-get "${opts[@]}" update -qq
(cd "$work" && rm -rf libsrtp2-* && apt-get "${opts[@]}" source -qq --download-only libsrtp2 >/dev/null \
   && dpkg-source --no-check -x libsrtp2_*.dsc >/dev/null)
src=$(ls -d "$work"/libsrtp2-*/ | head -1)
cd "$src"
./configure --prefix="$prefix" --enable-openssl CFLAGS="-O2 -fPIC" >/dev/null
make -j"$(nproc)" libsrtp2.a >/dev/null
mkdir -p "$prefix/lib" "$prefix/include/srtp2"
cp libsrtp2.a "$prefix/lib/"
cp include/srtp.h crypto/include/cipher.h crypto/include/auth.h crypto/include/crypto_types.h "$prefix/include/srtp2/"
echo "libsrtp2: built $prefix/lib/libsrtp2.a"
