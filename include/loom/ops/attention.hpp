// loom/ops/attention.hpp — multi-head scaled dot-product self-attention, fused,
// with a hand-written backward; and the one-query step that a key/value cache
// uses during generation.
//
// Input: qkv [B, T, 3d], the output of the fused input projection (the first d
// columns are the queries, then the keys, then the values), H heads of size
// D = d / H. Head h of sequence b reads columns [h·D, (h+1)·D) of each third:
//   Q, K, V  [T, D]   (strided views into qkv, nothing is copied)
// and computes, with scale s = 1/√D,
//   S = s · Q Kᵀ                               [T, T] scores
//   S_ij = −∞ where key j is masked: j > i (causal) or key j is padding
//   P = softmax(S) row by row                  [T, T] attention weights
//   A = P ⊙ M                                  dropout: M_ij ∈ {0, 1/(1−p)}, else A = P
//   O = A V                                    [T, D], written to out[b, :, h·D:(h+1)·D]
// The heads' outputs side by side make out [B, T, d]. This is the middle of
// torch.nn.MultiheadAttention between in_proj and out_proj.
//
// Backward, given dO (the same columns of dout):
//   dV = Aᵀ dO
//   dA = dO Vᵀ,     dP = dA ⊙ M                (dP = dA without dropout)
//   dS = P ⊙ (dP − rowsum(dP ⊙ P))             softmax backward, row by row:
//        ∂P_ik/∂S_ij = P_ik (δ_kj − P_ij), so dS_ij = P_ij (dP_ij − Σ_k dP_ik P_ik)
//   dQ = s · dS K,  dK = s · dSᵀ Q              (from S = s · Q Kᵀ)
// Masked entries have P = 0, so they get dS = 0 and pass no gradient.
//
// A query row whose keys are all masked (possible with a padding mask) has no
// distribution to take; PyTorch returns NaN there. loom returns a zero output
// row and passes no gradient through it, so one fully padded sequence cannot
// poison a batch.
//
// Numerics: each softmax row subtracts its maximum before exp (log-sum-exp), so
// scores of any size give finite weights. The forward keeps P, and the dropout
// mask M when there is dropout, each [B, H, T, T], for the backward; A = P ⊙ M
// and everything else is recomputed from qkv. The (b, h) pairs are
// independent and are split over threads; the small products inside run on
// one thread each.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <Eigen/Core>

#include "loom/autograd/node.hpp"
#include "loom/ops/gemm.hpp"
#include "loom/ops/packed_gemm.hpp"
#include "loom/tensor/error.hpp"
#include "loom/tensor/index_tensor.hpp"
#include "loom/tensor/parallel.hpp"
#include "loom/tensor/random.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

// How attention may look: causal (query i sees keys j <= i), an optional key
// padding mask [B, T] (nonzero = this position is padding, no query may attend
// to it; PyTorch's key_padding_mask with True = ignore), and dropout on the
// attention weights (applied only when dropout > 0; pass 0 in evaluation).
struct AttentionOptions {
    bool causal = true;
    IndexTensor key_padding_mask;  // empty (numel 0) for none
    double dropout = 0.0;
    Generator* generator = nullptr;  // required when dropout > 0
};

