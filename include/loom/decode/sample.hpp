// loom/decode/sample.hpp — picking the next token from a row of logits.
//
//   greedy:       argmax_i z_i
//   temperature:  sample i with probability p_i = softmax(z / τ)_i
//                 = e^((z_i - m)/τ) / Σ_j e^((z_j - m)/τ),  m = max z
// τ < 1 sharpens the distribution towards the argmax, τ > 1 flattens it;
// τ → 0 is greedy. The draw is one uniform u from the explicit generator, and
// the sampled index is the first i whose cumulative probability exceeds u, so a
// seed fixes the text. (Beam search and top-k/top-p arrive with the decoding
// module.)
#pragma once

#include <cmath>
#include <vector>

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

template <typename T>
index_t sample_with_temperature(const T* logits, index_t count, double temperature, Generator& generator) {
    detail::check(count > 0, "loom::sample_with_temperature: no logits given");
    detail::check(temperature >= 0.0 && std::isfinite(temperature),
                  "loom::sample_with_temperature: temperature must be finite and >= 0, got ", temperature);
    if (temperature == 0.0) return argmax(logits, count);
    const double top = static_cast<double>(logits[argmax(logits, count)]);
    std::vector<double> weights(static_cast<std::size_t>(count));
    double total = 0.0;
    for (index_t i = 0; i < count; ++i) {
        weights[static_cast<std::size_t>(i)] = std::exp((static_cast<double>(logits[i]) - top) / temperature);
        total += weights[static_cast<std::size_t>(i)];
    }
    const double target = generator.uniform() * total;
    double cumulative = 0.0;
    for (index_t i = 0; i < count; ++i) {
        cumulative += weights[static_cast<std::size_t>(i)];
        if (target < cumulative) return i;
    }
    return count - 1;  // only reached through rounding at the very top
}

// The same for the last row of a logits tensor [..., V] (the newest step).
template <typename T>
index_t sample_last_row(const Tensor<T>& logits, double temperature, Generator& generator) {
    const index_t vocabulary = logits.shape().last();
    return sample_with_temperature(logits.data() + logits.numel() - vocabulary, vocabulary, temperature, generator);
}

}  // namespace loom
