#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (build-fuzz/; the runtime library is instrumented too) and runs each for SECONDS (default 60)
# from the seed corpus in tests/fuzz/corpus/<target>/. Exits non-zero when a target crashes; the
# crashing input is left in build-fuzz/artifacts/<target>/.
#   scripts/fuzz.sh [SECONDS]            e.g. scripts/fuzz.sh 10 (the test suite's short run)
#   FUZZ_JOBS=1 FUZZ_TARGETS="fuzz_graph" scripts/fuzz.sh 3600   (a long run of one target)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
build="$here/build-fuzz"
targets=${FUZZ_TARGETS:-"fuzz_graph fuzz_template fuzz_condition fuzz_form fuzz_mail fuzz_smtp fuzz_jwt fuzz_csv fuzz_stripe"}
jobs=${FUZZ_JOBS:-1}

if [ ! -f "$build/build.ninja" ]; then
  mkdir -p "$build"
  CC=clang-14 CXX=clang++-14 cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DFLOWTRACK_FUZZ=ON -DFLOWTRACK_BENCH=OFF \
    -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >"$build/configure.log" 2>&1 \
    || { cat "$build/configure.log"; exit 1; }
fi
# shellcheck disable=SC2086
ninja -C "$build" -j"${NINJA_JOBS:-1}" $targets

status=0
for t in $targets; do
  corpus="$build/corpus/$t"
  artifacts="$build/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  echo "fuzz: $t for ${seconds}s"
  parallel=()
  # -jobs makes libFuzzer write fuzz-N.log files into the working directory: run from the build dir.
  [ "$jobs" -gt 1 ] && parallel=(-jobs="$jobs" -workers="$jobs")
  if ! (cd "$build" && "$build/tests/fuzz/$t" "$corpus" "$here/tests/fuzz/corpus/$t" -max_total_time="$seconds" \
      "${parallel[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
      -artifact_prefix="$artifacts/") >"$build/$t.log" 2>&1; then
    echo "fuzz: $t FAILED (see $build/$t.log; inputs in $artifacts/)"
    tail -40 "$build/$t.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$build/$t.log" | tail -1 || true
  fi
done
exit $status
