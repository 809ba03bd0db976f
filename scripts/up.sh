#!/usr/bin/env bash
# Brings up a working FlowTrack node on this machine: dependencies, Release build, PostgreSQL
# and Redis under .flowtrack/ on loopback, migrations, `flowtrackd serve`; prints the URLs.
# A second run reuses what exists.      scripts/up.sh [stop|status]
# Ports: FLOWTRACK_UP_PG_PORT (55432), FLOWTRACK_UP_REDIS_PORT (56379), FLOWTRACK_HTTP_LISTEN
# (127.0.0.1:8080), FLOWTRACK_SMTP_LISTEN (127.0.0.1:2525), FLOWTRACK_ADMIN_LISTEN (127.0.0.1:9091).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/servers.sh

state="$root/.flowtrack"
pg_port=${FLOWTRACK_UP_PG_PORT:-55432}
redis_port=${FLOWTRACK_UP_REDIS_PORT:-56379}
http_listen=${FLOWTRACK_HTTP_LISTEN:-127.0.0.1:8080}
smtp_listen=${FLOWTRACK_SMTP_LISTEN:-127.0.0.1:2525}
admin_listen=${FLOWTRACK_ADMIN_LISTEN:-127.0.0.1:9091}
bin="$root/build/release/adapters/cli/flowtrackd"
export FLOWTRACK_DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/flowtrack"
export FLOWTRACK_REDIS_URL="redis://127.0.0.1:$redis_port/0"
export FLOWTRACK_HTTP_LISTEN=$http_listen FLOWTRACK_SMTP_LISTEN=$smtp_listen FLOWTRACK_ADMIN_LISTEN=$admin_listen

node_running() { [ -f "$state/flowtrackd.pid" ] && kill -0 "$(cat "$state/flowtrackd.pid")" 2>/dev/null; }

print_urls() {
  local metrics="http://$admin_listen/metrics  (admin listener; detailed readiness at /readyz)"
  [ "$admin_listen" = off ] && metrics="admin listener off (FLOWTRACK_ADMIN_LISTEN=off)"
  cat <<MSG
FlowTrack node is up.
  health      http://$http_listen/healthz
  readiness   http://$http_listen/readyz
  metrics     $metrics
  PostgreSQL  $FLOWTRACK_DATABASE_URL
  Redis       $FLOWTRACK_REDIS_URL
  log         $state/flowtrackd.log
  CLI         export FLOWTRACK_DATABASE_URL=$FLOWTRACK_DATABASE_URL FLOWTRACK_REDIS_URL=$FLOWTRACK_REDIS_URL
              export FLOWTRACK_ENCRYPTION_KEY=\$(cat $state/encryption.key)
              $bin help
  stop        scripts/up.sh stop
MSG
}

case "${1:-up}" in
  stop)
    if node_running; then
      kill -TERM "$(cat "$state/flowtrackd.pid")"
      for _ in $(seq 1 150); do node_running || break; sleep 0.1; done
    fi
    rm -f "$state/flowtrackd.pid"
    stop_redis "$state/redis" "$redis_port"
    stop_postgres "$state/pg"
    echo "stopped"
    exit 0 ;;
  status)
    if node_running; then print_urls; else echo "not running"; fi
    exit 0 ;;
  up) ;;
  *) echo "usage: scripts/up.sh [stop|status]" >&2; exit 64 ;;
esac

bash scripts/deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build/release -j "${FLOWTRACK_JOBS:-2}" flowtrackd

mkdir -p "$state"
# The key sealing secrets at rest (webhook secrets and auth headers): made once, kept beside the
# data, never printed. Back it up with the database; without it the stored secrets are lost.
key_file="$state/encryption.key"
if [ ! -s "$key_file" ]; then
  (umask 077 && head -c 32 /dev/urandom | od -An -v -tx1 | tr -d " \n" >"$key_file")
fi
chmod 600 "$key_file"
export FLOWTRACK_ENCRYPTION_KEY=${FLOWTRACK_ENCRYPTION_KEY:-$(cat "$key_file")}
# PostgreSQL runs as `postgres` when we are root; it must be able to reach its folder.
pg_dir="$state/pg"
if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$state" 2>/dev/null; then
  pg_dir="/var/lib/flowtrack/pg-$(echo "$root" | sha256sum | cut -c1-12)"
  mkdir -p "$(dirname "$pg_dir")"
  ln -sfn "$pg_dir" "$state/pg"
fi
if ! pg_isready -q -h 127.0.0.1 -p "$pg_port"; then
  start_postgres "$pg_dir" "$pg_port"
fi
psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'flowtrack'" postgres \
  | grep -q 1 || psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "CREATE DATABASE flowtrack" postgres
if ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
  start_redis "$state/redis" "$redis_port"
fi

"$bin" migrate

if ! node_running; then
  nohup "$bin" serve >>"$state/flowtrackd.log" 2>&1 &
  echo $! >"$state/flowtrackd.pid"
  for _ in $(seq 1 100); do
    curl -fsS "http://$http_listen/healthz" >/dev/null 2>&1 && break
    node_running || { tail -20 "$state/flowtrackd.log" >&2; exit 1; }
    sleep 0.1
  done
fi
curl -fsS "http://$http_listen/readyz" >/dev/null || { echo "node not ready; see $state/flowtrackd.log" >&2; exit 1; }
print_urls
