#!/usr/bin/env bash
# Automatic against grid search on Fashion-MNIST (docs/benchmarks.md), in one command: installs
# what is missing, builds in Release, runs bench/fashion_mnist_grid (3 seeds by default; other
# options of it may follow the script's name, e.g. --seeds 5; its output goes to
# build-bench/fashion_mnist), then, when Debian's python3-torch is there, the same recipe in
# PyTorch (bench/fashion_mnist_pytorch.py). Not run by CI: about 45 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build-bench/fashion_mnist
for a in "$@"; do
  [ "$a" != --out ] || { echo "error: the output folder is $out here; run build-bench/bench/fashion_mnist_grid yourself for another" >&2; exit 2; }
done
bash scripts/install-deps.sh
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DTORCHLR_BUILD_BENCHMARKS=ON \
  -DTORCHLR_BUILD_TESTS=OFF -DTORCHLR_BUILD_EXAMPLES=OFF -DTORCHLR_BUILD_TOOLS=OFF
cmake --build build-bench -j "$(nproc)" --target fashion_mnist_grid
./build-bench/bench/fashion_mnist_grid --out "$out" "$@"
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  /usr/bin/python3 bench/fashion_mnist_pytorch.py "$out/recipe.json"
else
  echo "The PyTorch comparison was skipped: /usr/bin/python3 cannot import torch (apt-get install python3-torch)"
fi
