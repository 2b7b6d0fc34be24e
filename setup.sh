#!/usr/bin/env bash
# NalaSR set-up: installs the Debian packages the build needs, configures and builds.
#
#   bash setup.sh --demo   install, build, and upscale the bundled sample with the bundled default model
#   bash setup.sh --test   install, build, and run the test suite, then the hardening stage (what CI runs)
#   bash setup.sh --test-hardening   the hardening stage alone: the CPU tests built with AddressSanitizer +
#                          UBSan, then each libFuzzer target for NALASR_FUZZ_SECONDS (tests/fuzz/run_fuzz.sh)
#   bash setup.sh          install and build only
#
# Environment: BUILD_DIR (default build), NALASR_CUDA (AUTO/ON/OFF), JOBS (default: all cores),
# NALASR_SKIP_INSTALL=1 to skip apt-get (packages already present), NALASR_FUZZ_SECONDS (default 60 per
# target), NALASR_SKIP_HARDENING=1 to leave the hardening stage out of --test (quick local runs; CI keeps it).
# Each stage prints its duration ("setup: stage ... took N s").
set -euo pipefail
cd "$(dirname "$0")"

mode="${1:-build}"
BUILD_DIR="${BUILD_DIR:-build}"
JOBS="${JOBS:-$(nproc)}"

# libqt6opengl6-dev: Qt6Charts' CMake package needs Qt6OpenGL, which qt6-charts-dev does not pull in; without it
# the GUI (and its tests) would silently not be built.
PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
  libtiff-dev zlib1g-dev libdeflate-dev libopenblas-dev libomp-dev
  libcli11-dev nlohmann-json3-dev libgtest-dev
  qt6-base-dev qt6-charts-dev libqt6opengl6-dev
  clang libclang-rt-dev
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

# Runs "$@" as a named stage and prints how long it took.
stage() {
  local name="$1" start=$SECONDS
  shift
  "$@"
  echo "setup: stage '$name' took $((SECONDS - start)) s"
}

cpu_and_cuda_tests() {
  (cd "$BUILD_DIR" && ctest --output-on-failure -j "$JOBS" -LE cuda)
  (cd "$BUILD_DIR" && ctest --output-on-failure -L cuda)  # skips cleanly without a GPU
}

# The CPU suite built with -DNALASR_SANITIZE=ON (ASan + UBSan; the CLI tests run the sanitized nalasr too).
# UBSan stops at the first report so that it fails the test instead of scrolling by. Exit code 86 for a report,
# so that a sanitizer firing in the `nalasr` child of a CLI test cannot pass for its "some files failed" (1).
sanitizer_tests() {
  local dir="${BUILD_DIR}-asan"
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNALASR_SANITIZE=ON -DNALASR_CUDA=OFF -DNALASR_GUI=OFF
  cmake --build "$dir" -j "$JOBS"
  (cd "$dir" && ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:exitcode=86 \
     UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=86 \
     ctest --output-on-failure -j "$JOBS" -LE cuda)
}

fuzz_targets() {
  FUZZ_DIR="${BUILD_DIR}-fuzz" JOBS="$JOBS" bash tests/fuzz/run_fuzz.sh "${NALASR_FUZZ_SECONDS:-60}"
}

hardening() {
  stage "sanitizer build + CPU tests" sanitizer_tests
  stage "fuzzing" fuzz_targets
}

stage "install packages" install_packages
case "$mode" in
  --test-hardening) ;;
  *) stage "build" build ;;
esac
case "$mode" in
  --demo)
    mkdir -p out
    "$BUILD_DIR/app/cli/nalasr" upscale resources/samples/sample.png -o out/sample_x4.png --overwrite \
      --report out/sample_x4.json
    echo "setup: wrote out/sample_x4.png (report: out/sample_x4.json)"
    ;;
  --test)
    stage "tests" cpu_and_cuda_tests
    if [[ "${NALASR_SKIP_HARDENING:-0}" != 1 ]]; then hardening; fi
    ;;
  --test-hardening) hardening ;;
  build) ;;
  *) echo "usage: bash setup.sh [--demo|--test|--test-hardening]" >&2; exit 2 ;;
esac
