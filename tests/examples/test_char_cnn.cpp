#include "test_util.hpp"

// Tests for examples/char_cnn_model.hpp: the parameter names, CharCnnDecoder's
// incremental path (start() primes the per-layer ring buffers from the prompt,
// advance() steps) giving the log-probabilities of the full forward pass at
// every position, reorder() for beam search, and load_char_cnn_model() on a
// written checkpoint and on a checkpoint of another kind.

#include <cstdio>
#include <filesystem>
#include <string>
#include <type_traits>
#include <vector>

#include "../../examples/char_cnn_model.hpp"

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace examples_char_cnn_test {  // named, not anonymous: the test files are compiled together in unity batches

using loom_test::check_matches;

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 2e-5 : 1e-11;
}

char_cnn::Config small_config(index_t kernel, char_cnn::Activation activation) {
    char_cnn::Config config;
    config.vocabulary_size = 11;
    config.channels = 8;
    config.num_layers = 6;  // dilations 1, 2, 4, 8, 1, 2
    config.kernel_size = kernel;
    config.dilation_cycle = 4;
    config.activation = activation;
    return config;
}

std::vector<index_t> random_ids(index_t count, index_t vocabulary, std::uint64_t seed) {
    loom::Generator generator(seed);
    std::vector<index_t> ids;
    for (index_t i = 0; i < count; ++i) ids.push_back(static_cast<index_t>(generator.below(static_cast<std::uint64_t>(vocabulary))));
    return ids;
}

// log_softmax of the full forward over `ids` (batch 1), row t as [V].
template <typename T>
Tensor<T> full_log_probs(const char_cnn::CharCnnModel<T>& model, const std::vector<index_t>& ids) {
    loom::NoGradGuard no_grad;
    const auto length = static_cast<index_t>(ids.size());
    const index_t V = model.config.vocabulary_size;
    return loom::log_softmax(model.forward(loom::IndexTensor(ids, Shape{1, length}))).share_storage(Shape{length, V});
}

template <typename T>
Tensor<T> row(const Tensor<T>& matrix, index_t r) {
    const index_t width = matrix.shape()[1];
    return matrix.share_storage(Shape{1, width}, r * width).clone();
}

TEST_CASE("CharCnnModel has PyTorch-style parameter names and the WaveNet dilations", "[char_cnn]") {
    loom::Generator generator(1);
    const char_cnn::CharCnnModel<float> model(small_config(3, char_cnn::Activation::relu), generator);
    std::vector<std::string> names;
    for (const auto& [name, parameter] : model.named_parameters()) names.push_back(name);
    CHECK(names == std::vector<std::string>{"embedding.weight", "convs.0.weight", "convs.0.bias", "convs.1.weight",
                                            "convs.1.bias", "convs.2.weight", "convs.2.bias", "convs.3.weight",
                                            "convs.3.bias", "convs.4.weight", "convs.4.bias", "convs.5.weight",
                                            "convs.5.bias", "head.weight", "head.bias"});
    std::vector<index_t> dilations;
    for (std::size_t l = 0; l < model.convs.size(); ++l) dilations.push_back(model.convs[l].dilation);
    CHECK(dilations == std::vector<index_t>{1, 2, 4, 8, 1, 2});
    CHECK(model.config.receptive_field() == 1 + 2 * (1 + 2 + 4 + 8 + 1 + 2));
    CHECK(model.convs[0].weight.shape() == Shape{8, 8, 3});
}

TEMPLATE_TEST_CASE("CharCnnDecoder stepping gives the log-probs of the full forward", "[char_cnn][decoder]", float,
                   double) {
    using T = TestType;
    for (const index_t kernel : {index_t{2}, index_t{3}})
        for (const auto activation : {char_cnn::Activation::relu, char_cnn::Activation::gelu}) {
            INFO("kernel " << kernel << ", " << char_cnn::activation_name(activation));
            loom::Generator generator(2);
            char_cnn::CharCnnModel<T> model(small_config(kernel, activation), generator);
            const std::vector<index_t> text = random_ids(60, 11, 3);  // longer than the receptive field (37)
            const Tensor<T> want = full_log_probs(model, text);

            for (const std::size_t prompt_length : {std::size_t{1}, std::size_t{5}, std::size_t{40}}) {
                INFO("prompt of " << prompt_length);
                char_cnn::CharCnnDecoder<T> decoder(model);
                const std::vector<index_t> prompt(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(prompt_length));
                check_matches(decoder.start(prompt, 1), row(want, static_cast<index_t>(prompt_length) - 1),
                              tolerance<T>());
                for (std::size_t t = prompt_length; t < text.size(); ++t) {
                    INFO("position " << t);
                    check_matches(decoder.advance({text[t]}), row(want, static_cast<index_t>(t)), tolerance<T>());
                }
            }
        }
}

