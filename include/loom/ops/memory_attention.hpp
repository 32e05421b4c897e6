// loom/ops/memory_attention.hpp — attention of one decoder step over an
// encoder memory (Bahdanau et al. 2015, Luong et al. 2015), with coverage
// (See et al. 2017). Shapes: B sequences, S source positions, A attention units.
//
// A step scores every source position i against the decoder's query, turns the
// scores into a distribution over the real positions and reads the memory
// with it:
//   additive        e_i = vᵀ tanh(k_i + q + c_i w_c)            k_i = W_h h_i + b (precomputed), q = W_s s
//   multiplicative  e_i = k_iᵀ q + w_c c_i                       k_i = h_i (dot) or W_a h_i (general)
//   attend          a = softmax(e) over i < length,  a_i = 0 on the padding
//                   context = Σ_i a_i h_i
// c is the coverage vector, the sum of the earlier steps' distributions (zero
// at the first step); coverage_loss adds Σ_i min(a_i, c_i), which penalises
// attending again where attention has already been.
//
// Backward (u_i = tanh(k_i + q + c_i w_c), g = dL/dcontext, ā = dL/da from outside):
//   attend          da_i = ā_i + g·h_i,   dh_i += a_i g
//                   de_i = a_i (da_i − Σ_j a_j da_j)               (softmax; zero on the padding)
//   additive        dz_i = de_i v ⊙ (1 − u_i²)
//                   dk_i = dz_i,  dq = Σ_i dz_i,  dv = Σ_i de_i u_i,
//                   dw_c = Σ_i c_i dz_i,  dc_i = w_c · dz_i
//   multiplicative  dk_i = de_i q,  dq = Σ_i de_i k_i,  dw_c = Σ_i de_i c_i,  dc_i = w_c de_i
//   coverage_loss   d/da_i = [a_i < c_i],  d/dc_i = [c_i ≤ a_i]       (min's subgradient)
// The projections W_h, W_s, W_a are Linear layers of the caller (nn/memory_attention.hpp):
// the memory is projected once per source, not once per decoder step.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

namespace detail {

template <typename T>
using RowBlock = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <typename T>
using ConstRowBlock = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

template <typename T>
std::string shape_or_undefined(const Tensor<T>& t) {
    return t.defined() ? t.shape().to_string() : std::string("undefined");
}

// keys [B, S, K], query [B, K]; coverage [B, S] and its weight (shape
// `weight_shape`) both given or both undefined.
template <typename T>
void check_score_args(const char* op, const Tensor<T>& keys, const Tensor<T>& query, const Tensor<T>& coverage,
                      const Tensor<T>& coverage_weight, const Shape& weight_shape) {
    check(keys.defined() && keys.rank() == 3, op, ": keys must be [batch, source, units], got ",
          shape_or_undefined(keys));
    const index_t B = keys.shape()[0], S = keys.shape()[1], K = keys.shape()[2];
    check(B >= 1 && S >= 1 && K >= 1, op, ": keys ", keys.shape(), " must not be empty");
    check(query.defined() && query.shape() == Shape{B, K}, op, ": query must be [", B, ", ", K, "] for keys ",
          keys.shape(), ", got ", shape_or_undefined(query));
    check(coverage.defined() == coverage_weight.defined(), op,
          ": coverage and its weight must be given together (coverage ", shape_or_undefined(coverage), ", weight ",
          shape_or_undefined(coverage_weight), ")");
    if (!coverage.defined()) return;
    check(coverage.shape() == Shape{B, S}, op, ": coverage must be [", B, ", ", S, "] for keys ", keys.shape(),
          ", got ", coverage.shape());
    check(coverage_weight.shape() == weight_shape, op, ": the coverage weight must be ", weight_shape, ", got ",
          coverage_weight.shape());
}

}  // namespace detail

