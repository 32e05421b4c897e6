#!/usr/bin/env bash
# Builds loom and runs all its tests:
#
#   ./scripts/test.sh                       # build dir ./build
#   BUILD_DIR=build-dbg ./scripts/test.sh -DCMAKE_BUILD_TYPE=Debug
#   CXX=clang++ BUILD_DIR=build-clang ./scripts/test.sh
#
# Installs any missing Debian packages first. Arguments are passed to the cmake
# configure step (they stay in that build dir's cache); the benchmarks are off
# unless -DLOOM_BUILD_BENCHMARKS=ON is given. LOOM_CTEST_ARGS adds
# arguments to ctest, e.g. LOOM_CTEST_ARGS="-LE consumer".
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/install_deps.sh
source "$ROOT/scripts/install_deps.sh"

# Open MPI for loom::distributed's tests (label mpi), run under mpirun.
packages=(g++ make cmake libeigen3-dev nlohmann-json3-dev catch2 libbenchmark-dev libopenmpi-dev openmpi-bin)
if [[ "${CXX:-}" == *clang* ]]; then
    packages+=(clang libomp-dev)
fi
loom_install_deps "${packages[@]}"

BUILD_DIR="${BUILD_DIR:-build}"
jobs="$(nproc 2>/dev/null || echo 2)"
read -r -a ctest_extra <<< "${LOOM_CTEST_ARGS:-}"

# The benchmarks are not tests: they are left out here (CI compiles them in its
# clang++ stage). Pass -DLOOM_BUILD_BENCHMARKS=ON to build them too.
cmake -S "$ROOT" -B "$BUILD_DIR" -DLOOM_BUILD_BENCHMARKS=OFF -DLOOM_USE_MPI=ON "$@"
cmake --build "$BUILD_DIR" -j"$jobs"
ctest --test-dir "$BUILD_DIR" --output-on-failure --no-tests=error -j2 "${ctest_extra[@]}"
