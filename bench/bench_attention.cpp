// bench/bench_attention.cpp — the fused attention op against the same
// computation composed from loom's general ops, and the generation paths.
//
// Shapes are the char_gpt / gpt_train ones: qkv [32, 64, 3·128] float, 4 heads
// of 32, causal.
//   BM_Attention_Forward_Fused      loom::attention(qkv, 4), recording off
//   BM_Attention_Forward_Composed   per head: narrow q/k/v, matmul(q, kᵀ) · s,
//                                   masked_fill(causal), softmax, matmul(·, v);
//                                   concat over heads — what one would write
//                                   without the fused op
//   BM_Attention_FwdBwd_Fused       forward with qkv requiring grad, then
//                                   backward(g) (P kept, dS from the softmax
//                                   Jacobian, four small GEMMs per head)
//   BM_Attention_FwdBwd_Composed    the same through the composed ops' own backwards
//   BM_Attention_Step/<t>           attention_step: one query per sequence over t
//                                   cached positions, batch 1 (generation)
//   BM_TransformerBlock_Step/<t>    TransformerBlock::step (LayerNorms, QKV,
//                                   attention over the cache, MLP) at position t,
//                                   batch 1
//   BM_Bahdanau_FwdBwd_Fused        one decoder step of Bahdanau attention with
//                                   coverage over a prepared memory [64, 24, 256]
//                                   (A = 128, source lengths 12..24): scores, masked
//                                   read, coverage loss, then backward
//                                   (ops/memory_attention.hpp)
//   BM_Bahdanau_FwdBwd_Composed     the same step from broadcast add, tanh, matmul,
//                                   masked_fill, softmax, mul, sum and relu
// Run: bench_attention --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <loom/loom.hpp>

