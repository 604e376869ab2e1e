#!/usr/bin/env bash
# Installs what building and testing torchlr needs on Debian 12, only when something is missing
# (debootstrap makes the Debian 13 root of the LibTorch 2.x leg).
set -euo pipefail

packages=(g++ make cmake libtorch-dev nlohmann-json3-dev googletest libgtest-dev libbenchmark-dev librsvg2-bin
          clang libclang-rt-14-dev debootstrap libgloo-dev zlib1g-dev dataset-fashion-mnist
          libopenblas0-openmp)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "error: run as root to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
