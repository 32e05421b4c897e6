#include "test_util.hpp"

// Tests for loom/decode/batched_generation.hpp: generate_batch gives each
// prompt what greedy() / sample() gives it alone; prompts finish at different
// times (end token, stop string, max_new_tokens per prompt) and leave the batch
// through reorder(); the streaming callbacks' order and contents; the errors.

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <loom/decode/batched_generation.hpp>
#include <loom/decode/greedy.hpp>
#include <loom/decode/sample.hpp>

#include "decode/fake_decoders.hpp"

namespace decode_batched_generation_test {  // named, not anonymous: the test files are compiled together in unity batches

using decode_fake_decoders::byte_text;
using decode_fake_decoders::bytes_of;
using decode_fake_decoders::MarkovDecoder;
using loom::index_t;
using loom_test::contains;
using loom_test::error_message;

// Prompts of different lengths over a vocabulary of 7 (two of them the same).
const std::vector<std::vector<index_t>> mixed_prompts = {{3}, {1, 4}, {6, 0, 2, 5}, {2, 2, 2}, {1, 4}, {5, 3}};

// How many tokens a prompt picked: its tokens and the end token, if that stopped it.
index_t picks(const loom::GenerationResult& result) {
    return static_cast<index_t>(result.tokens.size()) + (result.stop_reason == loom::StopReason::end_token ? 1 : 0);
}

TEMPLATE_TEST_CASE("generate_batch greedy gives each prompt what greedy() gives it alone", "[batched_generation]",
                   float, double) {
    using T = TestType;
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        INFO("seed " << seed);
        auto batched = MarkovDecoder<T>::random(7, 2, seed);
        loom::BatchGenerationOptions options;
        options.max_new_tokens = 12;
        options.end_token = 0;  // random log-probs: prompts end at different steps
        const std::vector<loom::GenerationResult> results = loom::generate_batch(batched, mixed_prompts, options);
        REQUIRE(results.size() == mixed_prompts.size());

        loom::GenerationOptions alone_options;
        alone_options.max_new_tokens = 12;
        alone_options.end_token = 0;
        index_t longest = 0;
        for (std::size_t i = 0; i < mixed_prompts.size(); ++i) {
            auto alone = MarkovDecoder<T>::random(7, 2, seed);
            const loom::GenerationResult want = loom::greedy(alone, mixed_prompts[i], alone_options);
            CHECK(results[i].tokens == want.tokens);
            CHECK(results[i].stop_reason == want.stop_reason);
            longest = std::max(longest, picks(results[i]));
        }
        // One start_rows, then one advance per step with the prompts still running.
        CHECK(batched.start_calls == 0);
        CHECK(batched.start_rows_calls == 1);
        CHECK(batched.start_batches == std::vector<index_t>{6});
        REQUIRE(batched.advance_batches.size() == static_cast<std::size_t>(longest - 1));
        for (std::size_t step = 0; step < batched.advance_batches.size(); ++step) {
            index_t running = 0;
            for (const auto& result : results) running += picks(result) > static_cast<index_t>(step) + 1;
            CHECK(batched.advance_batches[step] == running);
        }
    }
}

TEMPLATE_TEST_CASE("generate_batch sampling: prompt i is sample() alone with seed + i", "[batched_generation]", float,
                   double) {
    using T = TestType;
    auto batched = MarkovDecoder<T>::random(7, 2, 5);
    loom::BatchGenerationOptions options;
    options.method = loom::BatchMethod::sample;
    options.max_new_tokens = 15;
    options.end_token = 6;
    options.temperature = 1.3;
    options.top_k = 5;
    options.top_p = 0.9;
    options.seed = 40;
    const auto results = loom::generate_batch(batched, mixed_prompts, options);
    for (std::size_t i = 0; i < mixed_prompts.size(); ++i) {
        INFO("prompt " << i);
        auto alone = MarkovDecoder<T>::random(7, 2, 5);
        loom::GenerationOptions alone_options;
        alone_options.max_new_tokens = 15;
        alone_options.end_token = 6;
        alone_options.temperature = 1.3;
        alone_options.top_k = 5;
        alone_options.top_p = 0.9;
        alone_options.seed = 40 + i;
        const auto want = loom::sample(alone, mixed_prompts[i], alone_options);
        CHECK(results[i].tokens == want.tokens);
        CHECK(results[i].stop_reason == want.stop_reason);
    }
    // Prompts 1 and 4 are the same, with different generators: different samples.
    CHECK(results[1].tokens != results[4].tokens);
    // The same options give the same texts again.
    auto again = MarkovDecoder<T>::random(7, 2, 5);
    const auto repeated = loom::generate_batch(again, mixed_prompts, options);
    for (std::size_t i = 0; i < mixed_prompts.size(); ++i) CHECK(repeated[i].tokens == results[i].tokens);
}

