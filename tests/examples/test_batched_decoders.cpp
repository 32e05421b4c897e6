#include "test_util.hpp"

// Tests for start_rows() of the example models' decoders (examples/char_model.hpp,
// char_cnn_model.hpp, char_gpt_model.hpp), the entry point of batched
// generation: row i of start_rows(prompts) is start(prompts[i], 1), the rows
// then step on (and leave the batch through reorder) as each prompt would
// alone, and generate_batch's greedy texts are greedy()'s, on small random
// models. char_gpt takes prompts of one length only (after its crop to the block).

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <loom/decode/batched_generation.hpp>
#include <loom/decode/greedy.hpp>

#include "../../examples/char_cnn_model.hpp"
#include "../../examples/char_gpt_model.hpp"
#include "../../examples/char_model.hpp"

namespace examples_batched_decoders_test {  // named, not anonymous: the test files are compiled together in unity batches

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::check_matches;
using loom_test::contains;
using loom_test::error_message;

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 5e-5 : 1e-11;
}

std::vector<std::vector<index_t>> random_prompts(const std::vector<std::size_t>& lengths, index_t vocabulary,
                                                 std::uint64_t seed) {
    loom::Generator generator(seed);
    std::vector<std::vector<index_t>> prompts;
    for (const std::size_t length : lengths) {
        std::vector<index_t> prompt;
        for (std::size_t t = 0; t < length; ++t)
            prompt.push_back(static_cast<index_t>(generator.below(static_cast<std::uint64_t>(vocabulary))));
        prompts.push_back(prompt);
    }
    return prompts;
}

template <typename T>
Tensor<T> row(const Tensor<T>& matrix, index_t r) {
    const index_t width = matrix.shape()[1];
    return matrix.share_storage(Shape{1, width}, r * width).clone();
}

// start_rows(prompts), then `steps` advances with the tokens `next` (one list
// per prompt), dropping the odd-numbered prompts after the second step: every
// row must match what `alone` computes for its prompt by itself.
template <typename T>
void check_rows_follow_prompts(loom::Decoder<T>& batched, loom::Decoder<T>& alone,
                               const std::vector<std::vector<index_t>>& prompts, std::size_t steps,
                               std::uint64_t seed) {
    const index_t V = batched.vocabulary_size();
    const std::vector<std::vector<index_t>> next =
        random_prompts(std::vector<std::size_t>(prompts.size(), steps), V, seed);
    // want[i][k]: prompt i's log-probs [1, V] after k of its next tokens.
    std::vector<std::vector<Tensor<T>>> want(prompts.size());
    for (std::size_t i = 0; i < prompts.size(); ++i) {
        want[i].push_back(alone.start(prompts[i], 1).clone());
        for (std::size_t k = 0; k < steps; ++k) want[i].push_back(alone.advance({next[i][k]}).clone());
    }

    Tensor<T> log_probs = batched.start_rows(prompts);
    REQUIRE(log_probs.shape() == Shape{static_cast<index_t>(prompts.size()), V});
    std::vector<std::size_t> live(prompts.size());
    for (std::size_t i = 0; i < live.size(); ++i) live[i] = i;
    for (std::size_t k = 0;; ++k) {
        for (std::size_t r = 0; r < live.size(); ++r) {
            INFO("prompt " << live[r] << " (length " << prompts[live[r]].size() << "), after " << k << " steps");
            check_matches(row(log_probs, static_cast<index_t>(r)), want[live[r]][k], tolerance<T>());
        }
        if (k == steps) break;
        if (k == 2) {  // the odd prompts leave the batch
            std::vector<index_t> kept_rows;
            std::vector<std::size_t> kept;
            for (std::size_t r = 0; r < live.size(); ++r)
                if (live[r] % 2 == 0) {
                    kept_rows.push_back(static_cast<index_t>(r));
                    kept.push_back(live[r]);
                }
            batched.reorder(kept_rows);
            live = kept;
        }
        std::vector<index_t> tokens;
        for (const std::size_t i : live) tokens.push_back(next[i][k]);
        log_probs = batched.advance(tokens);
    }
}

// generate_batch greedy on `batched` against greedy() alone on `alone`.
template <typename T>
void check_greedy_texts(loom::Decoder<T>& batched, loom::Decoder<T>& alone,
                        const std::vector<std::vector<index_t>>& prompts) {
    loom::BatchGenerationOptions options;
    options.max_new_tokens = 15;
    options.max_new_tokens_per_prompt.assign(prompts.size(), 15);
    options.max_new_tokens_per_prompt[1] = 4;  // one prompt finishes early
    const auto results = loom::generate_batch(batched, prompts, options);
    for (std::size_t i = 0; i < prompts.size(); ++i) {
        INFO("prompt " << i);
        loom::GenerationOptions alone_options;
        alone_options.max_new_tokens = options.max_new_tokens_per_prompt[i];
        CHECK(results[i].tokens == loom::greedy(alone, prompts[i], alone_options).tokens);
    }
}

