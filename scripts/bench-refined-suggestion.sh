#!/usr/bin/env bash
# The suggestion rules on problems they were not tuned on (docs/benchmarks.md, "The refined
# suggestion"), in one command: installs what is missing, builds in Release, runs
# bench/refine_validation as one shard per core, and prints the tables for all shards together
# (build-bench/refine_validation/results.jsonl). Not run by CI: about 4 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build-bench/refine_validation
bash scripts/install-deps.sh
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DTORCHLR_BUILD_BENCHMARKS=ON \
  -DTORCHLR_BUILD_TESTS=OFF -DTORCHLR_BUILD_EXAMPLES=OFF -DTORCHLR_BUILD_TOOLS=OFF
cmake --build build-bench -j "$(nproc)" --target refine_validation
rm -rf "$out"
shards=$(nproc)
pids=()
for ((i = 0; i < shards; i++)); do
  ./build-bench/bench/refine_validation --out "$out" --shard "$i/$shards" "$@" > "$out.shard$i.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
cat "$out"/results.*.jsonl > "$out/results.jsonl"
./build-bench/bench/refine_validation --report "$out/results.jsonl"
