#!/usr/bin/env bash
# The main job: install what is missing, build torchlr and its examples, and run the demo: the
# LR range test on a small MLP, then training with OneCycleLR at the suggested lr.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$(nproc)" --target train schedules torchlr_cli
./build/examples/train --out build/demo
./build/examples/schedules build/gallery > /dev/null
echo "Pictures: build/demo/lr_find.svg, build/demo/schedule.svg, and one per scheduler in build/gallery/"
