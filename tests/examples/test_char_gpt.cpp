#include "test_util.hpp"

// Tests for examples/char_gpt_model.hpp: parameter names (PyTorch's, as
// bench/char_gpt_reference.py builds them), nanoGPT's initialisation and
// weight-decay groups, weight tying, the key/value-cache decoder against the
// full forward pass (prefill, step, the context re-read when the block is full,
// beam reordering), checkpoint round trip, and the errors.

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include <loom/autograd/engine.hpp>
#include <loom/ops/reduce.hpp>

#include "../../examples/char_gpt_model.hpp"

using loom::index_t;
using loom::IndexTensor;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace examples_char_gpt_test {  // named, not anonymous: the test files are compiled together in unity batches

using loom_test::check_matches;

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 2e-5 : 1e-11;
}

char_gpt::Config small_config(bool tie = false) {
    char_gpt::Config config;
    config.vocabulary_size = 11;
    config.block_size = 8;
    config.embedding_dim = 16;
    config.num_heads = 2;
    config.num_layers = 2;
    config.tie_weights = tie;
    return config;
}

// log_softmax of the full forward at position t of row 0, as [1, V].
template <typename T>
Tensor<T> full_log_probs(char_gpt::CharGptModel<T>& model, const std::vector<index_t>& ids) {
    loom::NoGradGuard no_grad;
    const auto length = static_cast<index_t>(ids.size());
    const index_t V = model.config.vocabulary_size;
    const Tensor<T> logits = model(IndexTensor(ids, Shape{1, length}));
    return loom::log_softmax(logits.share_storage(Shape{1, V}, (length - 1) * V));
}

TEST_CASE("char_gpt model has PyTorch's parameter names and nanoGPT's initialisation", "[char_gpt]") {
    loom::Generator generator(1);
    char_gpt::CharGptModel<double> model(small_config(), generator);
    std::set<std::string> names;
    for (const auto& named : model.named_parameters()) names.insert(named.first);
    CHECK(names.count("token_embedding.weight") == 1);
    CHECK(names.count("position_embedding.weight") == 1);
    CHECK(names.count("blocks.0.self_attn.in_proj_weight") == 1);
    CHECK(names.count("blocks.1.linear2.bias") == 1);
    CHECK(names.count("norm.weight") == 1);
    CHECK(names.count("head.weight") == 1);
    CHECK(names.count("head.bias") == 0);
    CHECK(names.size() == 2 + 2 * 12 + 2 + 1);
    // N(0, 0.02), and N(0, 0.02/√(2·2)) on the residual projections; biases zero.
    const auto std_of = [&](const std::string& name) {
        const Tensor<double> p = model.parameter(name);
        return std::sqrt(p.flat().square().mean());
    };
    CHECK(std_of("token_embedding.weight") == Approx(0.02).epsilon(0.15));
    CHECK(std_of("blocks.0.linear1.weight") == Approx(0.02).epsilon(0.15));
    CHECK(std_of("blocks.1.linear2.weight") == Approx(0.01).epsilon(0.15));
    CHECK(std_of("blocks.0.self_attn.out_proj.weight") == Approx(0.01).epsilon(0.25));
    CHECK(std_of("blocks.0.linear1.bias") == 0.0);
    CHECK(model.parameter("norm.weight").flat().minCoeff() == 1.0);

    const auto groups = model.optimizer_groups(0.1);
    REQUIRE(groups.size() == 2);
    CHECK(groups[0].weight_decay == 0.1);
    CHECK(groups[1].weight_decay == 0.0);
    for (const auto& p : groups[0].parameters) CHECK(p.rank() == 2);
    for (const auto& p : groups[1].parameters) CHECK(p.rank() == 1);
    CHECK(groups[0].parameters.size() + groups[1].parameters.size() == names.size());
}

TEST_CASE("char_gpt tied weights share the token embedding", "[char_gpt]") {
    loom::Generator generator(2);
    char_gpt::CharGptModel<double> model(small_config(true), generator);
    CHECK(!model.head);
    for (const auto& named : model.named_parameters()) CHECK(named.first.rfind("head", 0) != 0);
    // Gradient reaches the embedding from both its uses.
    const Tensor<double> logits = model(IndexTensor({1, 2, 3}, Shape{1, 3}));
    CHECK(logits.shape() == Shape{1, 3, 11});
    loom::sum(logits).backward();
    const Tensor<double> grad = model.token_embedding.weight.grad();
    double row_10 = 0;  // id 10 never appears in the input: only the head gives it a gradient
    for (index_t c = 0; c < 16; ++c) row_10 += std::abs(grad.data()[10 * 16 + c]);
    CHECK(row_10 > 0);
}

