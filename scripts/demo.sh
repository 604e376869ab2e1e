#!/usr/bin/env bash
# The main job: install what is missing (Fashion-MNIST among it: Debian's dataset-fashion-mnist),
# build torchlr and its examples, and run the demo: the LR range test and its trials on a small
# convolutional network, then training with OneCycleLR at the suggested lr on Fashion-MNIST; then the gallery.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$(nproc)" --target fashion_mnist schedules torchlr_cli
./build/examples/fashion_mnist --out build/demo
./build/examples/schedules build/gallery > /dev/null
echo "Pictures: build/demo/lr_find.svg, build/demo/schedule.svg, and one per scheduler in build/gallery/"
