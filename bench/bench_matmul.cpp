// bench/bench_matmul.cpp — loom::matmul against the same product in raw Eigen.
//
// What it measures: the forward product C = A·B of two square float matrices,
// n = 64, 256, 1024, with recording off (NoGradGuard, and the inputs do not
// require grad), on 1 and 2 threads. loom::set_num_threads(threads) is called
// for every benchmark, loom's and Eigen's alike (it sets OpenMP's pool and
// Eigen's cap), so both sides may split one GEMM over the same threads.
//
//   BM_LoomMatmul        loom::matmul(a, b): checks and plans the shapes,
//                        allocates a new output tensor, then runs loom's GEMM
//                        (ops/gemm.hpp) on the data in place.
//   BM_EigenMatmul       c.noalias() = a * b on Eigen::Matrix<float, Dynamic,
//                        Dynamic, RowMajor>, with c allocated once outside the
//                        timed loop: the floor loom is compared with.
//   BM_EigenMatmulAlloc  the same, but c is a new matrix in every iteration, as
//                        loom's output is; loom − this is the cost of the Tensor
//                        wrapper alone, this − BM_EigenMatmul the cost of a
//                        fresh output buffer.
//
// Counter FLOPS: 2·n³ floating-point operations per iteration, divided by
// wall-clock time (UseRealTime, because with 2 threads the main thread's CPU
// time misses the other thread's work); printed as e.g. "FLOPS=88.2G/s".
//
// Goal (from the issue): Tensor overhead ≤ 5 %, i.e. BM_LoomMatmul's time is at
// most 1.05 × BM_EigenMatmul's at every size and thread count. Since loom has
// its own GEMM, BM_LoomMatmul is usually the faster of the two (bench_gemm.cpp
// compares the two GEMMs directly on the shapes of loom's training steps).
//
// Run: bench_matmul --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include <cstdint>
#include <utility>

#include <loom/loom.hpp>

namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

void set_counters(benchmark::State& state, std::int64_t n) {
    const double flops = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
    // kIsRate divides the total by the run's (wall-clock) time; the console prints
    // it with an SI prefix, e.g. "FLOPS=88.2G/s".
    state.counters["FLOPS"] =
        benchmark::Counter(flops * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// The same operands for loom and Eigen: uniform in [-1, 1) from a fixed seed.
RowMajor random_matrix(std::int64_t n, std::uint64_t seed) {
    loom::Generator generator(seed);
    const loom::Tensorf t = loom::Tensorf::uniform({n, n}, -1.0f, 1.0f, generator);
    return t.matrix();
}

void BM_LoomMatmul(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    loom::set_num_threads(static_cast<int>(state.range(1)));
    loom::NoGradGuard no_grad;
    loom::Generator generator(1);
    const loom::Tensorf a = loom::Tensorf::uniform({n, n}, -1.0f, 1.0f, generator);
    const loom::Tensorf b = loom::Tensorf::uniform({n, n}, -1.0f, 1.0f, generator);
    for (auto _ : state) {
        loom::Tensorf c = loom::matmul(a, b);
        benchmark::DoNotOptimize(c.data());
        benchmark::ClobberMemory();
    }
    set_counters(state, n);
}

void BM_EigenMatmul(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    loom::set_num_threads(static_cast<int>(state.range(1)));
    const RowMajor a = random_matrix(n, 1);
    const RowMajor b = random_matrix(n, 2);
    RowMajor c(n, n);
    for (auto _ : state) {
        c.noalias() = a * b;
        benchmark::DoNotOptimize(c.data());
        benchmark::ClobberMemory();
    }
    set_counters(state, n);
}

void BM_EigenMatmulAlloc(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    loom::set_num_threads(static_cast<int>(state.range(1)));
    const RowMajor a = random_matrix(n, 1);
    const RowMajor b = random_matrix(n, 2);
    for (auto _ : state) {
        RowMajor c(n, n);
        c.noalias() = a * b;
        benchmark::DoNotOptimize(c.data());
        benchmark::ClobberMemory();
    }
    set_counters(state, n);
}

// Registered size by size, so that loom and Eigen at one (n, threads) run next
// to each other and see the same load on a shared machine.
const int registered = [] {
    for (const std::int64_t n : {64, 256, 1024})
        for (const std::int64_t threads : {1, 2})
            for (const auto& [name, fn] : {std::pair{"BM_LoomMatmul", &BM_LoomMatmul},
                                           std::pair{"BM_EigenMatmul", &BM_EigenMatmul},
                                           std::pair{"BM_EigenMatmulAlloc", &BM_EigenMatmulAlloc}})
                benchmark::RegisterBenchmark(name, fn)
                    ->ArgNames({"n", "threads"})
                    ->Args({n, threads})
                    ->UseRealTime()
                    ->Unit(benchmark::kMicrosecond);
    return 0;
}();

}  // namespace

BENCHMARK_MAIN();
