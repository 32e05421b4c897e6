// loom/decode/sample.hpp — picking the next token from a row of logits.
//
//   greedy:       argmax_i z_i
//   temperature:  p_i = softmax(z / τ)_i = e^((z_i - m)/τ) / Σ_j e^((z_j - m)/τ),  m = max z
//   top-k:        keep the k largest p_i (ties: the lower id first), renormalise
//   top-p:        sort the kept p_i in decreasing order (ties: lower id first),
//                 keep the shortest prefix whose mass reaches top_p · (its total),
//                 renormalise  ("nucleus sampling", Holtzman et al. 2019)
//   draw:         u ~ U[0, 1) from the explicit generator; the pick is the first
//                 candidate (in id order without top-k/top-p, in sorted order
//                 with them) whose cumulative weight exceeds u · Σ weights
// The filters apply in this order: temperature, top-k, top-p (as in Hugging
// Face's samplers). τ < 1 sharpens the distribution towards the argmax, τ > 1
// flattens it; τ = 0 is greedy, and so is top_k = 1; neither draws from the
// generator, and neither does a pick with only one candidate left. A seed
// fixes the picks.
//
// Logits that are not finite:
//   NaN       an error naming the op and the index ("loom::sample_with_temperature: logit 3 is NaN")
//   -inf      probability 0: never picked; all -inf is an error (no token can be chosen)
//   +inf      the limit of the softmax as those logits grow together: the +inf
//             entries share all the probability equally, everything else gets 0
// Both functions accept logits or log-probabilities (softmax does not change
// when a constant is added to every logit).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "loom/decode/decoder.hpp"
#include "loom/decode/generation.hpp"
#include "loom/tensor/random.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

// Index of the largest of `count` logits (the first one on ties).
template <typename T>
index_t argmax(const T* logits, index_t count) {
    detail::check(count > 0, "loom::argmax: no logits given");
    index_t best = 0;
    for (index_t i = 1; i < count; ++i)
        if (logits[i] > logits[best]) best = i;
    return best;
}

namespace detail {

inline void check_sampling_options(const char* op, double temperature, index_t top_k, double top_p) {
    if (!(temperature >= 0.0 && std::isfinite(temperature)))
        fail(op, ": temperature must be finite and >= 0, got ", temperature);
    if (top_k < 0) fail(op, ": top_k must be >= 0 (0: off), got ", top_k);
    if (!(top_p > 0.0 && top_p <= 1.0)) fail(op, ": top_p must be in (0, 1] (1: off), got ", top_p);
}

// The pick of sample(), sample_with_temperature() and sample_top_k_top_p()
// (and of batched_generation.hpp when it samples).
template <typename T>
index_t sample_token(const char* op, const T* logits, index_t count, double temperature, index_t top_k,
                     double top_p, Generator& generator) {
    if (count <= 0) fail(op, ": no logits given");
    check_sampling_options(op, temperature, top_k, top_p);
    check_logits_row(op, logits, count);
    if (temperature == 0.0 || top_k == 1) return argmax(logits, count);

    // Unnormalised probabilities w_i ∝ softmax(z / τ)_i, in double.
    const T top = logits[argmax(logits, count)];
    const bool infinite_top = std::isinf(top);  // +inf: only NaN or -inf could be larger, and both are excluded
    std::vector<double> weights(static_cast<std::size_t>(count));
    for (index_t i = 0; i < count; ++i) {
        const double z = static_cast<double>(logits[i]);
        weights[static_cast<std::size_t>(i)] =
            infinite_top ? (logits[i] == top ? 1.0 : 0.0) : std::exp((z - static_cast<double>(top)) / temperature);
    }

    const auto draw = [&generator](const std::vector<index_t>& order, const std::vector<double>& w) {
        double total = 0.0;
        for (index_t i : order) total += w[static_cast<std::size_t>(i)];
        const double target = generator.uniform() * total;
        double cumulative = 0.0;
        index_t last_possible = order.front();
        for (index_t i : order) {
            const double weight = w[static_cast<std::size_t>(i)];
            if (weight <= 0.0) continue;
            last_possible = i;
            cumulative += weight;
            if (target < cumulative) return i;
        }
        return last_possible;  // only reached through rounding at the very top
    };

    std::vector<index_t> order;
    if (top_k == 0 && top_p >= 1.0) {
        order.resize(static_cast<std::size_t>(count));
        for (index_t i = 0; i < count; ++i) order[static_cast<std::size_t>(i)] = i;
        return draw(order, weights);
    }
    // Candidates with positive weight, most probable first, the lower id first on ties.
    for (index_t i = 0; i < count; ++i)
        if (weights[static_cast<std::size_t>(i)] > 0.0) order.push_back(i);
    const auto more_probable = [&weights](index_t a, index_t b) {
        const double wa = weights[static_cast<std::size_t>(a)], wb = weights[static_cast<std::size_t>(b)];
        return wa > wb || (wa == wb && a < b);
    };
    const std::size_t keep_k =
        top_k > 0 ? std::min(order.size(), static_cast<std::size_t>(top_k)) : order.size();
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep_k), order.end(), more_probable);
    order.resize(keep_k);
    if (top_p < 1.0) {
        double total = 0.0;
        for (index_t i : order) total += weights[static_cast<std::size_t>(i)];
        const double needed = top_p * total;
        double cumulative = 0.0;
        std::size_t kept = 0;
        while (kept < order.size()) {
            cumulative += weights[static_cast<std::size_t>(order[kept])];
            ++kept;
            if (cumulative >= needed) break;
        }
        order.resize(kept);
    }
    if (order.size() == 1) return order.front();
    return draw(order, weights);
}

}  // namespace detail

// Samples from softmax(z / τ); τ = 0 is argmax.
template <typename T>
index_t sample_with_temperature(const T* logits, index_t count, double temperature, Generator& generator) {
    return detail::sample_token("loom::sample_with_temperature", logits, count, temperature, 0, 1.0, generator);
}

// Samples with temperature, then top-k (0: off), then top-p (1: off); see the header comment.
template <typename T>
index_t sample_top_k_top_p(const T* logits, index_t count, double temperature, index_t top_k, double top_p,
                           Generator& generator) {
    return detail::sample_token("loom::sample_top_k_top_p", logits, count, temperature, top_k, top_p, generator);
}

// The same for the last row of a logits tensor [..., V] (the newest step).
template <typename T>
index_t sample_last_row(const Tensor<T>& logits, double temperature, Generator& generator) {
    const index_t vocabulary = logits.shape().last();
    return sample_with_temperature(logits.data() + logits.numel() - vocabulary, vocabulary, temperature, generator);
}

// Generates by sampling each token with options.temperature, top_k and top_p
// from `generator` (the loop, stopping rules and result: generation.hpp).
template <typename T>
GenerationResult sample(Decoder<T>& decoder, const std::vector<index_t>& prompt, const GenerationOptions& options,
                        Generator& generator) {
    return detail::generate("loom::sample", decoder, prompt, options, [&](const T* log_probs, index_t count) {
        return detail::sample_token("loom::sample", log_probs, count, options.temperature, options.top_k,
                                    options.top_p, generator);
    });
}

// The same with a generator seeded from options.seed: a seed gives the same text.
template <typename T>
GenerationResult sample(Decoder<T>& decoder, const std::vector<index_t>& prompt, const GenerationOptions& options) {
    Generator generator(options.seed);
    return sample(decoder, prompt, options, generator);
}

}  // namespace loom
