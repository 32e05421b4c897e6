// bench/bench_autograd.cpp — what recording and back-propagating costs per op.
//
// What it measures: a chain of 1,000 small element-wise ops on one 32×32 float
// tensor, x = x * 0.999f and x = x + 0.001f alternating (500 of each), then
// sum(x); the chain is short enough per op (1,024 floats, ~4 KB, all in L1) that
// the time is dominated by what happens around the arithmetic:
//
//   BM_LoomRecordedForwardBackward  the input requires grad: forward records
//       1,000 graph nodes, then sum(x).backward() walks them and frees the graph.
//       This is the number the goal is about.
//   BM_LoomRecordedForward  the same forward, recorded, and the graph dropped
//       without backward (its destruction included): the recording half.
//   BM_LoomNoGrad  the same forward under loom::NoGradGuard: loom's tensors
//       (a new buffer per op) without any graph.
//   BM_EigenForward  the forward arithmetic in raw Eigen, out of place into two
//       preallocated arrays used in turn, then the sum.
//   BM_EigenForwardBackward  the arithmetic a forward + backward needs, in raw
//       Eigen: the forward above, then the gradient pass: d/dx of the sum is 1,
//       each `* 0.999f` multiplies the gradient by 0.999, each `+ 0.001f`
//       passes it through (1,000 + 500 passes over 1,024 floats in all, as in
//       loom's backward).
//
// Counters: items_per_second counts ops (1,000 per iteration); time_per_op is
// the time per iteration / 1,000 (printed as e.g. "850.2ns"). The overhead of
// recording is read off as
//   time per op beyond the arithmetic =
//       time_per_op(BM_LoomRecordedForwardBackward) − time_per_op(BM_EigenForwardBackward).
// Goal: below 1 µs (1,000 ns) per op beyond the arithmetic.
//
// All of it runs on one thread: 1,024 elements are far below the size at which
// loom's element-wise kernels split over threads (detail::parallel_grain).
//
// Run: bench_autograd --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include <loom/loom.hpp>

namespace {

constexpr int kOps = 1000;  // element-wise ops per chain (kOps / 2 of each kind)
constexpr loom::index_t kSide = 32;
constexpr float kScale = 0.999f;
constexpr float kShift = 0.001f;

void set_counters(benchmark::State& state) {
    state.SetItemsProcessed(state.iterations() * kOps);
    // Seconds per op (rate, inverted); the console prints it with an SI prefix,
    // e.g. "time_per_op=850.2ns". JSON/CSV output gives it in seconds.
    state.counters["time_per_op"] = benchmark::Counter(static_cast<double>(state.iterations()) * kOps,
                                                       benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

loom::Tensorf chain(loom::Tensorf x) {
    for (int i = 0; i < kOps / 2; ++i) {
        x = x * kScale;
        x = x + kShift;
    }
    return x;
}

loom::Tensorf leaf() {
    loom::Tensorf x = loom::Tensorf::full({kSide, kSide}, 1.0f);
    x.requires_grad_();
    return x;
}

void BM_LoomRecordedForwardBackward(benchmark::State& state) {
    loom::Tensorf x = leaf();
    for (auto _ : state) {
        x.zero_grad();  // a fresh .grad each time, instead of += into the old one
        loom::Tensorf loss = loom::sum(chain(x));
        loss.backward();
        benchmark::DoNotOptimize(x.grad().data());
        benchmark::ClobberMemory();
    }
    set_counters(state);
}

void BM_LoomRecordedForward(benchmark::State& state) {
    loom::Tensorf x = leaf();
    for (auto _ : state) {
        loom::Tensorf loss = loom::sum(chain(x));
        benchmark::DoNotOptimize(loss.data());
        benchmark::ClobberMemory();
    }  // the graph is freed here, when `loss` goes
    set_counters(state);
}

void BM_LoomNoGrad(benchmark::State& state) {
    loom::Tensorf x = leaf();
    loom::NoGradGuard no_grad;
    for (auto _ : state) {
        loom::Tensorf loss = loom::sum(chain(x));
        benchmark::DoNotOptimize(loss.data());
        benchmark::ClobberMemory();
    }
    set_counters(state);
}

using Array = Eigen::ArrayXf;

// x ← chain(x), out of place between x and spare, as loom computes it.
float eigen_forward(Array& x, Array& spare) {
    for (int i = 0; i < kOps / 2; ++i) {
        spare = x * kScale;
        x = spare + kShift;
    }
    return x.sum();
}

void BM_EigenForward(benchmark::State& state) {
    Array x(kSide * kSide), spare(kSide * kSide);
    for (auto _ : state) {
        x.setOnes();
        float loss = eigen_forward(x, spare);
        benchmark::DoNotOptimize(loss);
        benchmark::ClobberMemory();
    }
    set_counters(state);
}

void BM_EigenForwardBackward(benchmark::State& state) {
    Array x(kSide * kSide), spare(kSide * kSide), grad(kSide * kSide), grad_spare(kSide * kSide);
    for (auto _ : state) {
        x.setOnes();
        float loss = eigen_forward(x, spare);
        benchmark::DoNotOptimize(loss);
        grad.setOnes();  // d(sum)/dx
        for (int i = 0; i < kOps / 2; ++i) {
            // + kShift passes the gradient through; * kScale scales it.
            grad_spare = grad * kScale;
            grad.swap(grad_spare);
        }
        benchmark::DoNotOptimize(grad.data());
        benchmark::ClobberMemory();
    }
    set_counters(state);
}

BENCHMARK(BM_LoomRecordedForwardBackward)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_EigenForwardBackward)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LoomRecordedForward)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LoomNoGrad)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_EigenForward)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
