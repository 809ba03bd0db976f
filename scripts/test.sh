#!/usr/bin/env bash
# Runs FlowTrack's whole test suite: installs dependencies, builds (Release, then an ASan+UBSan
# build), starts throwaway PostgreSQL and Redis on free loopback ports, runs every suite, stops
# the servers. Exits non-zero on any failure.
#   scripts/test.sh [--quick]   --quick skips the sanitizer build and the fuzz run
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/servers.sh
quick=0
[ "${1:-}" = "--quick" ] && quick=1
jobs=${FLOWTRACK_JOBS:-2}
# Paths relative to the clone in ccache's hashes: the production build below then reuses the
# Release build's objects instead of compiling everything a second time.
export CCACHE_BASEDIR="$root"

bash scripts/deps.sh

build() {  # build DIR CMAKE_ARGS...
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  ninja -C "$dir" -j "$jobs"
}
build build/release -DCMAKE_BUILD_TYPE=Release
# A production flowtrackd needs neither GoogleTest nor the benchmarks.
cmake -S . -B build/production -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DFLOWTRACK_BENCH=OFF \
  -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON >/dev/null
ninja -C build/production -j "$jobs" flowtrackd >/dev/null
[ $quick = 1 ] || build build/asan -DCMAKE_BUILD_TYPE=Debug -DFLOWTRACK_SANITIZE=ON -DFLOWTRACK_BENCH=OFF

work=$(mktemp -d /tmp/flowtrack-test.XXXXXX)
chmod 755 "$work"
pg_port=$(free_port)
redis_port=$(free_port)
cleanup() {
  stop_postgres "$work/pg"
  stop_redis "$work/redis" "$redis_port"
  rm -rf "$work"
}
trap cleanup EXIT

start_postgres "$work/pg" "$pg_port"
start_redis "$work/redis" "$redis_port"
psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "CREATE DATABASE flowtrack_test" postgres

export FLOWTRACK_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/flowtrack_test"
export FLOWTRACK_TEST_ADMIN_URL="postgresql://postgres@127.0.0.1:$pg_port/postgres"
export FLOWTRACK_TEST_PG_PORT=$pg_port
# `$FLOWTRACK_TEST_PG_CTL stop|start` lets a serial test take the server away and bring it back.
cat >"$work/pg_ctl" <<CTL
#!/usr/bin/env bash
source "$root/scripts/servers.sh"
case "\$1" in
  stop) stop_postgres "$work/pg" ;;
  start) start_postgres "$work/pg" "$pg_port" ;;
esac
CTL
chmod +x "$work/pg_ctl"
export FLOWTRACK_TEST_PG_CTL="$work/pg_ctl"
export FLOWTRACK_TEST_REDIS_URL="redis://127.0.0.1:$redis_port/0"
export FLOWTRACK_TEST_WORK="$work"
# A fixed, throwaway key for the nodes and CLI runs of the suites (never use it for real data).
export FLOWTRACK_ENCRYPTION_KEY=7e57000000000000000000000000000000000000000000000000000000007e57

status=0
passed=0
failed=0
run_suite() {  # run_suite BUILD_DIR LABEL_REGEX
  local dir=$1 labels=$2
  export FLOWTRACK_TEST_FLOWTRACKD="$root/$dir/adapters/cli/flowtrackd"
  "$FLOWTRACK_TEST_FLOWTRACKD" migrate --database-url "$FLOWTRACK_TEST_DATABASE_URL" --log-level warn >/dev/null
  (cd "$dir" && ctest -L "$labels" -j "$jobs" --output-on-failure --timeout 600) | tee "$work/ctest.log" || status=1
  local line total bad
  line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$work/ctest.log" | tail -n1 || true)
  bad=$(echo "$line" | sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/')
  total=$(echo "$line" | sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/')
  if [ -n "$line" ]; then
    passed=$((passed + total - bad))
    failed=$((failed + bad))
  else
    status=1
  fi
}

echo "== tests (Release)"
run_suite build/release 'unit|pg|redis|e2e'
if [ $quick = 0 ]; then
  echo "== tests (ASan+UBSan)"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run_suite build/asan 'unit|pg|redis'
  if [ -x scripts/fuzz.sh ]; then
    echo "== fuzz (short run)"
    scripts/fuzz.sh 10 || status=1
  fi
fi
echo "tests: $passed passed, $failed failed"
exit $status
