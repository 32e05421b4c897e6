// bench/bench_layer_norm.cpp — loom::layer_norm against a raw-Eigen layer norm.
//
// What it measures, on x [32·64, 128] float (2048 rows of 128, 1 MB) with
// values uniform in [-3, 3), weight [128] in [0.5, 1.5), bias [128] in [-1, 1):
//   BM_LayerNorm_Forward_Loom     loom::layer_norm(x, w, b), recording off
//   BM_LayerNorm_Forward_Eigen    the same forward written directly in Eigen
//                                 into a preallocated matrix: per row, mean,
//                                 centred variance, (x - μ) · rstd · w + b
//   BM_LayerNorm_FwdBwd_Loom      forward with x, w, b requiring grad, then
//                                 y.backward(g) with a fixed g uniform in
//                                 [-1, 1): the recorded node, the engine, and
//                                 the .grad of three leaves
// loom allocates its output (and mean/rstd, [2048] each) in every call and may
// split rows over threads (2048 rows × 128 ≥ 2·parallel_grain); the Eigen side
// runs on one thread into a matrix allocated once. Set OMP_NUM_THREADS=1 to
// compare kernels alone.
//
// Counter: bytes_per_second counts the bytes of x read per iteration.
//
// Run: bench_layer_norm --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// Standalone build: g++ -std=c++17 -O3 -march=native -fopenmp -DLOOM_USE_OPENMP=1 -Iinclude
//   -isystem /usr/include/eigen3 bench/bench_layer_norm.cpp -lbenchmark -lpthread
#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include <cmath>
#include <cstdint>

#include <loom/loom.hpp>
#include <loom/ops/layer_norm.hpp>

namespace {

constexpr loom::index_t kRows = 32 * 64;
constexpr loom::index_t kCols = 128;
constexpr float kEps = 1e-5f;

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowArray = Eigen::Array<float, 1, Eigen::Dynamic>;

loom::Tensorf uniform(std::uint64_t seed, const loom::Shape& shape, float low, float high) {
    loom::Generator generator(seed);
    return loom::Tensorf::uniform(shape, low, high, generator);
}

void set_bytes(benchmark::State& state) {
    state.SetBytesProcessed(state.iterations() * kRows * kCols * static_cast<std::int64_t>(sizeof(float)));
}

void BM_LayerNorm_Forward_Loom(benchmark::State& state) {
    loom::NoGradGuard no_grad;
    const loom::Tensorf x = uniform(1, {kRows, kCols}, -3.0f, 3.0f);
    const loom::Tensorf w = uniform(2, {kCols}, 0.5f, 1.5f);
    const loom::Tensorf b = uniform(3, {kCols}, -1.0f, 1.0f);
    for (auto _ : state) {
        loom::Tensorf y = loom::layer_norm(x, w, b, kEps);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state);
}

void BM_LayerNorm_Forward_Eigen(benchmark::State& state) {
    const RowMajor x = uniform(1, {kRows, kCols}, -3.0f, 3.0f).matrix();
    const RowArray w = uniform(2, {kCols}, 0.5f, 1.5f).matrix().array();
    const RowArray b = uniform(3, {kCols}, -1.0f, 1.0f).matrix().array();
    RowMajor y(kRows, kCols);
    for (auto _ : state) {
        for (Eigen::Index r = 0; r < kRows; ++r) {
            const float mean = x.row(r).sum() / kCols;
            const auto centred = x.row(r).array() - mean;
            const float rstd = 1.0f / std::sqrt(centred.square().sum() / kCols + kEps);
            y.row(r).array() = centred * rstd * w + b;
        }
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state);
}

void BM_LayerNorm_FwdBwd_Loom(benchmark::State& state) {
    loom::Tensorf x = uniform(1, {kRows, kCols}, -3.0f, 3.0f);
    loom::Tensorf w = uniform(2, {kCols}, 0.5f, 1.5f);
    loom::Tensorf b = uniform(3, {kCols}, -1.0f, 1.0f);
    const loom::Tensorf g = uniform(4, {kRows, kCols}, -1.0f, 1.0f);
    x.requires_grad_();
    w.requires_grad_();
    b.requires_grad_();
    for (auto _ : state) {
        x.zero_grad();
        w.zero_grad();
        b.zero_grad();
        loom::Tensorf y = loom::layer_norm(x, w, b, kEps);
        y.backward(g);
        benchmark::DoNotOptimize(x.grad().data());
        benchmark::ClobberMemory();
    }
    set_bytes(state);
}

BENCHMARK(BM_LayerNorm_Forward_Loom)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LayerNorm_Forward_Eigen)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LayerNorm_FwdBwd_Loom)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
