#!/usr/bin/env bash
# NalaSR set-up: installs the Debian packages the build needs, configures and builds.
#
#   bash setup.sh --demo   install, build, and upscale the bundled sample with the bundled default model
#   bash setup.sh --test   install, build, and run the test suite (what CI runs)
#   bash setup.sh          install and build only
#
# Environment: BUILD_DIR (default build), NALASR_CUDA (AUTO/ON/OFF), JOBS (default: all cores),
# NALASR_SKIP_INSTALL=1 to skip apt-get (packages already present).
set -euo pipefail
cd "$(dirname "$0")"

mode="${1:-build}"
BUILD_DIR="${BUILD_DIR:-build}"
JOBS="${JOBS:-$(nproc)}"

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
  libtiff-dev zlib1g-dev libopenblas-dev libomp-dev
  libcli11-dev nlohmann-json3-dev libgtest-dev
  qt6-base-dev qt6-charts-dev
  gnuplot-nox
)

install_packages() {
  if [[ "${NALASR_SKIP_INSTALL:-0}" == 1 ]]; then return; fi
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if (( ${#missing[@]} )); then
    echo "setup: installing ${missing[*]}"
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

build() {
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNALASR_CUDA="${NALASR_CUDA:-AUTO}"
  cmake --build "$BUILD_DIR" -j "$JOBS"
}

install_packages
build
case "$mode" in
  --demo)
    mkdir -p out
    "$BUILD_DIR/app/cli/nalasr" upscale resources/samples/sample.png -o out/sample_x4.png --overwrite \
      --report out/sample_x4.json
    echo "setup: wrote out/sample_x4.png (report: out/sample_x4.json)"
    ;;
  --test)
    cd "$BUILD_DIR"
    ctest --output-on-failure -j "$JOBS" -LE cuda
    ctest --output-on-failure -L cuda  # skips cleanly without a GPU
    ;;
  build) ;;
  *) echo "usage: bash setup.sh [--demo|--test]" >&2; exit 2 ;;
esac
