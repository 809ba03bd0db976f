# Sourced by up.sh and test.sh: start and stop PostgreSQL 15 and Redis 7 on loopback under a
# folder. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
pg_bin=/usr/lib/postgresql/15/bin

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_postgres DIR PORT: initialises DIR/data once, starts the server, waits until it answers.
# PG_SERVER_OPTIONS adds server options (not FLOWTRACK_*: the node refuses unknown FLOWTRACK_ settings), e.g. "-c shared_preload_libraries=pg_stat_statements"
# to see where a benchmark's database time goes.
start_postgres() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_pg "$pg_bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; return 1; }
  fi
  as_pg "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -k $dir -c max_connections=300 -c shared_buffers=256MB ${PG_SERVER_OPTIONS:-}" start >/dev/null \
    || { tail -20 "$dir/postgres.log" >&2; return 1; }
}

stop_postgres() {
  local dir=$1
  [ -f "$dir/data/postmaster.pid" ] && as_pg "$pg_bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# start_redis DIR PORT
start_redis() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" \
    --logfile "$dir/redis.log" --save "" --appendonly yes --appendfsync everysec >/dev/null
  for _ in $(seq 1 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "redis did not start; see $dir/redis.log" >&2
  return 1
}

stop_redis() {
  local dir=$1 port=$2
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
}
