// loom/nn/multihead_attention.hpp — multi-head attention with separate query
// and key/value inputs: PyTorch's nn.MultiheadAttention(d, H,
// batch_first=True) called as attn(x, memory, memory, key_padding_mask), the
// cross-attention of a Transformer decoder.
//
//   q = x W_qᵀ + b_q          x [B, Tq, d]
//   k = m W_kᵀ + b_k          m [B, S, d], the encoder's output ("memory")
//   v = m W_vᵀ + b_v          W_q, W_k, W_v are the three d-row blocks of "in_proj_weight" [3d, d]
//   per head h (D = d/H columns):  O_h = softmax(q_h k_hᵀ / √D, keys j >= n_b masked) v_h
//   y = [O_1 … O_H] W_outᵀ + b_out   "out_proj.weight" [d, d], "out_proj.bias" [d]
//
// The names, shapes and initialisation are PyTorch's (in_proj_weight
// xavier-uniform, the biases zero), so a state dict moves between the two.
// k and v depend only on the memory: project_memory() computes them once per
// source batch (the cross-attention "cache"), and every decoder step, training
// or generation, reads them from there.
//
// The attention itself is composed of differentiable ops (narrow, matmul,
// masked_fill, softmax, dropout, concat), so its backward is theirs:
//   dv_h = Pᵀ dO_h,  dP = dO_h v_hᵀ,  dS = P ⊙ (dP − rowsum(dP ⊙ P)),
//   dq_h = dS k_h / √D,  dk_h = dSᵀ q_h / √D,
// then the in_proj blocks and out_proj as linear layers. The source mask puts
// −∞ on the padded keys before the softmax, so they get weight 0 and no
// gradient; a source of length 0 is refused (its row would have no
// distribution).
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "loom/nn/attention.hpp"
#include "loom/nn/linear.hpp"
#include "loom/nn/module.hpp"
#include "loom/ops/arithmetic.hpp"
#include "loom/ops/concat.hpp"
#include "loom/ops/dropout.hpp"
#include "loom/ops/linear.hpp"
#include "loom/ops/masked_fill.hpp"
#include "loom/ops/matmul.hpp"
#include "loom/ops/slice.hpp"
#include "loom/ops/softmax.hpp"

namespace loom {

// The keys and values of an encoder memory, projected once per source batch.
template <typename T>
struct ProjectedMemory {
    Tensor<T> keys, values;        // [B, S, d]
    std::vector<index_t> lengths;  // each source's real length (empty: all S)

    bool defined() const { return keys.defined(); }
    index_t batch() const { return keys.shape()[0]; }
    index_t source_length() const { return keys.shape()[1]; }
};

template <typename T>
class MultiheadAttention : public Module<T> {
public:
    MultiheadAttention(index_t embed_dim, index_t num_heads, Generator& generator, double dropout = 0.0)
        : embed_dim(embed_dim),
          num_heads(num_heads),
          dropout(dropout),
          out_proj(embed_dim, embed_dim, generator),
          dropout_generator_(generator.next_u64()) {
        detail::check_attention_layer("loom::MultiheadAttention", embed_dim, num_heads, dropout);
        in_proj_weight = this->register_parameter("in_proj_weight", detail::xavier_in_projection<T>(embed_dim, generator));
        in_proj_bias = this->register_parameter("in_proj_bias", Tensor<T>::zeros(Shape{3 * embed_dim}));
        this->register_module("out_proj", out_proj);
        out_proj.bias.flat().setZero();  // PyTorch zeroes out_proj.bias
        this->register_generator("dropout_generator", dropout_generator_);
    }

    // k and v of memory [B, S, d]; lengths: each source's real length in [1, S] (empty: all S).
    ProjectedMemory<T> project_memory(const Tensor<T>& memory, const std::vector<index_t>& lengths = {}) const {
        const char* op = "loom::MultiheadAttention::project_memory";
        detail::check(memory.defined() && memory.rank() == 3 && memory.shape()[2] == embed_dim && memory.shape()[1] > 0,
                      op, ": memory must be [batch, source >= 1, ", embed_dim, "], got ",
                      memory.defined() ? memory.shape() : Shape{});
        const index_t batch = memory.shape()[0], source = memory.shape()[1];
        if (!lengths.empty()) {
            detail::check(static_cast<index_t>(lengths.size()) == batch, op, ": ", lengths.size(),
                          " lengths for a memory of ", batch, " sources");
            for (std::size_t b = 0; b < lengths.size(); ++b)
                detail::check(lengths[b] >= 1 && lengths[b] <= source, op, ": length ", lengths[b], " of source ", b,
                              " is outside [1, ", source, "]");
        }
        return {project(memory, 1), project(memory, 2), lengths};
    }

