// loom/nn/memory_attention.hpp — a decoder's attention over its encoder's
// outputs, as layers: BahdanauAttention (additive) and LuongAttention (dot or
// general), each optionally with coverage (See et al. 2017).
//
// Equations and backward: ops/memory_attention.hpp. With memory h_i [B, S, Dm]
// and the decoder's query s [B, Dq]:
//   Bahdanau   e_i = vᵀ tanh(W_h h_i + b_h + W_s s + w_c c_i)
//              memory_layer = Linear(Dm, A)       W_h, b_h
//              query_layer  = Linear(Dq, A, bias=False)   W_s
//              energy       = Linear(A, 1, bias=False)    vᵀ  (weight [1, A])
//              coverage_layer = Linear(1, A, bias=False)  w_c (weight [A, 1]), with coverage only
//   Luong      e_i = sᵀ h_i (dot, Dq = Dm)  or  sᵀ W_a h_i (general)
//              memory_layer = Linear(Dm, Dq, bias=False)  W_a, general only
//              coverage_weight [1]  (e_i += w_c c_i), with coverage only
// The names are those of the same layers written with torch.nn.Linear, so a
// PyTorch model built that way loads with load_state_dict.
//
// prepare() projects the memory once per source batch; forward() then runs
// one decoder step. With coverage, the step also returns the coverage for the
// next step, c + a, and the step's coverage loss Σ min(a_i, c_i).
#pragma once

#include <string>
#include <vector>

#include "loom/nn/linear.hpp"
#include "loom/nn/module.hpp"
#include "loom/ops/arithmetic.hpp"
#include "loom/ops/memory_attention.hpp"
#include "loom/ops/reshape.hpp"

namespace loom {

// An encoder's output made ready for attention: computed once per source batch.
template <typename T>
struct EncodedMemory {
    Tensor<T> values;              // [B, S, Dm]: what the context reads
    Tensor<T> keys;                // [B, S, K]: what the scores compare with (projected for Bahdanau / general)
    std::vector<index_t> lengths;  // each source's real length (empty: all S)

    index_t batch() const { return values.shape()[0]; }
    index_t source_length() const { return values.shape()[1]; }
};

template <typename T>
struct AttentionStep {
    Tensor<T> context;        // [B, Dm]
    Tensor<T> weights;        // [B, S]: the distribution a, zero on the padding
    Tensor<T> coverage;       // [B, S]: c + a, for the next step (with coverage only)
    Tensor<T> coverage_loss;  // scalar Σ_b Σ_i min(a_bi, c_bi) (with coverage only)
};

namespace detail {

template <typename T>
void check_memory(const char* op, const Tensor<T>& memory, index_t memory_size) {
    check(memory.defined() && memory.rank() == 3 && memory.shape()[2] == memory_size, op,
          ": memory must be [batch, source, ", memory_size, "], got ", shape_or_undefined(memory));
}

// The coverage a step starts from: the given one, or zeros at the first step.
template <typename T>
Tensor<T> coverage_or_zeros(const char* op, const Tensor<T>& coverage, const EncodedMemory<T>& memory) {
    if (!coverage.defined()) return Tensor<T>::zeros(Shape{memory.batch(), memory.source_length()});
    check(coverage.shape() == Shape{memory.batch(), memory.source_length()}, op, ": coverage must be [",
          memory.batch(), ", ", memory.source_length(), "], got ", coverage.shape());
    return coverage;
}

template <typename T>
AttentionStep<T> read_memory(const Tensor<T>& scores, const EncodedMemory<T>& memory, const Tensor<T>& coverage) {
    const MemoryRead<T> read = attend_memory(scores, memory.values, memory.lengths);
    AttentionStep<T> step{read.context, read.weights, Tensor<T>(), Tensor<T>()};
    if (coverage.defined()) {
        step.coverage = add(coverage, read.weights);
        step.coverage_loss = loom::coverage_loss(read.weights, coverage);
    }
    return step;
}

template <typename T>
void check_query(const char* op, const Tensor<T>& query, const EncodedMemory<T>& memory, index_t query_size) {
    check(memory.values.defined(), op, ": the memory is empty; call prepare() first");
    check(query.defined() && query.shape() == Shape{memory.batch(), query_size}, op, ": query must be [",
          memory.batch(), ", ", query_size, "] for a memory of ", memory.batch(), " sources, got ",
          shape_or_undefined(query));
}

}  // namespace detail

template <typename T>
class BahdanauAttention : public Module<T> {
public:
    BahdanauAttention(index_t query_size, index_t memory_size, index_t attention_size, Generator& generator,
                      bool coverage = false)
        : query_size(query_size),
          memory_size(memory_size),
          attention_size(attention_size),
          with_coverage(coverage),
          memory_layer(memory_size, attention_size, generator),
          query_layer(query_size, attention_size, generator, false),
          energy(attention_size, 1, generator, false),
          coverage_layer(1, attention_size, generator, false) {
        this->register_module("memory_layer", memory_layer);
        this->register_module("query_layer", query_layer);
        this->register_module("energy", energy);
        if (coverage) this->register_module("coverage_layer", coverage_layer);
    }