// Bahdanau's scores e [B, S] from keys [B, S, A], query [B, A], v [A], and
// optionally coverage [B, S] with its weight w_c [A]. Each source is one
// [S, A] block: Z = K + 1 qᵀ (+ c w_cᵀ), U = tanh(Z), e = U v, in Eigen's
// vectorised array code (tanh of B·S·A elements is most of the work).
template <typename T>
Tensor<T> additive_scores(const Tensor<T>& keys, const Tensor<T>& query, const Tensor<T>& v,
                          const Tensor<T>& coverage = Tensor<T>(), const Tensor<T>& coverage_weight = Tensor<T>()) {
    const char* op = "loom::additive_scores";
    detail::check_score_args(op, keys, query, coverage, coverage_weight,
                             Shape{keys.defined() && keys.rank() == 3 ? keys.shape()[2] : 0});
    const index_t B = keys.shape()[0], S = keys.shape()[1], A = keys.shape()[2];
    detail::check(v.defined() && v.shape() == Shape{A}, op, ": v must be [", A, "], got ", detail::shape_or_undefined(v));
    using Block = detail::RowBlock<T>;
    using ConstBlock = detail::ConstRowBlock<T>;
    const bool with_coverage = coverage.defined();
    Tensor<T> units = Tensor<T>::empty(Shape{B, S, A});  // U = tanh(Z), kept for backward
    Tensor<T> scores = Tensor<T>::empty(Shape{B, S});
    const ConstBlock v_row(v.data(), 1, A);
    for (index_t b = 0; b < B; ++b) {
        Block u(units.data() + b * S * A, S, A);
        u = ConstBlock(keys.data() + b * S * A, S, A).rowwise() + ConstBlock(query.data() + b * A, 1, A).row(0);
        if (with_coverage)
            u.noalias() += ConstBlock(coverage.data() + b * S, S, 1) * ConstBlock(coverage_weight.data(), 1, A);
        u = u.array().tanh().matrix();
        Block(scores.data() + b * S, S, 1).noalias() = u * v_row.transpose();
    }
    if (!needs_grad(std::vector<Tensor<T>>{keys, query, v, coverage, coverage_weight})) return scores;
    record(scores, "additive_scores", {keys, query, v, coverage, coverage_weight},
           [B, S, A, units, v = v.detach(), coverage = coverage.defined() ? coverage.detach() : coverage,
            w_c = coverage_weight.defined() ? coverage_weight.detach() : coverage_weight](const Tensor<T>& g) {
               const bool with_coverage = coverage.defined();
               Tensor<T> d_keys = Tensor<T>::empty(Shape{B, S, A}), d_query = Tensor<T>::empty(Shape{B, A});
               Tensor<T> d_v = Tensor<T>::zeros(Shape{A});
               Tensor<T> d_coverage, d_weight;
               if (with_coverage) d_coverage = Tensor<T>::empty(Shape{B, S}), d_weight = Tensor<T>::zeros(Shape{A});
               const ConstBlock v_row(v.data(), 1, A);
               for (index_t b = 0; b < B; ++b) {
                   const ConstBlock u(units.data() + b * S * A, S, A);
                   const ConstBlock de(g.data() + b * S, S, 1);
                   Block dz(d_keys.data() + b * S * A, S, A);  // dk_i = dz_i = de_i v ⊙ (1 − u_i²)
                   dz = ((de * v_row).array() * (T(1) - u.array().square())).matrix();
                   Block(d_query.data() + b * A, 1, A) = dz.colwise().sum();
                   Block(d_v.data(), 1, A).noalias() += de.transpose() * u;
                   if (with_coverage) {
                       Block(d_weight.data(), 1, A).noalias() += ConstBlock(coverage.data() + b * S, 1, S) * dz;
                       Block(d_coverage.data() + b * S, S, 1).noalias() = dz * ConstBlock(w_c.data(), A, 1);
                   }
               }
               return std::vector<Tensor<T>>{d_keys, d_query, d_v, d_coverage, d_weight};
           });
    return scores;
}

