// bench/bench_tokenizer.cpp — loom's tokenizers on data/tinyshakespeare.txt (1.1 MB).
//
// What it measures, every time over the whole file:
//
//   BM_BpeTrain/vocab:V      BpeTokenizer::train(text, V) for V = 512, 1024, 4096:
//                            chunking, counting the distinct chunks, then V - 256
//                            merges with the incremental pair-count update
//                            (data/byte_bpe.hpp). Milliseconds per training.
//   BM_BpeSplitChunks        BpeTokenizer::split_chunks alone, the first step of
//                            both training and encoding.
//   BM_BpeEncode/vocab:V     encode(text) with the merges of a V-token tokenizer
//                            trained on the same text (V = 1024, 4096); each
//                            distinct chunk is encoded once per call (its cache).
//   BM_BpeDecode/vocab:1024  decode() of those ids back to the 1.1 MB of bytes.
//   BM_WordEncode            WordTokenizer (default options: min_count 2) encode.
//   BM_CharEncode            CharTokenizer encode (UTF-8 decoding + binary search).
//
// Throughput is the input text's bytes per second (SetBytesProcessed), so every
// line reads as MB/s of text whatever the tokenizer; counter bytes/token is the
// compression each tokenizer gives on this file. The tokenizers an encode
// benchmark uses are trained once, outside the timed loop.
//
// bench/bpe_reference.py is the same BPE in pure Python; with --loom-bench it
// runs this binary and prints loom's training and encoding numbers beside its own.
//
// Run: bench_tokenizer --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <loom/data/byte_bpe.hpp>
#include <loom/data/char_tokenizer.hpp>
#include <loom/data/text_dataset.hpp>
#include <loom/data/word_tokenizer.hpp>

namespace {

const std::string& shakespeare() {
    static const std::string text = loom::read_file_bytes(LOOM_DATA_DIR "/tinyshakespeare.txt");
    return text;
}

// One BPE tokenizer per vocabulary size, trained on first use.
const loom::BpeTokenizer& bpe_tokenizer(loom::index_t vocab_size) {
    static std::map<loom::index_t, loom::BpeTokenizer> trained;
    auto found = trained.find(vocab_size);
    if (found == trained.end())
        found = trained.emplace(vocab_size, loom::BpeTokenizer::train(shakespeare(), vocab_size)).first;
    return found->second;
}

void set_throughput(benchmark::State& state, std::size_t tokens) {
    const auto bytes = static_cast<std::int64_t>(shakespeare().size());
    state.SetBytesProcessed(bytes * static_cast<std::int64_t>(state.iterations()));
    state.counters["bytes/token"] = static_cast<double>(bytes) / static_cast<double>(tokens);
}

// Encodes the whole corpus once per iteration; MB/s of text and bytes/token.
void encode_corpus(benchmark::State& state, const loom::Tokenizer& tokenizer) {
    const std::string& text = shakespeare();
    std::size_t tokens = 0;
    for (auto _ : state) {
        const std::vector<loom::index_t> ids = tokenizer.encode(text);
        tokens = ids.size();
        benchmark::DoNotOptimize(ids.data());
    }
    set_throughput(state, tokens);
}

void BM_BpeTrain(benchmark::State& state) {
    const std::string& text = shakespeare();
    const loom::index_t vocab_size = state.range(0);
    loom::index_t learned = 0;
    for (auto _ : state) {
        loom::BpeTokenizer tokenizer = loom::BpeTokenizer::train(text, vocab_size);
        learned = tokenizer.vocab_size();
        benchmark::DoNotOptimize(tokenizer.merges().data());
    }
    state.counters["vocab"] = static_cast<double>(learned);
}

void BM_BpeSplitChunks(benchmark::State& state) {
    const std::string& text = shakespeare();
    std::size_t chunks = 0;
    for (auto _ : state) {
        const std::vector<std::string_view> split = loom::BpeTokenizer::split_chunks(text);
        chunks = split.size();
        benchmark::DoNotOptimize(split.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(text.size()) * static_cast<std::int64_t>(state.iterations()));
    state.counters["chunks"] = static_cast<double>(chunks);
}

void BM_BpeEncode(benchmark::State& state) { encode_corpus(state, bpe_tokenizer(state.range(0))); }

void BM_BpeDecode(benchmark::State& state) {
    const std::string& text = shakespeare();
    const loom::BpeTokenizer& tokenizer = bpe_tokenizer(state.range(0));
    const std::vector<loom::index_t> ids = tokenizer.encode(text);
    for (auto _ : state) {
        const std::string decoded = tokenizer.decode(ids);
        benchmark::DoNotOptimize(decoded.data());
    }
    if (tokenizer.decode(ids) != text) state.SkipWithError("decode(encode(text)) != text");
    set_throughput(state, ids.size());
}

void BM_WordEncode(benchmark::State& state) {
    const loom::WordTokenizer tokenizer = loom::WordTokenizer::train(shakespeare());
    encode_corpus(state, tokenizer);
    state.counters["vocab"] = static_cast<double>(tokenizer.vocab_size());
}

void BM_CharEncode(benchmark::State& state) { encode_corpus(state, loom::CharTokenizer::train(shakespeare())); }

BENCHMARK(BM_BpeTrain)->ArgName("vocab")->Arg(512)->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BpeSplitChunks)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BpeEncode)->ArgName("vocab")->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BpeDecode)->ArgName("vocab")->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WordEncode)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CharEncode)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
