// loom/ops/ctc.hpp — Connectionist Temporal Classification loss (Graves et al.
// 2006), the semantics of torch.nn.functional.ctc_loss.
//
// Inputs: log-probabilities y [T, B, C] (log_softmax over C; time-major, as
// PyTorch), per-sequence input lengths T_b ≤ T, targets l_b of lengths S_b
// (labels in [0, C), never the blank). An alignment is a path π of T_b symbols
// that collapses to l_b after merging repeats and dropping blanks; CTC is
//   loss_b = −log p(l_b | x) = −log Σ_π Π_t exp(y[t, b, π_t]).
// The sum runs over the extended label l' = (blank, l_1, blank, l_2, …, l_S,
// blank), |l'| = 2S + 1, with the forward variables (log space throughout, so
// nothing underflows however long T is):
//   α_0(0) = y_0(blank),  α_0(1) = y_0(l_1),  α_0(s) = −∞ otherwise;
//   α_t(s) = y_t(l'_s) + logsumexp(α_{t−1}(s), α_{t−1}(s−1), α_{t−1}(s−2))
// where the s−2 term counts only when l'_s ≠ blank and l'_s ≠ l'_{s−2} (a path
// may skip a blank only between two different labels). Then
//   log p(l | x) = logsumexp(α_{T_b−1}(|l'|−1), α_{T_b−1}(|l'|−2)).
// The backward variables β run the same recursion from the end:
//   β_{T_b−1}(|l'|−1) = y(blank),  β_{T_b−1}(|l'|−2) = y(l_S),
//   β_t(s) = y_t(l'_s) + logsumexp(β_{t+1}(s), β_{t+1}(s+1), β_{t+1}(s+2)),
// with the s+2 term under the same rule, seen from s+2. α_t(s) + β_t(s) − y_t(l'_s)
// is the log of the total probability of the paths through state s at time t,
// so the posterior that time t emits symbol c is
//   γ_t(c) = Σ_{s : l'_s = c} exp(α_t(s) + β_t(s) − y_t(l'_s) − log p(l | x)),
// and the backward of loss_b with respect to each log-probability is
//   ∂loss_b / ∂y[t, b, c] = −γ_t(c)  for t < T_b,   0 for t ≥ T_b.
// (PyTorch's ctc_loss returns exp(y) − γ instead, the gradient with respect to
// the logits *before* a log_softmax; chained through log_softmax both give the
// same logit gradient, softmax − γ. loom returns the true partial derivative,
// so that gradcheck holds on the op alone.)
//
// Reductions (Reduction in ops/reduction.hpp): none → [B]; sum → Σ_b loss_b;
// mean → (1/B) Σ_b loss_b / max(S_b, 1), torch's definition. An impossible
// target (too long for T_b, counting the blanks that repeated labels need) has
// loss +∞ and zero gradient; zero_infinity = true makes that loss 0 as well.
// (PyTorch's gradient there is NaN; loom never returns NaN from valid input.)
#pragma once

#include <Eigen/Core>

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

struct CtcOptions {
    index_t blank = 0;
    Reduction reduction = Reduction::mean;
    bool zero_infinity = false;
};

namespace detail {

// One sequence of the batch, in the layout the recursions use.
template <typename T>
struct CtcSequence {
    index_t batch_index = 0;
    index_t input_length = 0;
    std::vector<index_t> extended;   // l' = blank, l_1, blank, …, l_S, blank
    Eigen::Array<T, Eigen::Dynamic, 1> skip;  // 0 where α may come from s−2 (β: from s+2 reversed), −∞ elsewhere
    std::vector<T> log_alpha;        // [T_b, |l'|], row-major
    T log_likelihood = -std::numeric_limits<T>::infinity();