TEMPLATE_TEST_CASE("CharCnnDecoder::reorder follows the rows, as beam search needs", "[char_cnn][decoder]", float,
                   double) {
    using T = TestType;
    loom::Generator generator(4);
    char_cnn::CharCnnModel<T> model(small_config(3, char_cnn::Activation::gelu), generator);
    const std::vector<index_t> prompt = random_ids(7, 11, 5);
    char_cnn::CharCnnDecoder<T> decoder(model);
    const Tensor<T> first = decoder.start(prompt, 3);
    REQUIRE(first.shape() == Shape{3, 11});
    REQUIRE(decoder.batch_size() == 3);

    // Three rows continue differently, then rows 2, 0, 0 and 1 go on.
    std::vector<std::vector<index_t>> sequences(3, prompt);
    const std::vector<std::vector<index_t>> next = {{1, 2, 3}, {4, 5, 6}, {7, 8, 9}};
    for (const auto& tokens : next) {
        decoder.advance(tokens);
        for (std::size_t r = 0; r < 3; ++r) sequences[r].push_back(tokens[r]);
    }
    const std::vector<index_t> parents{2, 0, 0, 1};
    decoder.reorder(parents);
    REQUIRE(decoder.batch_size() == 4);
    std::vector<std::vector<index_t>> reordered;
    for (const index_t p : parents) reordered.push_back(sequences[static_cast<std::size_t>(p)]);
    const std::vector<index_t> tokens{10, 0, 3, 3};
    const Tensor<T> got = decoder.advance(tokens);
    for (std::size_t r = 0; r < 4; ++r) {
        INFO("row " << r);
        reordered[r].push_back(tokens[r]);
        const Tensor<T> want = full_log_probs(model, reordered[r]);
        check_matches(row(got, static_cast<index_t>(r)),
                      row(want, static_cast<index_t>(reordered[r].size()) - 1), tolerance<T>());
    }

    CHECK(contains(error_message([&] { decoder.reorder({0, 4}); }), "row 4"));
    CHECK(contains(error_message([&] { decoder.advance({1}); }), "1 tokens for a batch of 4"));
    CHECK(contains(error_message([&] { decoder.advance({1, 2, 3, 11}); }), "token 11"));
    char_cnn::CharCnnDecoder<T> fresh(model);
    CHECK(contains(error_message([&] { fresh.advance({1}); }), "start() first"));
    CHECK(contains(error_message([&] { fresh.start({}, 1); }), "prompt is empty"));
}

TEST_CASE("load_char_cnn_model rebuilds the model from a checkpoint", "[char_cnn][checkpoint]") {
    loom::Generator generator(6);
    char_cnn::Config config = small_config(3, char_cnn::Activation::gelu);
    const loom::CharTokenizer tokenizer(loom::Vocabulary::from_text("abcdefghijk"));
    REQUIRE(tokenizer.vocab_size() == config.vocabulary_size);
    const char_cnn::CharCnnModel<float> model(config, generator);
    const std::string path = loom_test::unique_temp_path("loom_test_char_cnn_checkpoint", ".safetensors");

    loom::CheckpointWriter<float> writer;
    writer.add_model(model);
    for (const auto& [key, value] : char_cnn::model_metadata(config, tokenizer)) writer.set(key, value);
    writer.save(path);
    const char_cnn::LoadedCharCnnModel<float> loaded = char_cnn::load_char_cnn_model<float>(path);
    CHECK(loaded.config.num_layers == 6);
    CHECK(loaded.config.activation == char_cnn::Activation::gelu);
    REQUIRE(loaded.tokenizer->kind() == "char");
    CHECK(loaded.tokenizer->to_json() == tokenizer.to_json());
    const std::vector<index_t> ids = random_ids(20, 11, 7);
    CHECK(loom_test::max_abs_diff(full_log_probs(*loaded.model, ids), full_log_probs(model, ids)) == 0.0);

    loom::CheckpointWriter<float> other;
    other.add_model(model);
    other.set("model.kind", "char_rnn");
    other.save(path);
    const std::string message = error_message([&] { char_cnn::load_char_cnn_model<float>(path); });
    INFO(message);
    CHECK(contains(message, "model.kind"));
    CHECK(contains(message, "char_rnn"));
    std::filesystem::remove(path);
}

TEST_CASE("a char_cnn checkpoint keeps a word tokenizer, and its size must match the model's", "[char_cnn][checkpoint]") {
    loom::Generator generator(8);
    const char_cnn::Config config = small_config(2, char_cnn::Activation::relu);
    // <unk> and ten words seen twice each: 11 ids, the model's vocabulary size.
    const loom::WordTokenizer tokenizer = loom::WordTokenizer::train("a a b b c c d d e e f f g g h h i i j j");
    REQUIRE(tokenizer.vocab_size() == config.vocabulary_size);
    const char_cnn::CharCnnModel<float> model(config, generator);
    const std::string path = loom_test::unique_temp_path("loom_test_char_cnn_word", ".safetensors");

    loom::CheckpointWriter<float> writer;
    writer.add_model(model);
    for (const auto& [key, value] : char_cnn::model_metadata(config, tokenizer)) writer.set(key, value);
    writer.save(path);
    const char_cnn::LoadedCharCnnModel<float> loaded = char_cnn::load_char_cnn_model<float>(path);
    REQUIRE(loaded.tokenizer->kind() == "word");
    CHECK(loaded.tokenizer->encode("a j zebra") == std::vector<index_t>{tokenizer.id_of("a"), tokenizer.id_of("j"), 0});

    // A tokenizer of another size than the model's embedding cannot belong to it.
    loom::CheckpointWriter<float> mismatched;
    mismatched.add_model(model);
    for (const auto& [key, value] : char_cnn::model_metadata(config, loom::WordTokenizer::train("a a b b"))) mismatched.set(key, value);
    mismatched.save(path);
    const std::string message = error_message([&] { char_cnn::load_char_cnn_model<float>(path); });
    INFO(message);
    CHECK(contains(message, "model.tokenizer"));
    CHECK(contains(message, "3"));
    std::filesystem::remove(path);
}

}  // namespace examples_char_cnn_test
