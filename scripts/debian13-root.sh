#!/usr/bin/env bash
# Makes (or checks) the Debian 13 root that the LibTorch 2.x CI leg builds in: debootstrap from
# Debian's archive, then trixie's own apt installs the build dependencies. The root is kept at a
# fixed path between runs and rebuilt from scratch when it is missing or broken.
#
#   bash scripts/debian13-root.sh [DIR]     (default: $TORCHLR_TRIXIE_ROOT or /var/cache/torchlr/trixie)
#   TORCHLR_TRIXIE_EXTRA="python3-torch"    adds packages (scripts/regenerate-reference.sh uses it)
set -euo pipefail
root=${1:-${TORCHLR_TRIXIE_ROOT:-/var/cache/torchlr/trixie}}
mirror=${TORCHLR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=(g++ cmake make libtorch-dev nlohmann-json3-dev googletest libgtest-dev libbenchmark-dev
          librsvg2-bin libgloo-dev zlib1g-dev dataset-fashion-mnist ${TORCHLR_TRIXIE_EXTRA:-})

[ "$(id -u)" -eq 0 ] || { echo "error: making a Debian 13 root needs root (debootstrap, chroot)" >&2; exit 1; }

# Ready = made to the end (marker) and every wanted package installed and intact.
ready() {
  [ -f "$root/.torchlr-root-ready" ] && [ -x "$root/usr/bin/g++" ] || return 1
  local p
  for p in "${packages[@]}"; do
    [ "$(chroot "$root" dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || return 1
  done
  chroot "$root" g++ --version >/dev/null 2>&1
}

mounted_proc=0
cleanup() { [ "$mounted_proc" -eq 1 ] && umount "$root/proc" 2>/dev/null || true; }
trap cleanup EXIT

install_packages() {
  mount -t proc proc "$root/proc" && mounted_proc=1
  cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  # No daemons start inside the root while packages install.
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" && chmod +x "$root/usr/sbin/policy-rc.d"
  chroot "$root" apt-get update -q
  DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -q --no-install-recommends "${packages[@]}"
  chroot "$root" apt-get clean
  umount "$root/proc" && mounted_proc=0
}

if ready; then
  echo "Debian 13 root ready: $root (kept from an earlier run)"
  exit 0
fi

if [ -f "$root/.torchlr-root-ready" ]; then
  # Made before, but a package is missing (or new ones are wanted): try apt before starting over.
  echo "Debian 13 root at $root lacks packages; installing"
  if install_packages && ready; then
    echo "Debian 13 root ready: $root (packages added in ${SECONDS}s)"
    exit 0
  fi
fi

echo "making a Debian 13 root at $root (debootstrap trixie from $mirror)"
command -v debootstrap >/dev/null || { echo "error: debootstrap is not installed" >&2; exit 1; }
# Never delete through something mounted inside the root (a checkout bound there by hand).
if grep -q " $root/" /proc/mounts; then
  echo "error: something is mounted under $root; unmount it before the root is rebuilt" >&2
  exit 1
fi
rm -rf --one-file-system "$root"
mkdir -p "$(dirname "$root")"
debootstrap --variant=minbase trixie "$root" "$mirror"
install_packages
touch "$root/.torchlr-root-ready"
ready || { echo "error: the Debian 13 root at $root is incomplete after install" >&2; exit 1; }
echo "Debian 13 root ready: $root (made in ${SECONDS}s)"