// Luong's scores e [B, S] from keys [B, S, D] and query [B, D] (dot: the keys
// are the memory; general: the memory times W_a), optionally plus w_c c_i with
// coverage [B, S] and a scalar weight w_c [1].
template <typename T>
Tensor<T> multiplicative_scores(const Tensor<T>& keys, const Tensor<T>& query, const Tensor<T>& coverage = Tensor<T>(),
                                const Tensor<T>& coverage_weight = Tensor<T>()) {
    detail::check_score_args("loom::multiplicative_scores", keys, query, coverage, coverage_weight, Shape{1});
    const index_t B = keys.shape()[0], S = keys.shape()[1], D = keys.shape()[2];
    const bool with_coverage = coverage.defined();
    Tensor<T> scores = Tensor<T>::empty(Shape{B, S});
    for (index_t b = 0; b < B; ++b)
        for (index_t i = 0; i < S; ++i) {
            const T* k = keys.data() + (b * S + i) * D;
            const T* q = query.data() + b * D;
            T e = with_coverage ? coverage_weight.data()[0] * coverage.data()[b * S + i] : T(0);
            for (index_t j = 0; j < D; ++j) e += k[j] * q[j];
            scores.data()[b * S + i] = e;
        }
    if (!needs_grad(std::vector<Tensor<T>>{keys, query, coverage, coverage_weight})) return scores;
    record(scores, "multiplicative_scores", {keys, query, coverage, coverage_weight},
           [B, S, D, keys = keys.detach(), query = query.detach(),
            coverage = with_coverage ? coverage.detach() : coverage,
            w_c = with_coverage ? coverage_weight.detach() : coverage_weight](const Tensor<T>& g) {
               const bool with_coverage = coverage.defined();
               Tensor<T> d_keys = Tensor<T>::empty(Shape{B, S, D}), d_query = Tensor<T>::zeros(Shape{B, D});
               Tensor<T> d_coverage, d_weight;
               if (with_coverage) d_coverage = Tensor<T>::empty(Shape{B, S}), d_weight = Tensor<T>::zeros(Shape{1});
               for (index_t b = 0; b < B; ++b)
                   for (index_t i = 0; i < S; ++i) {
                       const T de = g.data()[b * S + i];
                       const T* k = keys.data() + (b * S + i) * D;
                       const T* q = query.data() + b * D;
                       for (index_t j = 0; j < D; ++j) {
                           d_keys.data()[(b * S + i) * D + j] = de * q[j];
                           d_query.data()[b * D + j] += de * k[j];
                       }
                       if (with_coverage) {
                           d_weight.data()[0] += de * coverage.data()[b * S + i];
                           d_coverage.data()[b * S + i] = de * w_c.data()[0];
                       }
                   }
               return std::vector<Tensor<T>>{d_keys, d_query, d_coverage, d_weight};
           });
    return scores;
}

template <typename T>
struct MemoryRead {
    Tensor<T> context;  // [B, Dv]: Σ_i a_i h_i
    Tensor<T> weights;  // [B, S]: the attention distribution a (zero on the padding)
};

