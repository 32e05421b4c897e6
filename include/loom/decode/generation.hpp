// loom/decode/generation.hpp — options, result and the token-by-token loop
// shared by greedy() (greedy.hpp) and sample() (sample.hpp).
//
//   logp = decoder.start(prompt, 1)                  // [1, V]
//   for n = 1, 2, ...:
//       y = pick(logp)                               // argmax, or a draw
//       if y == end_token:            stop (end_token; y is not kept)
//       append y; stream its text                    // stream.hpp
//       if a stop string completed:   stop (stop_string; text cut before it)
//       if the callback said false:   stop (callback)
//       if n == max_new_tokens:       stop (max_new_tokens)
//       logp = decoder.advance({y})
//
// The model is advanced only when another token is needed, so generating n
// tokens costs one start and at most n - 1 advance calls. The steps after the
// pick are SequenceProgress::take(), which batched_generation.hpp runs once
// per prompt and step.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "loom/decode/decoder.hpp"
#include "loom/decode/stream.hpp"
#include "loom/tensor/error.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

struct GenerationOptions {
    index_t max_new_tokens = 100;         // upper bound on generated tokens (0: generate nothing)
    std::optional<index_t> end_token;     // stop when this id is picked; it is not part of the result
    std::vector<std::string> stop_strings;  // stop when the text contains one; needs token_text
    // Sampling only (sample.hpp); greedy() ignores them.
    double temperature = 1.0;  // 0: greedy
    index_t top_k = 0;         // keep the k most probable tokens; 0: all
    double top_p = 1.0;        // keep the smallest most-probable set with mass >= top_p; 1: all
    std::uint64_t seed = 0;    // for sample(decoder, prompt, options) without a generator
    // Text: token id -> its text (e.g. the vocabulary's decode); needed for
    // stop strings, the callback, and GenerationResult::text.
    TokenText token_text;
    // Receives each new piece of text (whole UTF-8 characters); false stops generation.
    TextCallback on_text;
};

enum class StopReason {
    max_new_tokens,  // generated max_new_tokens tokens
    end_token,       // picked the end token
    stop_string,     // the text contains a stop string (removed from text)
    callback,        // on_text returned false
};

inline const char* to_string(StopReason reason) {
    switch (reason) {
        case StopReason::max_new_tokens: return "max_new_tokens";
        case StopReason::end_token: return "end_token";
        case StopReason::stop_string: return "stop_string";
        case StopReason::callback: return "callback";
    }
    return "unknown";
}

struct GenerationResult {
    // Generated ids, without the prompt and without the end token. On a stop
    // string they include the tokens that formed it (only the text is cut).
    std::vector<index_t> tokens;
    std::string text;  // the text of `tokens` up to any stop string ("" without token_text)
    StopReason stop_reason = StopReason::max_new_tokens;
    std::string stop_string;  // which stop string matched, if any
};

namespace detail {

template <typename T>
void check_log_prob_shape(const char* op, const char* call, const Tensor<T>& log_probs, index_t rows,
                          index_t vocabulary) {
    if (!log_probs.defined() || log_probs.rank() != 2 || log_probs.size(0) != rows ||
        log_probs.size(1) != vocabulary)
        fail(op, ": Decoder::", call, " must return log-probabilities [", rows, ", ", vocabulary, "], got ",
             log_probs.defined() ? log_probs.shape() : Shape{});
}

// NaN is an error; a row where every value is -inf has no token to choose.
template <typename T>
void check_logits_row(const char* op, const T* logits, index_t count) {
    bool any_possible = false;
    for (index_t i = 0; i < count; ++i) {
        if (std::isnan(logits[i])) fail(op, ": logit ", i, " is NaN");
        if (!(std::isinf(logits[i]) && logits[i] < 0)) any_possible = true;
    }
    if (!any_possible) fail(op, ": every logit is -inf, no token can be chosen");
}

inline void check_generation_options(const char* op, const std::vector<index_t>& prompt,
                                     const GenerationOptions& options, index_t vocabulary) {
    if (prompt.empty()) fail(op, ": the prompt is empty (a decoder needs at least one token to start from)");
    if (options.max_new_tokens < 0) fail(op, ": max_new_tokens must be >= 0, got ", options.max_new_tokens);
    if (options.end_token && (*options.end_token < 0 || *options.end_token >= vocabulary))
        fail(op, ": end_token ", *options.end_token, " is not in the vocabulary of size ", vocabulary);
    if (!options.token_text && (!options.stop_strings.empty() || options.on_text))
        fail(op, ": stop strings and the text callback need options.token_text (token id -> text)");
}

// One sequence being generated: its tokens so far, the stream of its text and
// why it stopped. take() is the body of the loop in the header comment after
// the pick; generate() below runs one of these, generate_batch()
// (batched_generation.hpp) one per prompt. Needs max_new_tokens >= 1 (with 0
// nothing is generated and the model is never asked).
class SequenceProgress {
public:
    SequenceProgress(index_t max_new_tokens, std::optional<index_t> end_token, TokenText token_text,
                     const std::vector<std::string>& stop_strings, TextCallback on_text)
        : max_new_tokens_(max_new_tokens),
          end_token_(end_token),
          token_text_(std::move(token_text)),
          stream_(stop_strings, std::move(on_text)) {}

    // Takes the token just picked. Returns true when the sequence goes on (the
    // model must now read `token`), false when it has ended (the model need not
    // read anything more; finish() gives the result and its stop_reason).
    bool take(index_t token) {
        if (end_token_ && token == *end_token_) {
            result_.stop_reason = StopReason::end_token;
            return false;
        }
        result_.tokens.push_back(token);
        if (token_text_ && !stream_.append(token_text_(token))) {
            result_.stop_reason = stream_.stopped_by_stop_string() ? StopReason::stop_string : StopReason::callback;
            result_.stop_string = stream_.matched_stop_string();
            return false;
        }
        if (static_cast<index_t>(result_.tokens.size()) == max_new_tokens_) {
            result_.stop_reason = StopReason::max_new_tokens;
            return false;
        }
        return true;
    }

    // After the last take(): emits the text held back by the stream and
    // returns the finished result.
    GenerationResult finish() {
        stream_.finish();
        result_.text = stream_.text();
        return std::move(result_);
    }

private:
    index_t max_new_tokens_;
    std::optional<index_t> end_token_;
    TokenText token_text_;
    TextStream stream_;
    GenerationResult result_;
};

// The loop in the header comment; pick(row, V) chooses the next id.
template <typename T, typename Pick>
GenerationResult generate(const char* op, Decoder<T>& decoder, const std::vector<index_t>& prompt,
                          const GenerationOptions& options, Pick&& pick) {
    const index_t vocabulary = decoder.vocabulary_size();
    check_generation_options(op, prompt, options, vocabulary);
    if (options.max_new_tokens == 0) return {};
    SequenceProgress sequence(options.max_new_tokens, options.end_token, options.token_text, options.stop_strings,
                              options.on_text);
    Tensor<T> log_probs = decoder.start(prompt, 1);
    for (const char* call = "start";; call = "advance") {
        check_log_prob_shape(op, call, log_probs, 1, vocabulary);
        const index_t token = pick(log_probs.data(), vocabulary);
        if (!sequence.take(token)) break;
        log_probs = decoder.advance({token});
    }
    return sequence.finish();
}

}  // namespace detail
}  // namespace loom
