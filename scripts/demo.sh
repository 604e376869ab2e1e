#!/usr/bin/env bash
# The main job: install what is missing, build torchlr, and print a schedule.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$(nproc)" --target schedule torchlr_cli
./build/examples/schedule
