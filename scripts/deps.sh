#!/usr/bin/env bash
# Installs the Debian packages FlowTrack's build, tests and a running node use, and nothing else.
# Idempotent: a second run installs nothing. msgpack-cxx is unpacked into .deps/ (see below).
# The packaged PostgreSQL and Redis services are neither started nor enabled: FlowTrack runs its
# own servers on free loopback ports (scripts/servers.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libcaf-dev
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libpq-dev postgresql-15 postgresql-client-15 postgresql-contrib
  libhiredis-dev redis-server redis-tools
  libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev
  libssl-dev libargon2-dev argon2 libjemalloc-dev libcurl4-openssl-dev libpcre2-dev libgmime-3.0-dev tzdata
  clang-14 libclang-rt-14-dev
  python3 python3-aiosmtpd curl swaks libnet-ssleay-perl
  chromium chromium-driver
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # No `main` cluster on 5432, and no service started by a package's postinst.
  mkdir -p /etc/postgresql-common
  grep -qs '^create_main_cluster *= *false' /etc/postgresql-common/createcluster.conf \
    || echo 'create_main_cluster = false' >>/etc/postgresql-common/createcluster.conf
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e $policy ]; then printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy && own_policy=1; fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || { [ $own_policy = 1 ] && rm -f $policy; exit 1; }
  [ $own_policy = 1 ] && rm -f $policy
fi
# Whatever an earlier install left behind: the packaged services stay off their default ports.
if [ -d /run/systemd/system ]; then
  systemctl disable --now postgresql redis-server >/dev/null 2>&1 || true
fi
for conf in /etc/postgresql/*/*/start.conf; do
  [ -e "$conf" ] || continue
  v=$(basename "$(dirname "$(dirname "$conf")")"); c=$(basename "$(dirname "$conf")")
  pg_ctlcluster "$v" "$c" stop >/dev/null 2>&1 || true
  echo manual >"$conf"
done
if [ -f /run/redis/redis-server.pid ]; then
  kill "$(cat /run/redis/redis-server.pid)" 2>/dev/null || true
fi

# msgpack-cxx: header-only; its package depends on Boost 1.74 which conflicts with 1.81,
# so take the headers out of the .deb without installing it.
msgpack_dir="$here/.deps/msgpack"
if [ ! -f "$msgpack_dir/usr/include/msgpack.hpp" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq libmsgpack-cxx-dev >/dev/null 2>&1 \
     || { apt-get update -qq && apt-get download -qq libmsgpack-cxx-dev; })
  mkdir -p "$msgpack_dir"
  dpkg -x "$tmp"/libmsgpack-cxx-dev_*.deb "$msgpack_dir"
  rm -rf "$tmp"
fi
echo "deps: ok"
