// loom/ops/crf.hpp — the negative log-likelihood of a linear-chain CRF, by the
// forward algorithm in log space, with the backward from forward–backward
// marginals.
//
// Emissions e [B, T, K] score tag k at step t; transitions A [K, K] score
// moving from tag i to tag j; start s [K] and end f [K] score the first and
// last tag. A sequence of length L (its mask: steps 0 .. L−1 real) and tags
// y_0 … y_{L−1} has the score
//   score(y) = s_{y_0} + Σ_{t<L} e_t(y_t) + Σ_{1≤t<L} A[y_{t−1}, y_t] + f_{y_{L−1}}
// and the CRF gives it p(y | e) = exp(score(y)) / Z, Z summing exp(score) over
// all K^L tag sequences. The forward algorithm computes log Z in O(L·K²):
//   α_0(j) = s_j + e_0(j),   α_t(j) = e_t(j) + logsumexp_i(α_{t−1}(i) + A_ij),
//   log Z = logsumexp_j(α_{L−1}(j) + f_j),          NLL = log Z − score(y).
// Backward. log Z is a log-sum-exp of path scores, so its derivative by any
// score term is the probability that a path uses that term. With
//   β_{L−1}(i) = f_i,   β_t(i) = logsumexp_j(A_ij + e_{t+1}(j) + β_{t+1}(j)),
// the marginals are P(y_t = j) = exp(α_t(j) + β_t(j) − log Z) and
// P(y_{t−1} = i, y_t = j) = exp(α_{t−1}(i) + A_ij + e_t(j) + β_t(j) − log Z), and
//   ∂NLL/∂e_t(j) = P(y_t = j) − [y_t = j]                    (0 for t ≥ L)
//   ∂NLL/∂A_ij   = Σ_{1≤t<L} P(y_{t−1} = i, y_t = j) − #{t : y_{t−1} = i, y_t = j}
//   ∂NLL/∂s_j    = P(y_0 = j) − [y_0 = j],   ∂NLL/∂f_j = P(y_{L−1} = j) − [y_{L−1} = j]
// Reductions: none → [B]; sum; mean = sum / B (the mean over sequences).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/ops/reduction.hpp"
#include "loom/tensor/index_tensor.hpp"
#include "loom/tensor/parallel.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

