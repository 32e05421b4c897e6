// loom/decode/batched_generation.hpp — many independent prompts generated
// together, one batched model call per step (greedy or sampling).
//
// Decoding prompts one after another runs the model at batch 1: every step of
// a recurrent model multiplies one row by each weight matrix, so its time goes
// into reading the weights from memory, not into arithmetic. Generating the
// prompts together makes each step one matrix-matrix product (GEMM) over the
// rows of all prompts still running: each weight is read once per step for
// all of them.
//
//   live = the prompts with max_new_tokens > 0      (batch row r is prompt live[r])
//   logp = decoder.start_rows(prompts of live)      // [|live|, V], row r read prompt live[r]
//   repeat:
//       for each row r, in prompt order:
//           y = pick(logp[r])          greedy: argmax; sample: a draw from prompt live[r]'s own generator
//           prompt live[r] takes y, with greedy()'s stop rules (generation.hpp):
//               y == end_token                -> finished (y not kept)
//               keep y, stream its text       -> on_text(prompt, piece)
//               stop string, on_text false, or max_new_tokens reached -> finished
//           finished: its result is final; on_finish(prompt, result)
//       if no row goes on: stop
//       decoder.reorder(rows that go on)      // finished rows leave the batch (skipped if none did)
//       logp = decoder.advance(their tokens)  // ONE call, batch = the prompts still running
//   return the results in prompt order
//
// What holds:
//   - A prompt's tokens are what greedy() or sample() gives for it alone,
//     exactly, when the decoder's values for a row do not depend on the other
//     rows of the batch (the tests' fake decoders). A real model's batched
//     kernels sum in a different order than at batch 1, so its
//     log-probabilities agree to rounding, and a pick can differ where two
//     tokens are within rounding of each other (rare; see docs/decoding.md).
//   - Sampling: prompt i draws from its own Generator(seed + i), one pick per
//     step as sample() does, so its text is that of
//     sample(decoder, prompts[i], options with seed = seed + i) alone (with the
//     rounding caveat above); the same prompt twice gives two samples.
//   - Callbacks: within a step, on_text and on_finish come in prompt order; a
//     prompt's pieces concatenate to its final text (stream.hpp); on_finish
//     comes once per prompt, after its last piece (for a prompt with
//     max_new_tokens 0, before the model is asked anything).
//   - Model calls: one start_rows, then one advance per step while any prompt
//     runs, on the rows still running (the longest output of n tokens costs
//     n − 1 advances, as alone).
// Errors (loom::Error, naming loom::generate_batch and the prompt): no
// prompts, an empty prompt, a token outside the vocabulary, bad limits or
// sampling options, stop strings or on_text without token_text, a decoder
// that cannot start_rows, NaN or all -inf log-probabilities.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "loom/decode/decoder.hpp"
#include "loom/decode/generation.hpp"
#include "loom/decode/greedy.hpp"
#include "loom/decode/sample.hpp"
#include "loom/decode/stream.hpp"
#include "loom/tensor/error.hpp"
#include "loom/tensor/random.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

enum class BatchMethod {
    greedy,  // the most probable token (greedy.hpp)
    sample,  // a draw with temperature, top-k, top-p (sample.hpp)
};

// The text of `token` in prompt `prompt`'s output (a tokenizer's piece may
// depend on the token before it in that output, see data/tokenizer.hpp).
using BatchTokenText = std::function<std::string(index_t prompt, index_t token)>;
// A new piece of prompt `prompt`'s text; false stops that prompt only.
using BatchTextCallback = std::function<bool(index_t prompt, const std::string& piece)>;
// Prompt `prompt` has finished with `result`.
using BatchFinishCallback = std::function<void(index_t prompt, const GenerationResult& result)>;

struct BatchGenerationOptions {
    BatchMethod method = BatchMethod::greedy;
    index_t max_new_tokens = 100;                   // for every prompt, unless ...
    std::vector<index_t> max_new_tokens_per_prompt;  // ... given here, one value per prompt
    std::optional<index_t> end_token;               // ends a prompt's output; not kept
    std::vector<std::string> stop_strings;          // end a prompt's output; need token_text
    // Sampling only.
    double temperature = 1.0;  // 0: greedy
    index_t top_k = 0;         // 0: all tokens
    double top_p = 1.0;        // 1: all tokens
    std::uint64_t seed = 0;    // prompt i draws from Generator(seed + i)
    BatchTokenText token_text;  // needed for stop strings, on_text and GenerationResult::text
    BatchTextCallback on_text;
    BatchFinishCallback on_finish;
};

