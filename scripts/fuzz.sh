#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for SECONDS (default 60)
# from the corpus kept in test/fuzz/corpus; fails on any finding (a crash input is left in
# build-fuzz/findings/). With --update-corpus, merges what the run found into the kept corpus.
#
#   bash scripts/fuzz.sh [SECONDS] [--update-corpus]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60
update=0
for arg in "$@"; do
  case "$arg" in
    --update-corpus) update=1 ;;
    *) seconds="$arg" ;;
  esac
done
bash scripts/install-deps.sh

CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTORCHLR_FUZZ=ON \
  -DTORCHLR_BUILD_TESTS=OFF -DTORCHLR_BUILD_EXAMPLES=OFF -DTORCHLR_BUILD_TOOLS=OFF -DTORCHLR_INSTALL=OFF
cmake --build build-fuzz -j "$(nproc)" --target fuzz_trace_config fuzz_checkpoint

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/test/sanitizer/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
mkdir -p build-fuzz/findings
for target in fuzz_trace_config fuzz_checkpoint; do
  kept="test/fuzz/corpus/$target"
  grown="build-fuzz/corpus/$target"
  mkdir -p "$kept" "$grown"
  echo "== $target: ${seconds}s from $(ls "$kept" | wc -l) kept inputs"
  # New inputs go to the build tree; the kept corpus is only read.
  status=0
  "build-fuzz/test/fuzz/$target" "$grown" "$kept" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=4096 -max_len=4096 -print_final_stats=1 \
    -artifact_prefix="build-fuzz/findings/$target-" >"build-fuzz/$target.log" 2>&1 || status=$?
  grep -E "INITED|DONE|stat::number_of_executed_units|ERROR|finding:|SUMMARY" "build-fuzz/$target.log" || true
  if [ "$status" -ne 0 ]; then
    tail -40 "build-fuzz/$target.log" >&2
    echo "error: $target found a failing input (build-fuzz/findings/, log build-fuzz/$target.log)" >&2
    exit 1
  fi
  if [ "$update" -eq 1 ]; then
    "build-fuzz/test/fuzz/$target" -merge=1 "$kept" "$grown" >/dev/null 2>&1
    echo "   kept corpus now $(ls "$kept" | wc -l) inputs"
  fi
done