char_model::Config rnn_config(char_model::CellKind cell) {
    char_model::Config config;
    config.vocabulary_size = 10;
    config.embedding_dim = 6;
    config.hidden_size = 12;
    config.num_layers = 2;
    config.cell = cell;
    return config;
}

TEMPLATE_TEST_CASE("CharDecoder::start_rows reads prompts of different lengths into one row each",
                   "[batched_generation][char_model]", float, double) {
    using T = TestType;
    for (const auto cell : {char_model::CellKind::lstm, char_model::CellKind::gru, char_model::CellKind::rnn}) {
        INFO(char_model::cell_name(cell));
        loom::Generator generator(7);
        char_model::CharModel<T> model(rnn_config(cell), generator);
        char_model::CharDecoder<T> batched(model), alone(model);
        const auto prompts = random_prompts({3, 1, 7, 3, 5, 12}, 10, 8);
        check_rows_follow_prompts<T>(batched, alone, prompts, 5, 9);
        CHECK(batched.batch_size() == 3);
        check_greedy_texts<T>(batched, alone, prompts);
    }
    loom::Generator generator(7);
    char_model::CharModel<T> model(rnn_config(char_model::CellKind::lstm), generator);
    char_model::CharDecoder<T> decoder(model);
    CHECK(contains(error_message([&] { decoder.start_rows({{1}, {}}); }), "start_rows: prompt 1 is empty"));
    CHECK(contains(error_message([&] { decoder.start_rows({{1}, {2, 10}}); }),
                   "start_rows: prompt 1: token 10 at position 1 is out of range"));
}

char_cnn::Config cnn_config(index_t kernel) {
    char_cnn::Config config;
    config.vocabulary_size = 11;
    config.channels = 8;
    config.num_layers = 6;  // dilations 1, 2, 4, 8, 1, 2: ring buffers of up to 16 slots
    config.kernel_size = kernel;
    config.dilation_cycle = 4;
    return config;
}

TEMPLATE_TEST_CASE("CharCnnDecoder::start_rows rotates each row's ring buffers to one clock",
                   "[batched_generation][char_cnn]", float, double) {
    using T = TestType;
    for (const index_t kernel : {index_t{1}, index_t{3}}) {
        INFO("kernel " << kernel);
        loom::Generator generator(3);
        char_cnn::CharCnnModel<T> model(cnn_config(kernel), generator);
        char_cnn::CharCnnDecoder<T> batched(model), alone(model);
        // Shorter and longer than the rings; two of the same length share a forward pass.
        const auto prompts = random_prompts({1, 5, 20, 9, 17, 5}, 11, 4);
        check_rows_follow_prompts<T>(batched, alone, prompts, 6, 5);
        check_greedy_texts<T>(batched, alone, prompts);
    }
}

char_gpt::Config gpt_config() {
    char_gpt::Config config;
    config.vocabulary_size = 11;
    config.block_size = 8;
    config.embedding_dim = 16;
    config.num_heads = 2;
    config.num_layers = 2;
    return config;
}

TEMPLATE_TEST_CASE("CharGptDecoder::start_rows takes prompts of one length", "[batched_generation][char_gpt]", float,
                   double) {
    using T = TestType;
    loom::Generator generator(5);
    char_gpt::CharGptModel<T> model(gpt_config(), generator);
    char_gpt::CharGptDecoder<T> batched(model), alone(model);
    // Six steps from five characters fill the block of 8: the rows re-read together.
    check_rows_follow_prompts<T>(batched, alone, random_prompts({5, 5, 5, 5}, 11, 6), 6, 7);
    // Prompts of at least the block size are cropped to it, so lengths may differ.
    check_greedy_texts<T>(batched, alone, random_prompts({9, 12, 8}, 11, 8));
    CHECK(error_message([&] { batched.start_rows(random_prompts({3, 3, 5}, 11, 9)); }) ==
          "char_gpt::CharGptDecoder::start_rows: prompt 2 has 5 tokens and prompt 0 has 3; this decoder's rows "
          "share one position, so prompts generated together must have the same length (or at least the block "
          "size, 8)");
}

}  // namespace examples_batched_decoders_test