// The distribution a over each row's first lengths[b] positions (all S when
// lengths is empty) from scores [B, S], and the context it reads from
// memory [B, S, Dv]. The softmax subtracts the row's largest real score, so
// no score, however large, overflows.
template <typename T>
MemoryRead<T> attend_memory(const Tensor<T>& scores, const Tensor<T>& memory, const std::vector<index_t>& lengths = {}) {
    const char* op = "loom::attend_memory";
    detail::check(memory.defined() && memory.rank() == 3, op, ": memory must be [batch, source, features], got ",
                  detail::shape_or_undefined(memory));
    const index_t B = memory.shape()[0], S = memory.shape()[1], F = memory.shape()[2];
    detail::check(scores.defined() && scores.shape() == Shape{B, S}, op, ": scores must be [", B, ", ", S,
                  "] for memory ", memory.shape(), ", got ", detail::shape_or_undefined(scores));
    detail::check(lengths.empty() || static_cast<index_t>(lengths.size()) == B, op, ": lengths has ", lengths.size(),
                  " entries for a batch of ", B);
    for (std::size_t b = 0; b < lengths.size(); ++b)
        detail::check(lengths[b] >= 1 && lengths[b] <= S, op, ": source ", b, " has length ", lengths[b],
                      lengths[b] < 1 ? " (an all-padding row); every source needs at least one position"
                                     : ", more than the memory's ", S, " positions");
    MemoryRead<T> out{Tensor<T>::zeros(Shape{B, F}), Tensor<T>::zeros(Shape{B, S})};
    for (index_t b = 0; b < B; ++b) {
        const index_t n = lengths.empty() ? S : lengths[static_cast<std::size_t>(b)];
        const T* e = scores.data() + b * S;
        T* a = out.weights.data() + b * S;
        const T largest = *std::max_element(e, e + n);
        T total = 0;
        for (index_t i = 0; i < n; ++i) total += a[i] = std::exp(e[i] - largest);
        for (index_t i = 0; i < n; ++i) {
            a[i] /= total;
            const T* h = memory.data() + (b * S + i) * F;
            T* context = out.context.data() + b * F;
            for (index_t j = 0; j < F; ++j) context[j] += a[i] * h[j];
        }
    }
    if (!needs_grad(scores, memory)) return out;
    record_multi<T>(
        {&out.context, &out.weights}, "attend_memory", {scores, memory},
        [B, S, F, weights = out.weights.detach(), memory = memory.detach()](const std::vector<Tensor<T>>& grads) {
            const Tensor<T>& d_context = grads[0];
            const Tensor<T>& d_weights = grads[1];
            Tensor<T> d_scores = Tensor<T>::empty(Shape{B, S}), d_memory = Tensor<T>::zeros(Shape{B, S, F});
            std::vector<T> da(static_cast<std::size_t>(S));
            for (index_t b = 0; b < B; ++b) {
                const T* a = weights.data() + b * S;
                T weighted = 0;  // Σ_j a_j da_j
                for (index_t i = 0; i < S; ++i) {
                    T value = d_weights.defined() ? d_weights.data()[b * S + i] : T(0);
                    if (d_context.defined()) {
                        const T* g = d_context.data() + b * F;
                        const T* h = memory.data() + (b * S + i) * F;
                        T* dh = d_memory.data() + (b * S + i) * F;
                        for (index_t j = 0; j < F; ++j) {
                            value += g[j] * h[j];
                            dh[j] = a[i] * g[j];
                        }
                    }
                    da[static_cast<std::size_t>(i)] = value;
                    weighted += a[i] * value;
                }
                for (index_t i = 0; i < S; ++i)
                    d_scores.data()[b * S + i] = a[i] * (da[static_cast<std::size_t>(i)] - weighted);
            }
            return std::vector<Tensor<T>>{d_scores, d_memory};
        });
    return out;
}

// See et al.'s coverage loss of one step, Σ_b Σ_i min(a_bi, c_bi), for
// weights a and coverage c, both [B, S]. (Divide by the number of target
// tokens and weight it as the caller's recipe says.)
template <typename T>
Tensor<T> coverage_loss(const Tensor<T>& weights, const Tensor<T>& coverage) {
    detail::check(weights.defined() && coverage.defined() && weights.rank() == 2 && weights.shape() == coverage.shape(),
                  "loom::coverage_loss: weights and coverage must both be [batch, source], got ",
                  detail::shape_or_undefined(weights), " and ", detail::shape_or_undefined(coverage));
    const index_t n = weights.numel();
    T total = 0;
    for (index_t i = 0; i < n; ++i) total += std::min(weights.data()[i], coverage.data()[i]);
    Tensor<T> loss = Tensor<T>::scalar(total);
    if (!needs_grad(weights, coverage)) return loss;
    record(loss, "coverage_loss", {weights, coverage},
           [n, shape = weights.shape(), a = weights.detach(), c = coverage.detach()](const Tensor<T>& g) {
               Tensor<T> d_a = Tensor<T>::zeros(shape), d_c = Tensor<T>::zeros(shape);
               const T scale = g.data()[0];
               for (index_t i = 0; i < n; ++i) {
                   if (a.data()[i] < c.data()[i]) d_a.data()[i] = scale;
                   else d_c.data()[i] = scale;
               }
               return std::vector<Tensor<T>>{d_a, d_c};
           });
    return loss;
}

}  // namespace loom
