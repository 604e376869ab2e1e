#!/usr/bin/env bash
# Runs a command inside the Debian 13 root (made by scripts/debian13-root.sh) with this checkout
# at /torchlr as the working directory, e.g.
#
#   bash scripts/debian13-run.sh cmake -S . -B build-libtorch2
#
# The command runs in a private mount namespace: the checkout is bound into the root and /proc is
# mounted there for this run only, so no mount outlives it or is seen by another run (and a
# rebuild of the root never deletes through a stale bind mount). The trap unmounts anyway.
# The environment inside is clean but for one BLAS/OpenMP thread per process: Debian 13's
# LibTorch otherwise oversubscribes the cores (ctest runs tests in parallel) and runs ~40x slower.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }
export TORCHLR_ROOT=${TORCHLR_TRIXIE_ROOT:-/var/cache/torchlr/trixie} TORCHLR_CHECKOUT="$PWD"
[ -f "$TORCHLR_ROOT/.torchlr-root-ready" ] || { echo "error: no Debian 13 root at $TORCHLR_ROOT (scripts/debian13-root.sh)" >&2; exit 1; }
exec unshare --mount --propagation private bash -euo pipefail -c '
  cleanup() {
    umount "$TORCHLR_ROOT/proc" 2>/dev/null || true
    umount "$TORCHLR_ROOT/torchlr" 2>/dev/null || true
  }
  trap cleanup EXIT
  mkdir -p "$TORCHLR_ROOT/torchlr"
  mount --bind "$TORCHLR_CHECKOUT" "$TORCHLR_ROOT/torchlr"
  mount -t proc proc "$TORCHLR_ROOT/proc"
  # Opt-in ccache for local iterations (ccache installed in the root); CI sets neither.
  chroot "$TORCHLR_ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
    ${CMAKE_CXX_COMPILER_LAUNCHER:+CMAKE_CXX_COMPILER_LAUNCHER=$CMAKE_CXX_COMPILER_LAUNCHER} \
    sh -c "cd /torchlr && exec \"\$@\"" sh "$@"
' bash "$@"
