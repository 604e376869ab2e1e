#!/usr/bin/env bash
# The LibTorch 2.x leg of CI: the normal build and the whole ctest suite (tests, examples,
# benchmark smoke runs, package consumers) against Debian 13's LibTorch 2.6 and GCC 14, inside the
# Debian 13 root that scripts/debian13-root.sh keeps (made or mended first). Builds in
# build-libtorch2/. Sanitizers and fuzzing run on 1.13 only (scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/debian13-root.sh
jobs=$(nproc)
bash scripts/debian13-run.sh cmake -S . -B build-libtorch2 -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTORCHLR_BUILD_BENCHMARKS=ON
bash scripts/debian13-run.sh cmake --build build-libtorch2 -j "$jobs"
bash scripts/debian13-run.sh ctest --test-dir build-libtorch2 -j "$jobs" --output-on-failure
