#!/usr/bin/env bash
# Builds loom's safetensors fuzzer with clang (libFuzzer + AddressSanitizer +
# UndefinedBehaviorSanitizer) and runs it for N seconds (default 60) on a copy
# of the seed corpus in fuzz/corpus/. Fails if the fuzzer finds a crash, a
# sanitizer report, a leak or a timeout; the input that caused it is saved as
# $BUILD_DIR/fuzz-artifacts/crash-* (rerun it: $BUILD_DIR/fuzz/fuzz_safetensors <file>).
#
#   ./scripts/fuzz.sh            # 60 s
#   ./scripts/fuzz.sh 600        # 10 minutes
#   BUILD_DIR=/tmp/bf ./scripts/fuzz.sh 30
#
# Installs any missing Debian packages first (clang, libclang-rt-14-dev, ...).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/install_deps.sh
source "$ROOT/scripts/install_deps.sh"
loom_install_deps make cmake clang libclang-rt-14-dev libeigen3-dev nlohmann-json3-dev

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [[ "$seconds" -eq 0 ]]; then
    echo "usage: scripts/fuzz.sh [seconds > 0]" >&2
    exit 2
fi
BUILD_DIR="${BUILD_DIR:-$ROOT/build-fuzz}"
jobs="$(nproc 2>/dev/null || echo 2)"

cmake -S "$ROOT" -B "$BUILD_DIR" \
    -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLOOM_BUILD_FUZZERS=ON \
    -DLOOM_BUILD_TESTS=OFF -DLOOM_BUILD_EXAMPLES=OFF -DLOOM_BUILD_BENCHMARKS=OFF \
    -DLOOM_USE_OPENMP=OFF
cmake --build "$BUILD_DIR" -j"$jobs" --target fuzz_safetensors

# The fuzzer adds the inputs it finds interesting to the corpus directory:
# work on a fresh copy, so fuzz/corpus/ stays the small reviewed seed set.
corpus="$BUILD_DIR/fuzz-corpus"
artifacts="$BUILD_DIR/fuzz-artifacts"
rm -rf "$corpus"
mkdir -p "$corpus" "$artifacts"
cp "$ROOT"/fuzz/corpus/* "$corpus"/

echo "loom: fuzzing loom::safetensors for ${seconds}s (corpus $corpus, crashes go to $artifacts/)"
"$BUILD_DIR/fuzz/fuzz_safetensors" \
    -max_total_time="$seconds" \
    -dict="$ROOT/fuzz/safetensors.dict" \
    -max_len=4096 \
    -timeout=10 \
    -rss_limit_mb=2048 \
    -print_final_stats=1 \
    -artifact_prefix="$artifacts/" \
    "$corpus"
echo "loom: fuzzing passed: ${seconds}s without a crash"
