// bench/bench_conv1d.cpp — a causal dilated Conv1d layer, forward and backward.
//
// The layer: loom::Conv1d<float>(128 -> 128, kernel_size 3, dilation 2, causal),
// input x [32, 128, 64] (B, C, T), float, values uniform in [-1, 1).
//
//   BM_Conv1dCausal_Forward          layer(x) with recording off (NoGradGuard):
//                                    the channels-last copy of x, K = 3 shifted
//                                    products [64, 128] · [128, 128] per sequence,
//                                    the transpose back to [B, C_out, T] with the bias
//   BM_Conv1dCausal_ForwardBackward  y = layer(x) with x and the parameters
//                                    requiring grad, then y.backward(g) with g all
//                                    ones: the forward plus dW_kᵀ = Σ_n A_nkᵀ Gt[n]
//                                    and dxt[n] += Gt[n] W_k (see ops/conv1d.hpp), db
//                                    and the transposes; the gradients are dropped
//                                    after each iteration
//   BM_Conv1dCausal_Step/B           layer.step(x_t, state) for x_t [B, 128], B = 1
//                                    and 5 (greedy / beam search): the gather of the
//                                    K taps from the ring buffer, one product
//                                    [B, 384] · [384, 128], the bias, and x_t written
//                                    into the buffer; time per generated position
//                                    (compare the forward's time / (B·T) above)
//
// Counter: FLOPS counts the multiply-adds of the products as 2 flops each
// (2·C_out·C_in·K·B·T for the forward; the backward has twice as many).
// Threads: as configured (OMP_NUM_THREADS); threads take whole sequences (for
// dW, whole blocks of input channels).
//
// Run: bench_conv1d --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdint>

#include <loom/loom.hpp>
#include <loom/nn/conv1d.hpp>

namespace {

constexpr loom::index_t kBatch = 32;
constexpr loom::index_t kChannels = 128;
constexpr loom::index_t kLength = 64;
constexpr loom::index_t kKernel = 3;
constexpr loom::index_t kDilation = 2;

double gemm_flops() { return 2.0 * kChannels * kChannels * kKernel * kBatch * kLength; }

void BM_Conv1dCausal_Forward(benchmark::State& state) {
    loom::Generator generator(1);
    loom::Conv1d<float> layer(kChannels, kChannels, kKernel, generator, 1, 0, kDilation, true, true);
    const loom::Tensorf x = loom::Tensorf::uniform({kBatch, kChannels, kLength}, -1.0f, 1.0f, generator);
    loom::NoGradGuard no_grad;
    for (auto _ : state) {
        loom::Tensorf y = layer(x);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    state.counters["FLOPS"] = benchmark::Counter(gemm_flops(), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Conv1dCausal_ForwardBackward(benchmark::State& state) {
    loom::Generator generator(1);
    loom::Conv1d<float> layer(kChannels, kChannels, kKernel, generator, 1, 0, kDilation, true, true);
    loom::Tensorf x = loom::Tensorf::uniform({kBatch, kChannels, kLength}, -1.0f, 1.0f, generator);
    x.requires_grad_();
    const loom::Tensorf g = loom::Tensorf::ones({kBatch, kChannels, kLength});
    for (auto _ : state) {
        loom::Tensorf y = layer(x);
        y.backward(g);
        benchmark::DoNotOptimize(x.grad().data());
        benchmark::ClobberMemory();
        x.zero_grad();
        layer.zero_grad();
    }
    state.counters["FLOPS"] = benchmark::Counter(3.0 * gemm_flops(), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Conv1dCausal_Step(benchmark::State& state) {
    const loom::index_t rows = state.range(0);
    loom::Generator generator(1);
    loom::Conv1d<float> layer(kChannels, kChannels, kKernel, generator, 1, 0, kDilation, true, true);
    const loom::Tensorf x = loom::Tensorf::uniform({rows, kChannels}, -1.0f, 1.0f, generator);
    loom::NoGradGuard no_grad;
    loom::Conv1dStepState<float> ring;
    for (auto _ : state) {
        loom::Tensorf y = layer.step(x, ring);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    state.counters["FLOPS"] = benchmark::Counter(2.0 * kChannels * kChannels * kKernel * static_cast<double>(rows),
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK(BM_Conv1dCausal_Forward)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Conv1dCausal_ForwardBackward)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Conv1dCausal_Step)->Arg(1)->Arg(5)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
