// bench/bench_elementwise.cpp — loom's element-wise kernels against raw Eigen.
//
// What it measures, on a 32×1024 float tensor (32,768 elements, 128 KB) with
// values uniform in [-3, 3), one thread (32,768 elements is below the size at
// which loom's element-wise kernels split over threads, 2·parallel_grain):
//
// Forward, recording off (NoGradGuard):
//   BM_Tanh_Loom / _Eigen       loom::tanh(x)     vs  y = x.array().tanh()
//   BM_Sigmoid_Loom / _Eigen    loom::sigmoid(x)  vs  y = x.array().logistic()
//   BM_BiasAdd_Loom / _Eigen    loom::add(x, b), x [32, 1024] + b [1024]
//                               vs  y = x.rowwise() + b
// loom allocates its output in every call; the Eigen side writes into a matrix
// allocated once, so the gap includes that allocation.
//
// Backward (inputs require grad; the graph is kept with retain_graph and the
// upstream gradient g is all ones):
//   BM_TanhBackward_LoomKernel   the recorded node's backward function alone,
//                                dx = g ⊙ (1 − y²) into a new tensor
//   BM_TanhBackward_LoomGraph    y.backward(g, retain_graph): the same kernel
//                                behind the engine (ordering, seeding, handing
//                                the leaf its .grad)
//   BM_TanhBackward_Eigen        dx = g * (1 - y.square())
//   BM_BiasAddBackward_LoomKernel  the add node's backward alone: dx = g (the
//                                same tensor, no copy) and db = sum_to(g, [1024])
//   BM_BiasAddBackward_LoomGraph z.backward(g, retain_graph): the kernel plus
//                                the engine; x's .grad must not alias g, so it
//                                gets a copy of g
//   BM_BiasAddBackward_Eigen     db = g.colwise().sum()  (the kernel's work)
//   BM_BiasAddBackward_EigenCopy dx = g (a copy) and db = g.colwise().sum()
//                                (what the graph version has to do)
//
// Counter: bytes_per_second counts the bytes of x (or g) read per iteration.
// Goal: every loom benchmark within 1.5× the time of its raw Eigen counterpart
// (Kernel and Graph against _Eigen, BiasAdd Graph against _EigenCopy).
//
// Run: bench_elementwise --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include <cstdint>
#include <vector>

#include <loom/loom.hpp>

