// loom/decode/greedy.hpp — greedy decoding: the most probable token each step.
//
//   logp = decoder.start(prompt, 1)
//   repeat:
//       y_n = argmax_v logp[v]            (the lowest id on ties)
//       stop on: y_n == end_token, a stop string in the text, the callback
//                returning false, or n == max_new_tokens
//       logp = decoder.advance({y_n})
//
// Greedy maximises each step's probability, not the sequence's
// Π_n p(y_n | y_<n); beam_search.hpp searches for the latter. The loop,
// options and result are in generation.hpp; sampling options are ignored.
// A NaN log-probability is an error ("loom::greedy: logit i is NaN").
#pragma once

#include <vector>

#include "loom/decode/decoder.hpp"
#include "loom/decode/generation.hpp"
#include "loom/decode/sample.hpp"

namespace loom {

namespace detail {

// Greedy's pick from one row of log-probabilities (also batched_generation.hpp's).
template <typename T>
index_t pick_greedy(const char* op, const T* log_probs, index_t count) {
    check_logits_row(op, log_probs, count);
    return argmax(log_probs, count);
}

}  // namespace detail

template <typename T>
GenerationResult greedy(Decoder<T>& decoder, const std::vector<index_t>& prompt,
                        const GenerationOptions& options = {}) {
    return detail::generate("loom::greedy", decoder, prompt, options, [](const T* log_probs, index_t count) {
        return detail::pick_greedy("loom::greedy", log_probs, count);
    });
}

}  // namespace loom
