// loom/nn/transformer.hpp — a pre-LayerNorm Transformer block (GPT-2 style),
// PyTorch's nn.TransformerEncoderLayer(d, H, dim_feedforward, dropout,
// activation=gelu(tanh), batch_first=True, norm_first=True), with a causal mask
// by default or without one (a bidirectional, BERT-style encoder block).
//
//   h = x + Dropout(Attention(LayerNorm₁(x)))
//   y = h + Dropout(W₂ · Dropout(GELU(W₁ · LayerNorm₂(h) + b₁)) + b₂)
// Attention is MultiheadSelfAttention, W₁ [F, d], W₂ [d, F], with F = 4d by
// default. Causal (the default, a decoder: position i sees positions 0 … i) or
// not (TransformerBlockOptions::causal = false, an encoder: every position sees
// every position, PyTorch's layer called without src_mask). Normalising before
// each sublayer, not after, keeps the residual path x → y an identity plus
// corrections, which is what lets deep stacks train without warm-up tricks;
// the model adds one final LayerNorm.
// Parameter names are PyTorch's: self_attn.in_proj_weight, self_attn.in_proj_bias,
// self_attn.out_proj.{weight,bias}, linear1.*, linear2.*, norm1.*, norm2.*.
// The backward is the ops' (attention has its own fused one).
//
// step() runs one new position per sequence with the attention's key/value
// cache, for generation; it matches forward() on the whole sequence. Only a
// causal block can be stepped: a bidirectional one needs the later positions.
#pragma once

#include "loom/nn/attention.hpp"
#include "loom/nn/dropout.hpp"
#include "loom/nn/layer_norm.hpp"
#include "loom/nn/linear.hpp"
#include "loom/nn/module.hpp"
#include "loom/ops/activation.hpp"
#include "loom/ops/arithmetic.hpp"

namespace loom {

// Everything about a block but its width and head count; the defaults are
// TransformerBlock(d, H, generator)'s.
struct TransformerBlockOptions {
    index_t feedforward_dim = 0;  // the MLP's hidden size F; 0 means 4 · d_model
    double dropout = 0.0;         // on the attention weights, both residual branches and inside the MLP
    double layer_norm_eps = 1e-5;
    bool causal = true;           // false: no attention mask (a bidirectional encoder block)
};

template <typename T>
class TransformerBlock : public Module<T> {
public:
    // A causal block; feedforward_dim 0 means 4 · d_model.
    TransformerBlock(index_t d_model, index_t num_heads, Generator& generator, index_t feedforward_dim = 0,
                     double dropout_p = 0.0, double layer_norm_eps = 1e-5)
        : TransformerBlock(d_model, num_heads, generator,
                           TransformerBlockOptions{feedforward_dim, dropout_p, layer_norm_eps, true}) {}

    // Any block, causal or not: e.g. options.causal = false for a BERT-style encoder.
    TransformerBlock(index_t d_model, index_t num_heads, Generator& generator, const TransformerBlockOptions& options)
        : d_model(d_model),
          feedforward_dim(options.feedforward_dim > 0 ? options.feedforward_dim : 4 * d_model),
          self_attn(d_model, num_heads, generator, options.causal, options.dropout),
          linear1(d_model, this->feedforward_dim, generator),
          linear2(this->feedforward_dim, d_model, generator),
          norm1(d_model, options.layer_norm_eps),
          norm2(d_model, options.layer_norm_eps),
          dropout(options.dropout, generator),
          dropout1(options.dropout, generator),
          dropout2(options.dropout, generator) {
        detail::check(options.feedforward_dim >= 0,
                      "loom::TransformerBlock: feedforward_dim must be >= 0 (0: 4 * d_model), got ",
                      options.feedforward_dim);
        this->register_module("self_attn", self_attn);
        this->register_module("linear1", linear1);
        this->register_module("linear2", linear2);
        this->register_module("norm1", norm1);
        this->register_module("norm2", norm2);
        this->register_module("dropout", dropout);
        this->register_module("dropout1", dropout1);
        this->register_module("dropout2", dropout2);
    }

    // Whether position i attends only to positions 0 … i.
    bool causal() const { return self_attn.causal; }

    // x [B, T, d] -> [B, T, d]. key_padding_mask, if given, is [B, T] with
    // nonzero at padding positions, which no position attends to.
    Tensor<T> forward(const Tensor<T>& x, const IndexTensor& key_padding_mask = IndexTensor()) {
        detail::check(x.defined() && x.rank() == 3 && x.shape()[2] == d_model, "loom::TransformerBlock: expected input [batch, length, ",
                      d_model, "], got ", x.defined() ? x.shape() : Shape{});
        const Tensor<T> h = add(x, dropout1(self_attn(norm1(x), key_padding_mask)));
        return add(h, dropout2(feedforward(norm2(h))));
    }
    Tensor<T> operator()(const Tensor<T>& x, const IndexTensor& key_padding_mask = IndexTensor()) {
        return forward(x, key_padding_mask);
    }

    // Generation: forward() over x [B, T, d] that also fills `cache` with the
    // keys and values of these positions (see MultiheadSelfAttention::prefill).
    Tensor<T> prefill(const Tensor<T>& x, KeyValueCache<T>& cache, index_t capacity) {
        detail::check(causal(), "loom::TransformerBlock::prefill: only a causal block can be stepped (a "
                                "bidirectional one needs the positions after the last one read)");
        detail::check(!this->is_training() || dropout.p == 0.0,
                      "loom::TransformerBlock::prefill: call eval() first (prefill does not apply dropout)");
        const Tensor<T> h = add(x, self_attn.prefill(norm1(x), cache, capacity));
        return add(h, feedforward(norm2(h)));
    }

    // Generation (evaluation mode, no autograd): x [B, d] is one new position
    // per sequence; `cache` holds the keys and values of the earlier ones (see
    // MultiheadSelfAttention::step). Returns [B, d].
    Tensor<T> step(const Tensor<T>& x, KeyValueCache<T>& cache, index_t capacity) {
        detail::check(causal(), "loom::TransformerBlock::step: only a causal block can be stepped (a "
                                "bidirectional one needs the positions after the last one read)");
        detail::check(!this->is_training() || dropout.p == 0.0,
                      "loom::TransformerBlock::step: call eval() first (step does not apply dropout)");
        const Tensor<T> h = add(x, self_attn.step(norm1(x), cache, capacity));
        return add(h, feedforward(norm2(h)));
    }

    const index_t d_model;
    const index_t feedforward_dim;
    MultiheadSelfAttention<T> self_attn;
    Linear<T> linear1;  // [F, d]
    Linear<T> linear2;  // [d, F]
    LayerNorm<T> norm1, norm2;
    Dropout<T> dropout, dropout1, dropout2;

private:
    Tensor<T> feedforward(const Tensor<T>& x) { return linear2(dropout(gelu(linear1(x)))); }
};

}  // namespace loom
