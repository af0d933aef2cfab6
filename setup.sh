#!/usr/bin/env bash
# SDXL Workers set-up: installs what is missing (Debian 12 packages only), builds, then
#   ./setup.sh run    runs the main job: generates outputs/tiny-astronaut.png with the bundled tiny
#                     random test model (a real SDXL checkpoint: see README)
#   ./setup.sh test   runs every test (ctest)
# Idempotent and quiet: a second run installs nothing and rebuilds only what changed.
set -euo pipefail

cd "$(dirname "$0")"
mode="${1:-run}"
build_dir="${SDXL_BUILD_DIR:-build}"
jobs="$(nproc)"

packages=(
  build-essential cmake ccache pkg-config
  libtorch-dev libopenblas0-pthread     # Debian's reference BLAS makes libtorch ~20x slower
  libboost-dev nlohmann-json3-dev libspdlog-dev libopencv-dev libicu-dev libssl-dev
  libzip-dev                            # PyTorch .pth archives (upscaler models)
  libgtest-dev libgmock-dev libbenchmark-dev
  python3-jsonschema                    # the schema tests (tests/communication/validate_schemas.py)
  libhiredis-dev redis-server           # service mode's job queue; the tests start their own server
)

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

install_missing() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { say "need root to install: ${missing[*]}"; exit 1; }
    sudo="sudo"
  fi
  say "installing ${missing[*]}"
  local log
  log="$(mktemp)"
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
           --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    say "package installation failed"
    exit 1
  fi
  rm -f "$log"
}

check_blas() {
  local blas
  blas="$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || true)"
  case "$blas" in
    *openblas*|"") ;;
    *) say "warning: libblas.so.3 is $blas, not OpenBLAS; libtorch will be slow" \
         "(update-alternatives --config libblas.so.3-x86_64-linux-gnu)" ;;
  esac
}

build() {
  local tests=OFF
  [ "$mode" = test ] && tests=ON
  say "building in $build_dir ($jobs jobs, tests $tests)"
  cmake -S . -B "$build_dir" -DSDXL_BUILD_TESTS="$tests" -DSDXL_BUILD_BENCHMARKS="$tests" \
    -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" >"$build_dir.configure.log" 2>&1 \
    || { cat "$build_dir.configure.log" >&2; exit 1; }
  if ! cmake --build "$build_dir" -j "$jobs" >"$build_dir.build.log" 2>&1; then
    grep -E -A3 "error|Error" "$build_dir.build.log" >&2 || tail -40 "$build_dir.build.log" >&2
    say "build failed (full log: $build_dir.build.log)"
    exit 1
  fi
  grep -E "warning:" "$build_dir.build.log" >&2 || true
}

case "$mode" in
  run|test) ;;
  *) echo "usage: ./setup.sh [run|test]" >&2; exit 64 ;;
esac

install_missing
check_blas
build
case "$mode" in
  run)
    say "generating outputs/tiny-astronaut.png with the bundled tiny *random* test model"
    "$build_dir/interface/sdxl-workers" generate --model tests/fixtures/tiny-sdxl \
      --prompt "a photo of an astronaut riding a horse on mars" --negative-prompt "blurry, low quality" \
      --steps 20 --seed 42 --output outputs/tiny-astronaut.png
    ;;
  test)
    say "running the tests"
    cd "$build_dir"
    ctest --output-on-failure -j "$jobs" --timeout 300
    ;;
esac