    // memory [B, S, memory_size] (an encoder's outputs), lengths as for attend_memory.
    EncodedMemory<T> prepare(const Tensor<T>& memory, const std::vector<index_t>& lengths = {}) const {
        detail::check_memory("loom::BahdanauAttention::prepare", memory, memory_size);
        return {memory, memory_layer(memory), lengths};
    }

    // One decoder step: query [B, query_size]; coverage [B, S] from the last
    // step (undefined at the first), used only when built with coverage.
    AttentionStep<T> forward(const Tensor<T>& query, const EncodedMemory<T>& memory,
                             const Tensor<T>& coverage = Tensor<T>()) const {
        const char* op = "loom::BahdanauAttention";
        detail::check_query(op, query, memory, query_size);
        const Tensor<T> v = reshape(energy.weight, {attention_size});
        if (!with_coverage) return detail::read_memory(additive_scores(memory.keys, query_layer(query), v), memory, Tensor<T>());
        const Tensor<T> c = detail::coverage_or_zeros(op, coverage, memory);
        const Tensor<T> scores =
            additive_scores(memory.keys, query_layer(query), v, c, reshape(coverage_layer.weight, {attention_size}));
        return detail::read_memory(scores, memory, c);
    }
    AttentionStep<T> operator()(const Tensor<T>& query, const EncodedMemory<T>& memory,
                                const Tensor<T>& coverage = Tensor<T>()) const {
        return forward(query, memory, coverage);
    }

    const index_t query_size, memory_size, attention_size;
    const bool with_coverage;
    Linear<T> memory_layer, query_layer, energy, coverage_layer;
};

enum class LuongScore { dot, general };

inline LuongScore parse_luong_score(const std::string& name) {
    if (name == "dot") return LuongScore::dot;
    if (name == "general") return LuongScore::general;
    detail::fail("loom::LuongAttention: unknown score '", name, "' (expected dot or general)");
}

template <typename T>
class LuongAttention : public Module<T> {
public:
    LuongAttention(index_t query_size, index_t memory_size, LuongScore score, Generator& generator,
                   bool coverage = false)
        : query_size(query_size),
          memory_size(memory_size),
          score(score),
          with_coverage(coverage),
          memory_layer(memory_size, query_size, generator, false) {
        detail::check(score == LuongScore::general || query_size == memory_size,
                      "loom::LuongAttention: the dot score needs query_size == memory_size, got ", query_size, " and ",
                      memory_size, " (use the general score)");
        if (score == LuongScore::general) this->register_module("memory_layer", memory_layer);
        if (coverage) coverage_weight = this->register_parameter("coverage_weight", Tensor<T>::zeros(Shape{1}));
    }

    EncodedMemory<T> prepare(const Tensor<T>& memory, const std::vector<index_t>& lengths = {}) const {
        detail::check_memory("loom::LuongAttention::prepare", memory, memory_size);
        return {memory, score == LuongScore::general ? memory_layer(memory) : memory, lengths};
    }

    AttentionStep<T> forward(const Tensor<T>& query, const EncodedMemory<T>& memory,
                             const Tensor<T>& coverage = Tensor<T>()) const {
        const char* op = "loom::LuongAttention";
        detail::check_query(op, query, memory, query_size);
        if (!with_coverage) return detail::read_memory(multiplicative_scores(memory.keys, query), memory, Tensor<T>());
        const Tensor<T> c = detail::coverage_or_zeros(op, coverage, memory);
        return detail::read_memory(multiplicative_scores(memory.keys, query, c, coverage_weight), memory, c);
    }
    AttentionStep<T> operator()(const Tensor<T>& query, const EncodedMemory<T>& memory,
                                const Tensor<T>& coverage = Tensor<T>()) const {
        return forward(query, memory, coverage);
    }

    const index_t query_size, memory_size;
    const LuongScore score;
    const bool with_coverage;
    Linear<T> memory_layer;    // W_a, general only
    Tensor<T> coverage_weight;  // [1], with coverage only
};

}  // namespace loom
