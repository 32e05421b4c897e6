#!/usr/bin/env bash
# The main job: builds loom's char_rnn example (Release) and runs it; arguments
# go to the example. Installs any missing Debian packages first.
#
#   ./scripts/run.sh [char_rnn arguments...]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/install_deps.sh
source "$ROOT/scripts/install_deps.sh"

packages=(g++ make cmake libeigen3-dev nlohmann-json3-dev catch2 libbenchmark-dev)
if [[ "${CXX:-}" == *clang* ]]; then
    packages+=(clang libomp-dev)
fi
loom_install_deps "${packages[@]}"

BUILD_DIR="${BUILD_DIR:-build}"
jobs="$(nproc 2>/dev/null || echo 2)"

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release

if [[ ! -f "$ROOT/examples/char_rnn.cpp" ]]; then
    echo "loom: the char_rnn example is not there yet: it arrives with issue 3."
    exit 0
fi

cmake --build "$BUILD_DIR" -j"$jobs" --target char_rnn
exec "$BUILD_DIR/examples/char_rnn" "$@"