// Bytes, order 1: after 'a' comes 'b', ..., after 'i' comes 'j', after 'j' the
// end token '#'; after anything else 'a'. Every prompt's output is known.
template <typename T>
MarkovDecoder<T> alphabet_decoder() {
    return MarkovDecoder<T>(256, 1, [](const std::vector<index_t>& context) {
        const index_t last = context.back();
        const index_t next = last >= 'a' && last < 'j' ? last + 1 : last == 'j' ? index_t{'#'} : index_t{'a'};
        std::vector<double> row(256, -30.0);
        row[static_cast<std::size_t>(next)] = -1e-9;
        return row;
    });
}

// Prompt 0 stops at the stop string "gh", 1 and 4 at the end token, 2 and 5
// at their max_new_tokens, 3 has max_new_tokens 0.
const std::vector<std::string> alphabet_prompts = {"xa", "h", "c", "zz", "i", "a"};
const std::vector<index_t> alphabet_limits = {20, 20, 2, 0, 20, 4};

loom::BatchGenerationOptions alphabet_options() {
    loom::BatchGenerationOptions options;
    options.max_new_tokens_per_prompt = alphabet_limits;
    options.end_token = '#';
    options.stop_strings = {"gh"};
    options.token_text = [](index_t, index_t token) { return byte_text(token); };
    return options;
}

std::vector<std::vector<index_t>> ids_of(const std::vector<std::string>& texts) {
    std::vector<std::vector<index_t>> ids;
    for (const std::string& text : texts) ids.push_back(bytes_of(text));
    return ids;
}

TEMPLATE_TEST_CASE("generate_batch: prompts finish at different times and leave the batch", "[batched_generation]",
                   float, double) {
    using T = TestType;
    auto decoder = alphabet_decoder<T>();
    const auto results = loom::generate_batch(decoder, ids_of(alphabet_prompts), alphabet_options());
    REQUIRE(results.size() == 6);
    CHECK(results[0].text == "bcdef");
    CHECK(results[0].tokens == bytes_of("bcdefgh"));  // the stop string's tokens are kept
    CHECK(results[0].stop_reason == loom::StopReason::stop_string);
    CHECK(results[0].stop_string == "gh");
    CHECK(results[1].text == "ij");
    CHECK(results[1].stop_reason == loom::StopReason::end_token);
    CHECK(results[2].text == "de");
    CHECK(results[2].stop_reason == loom::StopReason::max_new_tokens);
    CHECK(results[3].tokens.empty());
    CHECK(results[3].text.empty());
    CHECK(results[3].stop_reason == loom::StopReason::max_new_tokens);
    CHECK(results[4].text == "j");
    CHECK(results[4].stop_reason == loom::StopReason::end_token);
    CHECK(results[5].text == "bcde");
    CHECK(results[5].stop_reason == loom::StopReason::max_new_tokens);

    // Prompt 3 (nothing to generate) never reaches the model; after each step
    // the finished rows are dropped, the others keep their order.
    CHECK(decoder.start_batches == std::vector<index_t>{5});  // rows: prompts 0, 1, 2, 4, 5
    CHECK(decoder.reorders == std::vector<std::vector<index_t>>{{0, 1, 4}, {0, 2}, {0}});
    CHECK(decoder.advance_batches == std::vector<index_t>{5, 3, 2, 1, 1, 1});
    CHECK(decoder.histories() == std::vector<std::vector<index_t>>{bytes_of("xabcdefg")});
}

