#!/usr/bin/env bash
# The test job (CI runs exactly this): install what is missing, then build and run the whole
# suite twice: a normal build, and one with -fsanitize=address,undefined on torchlr's own code,
# which fails on any sanitizer report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTORCHLR_BUILD_BENCHMARKS=ON
cmake --build build -j "$jobs"
ctest --test-dir build -j "$jobs" --output-on-failure

cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DTORCHLR_SANITIZE=ON
cmake --build build-sanitize -j "$jobs"
# LibTorch itself is not instrumented; its one-time static allocations are not ours to report.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/test/sanitizer/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# The package test builds consumers outside the sanitizer setup; the normal run covers it.
ctest --test-dir build-sanitize -j "$jobs" --output-on-failure -E package_consumers

# A short fuzz run of the trace config reader and of checkpoint loading, under ASan+UBSan, from
# the corpus kept in test/fuzz/corpus (docs/reliability.md).
bash scripts/fuzz.sh 60
