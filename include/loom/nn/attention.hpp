// loom/nn/attention.hpp — multi-head self-attention, PyTorch's
// nn.MultiheadAttention(d, H, batch_first=True) called as attn(x, x, x).
//
//   qkv = x W_inᵀ + b_in               W_in "in_proj_weight" [3d, d], b_in "in_proj_bias" [3d]
//   o   = attention(qkv, H)            per head softmax(Q Kᵀ/√D (+ mask)) V, D = d/H  (ops/attention.hpp)
//   y   = o W_outᵀ + b_out             "out_proj.weight" [d, d], "out_proj.bias" [d]
// The names, shapes and initialisation are PyTorch's (W_in xavier-uniform,
// b_in and b_out zero, W_out uniform ±1/√d), so a state dict moves between the
// two. causal = true masks keys after the query (a decoder); a key padding
// mask [B, T] (nonzero = padding) can be passed to forward(). Dropout, on the
// attention weights, acts in training mode only.
//
// For generation, step() takes one new position per sequence and a
// KeyValueCache: the new key and value are appended to the cache and the query
// attends over everything cached, O(t·d) for token t instead of re-running the
// whole prefix. Stepping through a sequence gives the same outputs as
// forward() on all of it (tests/nn/test_attention.cpp checks it).
#pragma once

#include <cmath>
#include <cstring>
#include <vector>

#include "loom/nn/linear.hpp"
#include "loom/nn/module.hpp"
#include "loom/ops/attention.hpp"
#include "loom/ops/reshape.hpp"

namespace loom {

// The keys and values of every position read so far, per sequence:
// keys and values [B, capacity, d], rows 0 .. length−1 in use.
template <typename T>
struct KeyValueCache {
    Tensor<T> keys, values;
    index_t length = 0;

    KeyValueCache() = default;
    KeyValueCache(index_t batch, index_t capacity, index_t model_dim)
        : keys(Tensor<T>::zeros(Shape{batch, capacity, model_dim})),
          values(Tensor<T>::zeros(Shape{batch, capacity, model_dim})) {
        detail::check(batch >= 1 && capacity >= 1 && model_dim >= 1, "loom::KeyValueCache: batch ", batch,
                      ", capacity ", capacity, " and model_dim ", model_dim, " must be positive");
    }
    bool defined() const { return keys.defined(); }
    index_t batch() const { return keys.shape()[0]; }
    index_t capacity() const { return keys.shape()[1]; }

    // Keeps sequences `rows` (indices into the batch; may repeat or drop), in
    // that order — beam search continuing hypotheses from their parents.
    void reorder(const std::vector<index_t>& rows) {
        detail::check(defined(), "loom::KeyValueCache::reorder: the cache is empty");
        keys = gather(keys, rows);
        values = gather(values, rows);
    }

private:
    static Tensor<T> gather(const Tensor<T>& source, const std::vector<index_t>& rows) {
        const index_t batch = source.shape()[0], row_size = source.shape()[1] * source.shape()[2];
        Tensor<T> out = Tensor<T>::empty(Shape{static_cast<index_t>(rows.size()), source.shape()[1], source.shape()[2]});
        for (std::size_t i = 0; i < rows.size(); ++i) {
            detail::check(rows[i] >= 0 && rows[i] < batch, "loom::KeyValueCache::reorder: row ", rows[i],
                          " at position ", i, " is out of range for a batch of ", batch);
            std::memcpy(out.data() + static_cast<index_t>(i) * row_size, source.data() + rows[i] * row_size,
                        static_cast<std::size_t>(row_size) * sizeof(T));
        }
        return out;
    }
};

namespace detail {

// What a layer shaped like nn.MultiheadAttention checks about its sizes
// (MultiheadSelfAttention here, MultiheadAttention in nn/multihead_attention.hpp).
inline void check_attention_layer(const char* layer, index_t embed_dim, index_t num_heads, double dropout) {
    check(embed_dim > 0 && num_heads > 0 && embed_dim % num_heads == 0, layer, ": embed_dim ", embed_dim,
          " must be a positive multiple of num_heads ", num_heads);
    check(dropout >= 0.0 && dropout < 1.0, layer, ": dropout must be in [0, 1), got ", dropout);
}

// PyTorch's in_proj_weight [3d, d]: xavier_uniform_, bound √(6 / (fan_in + fan_out)) = √(6 / 4d).
template <typename T>
Tensor<T> xavier_in_projection(index_t embed_dim, Generator& generator) {
    const T bound = std::sqrt(T(6) / static_cast<T>(4 * embed_dim));
    return Tensor<T>::uniform(Shape{3 * embed_dim, embed_dim}, -bound, bound, generator);
}

}  // namespace detail

template <typename T>
class MultiheadSelfAttention : public Module<T> {
public:
    MultiheadSelfAttention(index_t embed_dim, index_t num_heads, Generator& generator, bool causal = true,
                           double dropout = 0.0)
        : embed_dim(embed_dim),
          num_heads(num_heads),
          causal(causal),
          dropout(dropout),
          out_proj(embed_dim, embed_dim, generator),
          dropout_generator_(generator.next_u64()) {
        detail::check_attention_layer("loom::MultiheadSelfAttention", embed_dim, num_heads, dropout);
        in_proj_weight = this->register_parameter("in_proj_weight", detail::xavier_in_projection<T>(embed_dim, generator));
        in_proj_bias = this->register_parameter("in_proj_bias", Tensor<T>::zeros(Shape{3 * embed_dim}));
        this->register_quantizable("in_proj_weight", in_proj_weight);
        this->register_module("out_proj", out_proj);
        out_proj.bias.flat().setZero();  // PyTorch zeroes out_proj.bias
        this->register_generator("dropout_generator", dropout_generator_);
    }

