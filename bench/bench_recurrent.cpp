// bench/bench_recurrent.cpp — the recurrent hot paths, in float:
//   BM_LstmGatesForward / BM_LstmGatesBackward   the fused per-step gate kernels, [B, 4H]
//   BM_RecurrentProductEigen / _Packed           one step's h · W_hhᵀ, Eigen GEMM vs the packed kernel
//   BM_LstmStep                                  one whole step: recurrent product + gates
//   BM_LstmSequenceForward / _ForwardBackward    a layer over a [B, T, I] sequence (with BPTT)
//   BM_LstmInferenceStep                         LSTM::step at batch 1 (generation)
// Sizes follow the char_rnn workload: B = 32, T = 64, I = 64, H = 256. Run:
//   build/bench/bench_recurrent --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <utility>

#include <loom/autograd/engine.hpp>
#include <loom/nn/lstm.hpp>
#include <loom/ops/lstm.hpp>
#include <loom/ops/reduce.hpp>
#include <loom/tensor/parallel.hpp>

namespace {

using loom::index_t;
using Tensor = loom::Tensor<float>;
constexpr index_t B = 32, T = 64, I = 64, H = 256;

Tensor random(const loom::Shape& shape, std::uint64_t seed) {
    loom::Generator generator(seed);
    return Tensor::uniform(shape, -0.1f, 0.1f, generator);
}

void BM_LstmGatesForward(benchmark::State& state) {
    Tensor pre = random({B, 4 * H}, 1), c_prev = random({B, H}, 2);
    Tensor gates = Tensor::empty({B, 4 * H}), c = Tensor::empty({B, H}), tanh_c = Tensor::empty({B, H}),
           h = Tensor::empty({B, H});
    for (auto _ : state) {
        gates.copy_(pre);
        loom::detail::lstm_gates_forward<float>(gates.matrix(), std::as_const(c_prev).matrix(), c.matrix(), tanh_c.matrix(),
                                                h.matrix());
        benchmark::DoNotOptimize(h.data());
    }
    state.SetItemsProcessed(state.iterations() * B * H);
}
BENCHMARK(BM_LstmGatesForward);

void BM_LstmGatesBackward(benchmark::State& state) {
    Tensor gates = random({B, 4 * H}, 1), c_prev = random({B, H}, 2), tanh_c = random({B, H}, 3),
           dh = random({B, H}, 4), dc0 = random({B, H}, 5);
    Tensor dc = Tensor::empty({B, H}), d_pre = Tensor::empty({B, 4 * H});
    for (auto _ : state) {
        dc.copy_(dc0);
        loom::detail::lstm_gates_backward<float>(std::as_const(gates).matrix(), std::as_const(c_prev).matrix(),
                                                 std::as_const(tanh_c).matrix(), std::as_const(dh).matrix(),
                                                 dc.matrix(), d_pre.matrix());
        benchmark::DoNotOptimize(d_pre.data());
    }
    state.SetItemsProcessed(state.iterations() * B * H);
}
BENCHMARK(BM_LstmGatesBackward);

void recurrent_product(benchmark::State& state, index_t steps) {
    loom::set_num_threads(static_cast<int>(state.range(0)));
    Tensor w_hh = random({4 * H, H}, 1), h = random({B, H}, 2), out = Tensor::zeros({B, 4 * H});
    const loom::detail::RecurrentProduct<float> product(w_hh, steps, true);
    for (auto _ : state) {
        product.accumulate(h.data(), B, out.data());
        benchmark::DoNotOptimize(out.data());
    }
    state.counters["GFLOP/s"] =
        benchmark::Counter(2.0 * B * H * 4 * H * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
void BM_RecurrentProductEigen(benchmark::State& state) { recurrent_product(state, 1); }
void BM_RecurrentProductPacked(benchmark::State& state) { recurrent_product(state, T); }
BENCHMARK(BM_RecurrentProductEigen)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_RecurrentProductPacked)->Arg(1)->Arg(2)->UseRealTime();

void BM_LstmStep(benchmark::State& state) {
    loom::set_num_threads(1);
    Tensor w_hh = random({4 * H, H}, 1), h = random({B, H}, 2), c_prev = random({B, H}, 3), x_part = random({B, 4 * H}, 4);
    Tensor gates = Tensor::empty({B, 4 * H}), c = Tensor::empty({B, H}), tanh_c = Tensor::empty({B, H}),
           h_next = Tensor::empty({B, H});
    const loom::detail::RecurrentProduct<float> product(w_hh, T, true);
    for (auto _ : state) {
        gates.copy_(x_part);
        product.accumulate(h.data(), B, gates.data());
        loom::detail::lstm_gates_forward<float>(gates.matrix(), std::as_const(c_prev).matrix(), c.matrix(), tanh_c.matrix(),
                                                h_next.matrix());
        benchmark::DoNotOptimize(h_next.data());
    }
}
BENCHMARK(BM_LstmStep);

struct Layer {
    Tensor x = random({B, T, I}, 1), w_ih = random({4 * H, I}, 2), w_hh = random({4 * H, H}, 3),
           b_ih = random({4 * H}, 4), b_hh = random({4 * H}, 5);
};

void BM_LstmSequenceForward(benchmark::State& state) {
    loom::set_num_threads(static_cast<int>(state.range(0)));
    Layer layer;
    loom::NoGradGuard no_grad;
    for (auto _ : state) benchmark::DoNotOptimize(loom::lstm(layer.x, layer.w_ih, layer.w_hh, layer.b_ih, layer.b_hh).output.data());
}
BENCHMARK(BM_LstmSequenceForward)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_LstmSequenceForwardBackward(benchmark::State& state) {
    loom::set_num_threads(static_cast<int>(state.range(0)));
    Layer layer;
    for (Tensor* p : {&layer.w_ih, &layer.w_hh, &layer.b_ih, &layer.b_hh}) p->requires_grad_(true);
    for (auto _ : state) {
        const auto result = loom::lstm(layer.x, layer.w_ih, layer.w_hh, layer.b_ih, layer.b_hh);
        loom::sum(result.output).backward();
        for (Tensor* p : {&layer.w_ih, &layer.w_hh, &layer.b_ih, &layer.b_hh}) p->zero_grad();
    }
}
BENCHMARK(BM_LstmSequenceForwardBackward)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_LstmInferenceStep(benchmark::State& state) {
    loom::set_num_threads(static_cast<int>(state.range(0)));
    loom::Generator generator(1);
    loom::LSTM<float> lstm(I, H, 2, generator);
    loom::NoGradGuard no_grad;
    Tensor x = random({1, I}, 2);
    loom::LstmState<float> lstm_state;
    for (auto _ : state) {
        lstm_state = lstm.step(x, lstm_state);
        benchmark::DoNotOptimize(lstm_state.h.data());
    }
}
BENCHMARK(BM_LstmInferenceStep)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
