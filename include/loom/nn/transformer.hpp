// loom/nn/transformer.hpp — a pre-LayerNorm Transformer block (GPT-2 style),
// PyTorch's nn.TransformerEncoderLayer(d, H, dim_feedforward, dropout,
// activation=gelu(tanh), batch_first=True, norm_first=True) with a causal mask.
//
//   h = x + Dropout(Attention(LayerNorm₁(x)))
//   y = h + Dropout(W₂ · Dropout(GELU(W₁ · LayerNorm₂(h) + b₁)) + b₂)
// Attention is MultiheadSelfAttention (causal), W₁ [F, d], W₂ [d, F], with
// F = 4d by default. Normalising before each sublayer, not after, keeps the
// residual path x → y an identity plus corrections, which is what lets deep
// stacks train without warm-up tricks; the model adds one final LayerNorm.
// Parameter names are PyTorch's: self_attn.in_proj_weight, self_attn.in_proj_bias,
// self_attn.out_proj.{weight,bias}, linear1.*, linear2.*, norm1.*, norm2.*.
// The backward is the ops' (attention has its own fused one).
//
// step() runs one new position per sequence with the attention's key/value
// cache, for generation; it matches forward() on the whole sequence.
#pragma once

#include "loom/nn/attention.hpp"
#include "loom/nn/dropout.hpp"
#include "loom/nn/layer_norm.hpp"
#include "loom/nn/linear.hpp"
#include "loom/nn/module.hpp"
#include "loom/ops/activation.hpp"
#include "loom/ops/arithmetic.hpp"

namespace loom {

template <typename T>
class TransformerBlock : public Module<T> {
public:
    // feedforward_dim 0 means 4 · d_model.
    TransformerBlock(index_t d_model, index_t num_heads, Generator& generator, index_t feedforward_dim = 0,
                     double dropout_p = 0.0, double layer_norm_eps = 1e-5)
        : d_model(d_model),
          feedforward_dim(feedforward_dim > 0 ? feedforward_dim : 4 * d_model),
          self_attn(d_model, num_heads, generator, true, dropout_p),
          linear1(d_model, this->feedforward_dim, generator),
          linear2(this->feedforward_dim, d_model, generator),
          norm1(d_model, layer_norm_eps),
          norm2(d_model, layer_norm_eps),
          dropout(dropout_p, generator),
          dropout1(dropout_p, generator),
          dropout2(dropout_p, generator) {
        detail::check(feedforward_dim >= 0, "loom::TransformerBlock: feedforward_dim must be >= 0 (0: 4 * d_model), got ",
                      feedforward_dim);
        this->register_module("self_attn", self_attn);
        this->register_module("linear1", linear1);
        this->register_module("linear2", linear2);
        this->register_module("norm1", norm1);
        this->register_module("norm2", norm2);
        this->register_module("dropout", dropout);
        this->register_module("dropout1", dropout1);
        this->register_module("dropout2", dropout2);
    }

    // x [B, T, d] -> [B, T, d].
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
        detail::check(!this->is_training() || dropout.p == 0.0,
                      "loom::TransformerBlock::prefill: call eval() first (prefill does not apply dropout)");
        const Tensor<T> h = add(x, self_attn.prefill(norm1(x), cache, capacity));
        return add(h, feedforward(norm2(h)));
    }

    // Generation (evaluation mode, no autograd): x [B, d] is one new position
    // per sequence; `cache` holds the keys and values of the earlier ones (see
    // MultiheadSelfAttention::step). Returns [B, d].
    Tensor<T> step(const Tensor<T>& x, KeyValueCache<T>& cache, index_t capacity) {
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