namespace {

constexpr loom::index_t kBatch = 32, kLength = 64, kModel = 128, kHeads = 4;

loom::Tensorf uniform(std::uint64_t seed, const loom::Shape& shape) {
    loom::Generator generator(seed);
    return loom::Tensorf::uniform(shape, -1.0f, 1.0f, generator);
}

loom::Tensorf composed_attention(const loom::Tensorf& qkv, const loom::IndexTensor& mask) {
    const loom::index_t head_dim = kModel / kHeads;
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    std::vector<loom::Tensorf> heads;
    for (loom::index_t h = 0; h < kHeads; ++h) {
        const loom::Tensorf q = loom::narrow(qkv, 2, h * head_dim, head_dim);
        const loom::Tensorf k = loom::narrow(qkv, 2, kModel + h * head_dim, head_dim);
        const loom::Tensorf v = loom::narrow(qkv, 2, 2 * kModel + h * head_dim, head_dim);
        loom::Tensorf scores = loom::mul(loom::matmul(q, k, false, true), scale);
        scores = loom::masked_fill(scores, mask, -std::numeric_limits<float>::infinity());
        heads.push_back(loom::matmul(loom::softmax(scores), v));
    }
    return loom::concat(heads, 2);
}

void BM_Attention_Forward_Fused(benchmark::State& state) {
    loom::NoGradGuard no_grad;
    const loom::Tensorf qkv = uniform(1, {kBatch, kLength, 3 * kModel});
    for (auto _ : state) {
        loom::Tensorf out = loom::attention(qkv, kHeads);
        benchmark::DoNotOptimize(out.data());
    }
}

void BM_Attention_Forward_Composed(benchmark::State& state) {
    loom::NoGradGuard no_grad;
    const loom::Tensorf qkv = uniform(1, {kBatch, kLength, 3 * kModel});
    const loom::IndexTensor mask = loom::causal_mask(kLength);
    for (auto _ : state) {
        loom::Tensorf out = composed_attention(qkv, mask);
        benchmark::DoNotOptimize(out.data());
    }
}

void BM_Attention_FwdBwd_Fused(benchmark::State& state) {
    loom::Tensorf qkv = uniform(1, {kBatch, kLength, 3 * kModel});
    qkv.requires_grad_(true);
    const loom::Tensorf g = uniform(2, {kBatch, kLength, kModel});
    for (auto _ : state) {
        loom::Tensorf out = loom::attention(qkv, kHeads);
        out.backward(g);
        benchmark::DoNotOptimize(qkv.grad().data());
        qkv.zero_grad();
    }
}

void BM_Attention_FwdBwd_Composed(benchmark::State& state) {
    loom::Tensorf qkv = uniform(1, {kBatch, kLength, 3 * kModel});
    qkv.requires_grad_(true);
    const loom::Tensorf g = uniform(2, {kBatch, kLength, kModel});
    const loom::IndexTensor mask = loom::causal_mask(kLength);
    for (auto _ : state) {
        loom::Tensorf out = composed_attention(qkv, mask);
        out.backward(g);
        benchmark::DoNotOptimize(qkv.grad().data());
        qkv.zero_grad();
    }
}

void BM_Attention_Step(benchmark::State& state) {
    loom::NoGradGuard no_grad;
    const loom::index_t cached = state.range(0);
    const loom::Tensorf query = uniform(3, {1, kModel});
    const loom::Tensorf keys = uniform(4, {1, kLength, kModel});
    const loom::Tensorf values = uniform(5, {1, kLength, kModel});
    for (auto _ : state) {
        loom::Tensorf out = loom::attention_step(query, keys, values, cached, kHeads);
        benchmark::DoNotOptimize(out.data());
    }
}

void BM_TransformerBlock_Step(benchmark::State& state) {
    loom::NoGradGuard no_grad;
    const loom::index_t position = state.range(0);
    loom::Generator generator(6);
    loom::TransformerBlock<float> block(kModel, kHeads, generator);
    block.eval();
    const loom::Tensorf x = uniform(7, {1, kModel});
    loom::KeyValueCache<float> cache;
    for (loom::index_t t = 0; t < position; ++t) block.step(x, cache, kLength);
    for (auto _ : state) {
        loom::KeyValueCache<float> trial = cache;  // shares the storage, own length: every run writes row `position`
        loom::Tensorf out = block.step(x, trial, kLength);
        benchmark::DoNotOptimize(out.data());
    }
}

constexpr loom::index_t kSources = 64, kSourceLength = 24, kMemory = 256, kUnits = 128;

struct BahdanauInputs {
    loom::Tensorf keys = uniform(8, {kSources, kSourceLength, kUnits});
    loom::Tensorf memory = uniform(9, {kSources, kSourceLength, kMemory});
    loom::Tensorf query = uniform(10, {kSources, kUnits});
    loom::Tensorf v = uniform(11, {kUnits});
    loom::Tensorf coverage = loom::mul(loom::add(uniform(12, {kSources, kSourceLength}), 1.0f), 0.5f);
    loom::Tensorf coverage_weight = uniform(13, {kUnits});
    std::vector<loom::index_t> lengths;
    BahdanauInputs() {
        for (loom::index_t b = 0; b < kSources; ++b) lengths.push_back(kSourceLength / 2 + b % (kSourceLength / 2 + 1));
        for (loom::Tensorf* t : {&keys, &memory, &query, &v, &coverage_weight}) t->requires_grad_();
    }
    void zero_grads() {
        for (loom::Tensorf* t : {&keys, &memory, &query, &v, &coverage_weight}) t->zero_grad();
    }
};

void BM_Bahdanau_FwdBwd_Fused(benchmark::State& state) {
    BahdanauInputs in;
    for (auto _ : state) {
        const loom::Tensorf scores = loom::additive_scores(in.keys, in.query, in.v, in.coverage, in.coverage_weight);
        const loom::MemoryRead<float> read = loom::attend_memory(scores, in.memory, in.lengths);
        loom::add(loom::sum(read.context), loom::coverage_loss(read.weights, in.coverage)).backward();
        benchmark::DoNotOptimize(in.keys.grad().data());
        in.zero_grads();
    }
}

void BM_Bahdanau_FwdBwd_Composed(benchmark::State& state) {
    BahdanauInputs in;
    std::vector<loom::index_t> is_padding;
    for (loom::index_t b = 0; b < kSources; ++b)
        for (loom::index_t i = 0; i < kSourceLength; ++i)
            is_padding.push_back(i >= in.lengths[static_cast<std::size_t>(b)] ? 1 : 0);
    const loom::IndexTensor padding(is_padding, loom::Shape{kSources, kSourceLength});
    for (auto _ : state) {
        const loom::Tensorf z = loom::add(
            loom::add(in.keys, loom::reshape(in.query, {kSources, 1, kUnits})),
            loom::mul(loom::reshape(in.coverage, {kSources, kSourceLength, 1}), in.coverage_weight));
        const loom::Tensorf e = loom::reshape(
            loom::matmul(loom::reshape(loom::tanh(z), {kSources * kSourceLength, kUnits}), loom::reshape(in.v, {kUnits, 1})),
            {kSources, kSourceLength});
        const loom::Tensorf a = loom::softmax(loom::masked_fill(e, padding, -std::numeric_limits<float>::infinity()));
        const loom::Tensorf context = loom::sum(loom::mul(loom::reshape(a, {kSources, kSourceLength, 1}), in.memory), 1);
        const loom::Tensorf covered = loom::sub(a, loom::relu(loom::sub(a, in.coverage)));  // min(a, c)
        loom::add(loom::sum(context), loom::sum(covered)).backward();
        benchmark::DoNotOptimize(in.keys.grad().data());
        in.zero_grads();
    }
}

}  // namespace

BENCHMARK(BM_Bahdanau_FwdBwd_Fused)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Bahdanau_FwdBwd_Composed)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Attention_Forward_Fused)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Attention_Forward_Composed)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Attention_FwdBwd_Fused)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Attention_FwdBwd_Composed)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Attention_Step)->Arg(1)->Arg(16)->Arg(64)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TransformerBlock_Step)->Arg(0)->Arg(32)->Arg(63)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