    index_t states() const { return static_cast<index_t>(extended.size()); }
};

template <typename T>
CtcSequence<T> make_ctc_sequence(index_t batch_index, index_t input_length, const index_t* labels,
                                 index_t target_length, index_t blank) {
    CtcSequence<T> sequence;
    sequence.batch_index = batch_index;
    sequence.input_length = input_length;
    sequence.extended.assign(static_cast<std::size_t>(2 * target_length + 1), blank);
    for (index_t i = 0; i < target_length; ++i) sequence.extended[static_cast<std::size_t>(2 * i + 1)] = labels[i];
    const index_t states = sequence.states();
    sequence.skip = Eigen::Array<T, Eigen::Dynamic, 1>::Constant(states, -std::numeric_limits<T>::infinity());
    for (index_t s = 2; s < states; ++s) {
        const index_t label = sequence.extended[static_cast<std::size_t>(s)];
        if (label != blank && label != sequence.extended[static_cast<std::size_t>(s - 2)]) sequence.skip[s] = T(0);
    }
    return sequence;
}

// log(e^a + e^b + e^c) element-wise, vectorised by Eigen. Where all three are
// −∞ the shift is 0 (so no −∞ − (−∞) = NaN), and the result is set to −∞ in a
// second pass: Eigen's vectorised exp clamps its argument (near −88.7 in float,
// −709.8 in double), so e^(−∞) comes out as a tiny positive number and the log
// would be a large but finite value instead of −∞. Elsewhere the peak term
// contributes e^0 = 1 to the sum, so those tiny numbers change nothing.
template <typename T>
Eigen::Array<T, Eigen::Dynamic, 1> logsumexp3(const Eigen::Array<T, Eigen::Dynamic, 1>& a,
                                             const Eigen::Array<T, Eigen::Dynamic, 1>& b,
                                             const Eigen::Array<T, Eigen::Dynamic, 1>& c) {
    const T minus_infinity = -std::numeric_limits<T>::infinity();
    const Eigen::Array<T, Eigen::Dynamic, 1> peak = a.max(b).max(c);
    const Eigen::Array<T, Eigen::Dynamic, 1> shift = (peak == minus_infinity).select(T(0), peak);
    Eigen::Array<T, Eigen::Dynamic, 1> result = shift + ((a - shift).exp() + (b - shift).exp() + (c - shift).exp()).log();
    for (index_t s = 0; s < result.size(); ++s)
        if (peak[s] == minus_infinity) result[s] = minus_infinity;
    return result;
}

// y_t(l'_s) for every state s: the emissions of time t gathered along l'.
template <typename T>
void gather_emissions(const T* log_probs_t, const std::vector<index_t>& extended,
                      Eigen::Array<T, Eigen::Dynamic, 1>& emission) {
    for (std::size_t s = 0; s < extended.size(); ++s) emission[static_cast<index_t>(s)] = log_probs_t[extended[s]];
}

// Fills sequence.log_alpha and sequence.log_likelihood. log_probs points at
// [T, B, C]; time t of this sequence starts at (t·B + b)·C.
template <typename T>
void ctc_alpha(const T* log_probs, index_t batch, index_t classes, CtcSequence<T>& sequence) {
    using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
    const T minus_infinity = -std::numeric_limits<T>::infinity();
    const index_t states = sequence.states(), length = sequence.input_length;
    if (length == 0) {  // the empty path: probability 1 for the empty target, 0 otherwise
        sequence.log_likelihood = states == 1 ? T(0) : minus_infinity;
        return;
    }
    sequence.log_alpha.assign(static_cast<std::size_t>(length * states), minus_infinity);
    const auto emissions_at = [&](index_t t) { return log_probs + (t * batch + sequence.batch_index) * classes; };
    Array emission(states), from_same(states), from_previous(states), from_skip(states);

    Eigen::Map<Array> first(sequence.log_alpha.data(), states);
    first[0] = emissions_at(0)[sequence.extended[0]];
    if (states > 1) first[1] = emissions_at(0)[sequence.extended[1]];
    for (index_t t = 1; t < length; ++t) {
        Eigen::Map<const Array> previous(sequence.log_alpha.data() + (t - 1) * states, states);
        from_same = previous;
        from_previous[0] = minus_infinity;
        from_previous.tail(states - 1) = previous.head(states - 1);
        from_skip.head(std::min<index_t>(2, states)).setConstant(minus_infinity);
        if (states > 2) from_skip.tail(states - 2) = previous.head(states - 2) + sequence.skip.tail(states - 2);
        gather_emissions(emissions_at(t), sequence.extended, emission);
        Eigen::Map<Array>(sequence.log_alpha.data() + t * states, states) =
            emission + logsumexp3(from_same, from_previous, from_skip);
    }
    const T* last = sequence.log_alpha.data() + (length - 1) * states;
    const T end_blank = last[states - 1], end_label = states > 1 ? last[states - 2] : minus_infinity;
    const T peak = std::max(end_blank, end_label);
    sequence.log_likelihood =
        peak == minus_infinity ? minus_infinity : peak + std::log(std::exp(end_blank - peak) + std::exp(end_label - peak));
}

// ∂loss_b/∂y[t, b, ·] = −scale · γ_t(·), written into gradient (zeroed by the
// caller) for t < T_b. Runs the β recursion backwards in time, using each β_t
// as soon as it is known, so only two rows of β are ever kept.
template <typename T>
void ctc_gradient(const T* log_probs, index_t batch, index_t classes, const CtcSequence<T>& sequence, T scale,
                  T* gradient) {
    using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
    const T minus_infinity = -std::numeric_limits<T>::infinity();
    const index_t states = sequence.states(), length = sequence.input_length;
    if (length == 0 || !std::isfinite(sequence.log_likelihood)) return;
    const index_t offset = sequence.batch_index * classes;
    Array emission(states), beta(states), next_beta(states), from_same(states), from_next(states), from_skip(states);
    Array occupancy(states);
    for (index_t t = length - 1; t >= 0; --t) {
        gather_emissions(log_probs + t * batch * classes + offset, sequence.extended, emission);
        if (t == length - 1) {
            beta.setConstant(minus_infinity);
            beta[states - 1] = emission[states - 1];
            if (states > 1) beta[states - 2] = emission[states - 2];
        } else {
            // β_{t+1}(s+2) may feed s exactly when α_{t+1}(s+2) may come from s.
            from_same = next_beta;
            from_next[states - 1] = minus_infinity;
            from_next.head(states - 1) = next_beta.tail(states - 1);
            from_skip.tail(std::min<index_t>(2, states)).setConstant(minus_infinity);
            if (states > 2) from_skip.head(states - 2) = next_beta.tail(states - 2) + sequence.skip.tail(states - 2);
            beta = emission + logsumexp3(from_same, from_next, from_skip);
        }
        Eigen::Map<const Array> alpha(sequence.log_alpha.data() + t * states, states);
        // Unreachable states (α or β = −∞) contribute 0; testing them first
        // avoids −∞ − (−∞) where the emission itself is −∞.
        occupancy = ((alpha == minus_infinity) || (beta == minus_infinity))
                        .select(T(0), (alpha + beta - emission - sequence.log_likelihood).exp());
        T* row = gradient + t * batch * classes + offset;
        for (index_t s = 0; s < states; ++s) row[sequence.extended[static_cast<std::size_t>(s)]] -= scale * occupancy[s];
        next_beta = beta;
    }
}

// Finds target b's labels in either layout: [B, S_max] padded or the 1-D
// concatenation of all targets (as PyTorch accepts both).
struct CtcTargets {
    const index_t* base;
    std::vector<index_t> offsets;
};

inline CtcTargets ctc_validate(const Shape& log_probs_shape, const IndexTensor& targets,
                               const std::vector<index_t>& input_lengths, const std::vector<index_t>& target_lengths,
                               const CtcOptions& options) {
    check(log_probs_shape.rank() == 3, "loom::ctc_loss: log_probs must be [T, B, C] (time-major), got shape ",
          log_probs_shape);
    const index_t time = log_probs_shape[0], batch = log_probs_shape[1], classes = log_probs_shape[2];
    check(static_cast<index_t>(input_lengths.size()) == batch && static_cast<index_t>(target_lengths.size()) == batch,
          "loom::ctc_loss: log_probs ", log_probs_shape, " has batch ", batch, " but there are ",
          input_lengths.size(), " input lengths and ", target_lengths.size(), " target lengths");
    check(options.blank >= 0 && options.blank < classes, "loom::ctc_loss: blank ", options.blank,
          " is out of range for ", classes, " classes");
    check(targets.rank() == 1 || (targets.rank() == 2 && targets.shape()[0] == batch),
          "loom::ctc_loss: targets must be [B, S] (padded) or 1-D (concatenated) with B = ", batch, ", got shape ",
          targets.shape());
    CtcTargets found{targets.data(), std::vector<index_t>(static_cast<std::size_t>(batch))};
    index_t concatenated = 0;
    for (index_t b = 0; b < batch; ++b) {
        const index_t input_length = input_lengths[static_cast<std::size_t>(b)];
        const index_t target_length = target_lengths[static_cast<std::size_t>(b)];
        check(input_length >= 0 && input_length <= time, "loom::ctc_loss: input length ", input_length,
              " of sequence ", b, " is outside [0, ", time, "] for log_probs ", log_probs_shape);
        check(target_length >= 0, "loom::ctc_loss: target length ", target_length, " of sequence ", b, " is negative");
        if (targets.rank() == 2) {
            check(target_length <= targets.shape()[1], "loom::ctc_loss: target length ", target_length,
                  " of sequence ", b, " exceeds the padded targets ", targets.shape());
            found.offsets[static_cast<std::size_t>(b)] = b * targets.shape()[1];
        } else {
            check(concatenated + target_length <= targets.numel(), "loom::ctc_loss: the target lengths add up to more than the ",
                  targets.numel(), " concatenated targets (sequence ", b, ")");
            found.offsets[static_cast<std::size_t>(b)] = concatenated;
            concatenated += target_length;
        }
        for (index_t i = 0; i < target_length; ++i) {
            const index_t label = found.base[found.offsets[static_cast<std::size_t>(b)] + i];
            check(label >= 0 && label < classes, "loom::ctc_loss: label ", label, " at position ", i,
                  " of target ", b, " is out of range for ", classes, " classes");
            check(label != options.blank, "loom::ctc_loss: target ", b, " holds the blank (", options.blank,
                  ") at position ", i, "; targets may only hold real labels");
        }
    }
    return found;
}

}  // namespace detail