namespace detail {

template <typename T>
T log_sum_exp(const T* values, index_t count) {
    const T peak = *std::max_element(values, values + count);
    if (peak == -std::numeric_limits<T>::infinity()) return peak;
    T total = T(0);
    for (index_t i = 0; i < count; ++i) total += std::exp(values[i] - peak);
    return peak + std::log(total);
}

// The sequence lengths a mask [B, T] gives (nonzero = a real step), checking
// that each row is a prefix of real steps starting at step 0. An empty mask
// means every step is real.
inline std::vector<index_t> crf_lengths(const char* op, const IndexTensor& mask, index_t batch, index_t steps) {
    std::vector<index_t> lengths(static_cast<std::size_t>(batch), steps);
    if (mask.numel() == 0 && mask.rank() == 1) return lengths;
    check(mask.shape() == Shape{batch, steps}, op, ": mask must be [batch, steps] = [", batch, ", ", steps,
          "], got ", mask.shape());
    for (index_t b = 0; b < batch; ++b) {
        index_t length = 0;
        while (length < steps && mask[b * steps + length] != 0) ++length;
        for (index_t t = length; t < steps; ++t)
            check(mask[b * steps + t] == 0, op, ": the mask of sequence ", b, " has a real step at ", t,
                  " after padding at ", length, "; masks must be a prefix of real steps");
        check(length > 0, op, ": sequence ", b, " has no real step (mask[", b, ", 0] is 0)");
        lengths[static_cast<std::size_t>(b)] = length;
    }
    return lengths;
}

inline void crf_check_scores(const char* op, const Shape& emissions, const Shape& transitions, const Shape& start,
                             const Shape& end) {
    check(emissions.rank() == 3 && emissions[1] > 0 && emissions[2] > 0, op,
          ": emissions must be [batch, steps, num_tags] with steps and num_tags > 0, got ", emissions);
    const index_t tags = emissions[2];
    check(transitions == Shape{tags, tags} && start == Shape{tags} && end == Shape{tags}, op, ": emissions ",
          emissions, " need transitions [", tags, ", ", tags, "], start and end [", tags, "]; got ", transitions,
          ", ", start, ", ", end);
}

// One sequence: α (kept for the backward) and log Z.
template <typename T>
struct CrfForward {
    std::vector<T> alpha;  // [L, K]
    T log_partition = T(0);
};

template <typename T>
CrfForward<T> crf_alpha(const T* emissions, index_t length, index_t tags, const T* transitions, const T* start,
                        const T* end) {
    CrfForward<T> result;
    result.alpha.resize(static_cast<std::size_t>(length * tags));
    std::vector<T> terms(static_cast<std::size_t>(tags));
    for (index_t j = 0; j < tags; ++j) result.alpha[static_cast<std::size_t>(j)] = start[j] + emissions[j];
    for (index_t t = 1; t < length; ++t) {
        const T* previous = result.alpha.data() + (t - 1) * tags;
        for (index_t j = 0; j < tags; ++j) {
            for (index_t i = 0; i < tags; ++i) terms[static_cast<std::size_t>(i)] = previous[i] + transitions[i * tags + j];
            result.alpha[static_cast<std::size_t>(t * tags + j)] = emissions[t * tags + j] + log_sum_exp(terms.data(), tags);
        }
    }
    const T* last = result.alpha.data() + (length - 1) * tags;
    for (index_t j = 0; j < tags; ++j) terms[static_cast<std::size_t>(j)] = last[j] + end[j];
    result.log_partition = log_sum_exp(terms.data(), tags);
    return result;
}

template <typename T>
T crf_path_score(const T* emissions, const index_t* path, index_t length, index_t tags, const T* transitions,
                 const T* start, const T* end) {
    T score = start[path[0]] + end[path[length - 1]];
    for (index_t t = 0; t < length; ++t) score += emissions[t * tags + path[t]];
    for (index_t t = 1; t < length; ++t) score += transitions[path[t - 1] * tags + path[t]];
    return score;
}

// Where one sequence's gradients go (scaled by `scale`): d_emissions is this
// sequence's [T, K] block, the others are its own [K, K], [K], [K] buffers.
template <typename T>
struct CrfGradients {
    T* emissions;
    T* transitions;
    T* start;
    T* end;
};

template <typename T>
void crf_backward(const T* emissions, const index_t* path, index_t length, index_t tags, const T* transitions,
                  const T* end, const CrfForward<T>& forward, T scale, const CrfGradients<T>& out) {
    std::vector<T> beta(static_cast<std::size_t>(tags)), next_beta(static_cast<std::size_t>(tags)),
        terms(static_cast<std::size_t>(tags));
    for (index_t i = 0; i < tags; ++i) beta[static_cast<std::size_t>(i)] = end[i];
    for (index_t t = length - 1; t >= 0; --t) {
        const T* alpha = forward.alpha.data() + t * tags;
        for (index_t j = 0; j < tags; ++j) {
            const T marginal = std::exp(alpha[j] + beta[static_cast<std::size_t>(j)] - forward.log_partition);
            out.emissions[t * tags + j] += scale * marginal;
            if (t == 0) out.start[j] += scale * marginal;
            if (t == length - 1) out.end[j] += scale * marginal;
        }
        if (t == 0) break;
        // Pair marginals of (t−1, t), and β_{t−1} for the next round.
        const T* previous_alpha = forward.alpha.data() + (t - 1) * tags;
        for (index_t i = 0; i < tags; ++i) {
            for (index_t j = 0; j < tags; ++j) {
                const T through = transitions[i * tags + j] + emissions[t * tags + j] + beta[static_cast<std::size_t>(j)];
                terms[static_cast<std::size_t>(j)] = through;
                out.transitions[i * tags + j] += scale * std::exp(previous_alpha[i] + through - forward.log_partition);
            }
            next_beta[static_cast<std::size_t>(i)] = log_sum_exp(terms.data(), tags);
        }
        std::swap(beta, next_beta);
    }
    // The gold path's own terms, each counted once per use.
    for (index_t t = 0; t < length; ++t) out.emissions[t * tags + path[t]] -= scale;
    for (index_t t = 1; t < length; ++t) out.transitions[path[t - 1] * tags + path[t]] -= scale;
    out.start[path[0]] -= scale;
    out.end[path[length - 1]] -= scale;
}

}  // namespace detail

