// bench/bench_batched_generation.cpp — batched generation of many prompts
// against decoding them one after another, on the char LSTM of
// bench/vs_libtorch.cpp (Embedding 65→64, 2-layer LSTM 256, Linear 256→65,
// float, random weights):
//   BM_GreedyOneByOne   64 prompts, each through loom::greedy() alone (batch 1)
//   BM_GreedyBatched    the same 64 prompts through loom::generate_batch() at once
//   BM_AdvanceStep/B    one model step at batch B = 1 and 64 (the bound on the gain)
// 200 new characters per prompt (no end token: random weights never stop
// early), prompts of 8 to 40 characters. Each reports chars/s (new characters
// over all prompts per second); at the end the program prints the ratio of the
// two throughputs (medians when --benchmark_repetitions is given). Run:
//   build/bench/bench_batched_generation --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <loom/decode/batched_generation.hpp>
#include <loom/decode/greedy.hpp>
#include <loom/tensor/parallel.hpp>

#include "../examples/char_model.hpp"

namespace {

using loom::index_t;
constexpr index_t prompt_count = 64, new_characters = 200, vocabulary = 65;

char_model::CharModel<float>& model() {
    static const std::unique_ptr<char_model::CharModel<float>> lstm = [] {
        char_model::Config config;
        config.vocabulary_size = vocabulary;
        config.embedding_dim = 64;
        config.hidden_size = 256;
        config.num_layers = 2;
        config.cell = char_model::CellKind::lstm;
        loom::Generator generator(1);
        return std::make_unique<char_model::CharModel<float>>(config, generator);
    }();
    return *lstm;
}

const std::vector<std::vector<index_t>>& prompts() {
    static const std::vector<std::vector<index_t>> all = [] {
        loom::Generator generator(2);
        std::vector<std::vector<index_t>> out;
        for (index_t i = 0; i < prompt_count; ++i) {
            std::vector<index_t> prompt(static_cast<std::size_t>(8 + generator.below(33)));
            for (index_t& id : prompt) id = static_cast<index_t>(generator.below(static_cast<std::uint64_t>(vocabulary)));
            out.push_back(prompt);
        }
        return out;
    }();
    return all;
}

void set_rate(benchmark::State& state) {
    state.counters["chars/s"] = benchmark::Counter(
        static_cast<double>(prompt_count * new_characters * static_cast<index_t>(state.iterations())),
        benchmark::Counter::kIsRate);
}

void BM_GreedyOneByOne(benchmark::State& state) {
    loom::set_num_threads(static_cast<int>(state.range(0)));
    char_model::CharDecoder<float> decoder(model());
    loom::GenerationOptions options;
    options.max_new_tokens = new_characters;
    for (auto _ : state)
        for (const auto& prompt : prompts()) benchmark::DoNotOptimize(loom::greedy(decoder, prompt, options).tokens.data());
    set_rate(state);
}

void BM_GreedyBatched(benchmark::State& state) {
    loom::set_num_threads(static_cast<int>(state.range(0)));
    char_model::CharDecoder<float> decoder(model());
    loom::BatchGenerationOptions options;
    options.method = loom::BatchMethod::greedy;
    options.max_new_tokens = new_characters;
    for (auto _ : state) benchmark::DoNotOptimize(loom::generate_batch(decoder, prompts(), options).data());
    set_rate(state);
}

// The thread count is the argument. Only 1 by default: with two threads on a
// two-core machine that is doing anything else, OpenMP's threads wait for
// each other and both timings measure the other work instead.
BENCHMARK(BM_GreedyOneByOne)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_GreedyBatched)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// One CharDecoder::advance() at batch B (one thread): the model step alone,
// without prompts, picks or the per-prompt repacking of the weights. B = 1 is
// a matrix-vector product per weight matrix, B = 64 a GEMM; chars/s counts
// rows, so the two rates bound what batching can gain.
void BM_AdvanceStep(benchmark::State& state) {
    loom::set_num_threads(1);
    const index_t batch = state.range(0);
    char_model::CharDecoder<float> decoder(model());
    decoder.start(prompts()[0], batch);
    const std::vector<index_t> tokens(static_cast<std::size_t>(batch), 7);
    for (auto _ : state) benchmark::DoNotOptimize(decoder.advance(tokens).data());
    state.counters["chars/s"] = benchmark::Counter(static_cast<double>(batch * static_cast<index_t>(state.iterations())),
                                                   benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AdvanceStep)->Arg(1)->Arg(64)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The console report, keeping each benchmark's chars/s (the median when there
// are repetitions) for the ratio printed at the end.
class RateKeeper : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& run : runs) {
            const auto rate = run.counters.find("chars/s");
            if (rate == run.counters.end() || run.error_occurred) continue;
            const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
            if (run.run_type == Run::RT_Aggregate && !median) continue;
            const std::string name = run.run_name.function_name + "/" + run.run_name.args;
            if (median || medians.count(name) == 0) rates[name] = rate->second.value;
            if (median) medians[name] = true;
        }
    }
    std::map<std::string, double> rates;  // "BM_GreedyBatched/2" -> chars/s
    std::map<std::string, bool> medians;
};

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    RateKeeper reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    for (const char* threads : {"1", "2"}) {  // the thread counts registered above (2: if added)
        const auto alone = reporter.rates.find(std::string("BM_GreedyOneByOne/") + threads);
        const auto batched = reporter.rates.find(std::string("BM_GreedyBatched/") + threads);
        if (alone == reporter.rates.end() || batched == reporter.rates.end() || alone->second <= 0) continue;
        std::printf("threads %s: batched %.0f chars/s, one by one %.0f chars/s: %.1fx the throughput\n", threads,
                    batched->second, alone->second, batched->second / alone->second);
    }
    const auto step1 = reporter.rates.find("BM_AdvanceStep/1"), step64 = reporter.rates.find("BM_AdvanceStep/64");
    if (step1 != reporter.rates.end() && step64 != reporter.rates.end() && step1->second > 0)
        std::printf("one step: batch 64 %.0f rows/s, batch 1 %.0f rows/s: %.1fx\n", step64->second, step1->second,
                    step64->second / step1->second);
    benchmark::Shutdown();
    return 0;
}
