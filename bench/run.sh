#!/usr/bin/env bash
# Runs FlowTrack's benchmarks against throwaway PostgreSQL and Redis on free loopback ports and
# prints their JSON lines.      bench/run.sh [SECONDS_PER_CASE]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/servers.sh
seconds=${1:-10}

bash scripts/deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build/release -j "${FLOWTRACK_JOBS:-2}" >/dev/null

work=$(mktemp -d /tmp/flowtrack-bench.XXXXXX)
chmod 755 "$work"
pg_port=$(free_port)
redis_port=$(free_port)
trap 'stop_postgres "$work/pg"; stop_redis "$work/redis" "$redis_port"; rm -rf "$work"' EXIT
start_postgres "$work/pg" "$pg_port"
start_redis "$work/redis" "$redis_port"
psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "CREATE DATABASE flowtrack_bench" postgres
url="postgresql://postgres@127.0.0.1:$pg_port/flowtrack_bench"
build/release/adapters/cli/flowtrackd migrate --database-url "$url" --log-level warn >/dev/null

build/release/bench/runtime_bench
build/release/bench/storage_bench "$url" --seconds "$seconds"
build/release/bench/engine_bench "$url" "redis://127.0.0.1:$redis_port/0" --seconds "$seconds" 2> >(grep -v '^\[' >&2)