TEMPLATE_TEST_CASE("generate_batch streams each prompt's pieces in prompt order, then its finish",
                   "[batched_generation]", float, double) {
    using T = TestType;
    auto decoder = alphabet_decoder<T>();
    loom::BatchGenerationOptions options = alphabet_options();
    std::vector<std::string> events;
    std::vector<std::string> streamed(alphabet_prompts.size());
    options.on_text = [&](index_t prompt, const std::string& piece) {
        events.push_back(std::to_string(prompt) + ":" + piece);
        streamed[static_cast<std::size_t>(prompt)] += piece;
        return true;
    };
    options.on_finish = [&](index_t prompt, const loom::GenerationResult& result) {
        events.push_back("F" + std::to_string(prompt));
        CHECK(result.text == streamed[static_cast<std::size_t>(prompt)]);
    };
    const auto results = loom::generate_batch(decoder, ids_of(alphabet_prompts), options);
    // Step by step: prompt 3 finishes before the model runs; 'g' of prompt 0 is
    // held back (it may start "gh") and dropped when the stop string completes.
    const std::vector<std::string> want = {
        "F3",
        "0:b", "1:i", "2:d", "4:j", "5:b",          // step 1
        "0:c", "1:j", "2:e", "F2", "F4", "5:c",     // step 2
        "0:d", "F1", "5:d",                         // step 3
        "0:e", "5:e", "F5",                         // step 4
        "0:f",                                      // step 5
        "F0"};                                      // steps 6 and 7: "g" held back, then "gh"
    CHECK(events == want);
    for (std::size_t i = 0; i < results.size(); ++i) CHECK(streamed[i] == results[i].text);
}

TEMPLATE_TEST_CASE("generate_batch: on_text returning false stops that prompt only", "[batched_generation]", float,
                   double) {
    using T = TestType;
    auto decoder = alphabet_decoder<T>();
    loom::BatchGenerationOptions options;
    options.max_new_tokens = 5;
    options.token_text = [](index_t, index_t token) { return byte_text(token); };
    options.on_text = [](index_t prompt, const std::string& piece) { return !(prompt == 1 && piece == "c"); };
    const auto results = loom::generate_batch(decoder, ids_of({"a", "a", "a"}), options);
    CHECK(results[0].text == "bcdef");
    CHECK(results[0].stop_reason == loom::StopReason::max_new_tokens);
    CHECK(results[1].text == "bc");
    CHECK(results[1].stop_reason == loom::StopReason::callback);
    CHECK(results[2].text == "bcdef");
    CHECK(decoder.reorders == std::vector<std::vector<index_t>>{{0, 2}});
}

TEST_CASE("generate_batch: nothing to generate asks the model nothing", "[batched_generation]") {
    auto decoder = alphabet_decoder<float>();
    loom::BatchGenerationOptions options;
    options.max_new_tokens = 0;
    int finished = 0;
    options.on_finish = [&finished](index_t, const loom::GenerationResult&) { ++finished; };
    const auto results = loom::generate_batch(decoder, ids_of({"a", "bc"}), options);
    REQUIRE(results.size() == 2);
    CHECK(results[0].tokens.empty());
    CHECK(results[1].stop_reason == loom::StopReason::max_new_tokens);
    CHECK(finished == 2);
    CHECK(decoder.start_rows_calls == 0);
}

// A decoder that returns log-probabilities of a wrong shape from start_rows.
class WrongShapeDecoder : public decode_fake_decoders::ScriptedDecoder<float> {
public:
    WrongShapeDecoder() : ScriptedDecoder<float>(7, {1, 2}) {}
    loom::Tensor<float> start_rows(const std::vector<std::vector<index_t>>&) override {
        return loom::Tensor<float>::zeros(loom::Shape{1, 7});
    }
};