namespace detail {

template <typename T>
using RowMajorMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using StridedMap = Eigen::Map<RowMajorMatrix<T>, 0, Eigen::OuterStride<>>;
template <typename T>
using ConstStridedMap = Eigen::Map<const RowMajorMatrix<T>, 0, Eigen::OuterStride<>>;

struct AttentionDims {
    index_t batch, length, model_dim, heads, head_dim;
    index_t qkv_stride() const { return 3 * model_dim; }
    index_t pairs() const { return batch * heads; }
    index_t square() const { return length * length; }
};

template <typename T>
AttentionDims check_attention_args(const Tensor<T>& qkv, index_t num_heads, const AttentionOptions& options) {
    check(qkv.defined(), "loom::attention: qkv is undefined");
    check(qkv.rank() == 3 && qkv.shape()[2] % 3 == 0,
          "loom::attention: expected qkv [batch, length, 3 * model_dim], got shape ", qkv.shape());
    AttentionDims d{qkv.shape()[0], qkv.shape()[1], qkv.shape()[2] / 3, num_heads, 0};
    check(num_heads >= 1 && d.model_dim % num_heads == 0, "loom::attention: model_dim ", d.model_dim,
          " (qkv shape ", qkv.shape(), ") is not divisible by num_heads ", num_heads);
    d.head_dim = d.model_dim / num_heads;
    const IndexTensor& mask = options.key_padding_mask;
    if (mask.numel() > 0)
        check(mask.shape() == Shape{d.batch, d.length}, "loom::attention: key_padding_mask must be [", d.batch, ", ",
              d.length, "] for qkv of shape ", qkv.shape(), ", got ", mask.shape());
    check(options.dropout >= 0.0 && options.dropout < 1.0, "loom::attention: dropout must be in [0, 1), got ",
          options.dropout);
    check(options.dropout == 0.0 || options.generator != nullptr,
          "loom::attention: dropout ", options.dropout, " needs a generator");
    return d;
}

// Turns one row of scores into attention weights in place: entries j with
// visible(j) false become 0, the others softmax(scores). A row with nothing
// visible becomes all zeros.
template <typename T, typename Visible>
void masked_softmax_row(T* row, index_t length, Visible visible) {
    T largest = -std::numeric_limits<T>::infinity();
    for (index_t j = 0; j < length; ++j)
        if (visible(j) && row[j] > largest) largest = row[j];
    if (largest == -std::numeric_limits<T>::infinity()) {  // nothing to attend to (or every score is -inf)
        for (index_t j = 0; j < length; ++j) row[j] = T(0);
        return;
    }
    T total = 0;
    for (index_t j = 0; j < length; ++j) {
        row[j] = visible(j) ? std::exp(row[j] - largest) : T(0);
        total += row[j];
    }
    const T inverse = T(1) / total;  // total >= 1: the largest entry contributes exp(0)
    for (index_t j = 0; j < length; ++j) row[j] *= inverse;
}

// The same for a row whose visible entries are exactly its first `visible`
// (causal attention without padding: query i sees keys 0 .. i), vectorised.
template <typename T>
void prefix_softmax_row(T* row, index_t length, index_t visible) {
    Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> seen(row, visible);
    const T largest = seen.maxCoeff();
    if (!(largest > -std::numeric_limits<T>::infinity())) {  // every score -inf (or NaN): nothing to attend to
        std::fill(row, row + length, T(0));
        return;
    }
    seen = (seen - largest).exp();
    seen *= T(1) / seen.sum();
    std::fill(row + visible, row + length, T(0));
}

// Causal attention's products on one (sequence, head) pair skip the work the
// mask makes zero. P, A = P ⊙ M and dS are lower triangular (row i is zero past
// column i), and the scores S and dA are only read on and below the diagonal.
// With the second factor packed into column panels (packed_gemm.hpp), for
// blocks of R rows [r0, r1):
//   C = L · B   (O = A V, dQ = s·dS K):    row block r0..r1 needs k < r1 only
//   C = Lᵀ · B  (dV = Aᵀ dO, dK = s·dSᵀ Q): row block r0..r1 needs k >= r0 only
//   C = X · Yᵀ, lower part (S = Q Kᵀ, dA = dO Vᵀ): the panel of columns jP.. is
//       needed by rows i >= jP only (entries above the diagonal inside that
//       panel are computed and then ignored by the softmax)
// which does about half of the multiply-adds of the full products.
template <typename T>
void lower_times(const T* lower, index_t length, const PackedMatrix<T>& b, T* c, index_t ldc) {
    constexpr index_t P = PacketInfo<T>::panel_width, R = PacketInfo<T>::rows;
    for (index_t j = 0; j < b.panels(); ++j)
        for (index_t r0 = 0; r0 < length; r0 += R) {
            const index_t r1 = std::min(r0 + R, length);
            panel_rows_product(row_major(lower, length), r0, r1, b.panel(j), r1, c + j * P, ldc,
                               std::min(P, b.cols() - j * P), false);
        }
}

template <typename T>
void lower_transposed_times(const T* lower, index_t length, const PackedMatrix<T>& b, T* c, index_t ldc) {
    constexpr index_t P = PacketInfo<T>::panel_width, R = PacketInfo<T>::rows;
    for (index_t j = 0; j < b.panels(); ++j)
        for (index_t r0 = 0; r0 < length; r0 += R) {
            // Lᵀ(r, k) = L[k, r], with k counted from r0: rows r0.. of L are read from there on.
            const StridedMatrix<T> lower_t{lower + r0 * length, 1, length};
            panel_rows_product(lower_t, r0, std::min(r0 + R, length), b.panel(j) + r0 * P, length - r0, c + j * P,
                               ldc, std::min(P, b.cols() - j * P), false);
        }
}

template <typename T>
void times_transposed_lower(StridedMatrix<T> x, index_t length, const PackedMatrix<T>& y_t, T* c, index_t ldc) {
    constexpr index_t P = PacketInfo<T>::panel_width;
    for (index_t j = 0; j < y_t.panels(); ++j)
        panel_rows_product(x, j * P, length, y_t.panel(j), y_t.rows(), c + j * P, ldc, std::min(P, y_t.cols() - j * P),
                           false);
}

// Pairs (b, h) per parallel piece: roughly parallel_grain multiply-adds each.
inline index_t attention_grain(const AttentionDims& d) {
    const index_t per_pair = std::max<index_t>(1, 2 * d.square() * d.head_dim);
    return std::max<index_t>(1, parallel_grain / per_pair);
}

}  // namespace detail