namespace detail {

inline index_t max_new_tokens_of(const BatchGenerationOptions& options, std::size_t prompt) {
    return options.max_new_tokens_per_prompt.empty() ? options.max_new_tokens
                                                     : options.max_new_tokens_per_prompt[prompt];
}

inline void check_batch_generation(const char* op, const std::vector<std::vector<index_t>>& prompts,
                                   const BatchGenerationOptions& options, index_t vocabulary) {
    if (prompts.empty()) fail(op, ": no prompts given");
    for (std::size_t i = 0; i < prompts.size(); ++i) {
        if (prompts[i].empty())
            fail(op, ": prompt ", i, " is empty (a decoder needs at least one token to start from)");
        for (std::size_t j = 0; j < prompts[i].size(); ++j)
            if (prompts[i][j] < 0 || prompts[i][j] >= vocabulary)
                fail(op, ": prompt ", i, ", position ", j, ": token ", prompts[i][j],
                     " is not in the vocabulary of size ", vocabulary);
    }
    if (options.max_new_tokens < 0) fail(op, ": max_new_tokens must be >= 0, got ", options.max_new_tokens);
    if (!options.max_new_tokens_per_prompt.empty()) {
        if (options.max_new_tokens_per_prompt.size() != prompts.size())
            fail(op, ": max_new_tokens_per_prompt has ", options.max_new_tokens_per_prompt.size(), " values for ",
                 prompts.size(), " prompts");
        for (std::size_t i = 0; i < prompts.size(); ++i)
            if (options.max_new_tokens_per_prompt[i] < 0)
                fail(op, ": max_new_tokens_per_prompt[", i, "] must be >= 0, got ",
                     options.max_new_tokens_per_prompt[i]);
    }
    if (options.end_token && (*options.end_token < 0 || *options.end_token >= vocabulary))
        fail(op, ": end_token ", *options.end_token, " is not in the vocabulary of size ", vocabulary);
    if (!options.token_text && (!options.stop_strings.empty() || options.on_text))
        fail(op, ": stop strings and the text callback need options.token_text (prompt, token id -> text)");
    if (options.method == BatchMethod::sample)
        check_sampling_options(op, options.temperature, options.top_k, options.top_p);
}

}  // namespace detail

template <typename T>
std::vector<GenerationResult> generate_batch(Decoder<T>& decoder, const std::vector<std::vector<index_t>>& prompts,
                                             const BatchGenerationOptions& options) {
    const char* op = "loom::generate_batch";
    const index_t vocabulary = decoder.vocabulary_size();
    detail::check_batch_generation(op, prompts, options, vocabulary);
    const std::size_t count = prompts.size();

    // Per prompt: its sequence (tokens, text stream, stop rules), and its
    // generator when sampling. The callbacks are bound to the prompt's index.
    std::vector<detail::SequenceProgress> sequences;
    sequences.reserve(count);
    std::vector<Generator> generators;
    for (std::size_t i = 0; i < count; ++i) {
        const auto prompt = static_cast<index_t>(i);
        TokenText token_text;
        TextCallback on_text;
        if (options.token_text)
            token_text = [&options, prompt](index_t token) { return options.token_text(prompt, token); };
        if (options.on_text)
            on_text = [&options, prompt](const std::string& piece) { return options.on_text(prompt, piece); };
        sequences.emplace_back(detail::max_new_tokens_of(options, i), options.end_token, std::move(token_text),
                               options.stop_strings, std::move(on_text));
        if (options.method == BatchMethod::sample) generators.emplace_back(options.seed + i);
    }
    std::vector<GenerationResult> results(count);
    const auto finish = [&](std::size_t prompt) {
        results[prompt] = sequences[prompt].finish();
        if (options.on_finish) options.on_finish(static_cast<index_t>(prompt), results[prompt]);
    };

    // live[r] is the prompt of batch row r; dropping rows keeps them in prompt order.
    std::vector<std::size_t> live;
    std::vector<std::vector<index_t>> live_prompts;
    for (std::size_t i = 0; i < count; ++i) {
        if (detail::max_new_tokens_of(options, i) > 0) {
            live.push_back(i);
            live_prompts.push_back(prompts[i]);
        } else {
            finish(i);  // nothing to generate: the model never sees this prompt
        }
    }
    if (live.empty()) return results;

    Tensor<T> log_probs = decoder.start_rows(live_prompts);
    for (const char* call = "start_rows";; call = "advance") {
        detail::check_log_prob_shape(op, call, log_probs, static_cast<index_t>(live.size()), vocabulary);
        std::vector<index_t> continuing_rows, next_tokens;
        for (std::size_t r = 0; r < live.size(); ++r) {
            const std::size_t prompt = live[r];
            const T* row = log_probs.data() + static_cast<index_t>(r) * vocabulary;
            index_t token = 0;
            try {
                token = options.method == BatchMethod::greedy
                            ? detail::pick_greedy(op, row, vocabulary)
                            : detail::sample_token(op, row, vocabulary, options.temperature, options.top_k,
                                                   options.top_p, generators[prompt]);
            } catch (const Error& error) {
                detail::fail(error.what(), " (prompt ", prompt, ", batch row ", r, ")");
            }
            if (sequences[prompt].take(token)) {
                continuing_rows.push_back(static_cast<index_t>(r));
                next_tokens.push_back(token);
            } else {
                finish(prompt);
            }
        }
        if (continuing_rows.empty()) break;
        if (continuing_rows.size() < live.size()) {
            decoder.reorder(continuing_rows);  // the finished rows leave the batch
            std::vector<std::size_t> still_live;
            for (const index_t r : continuing_rows) still_live.push_back(live[static_cast<std::size_t>(r)]);
            live = std::move(still_live);
        }
        log_probs = decoder.advance(next_tokens);
    }
    return results;
}

}  // namespace loom