TEMPLATE_TEST_CASE("char_gpt decoder with key/value caches equals the full forward pass", "[char_gpt][cache]", float,
                   double) {
    using T = TestType;
    loom::Generator generator(3);
    char_gpt::CharGptModel<T> model(small_config(), generator);
    model.eval();
    const std::vector<index_t> text = {1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6};
    const index_t block = model.config.block_size;
    for (index_t keep : {index_t(0), block - 1, block, index_t(3)}) {
        INFO("context_keep " << keep);
        char_gpt::CharGptDecoder<T> decoder(model, keep);
        const index_t effective_keep = keep == 0 ? block / 2 : keep;
        const std::vector<index_t> prompt(text.begin(), text.begin() + 3);
        check_matches(decoder.start(prompt, 1), full_log_probs(model, prompt), tolerance<T>());
        // The context the decoder holds: what was read since the last re-read.
        std::vector<index_t> context = prompt;
        for (std::size_t i = 3; i < text.size(); ++i) {
            context.push_back(text[i]);
            if (static_cast<index_t>(context.size()) > block)
                context.erase(context.begin(), context.end() - effective_keep);
            check_matches(decoder.advance({text[i]}), full_log_probs(model, context), tolerance<T>());
        }
    }
}

TEST_CASE("char_gpt decoder rows reorder like beams and long prompts are cropped", "[char_gpt][cache]") {
    loom::Generator generator(4);
    char_gpt::CharGptModel<double> model(small_config(), generator);
    char_gpt::CharGptDecoder<double> decoder(model);
    const Tensor<double> start = decoder.start({1, 2}, 3);
    CHECK(start.shape() == Shape{3, 11});
    decoder.advance({3, 4, 5});
    decoder.reorder({2, 0});  // continue from rows "1 2 5" and "1 2 3"
    const Tensor<double> next = decoder.advance({6, 7});
    check_matches(next.share_storage(Shape{1, 11}, 0), full_log_probs(model, {1, 2, 5, 6}), 1e-11);
    check_matches(next.share_storage(Shape{1, 11}, 11), full_log_probs(model, {1, 2, 3, 7}), 1e-11);

    // A prompt longer than the block reads its last block_size characters, as nanoGPT crops.
    const std::vector<index_t> long_prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2};
    check_matches(decoder.start(long_prompt, 1),
                  full_log_probs(model, std::vector<index_t>(long_prompt.end() - 8, long_prompt.end())), 1e-11);

    CHECK(contains(error_message([&] { decoder.advance({1, 2}); }), "2 tokens for a batch of 1 rows"));
    CHECK(contains(error_message([&] { decoder.advance({11}); }), "token 11 at position 0 is out of range"));
    CHECK(contains(error_message([&] { decoder.reorder({1}); }), "row 1 at position 0 is out of range"));
    CHECK(contains(error_message([&] { char_gpt::CharGptDecoder<double>(model, 9); }),
                   "context_keep 9 must be at most the block size 8"));
    CHECK(contains(error_message([&] { model(IndexTensor::zeros(Shape{1, 9})); }),
                   "length 9 is longer than the block size 8"));
}

TEST_CASE("char_gpt checkpoints round-trip through load_char_gpt_model", "[char_gpt][checkpoint]") {
    loom::Generator generator(5);
    const char_gpt::Config config = small_config(true);
    char_gpt::CharGptModel<float> model(config, generator);
    const loom::CharTokenizer tokenizer(loom::Vocabulary::from_text("abcdefghijk"));
    REQUIRE(tokenizer.vocab_size() == 11);
    const std::string path = loom_test::unique_temp_path("loom_test_char_gpt", ".safetensors");
    loom::CheckpointWriter<float> writer;
    writer.add_model(model);
    for (const auto& entry : char_gpt::model_metadata(config, tokenizer)) writer.set(entry.first, entry.second);
    writer.save(path);
    const auto loaded = char_gpt::load_char_gpt_model<float>(path);
    CHECK(loaded.config.tie_weights);
    CHECK(loaded.config.block_size == 8);
    CHECK(loaded.tokenizer->decode({0, 10}) == "ak");
    model.eval();
    check_matches(full_log_probs(*loaded.model, {1, 2, 3}), full_log_probs(model, {1, 2, 3}), 0.0);
    std::remove(path.c_str());
}

}  // namespace examples_char_gpt_test
