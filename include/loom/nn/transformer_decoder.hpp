// loom/nn/transformer_decoder.hpp — a pre-LayerNorm Transformer decoder block:
// PyTorch's nn.TransformerDecoderLayer(d, H, dim_feedforward, dropout,
// activation, batch_first=True, norm_first=True) called with a causal tgt_mask
// and a memory key padding mask.
//
//   h₁ = x  + Dropout(SelfAttention(LayerNorm₁(x)))              causal: position i sees 0 … i
//   h₂ = h₁ + Dropout(CrossAttention(LayerNorm₂(h₁), memory))     every real source position
//   y  = h₂ + Dropout(W₂ · Dropout(act(W₁ · LayerNorm₃(h₂) + b₁)) + b₂)
//
// Self-attention is the fused MultiheadSelfAttention (nn/attention.hpp), cross-
// attention MultiheadAttention over a ProjectedMemory (nn/multihead_attention.hpp),
// act ReLU (PyTorch's default) or GELU with the tanh approximation (PyTorch's
// activation=lambda x: F.gelu(x, approximate="tanh"); its "gelu" string is the
// exact erf form, which loom does not have, so it is refused by name). Parameter
// names are PyTorch's: self_attn.{in_proj_weight,in_proj_bias,out_proj.*},
// multihead_attn.{in_proj_weight,in_proj_bias,out_proj.*}, linear1.*, linear2.*,
// norm1.*, norm2.*, norm3.*. The backward is the ops'.
//
// Generation: step() takes one new target position per sequence, appends its
// self-attention key and value to a KeyValueCache, and attends over the
// projected memory computed once per source batch, so a decoding step costs
// O(t·d + S·d) instead of re-running the prefix; it matches forward() on the
// whole prefix (tests/nn/test_transformer_decoder.cpp).
#pragma once

#include <string>

#include "loom/nn/attention.hpp"
#include "loom/nn/dropout.hpp"
#include "loom/nn/layer_norm.hpp"
#include "loom/nn/linear.hpp"
#include "loom/nn/module.hpp"
#include "loom/nn/multihead_attention.hpp"
#include "loom/ops/activation.hpp"
#include "loom/ops/arithmetic.hpp"
#include "loom/ops/reshape.hpp"

namespace loom {

enum class FeedForwardActivation { relu, gelu_tanh };

inline FeedForwardActivation parse_feedforward_activation(const std::string& name) {
    if (name == "relu") return FeedForwardActivation::relu;
    if (name == "gelu_tanh") return FeedForwardActivation::gelu_tanh;
    if (name == "gelu")
        detail::fail("loom::TransformerDecoderLayer: activation 'gelu' is PyTorch's exact (erf) GELU, which loom does not "
                     "have; use gelu_tanh (F.gelu(x, approximate=\"tanh\")) or relu");
    detail::fail("loom::TransformerDecoderLayer: unknown activation '", name, "' (expected relu or gelu_tanh)");
}

struct TransformerDecoderLayerOptions {
    index_t feedforward_dim = 0;  // F; 0 means 4 · d_model
    double dropout = 0.0;         // on both attentions' weights, the three residual branches and inside the MLP
    double layer_norm_eps = 1e-5;
    FeedForwardActivation activation = FeedForwardActivation::relu;
};

template <typename T>
class TransformerDecoderLayer : public Module<T> {
public:
    TransformerDecoderLayer(index_t d_model, index_t num_heads, Generator& generator,
                            const TransformerDecoderLayerOptions& options = {})
        : d_model(d_model),
          feedforward_dim(options.feedforward_dim > 0 ? options.feedforward_dim : 4 * d_model),
          activation(options.activation),
          self_attn(d_model, num_heads, generator, true, options.dropout),
          multihead_attn(d_model, num_heads, generator, options.dropout),
          linear1(d_model, this->feedforward_dim, generator),
          linear2(this->feedforward_dim, d_model, generator),
          norm1(d_model, options.layer_norm_eps),
          norm2(d_model, options.layer_norm_eps),
          norm3(d_model, options.layer_norm_eps),
          dropout(options.dropout, generator),
          dropout1(options.dropout, generator),
          dropout2(options.dropout, generator),
          dropout3(options.dropout, generator) {
        detail::check(options.feedforward_dim >= 0, "loom::TransformerDecoderLayer: feedforward_dim must be >= 0 "
                      "(0: 4 * d_model), got ", options.feedforward_dim);
        this->register_module("self_attn", self_attn);
        this->register_module("multihead_attn", multihead_attn);
        this->register_module("linear1", linear1);
        this->register_module("linear2", linear2);
        this->register_module("norm1", norm1);
        this->register_module("norm2", norm2);
        this->register_module("norm3", norm3);
        this->register_module("dropout", dropout);
        this->register_module("dropout1", dropout1);
        this->register_module("dropout2", dropout2);
        this->register_module("dropout3", dropout3);
    }