    // query [B, Tq, d] attending over a projected memory of the same batch -> [B, Tq, d].
    Tensor<T> forward(const Tensor<T>& query, const ProjectedMemory<T>& memory) {
        const char* op = "loom::MultiheadAttention";
        detail::check(memory.defined(), op, ": the memory is empty; call project_memory() first");
        detail::check(query.defined() && query.rank() == 3 && query.shape()[2] == embed_dim &&
                          query.shape()[0] == memory.batch(),
                      op, ": query must be [", memory.batch(), ", length, ", embed_dim, "] for a memory of ",
                      memory.keys.shape(), ", got ", query.defined() ? query.shape() : Shape{});
        const index_t head_dim = embed_dim / num_heads;
        const T scale = T(1) / std::sqrt(static_cast<T>(head_dim));
        const Tensor<T> q = project(query, 0);
        const IndexTensor mask = padding_mask(memory, query.shape()[1]);
        std::vector<Tensor<T>> heads;
        for (index_t h = 0; h < num_heads; ++h) {
            Tensor<T> scores = mul(matmul(narrow(q, 2, h * head_dim, head_dim),
                                          narrow(memory.keys, 2, h * head_dim, head_dim), false, true),
                                   scale);  // [B, Tq, S]
            if (mask.numel() > 0) scores = masked_fill(scores, mask, -std::numeric_limits<T>::infinity());
            const Tensor<T> weights =
                loom::dropout(softmax(scores), dropout, this->is_training(), dropout_generator_);
            heads.push_back(matmul(weights, narrow(memory.values, 2, h * head_dim, head_dim)));
        }
        return out_proj(num_heads == 1 ? heads[0] : concat(heads, 2));
    }
    Tensor<T> forward(const Tensor<T>& query, const Tensor<T>& memory, const std::vector<index_t>& lengths = {}) {
        return forward(query, project_memory(memory, lengths));
    }
    Tensor<T> operator()(const Tensor<T>& query, const ProjectedMemory<T>& memory) { return forward(query, memory); }

    const index_t embed_dim, num_heads;
    const double dropout;
    Tensor<T> in_proj_weight;  // [3d, d]: W_q, W_k, W_v stacked
    Tensor<T> in_proj_bias;    // [3d]
    Linear<T> out_proj;

private:
    // x W_blockᵀ + b_block for block 0 (q), 1 (k) or 2 (v) of the in-projection.
    Tensor<T> project(const Tensor<T>& x, index_t block) const {
        return linear(x, narrow(in_proj_weight, 0, block * embed_dim, embed_dim),
                      narrow(in_proj_bias, 0, block * embed_dim, embed_dim));
    }

    // [B, Tq, S], nonzero at the padded keys of each source (empty without lengths).
    // ProjectedMemory is a plain struct, so its lengths are checked again here.
    static IndexTensor padding_mask(const ProjectedMemory<T>& memory, index_t queries) {
        if (memory.lengths.empty()) return IndexTensor();
        const index_t batch = memory.batch(), source = memory.source_length();
        detail::check(static_cast<index_t>(memory.lengths.size()) == batch, "loom::MultiheadAttention: ",
                      memory.lengths.size(), " lengths for a memory of ", batch, " sources");
        for (std::size_t b = 0; b < memory.lengths.size(); ++b)
            detail::check(memory.lengths[b] >= 1 && memory.lengths[b] <= source, "loom::MultiheadAttention: length ",
                          memory.lengths[b], " of source ", b, " is outside [1, ", source, "]");
        std::vector<index_t> mask(static_cast<std::size_t>(batch * queries * source), 0);
        for (index_t b = 0; b < batch; ++b)
            for (index_t t = 0; t < queries; ++t)
                for (index_t j = memory.lengths[static_cast<std::size_t>(b)]; j < source; ++j)
                    mask[static_cast<std::size_t>((b * queries + t) * source + j)] = 1;
        return IndexTensor(mask, Shape{batch, queries, source});
    }

    Generator dropout_generator_;
};

}  // namespace loom
