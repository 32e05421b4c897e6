#include "test_util.hpp"

// Tests for loom/decode/greedy.hpp (and the loop in generation.hpp): argmax at
// every step, the stopping rules (max_new_tokens, end token, stop string,
// callback), the number of model calls, NaN and shape errors.

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <loom/decode/generation.hpp>  // the token loop greedy() runs (options, result, stop reasons)
#include <loom/decode/greedy.hpp>

#include "decode/fake_decoders.hpp"

namespace decode_greedy_test {  // named, not anonymous: the test files are compiled together in unity batches

using decode_fake_decoders::MarkovDecoder;
using loom::index_t;
using loom_test::contains;
using loom_test::error_message;

TEMPLATE_TEST_CASE("greedy picks the argmax of every step", "[greedy]", float, double) {
    using T = TestType;
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        auto model = MarkovDecoder<T>::random(6, 2, seed);
        loom::GenerationOptions options;
        options.max_new_tokens = 8;
        const auto result = loom::greedy(model, {3, 1}, options);
        REQUIRE(result.tokens.size() == 8);
        CHECK(result.stop_reason == loom::StopReason::max_new_tokens);
        std::vector<index_t> history = {3, 1};
        for (index_t token : result.tokens) {
            const auto row = model.log_probs_after(history);
            CHECK(token == static_cast<index_t>(std::max_element(row.begin(), row.end()) - row.begin()));
            history.push_back(token);
        }
        // One start, and an advance only when another token is needed.
        CHECK(model.start_calls == 1);
        CHECK(model.advance_batches == std::vector<index_t>(7, 1));
        CHECK(model.reorders.empty());
        CHECK(result.text.empty());  // no token_text given
    }
}

TEMPLATE_TEST_CASE("greedy stops at the end token and leaves it out", "[greedy]", float, double) {
    using T = TestType;
    decode_fake_decoders::ScriptedDecoder<T> model(5, {2, 3, 1, 4, 0, 0});
    loom::GenerationOptions options;
    options.max_new_tokens = 10;
    options.end_token = 4;
    options.token_text = [](index_t token) { return std::string(1, static_cast<char>('a' + token)); };
    const auto result = loom::greedy(model, {0}, options);
    CHECK(result.tokens == std::vector<index_t>{2, 3, 1});
    CHECK(result.text == "cdb");
    CHECK(result.stop_reason == loom::StopReason::end_token);
    CHECK(std::string(loom::to_string(result.stop_reason)) == "end_token");
    CHECK(model.advance_calls == 3);

    options.max_new_tokens = 0;
    const auto nothing = loom::greedy(model, {0}, options);
    CHECK(nothing.tokens.empty());
    CHECK(nothing.stop_reason == loom::StopReason::max_new_tokens);
}

TEMPLATE_TEST_CASE("greedy stops at a stop string and the callback", "[greedy]", float, double) {
    using T = TestType;
    using decode_fake_decoders::bytes_of;
    decode_fake_decoders::ScriptedDecoder<T> model(256, bytes_of("hello world. more"));
    loom::GenerationOptions options;
    options.max_new_tokens = 50;
    options.token_text = decode_fake_decoders::byte_text;
    options.stop_strings = {". "};
    const auto result = loom::greedy(model, {0}, options);
    CHECK(result.text == "hello world");
    CHECK(result.stop_reason == loom::StopReason::stop_string);
    CHECK(result.stop_string == ". ");
    CHECK(result.tokens == bytes_of("hello world. "));  // the ids include the stop string's tokens

    std::string seen;
    options.stop_strings.clear();
    options.on_text = [&](const std::string& piece) {
        seen += piece;
        return seen.size() < 5;
    };
    const auto stopped = loom::greedy(model, {0}, options);
    CHECK(stopped.stop_reason == loom::StopReason::callback);
    CHECK(seen == "hello");
    CHECK(stopped.tokens.size() == 5);
}

TEMPLATE_TEST_CASE("greedy reports NaN log-probabilities and bad options", "[greedy]", float, double) {
    using T = TestType;
    MarkovDecoder<T> nan_model(3, 1, [](const std::vector<index_t>&) { return std::vector<double>{0.0, -1.0, std::nan("")}; });
    CHECK(contains(error_message([&] { loom::greedy(nan_model, {0}); }), "loom::greedy: logit 2 is NaN"));
    const double ninf = -std::numeric_limits<double>::infinity();
    MarkovDecoder<T> impossible(2, 1, [=](const std::vector<index_t>&) { return std::vector<double>{ninf, ninf}; });
    CHECK(contains(error_message([&] { loom::greedy(impossible, {0}); }), "loom::greedy: every logit is -inf"));
    auto model = MarkovDecoder<T>::random(3, 1, 1);
    CHECK(contains(error_message([&] { loom::greedy(model, std::vector<index_t>{}); }), "loom::greedy: the prompt is empty"));
    loom::GenerationOptions options;
    options.stop_strings = {"x"};
    CHECK(contains(error_message([&] { loom::greedy(model, {0}, options); }), "need options.token_text"));
    options.stop_strings.clear();
    options.end_token = 3;
    CHECK(contains(error_message([&] { loom::greedy(model, {0}, options); }), "end_token 3 is not in the vocabulary of size 3"));
}

}  // namespace decode_greedy_test