// The CTC loss of log_probs [T, B, C] against targets ([B, S] padded, or 1-D
// concatenated), as torch.nn.functional.ctc_loss(log_probs, targets,
// input_lengths, target_lengths, blank, reduction, zero_infinity). Returns a
// scalar, or [B] for Reduction::none. Differentiable in log_probs.
template <typename T>
Tensor<T> ctc_loss(const Tensor<T>& log_probs, const IndexTensor& targets, const std::vector<index_t>& input_lengths,
                   const std::vector<index_t>& target_lengths, const CtcOptions& options = CtcOptions{}) {
    detail::check(log_probs.defined(), "loom::ctc_loss: log_probs is undefined");
    const detail::CtcTargets found =
        detail::ctc_validate(log_probs.shape(), targets, input_lengths, target_lengths, options);
    const index_t batch = log_probs.shape()[1], classes = log_probs.shape()[2];
    const Tensor<T>& input = log_probs;

    auto sequences = std::make_shared<std::vector<detail::CtcSequence<T>>>();
    sequences->reserve(static_cast<std::size_t>(batch));
    for (index_t b = 0; b < batch; ++b) {
        const std::size_t k = static_cast<std::size_t>(b);
        sequences->push_back(detail::make_ctc_sequence<T>(b, input_lengths[k], found.base + found.offsets[k],
                                                          target_lengths[k], options.blank));
    }
    parallel_for(batch, 1, [&](index_t begin, index_t end) {
        for (index_t b = begin; b < end; ++b)
            detail::ctc_alpha(input.data(), batch, classes, (*sequences)[static_cast<std::size_t>(b)]);
    });

    // Per-sequence losses, and the weight each one has in the reduced loss.
    std::vector<T> losses(static_cast<std::size_t>(batch)), weights(static_cast<std::size_t>(batch), T(1));
    for (index_t b = 0; b < batch; ++b) {
        const std::size_t k = static_cast<std::size_t>(b);
        const T loss = -(*sequences)[k].log_likelihood;
        losses[k] = (options.zero_infinity && std::isinf(loss)) ? T(0) : loss;
        if (options.reduction == Reduction::mean)
            weights[k] = T(1) / (static_cast<T>(batch) * static_cast<T>(std::max<index_t>(target_lengths[k], 1)));
    }
    Tensor<T> result;
    if (options.reduction == Reduction::none) {
        result = Tensor<T>::from_vector(losses, Shape{batch});
    } else {
        T total = T(0);
        for (index_t b = 0; b < batch; ++b) total += losses[static_cast<std::size_t>(b)] * weights[static_cast<std::size_t>(b)];
        result = Tensor<T>::scalar(total);
    }

    if (needs_grad(log_probs)) {
        const Reduction reduction = options.reduction;
        record(result, "ctc_loss", {log_probs},
               [input = input.detach(), sequences, weights, reduction, batch, classes](const Tensor<T>& upstream) {
                   const Tensor<T>& g = upstream;
                   Tensor<T> gradient = Tensor<T>::zeros(input.shape());
                   parallel_for(batch, 1, [&](index_t begin, index_t end) {
                       for (index_t b = begin; b < end; ++b) {
                           const std::size_t k = static_cast<std::size_t>(b);
                           const T scale = reduction == Reduction::none ? g.data()[b] : g.data()[0] * weights[k];
                           detail::ctc_gradient(input.data(), batch, classes, (*sequences)[k], scale, gradient.data());
                       }
                   });
                   return std::vector<Tensor<T>>{gradient};
               });
    }
    return result;
}

}  // namespace loom