    // The keys and values of an encoder memory [B, S, d] for this layer's
    // cross-attention, computed once per source batch.
    ProjectedMemory<T> project_memory(const Tensor<T>& memory, const std::vector<index_t>& lengths = {}) const {
        return multihead_attn.project_memory(memory, lengths);
    }

    // x [B, T, d] (the target so far, teacher forcing) -> [B, T, d].
    Tensor<T> forward(const Tensor<T>& x, const ProjectedMemory<T>& memory) {
        detail::check(x.defined() && x.rank() == 3 && x.shape()[2] == d_model,
                      "loom::TransformerDecoderLayer: expected input [batch, length, ", d_model, "], got ",
                      x.defined() ? x.shape() : Shape{});
        const Tensor<T> h1 = add(x, dropout1(self_attn(norm1(x))));
        const Tensor<T> h2 = add(h1, dropout2(multihead_attn(norm2(h1), memory)));
        return add(h2, dropout3(feedforward(norm3(h2))));
    }
    Tensor<T> forward(const Tensor<T>& x, const Tensor<T>& memory, const std::vector<index_t>& lengths = {}) {
        return forward(x, project_memory(memory, lengths));
    }
    Tensor<T> operator()(const Tensor<T>& x, const ProjectedMemory<T>& memory) { return forward(x, memory); }

    // Generation (evaluation mode, no autograd): x [B, d] is the next target
    // position of each sequence; `cache` holds the self-attention keys and
    // values of the earlier ones (created with `capacity` rows when
    // undefined). Returns [B, d].
    Tensor<T> step(const Tensor<T>& x, KeyValueCache<T>& cache, index_t capacity, const ProjectedMemory<T>& memory) {
        detail::check(!this->is_training() || dropout.p == 0.0,
                      "loom::TransformerDecoderLayer::step: call eval() first (step does not apply dropout)");
        detail::check(x.defined() && x.rank() == 2 && x.shape()[1] == d_model,
                      "loom::TransformerDecoderLayer::step: expected input [batch, ", d_model, "], got ",
                      x.defined() ? x.shape() : Shape{});
        const index_t batch = x.shape()[0];
        const Tensor<T> h1 = add(x, self_attn.step(norm1(x), cache, capacity));
        const Tensor<T> cross = multihead_attn(reshape(norm2(h1), {batch, 1, d_model}), memory);
        const Tensor<T> h2 = add(h1, reshape(cross, {batch, d_model}));
        return add(h2, feedforward(norm3(h2)));
    }

    const index_t d_model, feedforward_dim;
    const FeedForwardActivation activation;
    MultiheadSelfAttention<T> self_attn;
    MultiheadAttention<T> multihead_attn;
    Linear<T> linear1;  // [F, d]
    Linear<T> linear2;  // [d, F]
    LayerNorm<T> norm1, norm2, norm3;
    Dropout<T> dropout, dropout1, dropout2, dropout3;

private:
    Tensor<T> feedforward(const Tensor<T>& x) {
        const Tensor<T> hidden = linear1(x);
        return linear2(dropout(activation == FeedForwardActivation::relu ? relu(hidden) : gelu(hidden)));
    }
};

}  // namespace loom
