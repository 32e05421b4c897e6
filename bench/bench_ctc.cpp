// bench/bench_ctc.cpp — the CTC loss and decoders (ops/ctc.hpp, decode/ctc_decode.hpp).
//
// What it measures, on log_probs = log_softmax(logits), logits [T=200, B=32,
// C=60] standard normal, targets of S=40 labels in 1..59 (the workload of the
// ctc_loss comparison in bench/vs_libtorch):
//   BM_CtcLoss_Forward        loom::ctc_loss, recording off (α recursion only)
//   BM_CtcLoss_FwdBwd         ctc_loss on log_probs requiring grad, then
//                             backward (α, then β and the posteriors γ)
//   BM_CtcGreedyDecode        ctc_greedy_decode of the 32 sequences
//   BM_CtcPrefixBeam/<width>  ctc_prefix_beam_search of the 32 sequences,
//                             every class considered, beam width 1, 4, 16
// Counter: items_per_second counts lattice cells, T · B · (2S + 1) for the
// loss and T · B for the decoders.
//
// Run: bench_ctc --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include <loom/autograd/engine.hpp>
#include <loom/autograd/grad_mode.hpp>
#include <loom/decode/ctc_decode.hpp>
#include <loom/ops/ctc.hpp>
#include <loom/ops/softmax.hpp>
#include <loom/tensor/random.hpp>

namespace {

constexpr loom::index_t kTime = 200, kBatch = 32, kClasses = 60, kTargetLength = 40;

struct Workload {
    loom::Tensor<float> log_probs;
    loom::IndexTensor targets;
    std::vector<loom::index_t> input_lengths = std::vector<loom::index_t>(kBatch, kTime);
    std::vector<loom::index_t> target_lengths = std::vector<loom::index_t>(kBatch, kTargetLength);

    Workload() {
        loom::Generator generator(21);
        log_probs = loom::log_softmax(loom::Tensor<float>::normal(loom::Shape{kTime, kBatch, kClasses}, 0.0f, 1.0f, generator));
        std::vector<loom::index_t> labels(static_cast<std::size_t>(kBatch * kTargetLength));
        for (auto& label : labels) label = 1 + static_cast<loom::index_t>(generator.below(kClasses - 1));
        targets = loom::IndexTensor(labels, loom::Shape{kBatch, kTargetLength});
    }
};

void BM_CtcLoss_Forward(benchmark::State& state) {
    const Workload work;
    loom::NoGradGuard no_grad;
    for (auto _ : state)
        benchmark::DoNotOptimize(loom::ctc_loss(work.log_probs, work.targets, work.input_lengths, work.target_lengths));
    state.SetItemsProcessed(state.iterations() * kTime * kBatch * (2 * kTargetLength + 1));
}
BENCHMARK(BM_CtcLoss_Forward)->Unit(benchmark::kMillisecond);

void BM_CtcLoss_FwdBwd(benchmark::State& state) {
    Workload work;
    work.log_probs.requires_grad_(true);
    for (auto _ : state) {
        work.log_probs.zero_grad();
        loom::ctc_loss(work.log_probs, work.targets, work.input_lengths, work.target_lengths).backward();
        benchmark::DoNotOptimize(work.log_probs.grad().data());
    }
    state.SetItemsProcessed(state.iterations() * kTime * kBatch * (2 * kTargetLength + 1));
}
BENCHMARK(BM_CtcLoss_FwdBwd)->Unit(benchmark::kMillisecond);

void BM_CtcGreedyDecode(benchmark::State& state) {
    const Workload work;
    for (auto _ : state) benchmark::DoNotOptimize(loom::ctc_greedy_decode(work.log_probs, work.input_lengths));
    state.SetItemsProcessed(state.iterations() * kTime * kBatch);
}
BENCHMARK(BM_CtcGreedyDecode)->Unit(benchmark::kMicrosecond);

void BM_CtcPrefixBeam(benchmark::State& state) {
    const Workload work;
    loom::CtcBeamOptions options;
    options.beam_width = state.range(0);
    for (auto _ : state)
        benchmark::DoNotOptimize(loom::ctc_prefix_beam_search(work.log_probs, work.input_lengths, options));
    state.SetItemsProcessed(state.iterations() * kTime * kBatch);
}
BENCHMARK(BM_CtcPrefixBeam)->Arg(1)->Arg(4)->Arg(16)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
