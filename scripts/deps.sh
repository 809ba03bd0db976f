#!/usr/bin/env bash
# Installs every Debian package FlowTrack's build, tests and a running node need. Idempotent:
# a second run installs nothing. msgpack-cxx is unpacked into build/third_party (see DESIGN.md).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libcaf-dev
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libpq-dev postgresql-15 postgresql-client-15 postgresql-contrib
  libhiredis-dev redis-server redis-tools
  libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libargon2-dev libssl-dev libjwt-dev libgmime-3.0-dev libcurl4-openssl-dev
  clang-14 libclang-rt-14-dev
  tzdata libpcre2-dev
  python3 python3-aiosmtpd swaks curl wrk
  chromium chromium-driver
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# msgpack-cxx: header-only; its package depends on Boost 1.74 which conflicts with 1.81,
# so take the headers out of the .deb without installing it.
msgpack_dir="$here/build/third_party/msgpack"
if [ ! -f "$msgpack_dir/usr/include/msgpack.hpp" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq libmsgpack-cxx-dev >/dev/null 2>&1 \
     || { apt-get update -qq && apt-get download -qq libmsgpack-cxx-dev; })
  mkdir -p "$msgpack_dir"
  dpkg -x "$tmp"/libmsgpack-cxx-dev_*.deb "$msgpack_dir"
  rm -rf "$tmp"
fi
echo "deps: ok"
