#!/usr/bin/env bash
# Every benchmark table of docs/benchmarks.md, in one command: installs what is missing (Google
# Benchmark among it), builds in Release, then runs bench/report.py, which also times PyTorch's
# own schedulers when Debian's python3-torch is there, and says so when it is not (it installs
# nothing itself).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DTORCHLR_BUILD_BENCHMARKS=ON \
  -DTORCHLR_BUILD_TESTS=OFF -DTORCHLR_BUILD_EXAMPLES=OFF -DTORCHLR_BUILD_TOOLS=OFF
cmake --build build-bench -j "$(nproc)" --target step_cost finder_overhead
python=python3
/usr/bin/python3 -c "import torch" 2>/dev/null && python=/usr/bin/python3
"$python" bench/report.py build-bench