// out [B, T, d] = the attention of every head, side by side (see the top of
// this file). qkv [B, T, 3d] holds queries, keys and values.
template <typename T>
Tensor<T> attention(const Tensor<T>& qkv, index_t num_heads, const AttentionOptions& options = AttentionOptions()) {
    const detail::AttentionDims d = detail::check_attention_args(qkv, num_heads, options);
    const index_t T_ = d.length, D = d.head_dim, ld_qkv = d.qkv_stride(), ld_out = d.model_dim;
    const T scale = T(1) / std::sqrt(static_cast<T>(D));
    const bool use_dropout = options.dropout > 0.0;
    const IndexTensor padding = options.key_padding_mask;
    const bool has_padding = padding.numel() > 0;

    Tensor<T> out = Tensor<T>::empty(Shape{d.batch, T_, d.model_dim});
    Tensor<T> probs = Tensor<T>::empty(Shape{d.batch, d.heads, T_, T_});  // P
    // With dropout, M is drawn here, serially, so the result does not depend on
    // how the pairs are split over threads. It is kept for the backward.
    Tensor<T> keep_mask;
    if (use_dropout) {
        keep_mask = Tensor<T>::empty(probs.shape());
        const T keep_scale = static_cast<T>(1.0 / (1.0 - options.dropout));
        T* m = keep_mask.data();
        for (index_t i = 0; i < keep_mask.numel(); ++i)
            m[i] = options.generator->uniform() >= options.dropout ? keep_scale : T(0);
    }
    if (out.numel() > 0) {
        const T* qkv_data = qkv.data();
        T* out_data = out.data();
        T* probs_data = probs.data();
        const T* mask_data = use_dropout ? keep_mask.data() : nullptr;
        parallel_for(d.pairs(), detail::attention_grain(d), [&](index_t first, index_t last) {
            detail::RowMajorMatrix<T> dropped;  // A = P ⊙ M, with dropout only
            for (index_t pair = first; pair < last; ++pair) {
                const index_t b = pair / d.heads, h = pair % d.heads;
                const T* base = qkv_data + b * T_ * ld_qkv + h * D;
                const detail::StridedMatrix<T> q{base, ld_qkv, 1}, k_t{base + d.model_dim, 1, ld_qkv},
                    v{base + 2 * d.model_dim, ld_qkv, 1};
                T* p_data = probs_data + pair * d.square();
                if (options.causal)  // S = Q Kᵀ (scaled below), on and below the diagonal
                    detail::times_transposed_lower(q, T_, detail::PackedMatrix<T>::from(k_t, D, T_), p_data, T_);
                else
                    detail::gemm(T_, T_, D, q, k_t, p_data, T_, false);
                detail::StridedMap<T> p(p_data, T_, T_, Eigen::OuterStride<>(T_));
                const index_t* pad = has_padding ? padding.data() + b * T_ : nullptr;
                for (index_t i = 0; i < T_; ++i) {
                    // Only the keys row i may see are scaled (and read); the softmax zeroes the rest.
                    Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(p_data + i * T_, options.causal ? i + 1 : T_) *= scale;
                    if (!pad) {
                        detail::prefix_softmax_row(p_data + i * T_, T_, options.causal ? i + 1 : T_);
                        continue;
                    }
                    detail::masked_softmax_row(p_data + i * T_, T_, [&](index_t j) {
                        return !(options.causal && j > i) && pad[j] == 0;
                    });
                }
                const T* weights = p_data;  // O = A V, A = P (⊙ M with dropout)
                if (mask_data) {
                    detail::ConstStridedMap<T> m(mask_data + pair * d.square(), T_, T_, Eigen::OuterStride<>(T_));
                    dropped = p.array() * m.array();
                    weights = dropped.data();
                }
                T* o = out_data + b * T_ * ld_out + h * D;
                if (options.causal) detail::lower_times(weights, T_, detail::PackedMatrix<T>::from(v, T_, D), o, ld_out);
                else detail::gemm(T_, D, T_, detail::row_major(weights, T_), v, o, ld_out, false);
            }
        });
    }

    if (needs_grad(qkv)) {
        record(out, "attention", {qkv}, [qkv_saved = qkv.detach(), probs, keep_mask, d, scale,
                                         causal = options.causal](const Tensor<T>& dout) {
            const index_t T_ = d.length, D = d.head_dim, ld_qkv = d.qkv_stride(), ld_out = d.model_dim;
            Tensor<T> dqkv = Tensor<T>::empty(qkv_saved.shape());
            if (dqkv.numel() == 0) return std::vector<Tensor<T>>{dqkv};
            const T* qkv_data = qkv_saved.data();
            const T* dout_data = dout.data();
            const T* probs_data = probs.data();
            const T* mask_data = keep_mask.defined() ? keep_mask.data() : nullptr;
            T* dqkv_data = dqkv.data();
            parallel_for(d.pairs(), detail::attention_grain(d), [&](index_t first, index_t last) {
                // dA, then dP, then dS. Zeroed once: the causal path never writes
                // above the diagonal, which must then read as 0, not as garbage.
                detail::RowMajorMatrix<T> dp = detail::RowMajorMatrix<T>::Zero(T_, T_);
                detail::RowMajorMatrix<T> dropped;     // A = P ⊙ M, with dropout only
                for (index_t pair = first; pair < last; ++pair) {
                    const index_t b = pair / d.heads, h = pair % d.heads;
                    const index_t offset = b * T_ * ld_qkv + h * D;
                    const T* q = qkv_data + offset;
                    const T* k = q + d.model_dim;
                    const T* v = q + 2 * d.model_dim;
                    T* dq = dqkv_data + offset;
                    T* dk = dq + d.model_dim;
                    T* dv = dq + 2 * d.model_dim;
                    const detail::StridedMatrix<T> d_o{dout_data + b * T_ * ld_out + h * D, ld_out, 1};
                    const T* p_data = probs_data + pair * d.square();
                    detail::ConstStridedMap<T> p(p_data, T_, T_, Eigen::OuterStride<>(T_));

                    const detail::StridedMatrix<T> v_t{v, 1, ld_qkv};
                    if (causal)  // dA = dO Vᵀ
                        detail::times_transposed_lower(d_o, T_, detail::PackedMatrix<T>::from(v_t, D, T_), dp.data(), T_);
                    else
                        detail::gemm(T_, T_, D, d_o, v_t, dp.data(), T_, false);
                    const T* weights = p_data;  // A = P (⊙ M with dropout)
                    if (mask_data) {
                        detail::ConstStridedMap<T> m(mask_data + pair * d.square(), T_, T_, Eigen::OuterStride<>(T_));
                        dropped = p.array() * m.array();
                        weights = dropped.data();
                        dp.array() *= m.array();  // dP = dA ⊙ M
                    }
                    if (causal)  // dV = Aᵀ dO
                        detail::lower_transposed_times(weights, T_, detail::PackedMatrix<T>::from(d_o, T_, D), dv, ld_qkv);
                    else
                        detail::gemm(T_, D, T_, detail::row_major(weights, T_, true), d_o, dv, ld_qkv, false);
                    // s · dS = s · P ⊙ (dP − rowsum(dP ⊙ P)); the scale of S = s · Q Kᵀ
                    // goes into dS once instead of into dQ and dK.
                    const Eigen::Matrix<T, Eigen::Dynamic, 1> row_dot = (dp.array() * p.array()).rowwise().sum();
                    dp.array() = scale * p.array() * (dp.array().colwise() - row_dot.array());
                    const detail::StridedMatrix<T> k_m{k, ld_qkv, 1}, q_m{q, ld_qkv, 1};
                    if (causal) {
                        detail::lower_times(dp.data(), T_, detail::PackedMatrix<T>::from(k_m, T_, D), dq, ld_qkv);
                        detail::lower_transposed_times(dp.data(), T_, detail::PackedMatrix<T>::from(q_m, T_, D), dk, ld_qkv);
                    } else {
                        detail::gemm(T_, D, T_, detail::row_major(dp.data(), T_), k_m, dq, ld_qkv, false);  // dQ = s · dS K
                        detail::gemm(T_, D, T_, detail::row_major(dp.data(), T_, true), q_m, dk, ld_qkv, false);  // dK = s · dSᵀ Q
                    }
                }
            });
            return std::vector<Tensor<T>>{dqkv};
        });
    }
    return out;
}

