#!/usr/bin/env bash
# The test job (CI runs exactly this): install what is missing, then build and run the whole
# suite on the machine's Debian 12 (LibTorch 1.13): a normal build, one with
# -fsanitize=address,undefined on torchlr's own code that fails on any sanitizer report, and a
# short fuzz run; then the normal build and suite against Debian 13's LibTorch 2.6 in a Debian 13
# root (scripts/test-libtorch2.sh). Prints each leg's wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=$(nproc)
start=$SECONDS
timings=()
elapsed() { printf '%dm%02ds' $(( $1 / 60 )) $(( $1 % 60 )); }
# Sets $cpu to the CPU seconds (user + sys) of every child process finished so far. Called
# directly, never as $(...): `times` must run in this shell to see its children.
cpu_file=$(mktemp)
cpu_seconds() {
  times >"$cpu_file"
  cpu=$(awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); t += a[1] * 60 + a[2] } }
             END { printf "%d", t }' "$cpu_file")
}
# Wall time says how long CI took here; CPU time says how much work it was, whatever else ran.
leg() {
  local name=$1 t=$SECONDS c
  cpu_seconds
  c=$cpu
  shift
  echo "== $name"
  "$@"
  local line
  cpu_seconds
  line="$(elapsed $(( SECONDS - t ))) wall, $(elapsed $(( cpu - c ))) CPU"
  timings+=("$(printf '%-52s %s' "$name" "$line")")
  echo "== $name: $line"
}

# The Debian 13 root is made (or checked) in the background while 1.13 builds: it is mostly
# download and unpacking, about 3 minutes on a fresh machine. Its output goes to a log.
mkdir -p build-libtorch2
root_log=build-libtorch2/debian13-root.log
bash scripts/debian13-root.sh >"$root_log" 2>&1 &
root_pid=$!
# Whatever happens, do not leave it running behind us.
trap 'wait "$root_pid" 2>/dev/null || true; rm -f "$cpu_file"' EXIT

normal_113() {
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTORCHLR_BUILD_BENCHMARKS=ON
  cmake --build build -j "$jobs"
  ctest --test-dir build -j "$jobs" --output-on-failure
}

sanitize_113() {
  cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DTORCHLR_SANITIZE=ON
  cmake --build build-sanitize -j "$jobs"
  # LibTorch itself is not instrumented; its one-time static allocations are not ours to report.
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1" \
  LSAN_OPTIONS="suppressions=$PWD/test/sanitizer/lsan.supp:print_suppressions=0" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  ctest --test-dir build-sanitize -j "$jobs" --output-on-failure -E package_consumers
  # (The package test builds consumers outside the sanitizer setup; the normal run covers it.)
}

libtorch2() {
  local status=0
  wait "$root_pid" || status=$?
  echo "$(tail -1 "$root_log") (in the background)"
  if [ "$status" -ne 0 ]; then
    tail -40 "$root_log" >&2
    echo "error: making the Debian 13 root failed (log: $root_log)" >&2
    return 1
  fi
  bash scripts/test-libtorch2.sh
}

leg "LibTorch 1.13, normal build + ctest" normal_113
leg "LibTorch 1.13, ASan+UBSan build + ctest" sanitize_113
# A short fuzz run of the trace config reader and of checkpoint loading, under ASan+UBSan, from
# the corpus kept in test/fuzz/corpus (docs/reliability.md).
leg "LibTorch 1.13, fuzzing (2 x 60 s)" bash scripts/fuzz.sh 60
leg "LibTorch 2.6 (Debian 13 root), normal build + ctest" libtorch2

cpu_seconds
echo "== all legs passed in $(elapsed $(( SECONDS - start ))) wall, $(elapsed "$cpu") CPU"
printf '   %s\n' "${timings[@]}"
