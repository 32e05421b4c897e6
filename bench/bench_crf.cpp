// bench/bench_crf.cpp — the linear-chain CRF (ops/crf.hpp, ops/viterbi.hpp).
//
// What it measures, on emissions [B=32, T=100, K=10] float, uniform in
// [−2, 2), random tags, every step real:
//   BM_CrfNll_Forward     crf_negative_log_likelihood, recording off (α)
//   BM_CrfNll_FwdBwd      the same with emissions and CRF parameters requiring
//                         grad, then backward (β and the marginals)
//   BM_CrfViterbi         the best path of each sequence
//   BM_CrfViterbiNbest/5  the 5 best paths of each sequence
// Counter: items_per_second counts tokens, B · T.
//
// Run: bench_crf --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <vector>

#include <loom/autograd/engine.hpp>
#include <loom/autograd/grad_mode.hpp>
#include <loom/nn/crf.hpp>
#include <loom/tensor/random.hpp>

namespace {

constexpr loom::index_t kBatch = 32, kSteps = 100, kTags = 10;

struct Workload {
    loom::Generator generator{31};
    loom::CRF<float> crf{kTags, generator};
    loom::Tensor<float> emissions = loom::Tensor<float>::uniform(loom::Shape{kBatch, kSteps, kTags}, -2.0f, 2.0f, generator);
    loom::IndexTensor tags = loom::IndexTensor::zeros(loom::Shape{kBatch, kSteps});
    Workload() {
        for (loom::index_t i = 0; i < tags.numel(); ++i) tags[i] = static_cast<loom::index_t>(generator.below(kTags));
    }
};

void BM_CrfNll_Forward(benchmark::State& state) {
    const Workload work;
    loom::NoGradGuard no_grad;
    for (auto _ : state) benchmark::DoNotOptimize(work.crf(work.emissions, work.tags));
    state.SetItemsProcessed(state.iterations() * kBatch * kSteps);
}
BENCHMARK(BM_CrfNll_Forward)->Unit(benchmark::kMicrosecond);

void BM_CrfNll_FwdBwd(benchmark::State& state) {
    Workload work;
    work.emissions.requires_grad_(true);
    for (auto _ : state) {
        work.emissions.zero_grad();
        work.crf.zero_grad();
        work.crf(work.emissions, work.tags).backward();
        benchmark::DoNotOptimize(work.emissions.grad().data());
    }
    state.SetItemsProcessed(state.iterations() * kBatch * kSteps);
}
BENCHMARK(BM_CrfNll_FwdBwd)->Unit(benchmark::kMicrosecond);

void BM_CrfViterbi(benchmark::State& state) {
    const Workload work;
    for (auto _ : state) benchmark::DoNotOptimize(work.crf.decode(work.emissions));
    state.SetItemsProcessed(state.iterations() * kBatch * kSteps);
}
BENCHMARK(BM_CrfViterbi)->Unit(benchmark::kMicrosecond);

void BM_CrfViterbiNbest(benchmark::State& state) {
    const Workload work;
    for (auto _ : state) benchmark::DoNotOptimize(work.crf.decode_nbest(work.emissions, state.range(0)));
    state.SetItemsProcessed(state.iterations() * kBatch * kSteps);
}
BENCHMARK(BM_CrfViterbiNbest)->Arg(5)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