// One new query per sequence against cached keys and values (generation with a
// key/value cache; no autograd):
//   query [B, d]; keys, values [B, capacity, d] whose first `length` rows are
//   filled (positions 0 .. length−1, the newest last); returns [B, d] with, per
//   head h, softmax(s · q_h K_hᵀ) V_h over those `length` positions.
// Every cached key is at or before the query, so no causal mask is needed; the
// cost is O(length · d) per sequence instead of a whole new forward pass.
template <typename T>
Tensor<T> attention_step(const Tensor<T>& query, const Tensor<T>& keys, const Tensor<T>& values, index_t length,
                         index_t num_heads) {
    detail::check(query.defined() && query.rank() == 2, "loom::attention_step: expected query [batch, model_dim], got ",
                  query.defined() ? query.shape() : Shape{});
    const index_t batch = query.shape()[0], model_dim = query.shape()[1];
    detail::check(keys.defined() && values.defined() && keys.rank() == 3 && keys.shape() == values.shape() &&
                      keys.shape()[0] == batch && keys.shape()[2] == model_dim,
                  "loom::attention_step: query ", query.shape(), " needs keys and values [", batch,
                  ", capacity, ", model_dim, "], got keys ", keys.defined() ? keys.shape() : Shape{}, " and values ",
                  values.defined() ? values.shape() : Shape{});
    const index_t capacity = keys.shape()[1];
    detail::check(length >= 1 && length <= capacity, "loom::attention_step: length ", length,
                  " must be in [1, capacity ", capacity, "]");
    detail::check(num_heads >= 1 && model_dim % num_heads == 0, "loom::attention_step: model_dim ", model_dim,
                  " is not divisible by num_heads ", num_heads);
    const index_t D = model_dim / num_heads;
    const T scale = T(1) / std::sqrt(static_cast<T>(D));
    Tensor<T> out = Tensor<T>::empty(Shape{batch, model_dim});
    const T* q_data = query.data();
    const T* k_data = keys.data();
    const T* v_data = values.data();
    T* out_data = out.data();
    const index_t pairs = batch * num_heads;
    const index_t grain = std::max<index_t>(1, detail::parallel_grain / std::max<index_t>(1, 2 * length * D));
    parallel_for(pairs, grain, [&](index_t first, index_t last) {
        Eigen::Matrix<T, 1, Eigen::Dynamic> weights(length);
        for (index_t pair = first; pair < last; ++pair) {
            const index_t b = pair / num_heads, h = pair % num_heads;
            Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>> q(q_data + b * model_dim + h * D, D);
            const index_t cache_offset = b * capacity * model_dim + h * D;
            detail::ConstStridedMap<T> k(k_data + cache_offset, length, D, Eigen::OuterStride<>(model_dim));
            detail::ConstStridedMap<T> v(v_data + cache_offset, length, D, Eigen::OuterStride<>(model_dim));
            weights.noalias() = scale * (q * k.transpose());
            detail::prefix_softmax_row(weights.data(), length, length);
            Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>> o(out_data + b * model_dim + h * D, D);
            o.noalias() = weights * v;
        }
    });
    return out;
}

}  // namespace loom