    // x [B, T, d] -> [B, T, d]. key_padding_mask, if given, is [B, T] with
    // nonzero where x holds padding that no position may attend to.
    Tensor<T> forward(const Tensor<T>& x, const IndexTensor& key_padding_mask = IndexTensor()) {
        detail::check(x.defined() && x.rank() == 3 && x.shape()[2] == embed_dim,
                      "loom::MultiheadSelfAttention: expected input [batch, length, ", embed_dim, "], got ",
                      x.defined() ? x.shape() : Shape{});
        AttentionOptions options;
        options.causal = causal;
        options.key_padding_mask = key_padding_mask;
        if (this->is_training() && dropout > 0.0) {
            options.dropout = dropout;
            options.generator = &dropout_generator_;
        }
        const Tensor<T> qkv = in_projection(x);
        return out_proj(attention(qkv, num_heads, options));
    }
    Tensor<T> operator()(const Tensor<T>& x, const IndexTensor& key_padding_mask = IndexTensor()) {
        return forward(x, key_padding_mask);
    }

    // Generation (no autograd): forward() over x [B, T, d] that also starts
    // `cache` with the keys and values of these T positions (a prompt read in
    // one pass, batched GEMMs). The cache is created with `capacity` >= T rows.
    Tensor<T> prefill(const Tensor<T>& x, KeyValueCache<T>& cache, index_t capacity) const {
        detail::check(causal, "loom::MultiheadSelfAttention::prefill: only a causal layer can be stepped");
        detail::check(x.defined() && x.rank() == 3 && x.shape()[2] == embed_dim,
                      "loom::MultiheadSelfAttention::prefill: expected input [batch, length, ", embed_dim, "], got ",
                      x.defined() ? x.shape() : Shape{});
        const index_t batch = x.shape()[0], length = x.shape()[1], d = embed_dim;
        detail::check(length >= 1 && length <= capacity, "loom::MultiheadSelfAttention::prefill: ", length,
                      " positions do not fit a cache of capacity ", capacity);
        cache = KeyValueCache<T>(batch, capacity, d);
        const Tensor<T> qkv = in_projection(x);  // [B, T, 3d]
        for (index_t b = 0; b < batch; ++b)
            for (index_t t = 0; t < length; ++t) {
                const T* source = qkv.data() + (b * length + t) * 3 * d;
                std::memcpy(cache.keys.data() + (b * capacity + t) * d, source + d, static_cast<std::size_t>(d) * sizeof(T));
                std::memcpy(cache.values.data() + (b * capacity + t) * d, source + 2 * d,
                            static_cast<std::size_t>(d) * sizeof(T));
            }
        cache.length = length;
        return out_proj(attention(qkv, num_heads));
    }

    // Generation (no autograd): x [B, d] is the next position of each sequence;
    // its key and value go into `cache` at row cache.length, which then grows
    // by one. An undefined cache is created with `capacity` rows. Returns [B, d].
    Tensor<T> step(const Tensor<T>& x, KeyValueCache<T>& cache, index_t capacity) const {
        detail::check(causal, "loom::MultiheadSelfAttention::step: only a causal layer can be stepped (a "
                              "non-causal one would need keys from the future)");
        detail::check(x.defined() && x.rank() == 2 && x.shape()[1] == embed_dim,
                      "loom::MultiheadSelfAttention::step: expected input [batch, ", embed_dim, "], got ",
                      x.defined() ? x.shape() : Shape{});
        const index_t batch = x.shape()[0];
        if (!cache.defined()) cache = KeyValueCache<T>(batch, capacity, embed_dim);
        detail::check(cache.batch() == batch && cache.keys.shape()[2] == embed_dim,
                      "loom::MultiheadSelfAttention::step: input ", x.shape(), " does not fit a cache of shape ",
                      cache.keys.shape());
        detail::check(cache.length < cache.capacity(), "loom::MultiheadSelfAttention::step: the cache is full (",
                      cache.capacity(), " positions)");
        const Tensor<T> qkv = in_projection(x);  // [B, 3d]
        const index_t d = embed_dim, row = cache.length;
        for (index_t b = 0; b < batch; ++b) {
            const T* source = qkv.data() + b * 3 * d;
            std::memcpy(cache.keys.data() + (b * cache.capacity() + row) * d, source + d,
                        static_cast<std::size_t>(d) * sizeof(T));
            std::memcpy(cache.values.data() + (b * cache.capacity() + row) * d, source + 2 * d,
                        static_cast<std::size_t>(d) * sizeof(T));
        }
        ++cache.length;
        Tensor<T> queries = Tensor<T>::empty(Shape{batch, d});
        for (index_t b = 0; b < batch; ++b)
            std::memcpy(queries.data() + b * d, qkv.data() + b * 3 * d, static_cast<std::size_t>(d) * sizeof(T));
        return out_proj(attention_step(queries, cache.keys, cache.values, cache.length, num_heads));
    }

    // qkv = x W_inᵀ + b_in, through the quantized kernels once loom::quantize
    // has converted W_in (nn/quantize.hpp).
    Tensor<T> in_projection(const Tensor<T>& x) const {
        if (const QuantizedMatrix* quantized = this->quantized_weight("in_proj_weight"))
            return quantized_linear(x, *quantized, in_proj_bias, "loom::MultiheadSelfAttention");
        return linear(x, in_proj_weight, in_proj_bias);
    }

    const index_t embed_dim;
    const index_t num_heads;
    const bool causal;
    const double dropout;
    Tensor<T> in_proj_weight;  // [3d, d]: W_q, W_k, W_v stacked (undefined once quantized)
    Tensor<T> in_proj_bias;    // [3d]
    Linear<T> out_proj;        // weight [d, d], bias [d]

private:
    Generator dropout_generator_;
};

}  // namespace loom
