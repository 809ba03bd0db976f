#!/usr/bin/env bash
# Runs FlowTrack's benchmarks against throwaway PostgreSQL and Redis on free loopback ports and
# prints their JSON lines.      bench/run.sh [--only runtime|storage|engine|http] [SECONDS_PER_CASE]
# (BENCH_ONLY=http does the same as --only http; BENCH_CONNECTIONS=1024 loads the HTTP case with
# 1,024 connections instead of 64.)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/servers.sh
only=${BENCH_ONLY:-}
if [ "${1:-}" = --only ]; then
  only=${2:?--only needs runtime, storage, engine or http}
  shift 2
fi
case "$only" in "" | runtime | storage | engine | http) ;; *) echo "run.sh: --only takes runtime, storage, engine or http" >&2; exit 64 ;; esac
seconds=${1:-10}
wanted() { [ -z "$only" ] || [ "$only" = "$1" ]; }

bash scripts/deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build/release -j "${FLOWTRACK_JOBS:-2}" >/dev/null

work=$(mktemp -d /tmp/flowtrack-bench.XXXXXX)
chmod 755 "$work"
pg_port=$(free_port)
redis_port=$(free_port)
node_pid=
node_status=0
# A dead child stays a zombie until waited for, and `kill -0` still finds a zombie.
node_alive() { local s; s=$(ps -o stat= -p "$node_pid" 2>/dev/null) && [ "${s:0:1}" != Z ]; }
stop_node() {  # SIGTERM is a clean stop: exit status 0
  if [ -n "$node_pid" ]; then
    kill -TERM "$node_pid" 2>/dev/null || true
    wait "$node_pid" 2>/dev/null || node_status=$?
    node_pid=
  fi
}
trap 'stop_node; stop_postgres "$work/pg"; stop_redis "$work/redis" "$redis_port"; rm -rf "$work"' EXIT
start_postgres "$work/pg" "$pg_port"
start_redis "$work/redis" "$redis_port"
psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "CREATE DATABASE flowtrack_bench" postgres
url="postgresql://postgres@127.0.0.1:$pg_port/flowtrack_bench"
build/release/adapters/cli/flowtrackd migrate --database-url "$url" --log-level warn >/dev/null

if wanted runtime; then build/release/bench/runtime_bench; fi
if wanted storage; then build/release/bench/storage_bench "$url" --seconds "$seconds"; fi
if wanted engine; then
  build/release/bench/engine_bench "$url" "redis://127.0.0.1:$redis_port/0" --seconds "$seconds" 2> >(grep -v '^\[' >&2)
fi

# HTTP ingress: a Release node serving the public form of bench/form_workflow.json (4 nodes) in
# an enterprise workspace (no quotas), loaded by http_bench at 64 keep-alive connections, then
# stopped with SIGTERM. Fails when an accepted submission has no execution, when nothing was
# accepted, or when the node died. The load generator is one address standing for many clients,
# so the per-IP connection cap is lifted.
if wanted http; then
  flowtrackd=build/release/adapters/cli/flowtrackd
  export FLOWTRACK_DATABASE_URL=$url FLOWTRACK_REDIS_URL="redis://127.0.0.1:$redis_port/0" FLOWTRACK_LOG_LEVEL=warn
  $flowtrackd workspace create --name Bench --slug bench-forms --owner-email owner@bench.example.com --plan enterprise >/dev/null
  $flowtrackd workflow import --workspace bench-forms bench/form_workflow.json >/dev/null
  http_port=$(free_port)
  admin_port=$(free_port)
  FLOWTRACK_HTTP_LISTEN="127.0.0.1:$http_port" FLOWTRACK_SMTP_LISTEN="127.0.0.1:$(free_port)" FLOWTRACK_FORM_RATE_LIMIT=0 \
    FLOWTRACK_ADMIN_LISTEN="127.0.0.1:$admin_port" FLOWTRACK_HTTP_MAX_CONNECTIONS_PER_IP=100000 \
    $flowtrackd serve >"$work/node.log" 2>&1 &
  node_pid=$!
  for i in $(seq 300); do  # 30 s
    curl -fsS -o /dev/null "http://127.0.0.1:$http_port/healthz" 2>/dev/null && break
    if ! node_alive || [ "$i" = 300 ]; then
      echo "flowtrackd serve did not answer /healthz:" >&2
      tail -20 "$work/node.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  rc=0
  build/release/bench/http_bench --port "$http_port" --target /p/bench-forms --connections "${BENCH_CONNECTIONS:-64}" --seconds "$seconds" \
    --warmup 2 --database-url "$url" --server-pid "$node_pid" || rc=$?
  node_alive || echo "flowtrackd serve died during the benchmark" >&2
  stop_node
  if [ "$node_status" != 0 ]; then
    echo "flowtrackd serve exited with status $node_status" >&2
    rc=1
  fi
  if [ "$rc" != 0 ]; then
    tail -20 "$work/node.log" >&2
    exit "$rc"
  fi
fi
