// bench/bench_gemm.cpp — loom's GEMM (ops/gemm.hpp) against Eigen's on the
// products loom's training steps actually run.
//
// What it measures: C = op(A) · op(B) in float for the shapes below (each one
// a product of the lstm_train or gpt_train step of vs_libtorch; conv1d runs
// its products through the packed kernel per sequence, see bench_conv1d),
// on 1 and 2 threads, loom::detail::gemm next to Eigen's `c.noalias() = a * b`
// on the same row-major operands (transposes as Eigen .transpose() views).
// Output C is allocated once outside the timed loop for both.
//
// Counter FLOPS: 2·m·n·k per iteration over wall-clock time (UseRealTime).
// Goal: loom at least as fast as Eigen on every shape and thread count (it is
// the reason the kernel exists). For scale: on the AMD EPYC this was written
// on, OpenBLAS's AVX-512 SGEMM ran these shapes at the same speed as loom's
// (docs/performance.md).
//
// Run: bench_gemm --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <loom/loom.hpp>

namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct ProductShape {
    const char* name;
    std::int64_t m, n, k;
    bool transpose_a, transpose_b;
};

// m, n, k of C[m, n] = op(A)[m, k] · op(B)[k, n].
const std::vector<ProductShape>& shapes() {
    static const std::vector<ProductShape> all = {
        {"lstm_input_projection", 2048, 1024, 64, false, true},  // X · W_ihᵀ
        {"lstm_weight_grad", 1024, 256, 2048, true, false},      // dAᵀ · H_prev
        {"gpt_qkv", 2048, 384, 128, false, true},                // x · in_proj_weightᵀ
        {"gpt_mlp_up", 2048, 512, 128, false, true},             // x · fc.weightᵀ
        {"gpt_mlp_down_dw", 512, 128, 2048, true, false},        // dYᵀ · X
        {"head", 2048, 65, 128, false, true},                    // h · W_headᵀ
    };
    return all;
}

RowMajor random_matrix(std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
    loom::Generator generator(seed);
    return loom::Tensorf::uniform({rows, cols}, -1.0f, 1.0f, generator).matrix();
}

// Stored operands: A is [m, k] or, transposed, [k, m]; likewise B.
struct Operands {
    RowMajor a, b, c;
    explicit Operands(const ProductShape& s)
        : a(s.transpose_a ? random_matrix(s.k, s.m, 1) : random_matrix(s.m, s.k, 1)),
          b(s.transpose_b ? random_matrix(s.n, s.k, 2) : random_matrix(s.k, s.n, 2)),
          c(s.m, s.n) {}
};

void set_counters(benchmark::State& state, const ProductShape& s) {
    const double flops = 2.0 * static_cast<double>(s.m) * static_cast<double>(s.n) * static_cast<double>(s.k);
    state.counters["FLOPS"] =
        benchmark::Counter(flops * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_LoomGemm(benchmark::State& state, const ProductShape& s) {
    loom::set_num_threads(static_cast<int>(state.range(0)));
    Operands x(s);
    const auto a = loom::detail::row_major<float>(x.a.data(), x.a.cols(), s.transpose_a);
    const auto b = loom::detail::row_major<float>(x.b.data(), x.b.cols(), s.transpose_b);
    for (auto _ : state) {
        loom::detail::gemm(s.m, s.n, s.k, a, b, x.c.data(), s.n, false);
        benchmark::DoNotOptimize(x.c.data());
        benchmark::ClobberMemory();
    }
    set_counters(state, s);
}

void BM_EigenGemm(benchmark::State& state, const ProductShape& s) {
    loom::set_num_threads(static_cast<int>(state.range(0)));
    Operands x(s);
    for (auto _ : state) {
        if (s.transpose_a && s.transpose_b) x.c.noalias() = x.a.transpose() * x.b.transpose();
        else if (s.transpose_a) x.c.noalias() = x.a.transpose() * x.b;
        else if (s.transpose_b) x.c.noalias() = x.a * x.b.transpose();
        else x.c.noalias() = x.a * x.b;
        benchmark::DoNotOptimize(x.c.data());
        benchmark::ClobberMemory();
    }
    set_counters(state, s);
}

// Shape by shape, loom next to Eigen, so both see the same machine load.
const int registered = [] {
    for (const ProductShape& s : shapes())
        for (const std::int64_t threads : {1, 2})
            for (const auto& [side, fn] : {std::pair{"BM_LoomGemm/", &BM_LoomGemm},
                                           std::pair{"BM_EigenGemm/", &BM_EigenGemm}})
                benchmark::RegisterBenchmark((std::string(side) + s.name).c_str(), fn, s)
                    ->ArgNames({"threads"})
                    ->Arg(threads)
                    ->UseRealTime()
                    ->Unit(benchmark::kMicrosecond);
    return 0;
}();

}  // namespace

BENCHMARK_MAIN();