TEST_CASE("generate_batch: clear errors that name the prompt", "[batched_generation]") {
    auto decoder = MarkovDecoder<float>::random(7, 2, 1);
    const loom::BatchGenerationOptions defaults;
    const auto run = [&](const std::vector<std::vector<index_t>>& prompts, const loom::BatchGenerationOptions& options) {
        return error_message([&] { loom::generate_batch(decoder, prompts, options); });
    };

    CHECK(run({}, defaults) == "loom::generate_batch: no prompts given");
    CHECK(contains(run({{1}, {2}, {}}, defaults), "loom::generate_batch: prompt 2 is empty"));
    CHECK(run({{1}, {2, 9}}, defaults) ==
          "loom::generate_batch: prompt 1, position 1: token 9 is not in the vocabulary of size 7");
    CHECK(contains(run({{-1}}, defaults), "prompt 0, position 0: token -1 is not in the vocabulary"));

    loom::BatchGenerationOptions options;
    options.max_new_tokens = -1;
    CHECK(contains(run({{1}}, options), "max_new_tokens must be >= 0, got -1"));
    options = {};
    options.max_new_tokens_per_prompt = {3, 4};
    CHECK(run({{1}, {2}, {3}}, options) == "loom::generate_batch: max_new_tokens_per_prompt has 2 values for 3 prompts");
    options.max_new_tokens_per_prompt = {3, -2, 4};
    CHECK(contains(run({{1}, {2}, {3}}, options), "max_new_tokens_per_prompt[1] must be >= 0, got -2"));
    options = {};
    options.end_token = 7;
    CHECK(contains(run({{1}}, options), "end_token 7 is not in the vocabulary of size 7"));
    options = {};
    options.stop_strings = {"x"};
    CHECK(contains(run({{1}}, options), "need options.token_text"));
    options = {};
    options.on_text = [](index_t, const std::string&) { return true; };
    CHECK(contains(run({{1}}, options), "need options.token_text"));
    options = {};
    options.token_text = [](index_t, index_t token) { return byte_text(token); };
    options.stop_strings = {""};
    CHECK(contains(run({{1}}, options), "a stop string is empty"));
    options = {};
    options.method = loom::BatchMethod::sample;
    options.temperature = -1.0;
    CHECK(contains(run({{1}}, options), "loom::generate_batch: temperature must be finite and >= 0"));
    options.temperature = 1.0;
    options.top_p = 0.0;
    CHECK(contains(run({{1}}, options), "loom::generate_batch: top_p must be in (0, 1]"));
    options.top_p = 1.0;
    options.top_k = -3;
    CHECK(contains(run({{1}}, options), "loom::generate_batch: top_k must be >= 0"));
    // None of these reached the model.
    CHECK(decoder.start_rows_calls == 0);

    // A decoder without start_rows says so, naming itself.
    decode_fake_decoders::ScriptedDecoder<float> scripted(7, {1, 2});
    const std::string no_rows = error_message([&] { loom::generate_batch(scripted, {{1}, {2}}, defaults); });
    CHECK(contains(no_rows, "loom::Decoder::start_rows: this decoder"));
    CHECK(contains(no_rows, "ScriptedDecoder"));
    CHECK(contains(no_rows, "cannot start rows from different prompts"));

    WrongShapeDecoder wrong;
    CHECK(contains(error_message([&] { loom::generate_batch(wrong, {{1}, {2}}, defaults); }),
                   "loom::generate_batch: Decoder::start_rows must return log-probabilities [2, 7], got [1, 7]"));

    // NaN in the second prompt's row: the error names the prompt and its row.
    MarkovDecoder<float> nan_after_five(7, 1, [](const std::vector<index_t>& context) {
        std::vector<double> row(7, std::log(1.0 / 7.0));
        if (context.back() == 5) row[2] = std::numeric_limits<double>::quiet_NaN();
        return row;
    });
    CHECK(error_message([&] { loom::generate_batch(nan_after_five, {{1}, {3, 5}}, defaults); }) ==
          "loom::generate_batch: logit 2 is NaN (prompt 1, batch row 1)");
}

}  // namespace decode_batched_generation_test