namespace {

constexpr loom::index_t kRows = 32;
constexpr loom::index_t kCols = 1024;

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowVector = Eigen::Matrix<float, 1, Eigen::Dynamic>;

loom::Tensorf input(std::uint64_t seed, const loom::Shape& shape = {kRows, kCols}) {
    loom::Generator generator(seed);
    return loom::Tensorf::uniform(shape, -3.0f, 3.0f, generator);
}

void set_bytes(benchmark::State& state) {
    state.SetBytesProcessed(state.iterations() * kRows * kCols * static_cast<std::int64_t>(sizeof(float)));
}

// ---- forward ---------------------------------------------------------------

void BM_Tanh_Loom(benchmark::State& state) {
    loom::NoGradGuard no_grad;
    const loom::Tensorf x = input(1);
    for (auto _ : state) {
        loom::Tensorf y = loom::tanh(x);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state);
}

void BM_Tanh_Eigen(benchmark::State& state) {
    const RowMajor x = input(1).matrix();
    RowMajor y(kRows, kCols);
    for (auto _ : state) {
        y.array() = x.array().tanh();
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state);
}

void BM_Sigmoid_Loom(benchmark::State& state) {
    loom::NoGradGuard no_grad;
    const loom::Tensorf x = input(1);
    for (auto _ : state) {
        loom::Tensorf y = loom::sigmoid(x);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state);
}

void BM_Sigmoid_Eigen(benchmark::State& state) {
    const RowMajor x = input(1).matrix();
    RowMajor y(kRows, kCols);
    for (auto _ : state) {
        y.array() = x.array().logistic();
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state);
}

void BM_BiasAdd_Loom(benchmark::State& state) {
    loom::NoGradGuard no_grad;
    const loom::Tensorf x = input(1);
    const loom::Tensorf b = input(2, {kCols});
    for (auto _ : state) {
        loom::Tensorf y = loom::add(x, b);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state);
}

void BM_BiasAdd_Eigen(benchmark::State& state) {
    const RowMajor x = input(1).matrix();
    const RowVector b = input(2, {kCols}).matrix();
    RowMajor y(kRows, kCols);
    for (auto _ : state) {
        y.noalias() = x.rowwise() + b;
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state);
}

// ---- backward --------------------------------------------------------------

// A leaf that requires grad.
loom::Tensorf parameter(std::uint64_t seed, const loom::Shape& shape = {kRows, kCols}) {
    loom::Tensorf t = input(seed, shape);
    t.requires_grad_();
    return t;
}

void BM_TanhBackward_LoomKernel(benchmark::State& state) {
    const loom::Tensorf x = parameter(1);
    const loom::Tensorf y = loom::tanh(x);
    const std::vector<loom::Tensorf> g{loom::Tensorf::ones(y.shape())};
    const auto& node = y.grad_fn();
    for (auto _ : state) {
        std::vector<loom::Tensorf> dx = node->backward(g);
        benchmark::DoNotOptimize(dx[0].data());
        benchmark::ClobberMemory();
    }
    set_bytes(state);
}

void BM_TanhBackward_LoomGraph(benchmark::State& state) {
    loom::Tensorf x = parameter(1);
    const loom::Tensorf y = loom::tanh(x);
    const loom::Tensorf g = loom::Tensorf::ones(y.shape());
    for (auto _ : state) {
        x.zero_grad();  // the engine then hands x the new gradient instead of adding into the old
        y.backward(g, /*retain_graph=*/true);
        benchmark::DoNotOptimize(x.grad().data());
        benchmark::ClobberMemory();
    }
    set_bytes(state);
}

void BM_TanhBackward_Eigen(benchmark::State& state) {
    const RowMajor y = input(1).matrix().array().tanh().matrix();
    const RowMajor g = RowMajor::Ones(kRows, kCols);
    RowMajor dx(kRows, kCols);
    for (auto _ : state) {
        dx.array() = g.array() * (1.0f - y.array().square());
        benchmark::DoNotOptimize(dx.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state);
}

void BM_BiasAddBackward_LoomKernel(benchmark::State& state) {
    const loom::Tensorf x = parameter(1);
    const loom::Tensorf b = parameter(2, {kCols});
    const loom::Tensorf z = loom::add(x, b);
    const std::vector<loom::Tensorf> g{loom::Tensorf::ones(z.shape())};
    const auto& node = z.grad_fn();
    for (auto _ : state) {
        std::vector<loom::Tensorf> grads = node->backward(g);
        benchmark::DoNotOptimize(grads[0].data());
        benchmark::DoNotOptimize(grads[1].data());
        benchmark::ClobberMemory();
    }
    set_bytes(state);
}

void BM_BiasAddBackward_LoomGraph(benchmark::State& state) {
    loom::Tensorf x = parameter(1);
    loom::Tensorf b = parameter(2, {kCols});
    const loom::Tensorf z = loom::add(x, b);
    const loom::Tensorf g = loom::Tensorf::ones(z.shape());
    for (auto _ : state) {
        x.zero_grad();
        b.zero_grad();
        z.backward(g, /*retain_graph=*/true);
        benchmark::DoNotOptimize(x.grad().data());
        benchmark::DoNotOptimize(b.grad().data());
        benchmark::ClobberMemory();
    }
    set_bytes(state);
}

void BM_BiasAddBackward_Eigen(benchmark::State& state) {
    const RowMajor g = RowMajor::Ones(kRows, kCols);
    RowVector db(kCols);
    for (auto _ : state) {
        db.noalias() = g.colwise().sum();
        benchmark::DoNotOptimize(db.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state);
}

void BM_BiasAddBackward_EigenCopy(benchmark::State& state) {
    const RowMajor g = RowMajor::Ones(kRows, kCols);
    RowMajor dx(kRows, kCols);
    RowVector db(kCols);
    for (auto _ : state) {
        dx = g;
        db.noalias() = g.colwise().sum();
        benchmark::DoNotOptimize(dx.data());
        benchmark::DoNotOptimize(db.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state);
}

BENCHMARK(BM_Tanh_Loom)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Tanh_Eigen)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Sigmoid_Loom)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Sigmoid_Eigen)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BiasAdd_Loom)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BiasAdd_Eigen)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TanhBackward_LoomKernel)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TanhBackward_LoomGraph)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TanhBackward_Eigen)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BiasAddBackward_LoomKernel)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BiasAddBackward_LoomGraph)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BiasAddBackward_Eigen)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BiasAddBackward_EigenCopy)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