// −log p(tags | emissions) of a linear-chain CRF (see the top of the file):
// emissions [B, T, K] (batch-first), tags [B, T] in [0, K) (ignored past each
// sequence's length), mask [B, T] (nonzero = real step; a prefix per row;
// empty: all real), transitions [K, K] (from row tag to column tag), start and
// end [K]. Differentiable in emissions, transitions, start and end.
template <typename T>
Tensor<T> crf_negative_log_likelihood(const Tensor<T>& emissions, const IndexTensor& tags, const IndexTensor& mask,
                                      const Tensor<T>& transitions, const Tensor<T>& start, const Tensor<T>& end,
                                      Reduction reduction = Reduction::mean) {
    const char* op = "loom::crf_negative_log_likelihood";
    detail::crf_check_scores(op, emissions.shape(), transitions.shape(), start.shape(), end.shape());
    const index_t batch = emissions.shape()[0], steps = emissions.shape()[1], num_tags = emissions.shape()[2];
    detail::check(tags.shape() == Shape{batch, steps}, op, ": tags must be [batch, steps] = [", batch, ", ", steps,
                  "] like the emissions ", emissions.shape(), ", got ", tags.shape());
    const std::vector<index_t> lengths = detail::crf_lengths(op, mask, batch, steps);
    for (index_t b = 0; b < batch; ++b)
        for (index_t t = 0; t < lengths[static_cast<std::size_t>(b)]; ++t)
            detail::check(tags[b * steps + t] >= 0 && tags[b * steps + t] < num_tags, op, ": tag ", tags[b * steps + t],
                          " at [", b, ", ", t, "] is out of range for ", num_tags, " tags");

    auto forwards = std::make_shared<std::vector<detail::CrfForward<T>>>(static_cast<std::size_t>(batch));
    std::vector<T> losses(static_cast<std::size_t>(batch));
    parallel_for(batch, 1, [&](index_t begin, index_t stop) {
        for (index_t b = begin; b < stop; ++b) {
            const std::size_t k = static_cast<std::size_t>(b);
            const T* e = emissions.data() + b * steps * num_tags;
            (*forwards)[k] = detail::crf_alpha(e, lengths[k], num_tags, transitions.data(), start.data(), end.data());
            losses[k] = (*forwards)[k].log_partition - detail::crf_path_score(e, tags.data() + b * steps, lengths[k],
                                                                               num_tags, transitions.data(),
                                                                               start.data(), end.data());
        }
    });
    Tensor<T> result;
    if (reduction == Reduction::none) {
        result = Tensor<T>::from_vector(losses, Shape{batch});
    } else {
        T total = T(0);
        for (T loss : losses) total += loss;
        result = Tensor<T>::scalar(reduction == Reduction::mean ? total / static_cast<T>(batch) : total);
    }

    if (needs_grad(emissions, transitions, start, end)) {
        record(result, "crf_negative_log_likelihood", {emissions, transitions, start, end},
               [e = emissions.detach(), a = transitions.detach(), s = start.detach(), f = end.detach(), tags, lengths,
                forwards, reduction, batch, steps, num_tags](const Tensor<T>& upstream) {
                   const index_t square = num_tags * num_tags;
                   Tensor<T> d_emissions = Tensor<T>::zeros(e.shape());
                   // Each sequence adds into its own transition/start/end rows; summed after.
                   std::vector<T> own(static_cast<std::size_t>(batch * (square + 2 * num_tags)), T(0));
                   parallel_for(batch, 1, [&](index_t begin, index_t stop) {
                       for (index_t b = begin; b < stop; ++b) {
                           const T scale = reduction == Reduction::none ? upstream.data()[b]
                                           : reduction == Reduction::mean ? upstream.data()[0] / static_cast<T>(batch)
                                                                          : upstream.data()[0];
                           T* mine = own.data() + b * (square + 2 * num_tags);
                           detail::crf_backward(e.data() + b * steps * num_tags, tags.data() + b * steps,
                                                lengths[static_cast<std::size_t>(b)], num_tags, a.data(), f.data(),
                                                (*forwards)[static_cast<std::size_t>(b)], scale,
                                                detail::CrfGradients<T>{d_emissions.data() + b * steps * num_tags, mine,
                                                                        mine + square, mine + square + num_tags});
                       }
                   });
                   Tensor<T> d_transitions = Tensor<T>::zeros(a.shape()), d_start = Tensor<T>::zeros(s.shape()),
                             d_end = Tensor<T>::zeros(f.shape());
                   for (index_t b = 0; b < batch; ++b) {
                       const T* mine = own.data() + b * (square + 2 * num_tags);
                       for (index_t i = 0; i < square; ++i) d_transitions.data()[i] += mine[i];
                       for (index_t j = 0; j < num_tags; ++j) {
                           d_start.data()[j] += mine[square + j];
                           d_end.data()[j] += mine[square + num_tags + j];
                       }
                   }
                   return std::vector<Tensor<T>>{d_emissions, d_transitions, d_start, d_end};
               });
    }
    return result;
}

}  // namespace loom
