#include "test_util.hpp"

// Tests for the bidirectional (non-causal) TransformerBlock and for
// examples/char_bert_model.hpp, the BERT-style character model:
//   - the block: position 0 depends on later positions without the causal mask
//     and not with it; the old constructor is still the causal block; gradcheck
//     in double over the input and every parameter (with and without a key
//     padding mask); PyTorch's TransformerEncoderLayer(norm_first=True) called
//     without src_mask (tests/data/transformer_block_bidirectional*_f{32,64}.txt,
//     written by tests/fixtures/make_bidirectional_fixtures.py): y, dx and every
//     parameter gradient at relative 1e-10 (double) and 1e-5 (float); step()
//     and prefill() refuse a bidirectional block;
//   - the model: parameter names and shapes (the [MASK] row of the embedding,
//     a head over characters only), forward shapes and errors, every output
//     position sees the whole window, score() against cross_entropy, fill_masks
//     in both orders, a tiny model that learns to fill a periodic text, and the
//     checkpoint round trip.

#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <loom/autograd/engine.hpp>
#include <loom/data/masked_lm.hpp>
#include <loom/optim/adam.hpp>

#include "../../examples/char_bert_model.hpp"
#include "fixture_reader.hpp"

namespace examples_char_bert_test {  // named, not anonymous: the test files are compiled together in unity batches

using loom::index_t;
using loom::IndexTensor;
using loom::Shape;
using loom::Tensor;
using loom_test::check_matches;
using loom_test::contains;
using loom_test::error_message;

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 1e-5 : 1e-10;
}

template <typename T>
loom::TransformerBlock<T> bidirectional_block(index_t d, index_t heads, index_t feedforward, loom::Generator& generator) {
    loom::TransformerBlockOptions options;
    options.feedforward_dim = feedforward;
    options.causal = false;
    return loom::TransformerBlock<T>(d, heads, generator, options);
}

// Row t of x [B, T, d], as [B, d].
template <typename T>
Tensor<T> position(const Tensor<T>& x, index_t t) {
    return loom::reshape(loom::narrow(x, 1, t, 1), {x.shape()[0], x.shape()[2]});
}

TEST_CASE("a bidirectional TransformerBlock sees later positions, a causal one does not", "[transformer][bert]") {
    loom::Generator generator(1);
    loom::TransformerBlock<double> encoder = bidirectional_block<double>(8, 2, 16, generator);
    loom::TransformerBlock<double> decoder(8, 2, generator, 16);
    CHECK(!encoder.causal());
    CHECK(decoder.causal());
    const Tensor<double> x = Tensor<double>::uniform(Shape{2, 5, 8}, -1, 1, generator);
    // Sequence 0, last position, changed by something LayerNorm does not remove (not a constant shift).
    Tensor<double> changed = x.clone();
    for (index_t c = 0; c < 8; ++c) changed.data()[4 * 8 + c] += 0.1 * static_cast<double>(c);
    loom::NoGradGuard no_grad;
    // Position 0 of sequence 0 moves for the encoder only; sequence 1 never.
    const auto first_of_sequence_0 = [](const Tensor<double>& y, index_t t) {
        return loom::narrow(position(y, t), 0, 0, 1);
    };
    CHECK(loom_test::max_abs_diff(first_of_sequence_0(encoder(x), 0), first_of_sequence_0(encoder(changed), 0)) > 1e-3);
    CHECK(loom_test::max_abs_diff(first_of_sequence_0(decoder(x), 0), first_of_sequence_0(decoder(changed), 0)) == 0.0);
    CHECK(loom_test::max_abs_diff(loom::narrow(encoder(x), 0, 1, 1), loom::narrow(encoder(changed), 0, 1, 1)) == 0.0);
    // Swapping two positions swaps the encoder's outputs (no mask, and no position information inside the block).
    Tensor<double> swapped = x.clone();
    for (index_t c = 0; c < 8; ++c) std::swap(swapped.data()[1 * 8 + c], swapped.data()[3 * 8 + c]);
    CHECK(loom_test::max_abs_diff(first_of_sequence_0(encoder(x), 1), first_of_sequence_0(encoder(swapped), 3)) < 1e-12);
    CHECK(loom_test::max_abs_diff(first_of_sequence_0(encoder(x), 4), first_of_sequence_0(encoder(swapped), 4)) < 1e-12);
}

TEST_CASE("TransformerBlock's old constructor is the causal block of the options constructor", "[transformer][bert]") {
    loom::Generator a(2), b(2);
    loom::TransformerBlock<double> old_style(8, 2, a, 24, 0.0, 1e-6);
    loom::TransformerBlockOptions options;
    options.feedforward_dim = 24;
    options.layer_norm_eps = 1e-6;
    loom::TransformerBlock<double> with_options(8, 2, b, options);
    CHECK(with_options.causal());
    CHECK(with_options.feedforward_dim == 24);
    const auto old_parameters = old_style.named_parameters(), new_parameters = with_options.named_parameters();
    REQUIRE(old_parameters.size() == new_parameters.size());
    for (std::size_t i = 0; i < old_parameters.size(); ++i) {
        CHECK(old_parameters[i].first == new_parameters[i].first);
        CHECK(loom_test::max_abs_diff(old_parameters[i].second, new_parameters[i].second) == 0.0);
    }
    const Tensor<double> x = Tensor<double>::uniform(Shape{1, 4, 8}, -1, 1, a);
    CHECK(loom_test::max_abs_diff(old_style(x), with_options(x)) == 0.0);
}

TEST_CASE("bidirectional TransformerBlock gradcheck over input and parameters", "[transformer][bert][gradcheck]") {
    using Inputs = std::vector<loom::Tensord>;
    loom::Generator generator(3);
    loom::TransformerBlock<double> block = bidirectional_block<double>(4, 2, 8, generator);
    block.norm1.weight.flat() = Eigen::ArrayXd::LinSpaced(4, 0.5, 1.5);  // not the identity, so it matters
    block.norm2.bias.flat() = Eigen::ArrayXd::LinSpaced(4, -0.2, 0.2);
    const loom::Tensord x = loom::Tensord::uniform(Shape{2, 3, 4}, -1, 1, generator);
    const auto params = block.named_parameters();
    REQUIRE(params.size() == 12);
    Inputs inputs{x};
    for (const auto& named : params) inputs.push_back(named.second);
    // Every parameter of the block, in named_parameters() order, to point at the perturbed copies.
    Tensor<double>* const slots[] = {&block.self_attn.in_proj_weight, &block.self_attn.in_proj_bias,
                                     &block.self_attn.out_proj.weight, &block.self_attn.out_proj.bias,
                                     &block.linear1.weight, &block.linear1.bias, &block.linear2.weight,
                                     &block.linear2.bias, &block.norm1.weight, &block.norm1.bias,
                                     &block.norm2.weight, &block.norm2.bias};
    for (const bool padded : {false, true}) {
        INFO("key padding mask: " << padded);
        const IndexTensor padding = padded ? IndexTensor({0, 0, 0, 0, 1, 0}, Shape{2, 3}) : IndexTensor();
        const auto block_output = [&](const Inputs& in) {
            for (std::size_t k = 0; k < 12; ++k) *slots[k] = in[k + 1];
            return block(in[0], padding);
        };
        LOOM_CHECK_GRADIENTS(block_output, inputs);
    }
    CHECK(params[0].first == "self_attn.in_proj_weight");
    CHECK(params[4].first == "linear1.weight");
    CHECK(params[8].first == "norm1.weight");
}

// The fixture's key padding mask as an IndexTensor (nonzero = padding), or none.
inline IndexTensor fixture_padding(const loom_test::Fixture& fixture) {
    if (!fixture.has("key_padding_mask")) return IndexTensor();
    const Tensor<double> mask = fixture.get<double>("key_padding_mask");
    std::vector<index_t> values;
    for (index_t i = 0; i < mask.numel(); ++i) values.push_back(static_cast<index_t>(std::lround(mask.data()[i])));
    return IndexTensor(values, mask.shape());
}

// Loads PyTorch's parameters by name into a bidirectional block and compares y
// and every gradient of sum(y ⊙ dy).
template <typename T>
void check_against_pytorch(const std::string& file) {
    INFO("fixture " << file);
    const auto fixture = loom_test::load_fixture(file);
    REQUIRE(std::lround(fixture.get<double>("causal").data()[0]) == 0);
    const Tensor<T> x_value = fixture.get<T>("x");
    const index_t dim = x_value.shape()[2];
    const auto heads = static_cast<index_t>(std::lround(fixture.get<double>("num_heads").data()[0]));
    const index_t feedforward = fixture.get<double>("linear1.weight").shape()[0];
    loom::Generator generator(4);
    loom::TransformerBlock<T> block = bidirectional_block<T>(dim, heads, feedforward, generator);
    std::set<std::string> in_loom;
    for (const auto& named : block.named_parameters()) {
        in_loom.insert(named.first);
        REQUIRE(fixture.has(named.first));
        const Tensor<T> value = fixture.get<T>(named.first);
        REQUIRE(named.second.shape() == value.shape());
        Tensor<T> parameter = named.second;
        parameter.copy_(value);
    }
    CHECK(in_loom.size() == 12);

    const IndexTensor padding = fixture_padding(fixture);
    Tensor<T> x = x_value.clone();
    x.requires_grad_();
    const Tensor<T> y = block(x, padding);
    check_matches(y, fixture.get<T>("y"), tolerance<T>());
    loom::sum(loom::mul(y, fixture.get<T>("dy"))).backward();
    check_matches(x.grad(), fixture.get<T>("x_grad"), tolerance<T>());
    for (const auto& named : block.named_parameters()) {
        INFO("gradient of " << named.first);
        check_matches(named.second.grad(), fixture.get<T>(named.first + "_grad"), tolerance<T>());
    }
    block.eval();
    loom::NoGradGuard no_grad;
    check_matches(block(x_value, padding), fixture.get<T>("y"), tolerance<T>());
}

TEST_CASE("bidirectional TransformerBlock matches PyTorch's TransformerEncoderLayer without a mask",
          "[transformer][bert][fixture]") {
    for (const std::string name : {"transformer_block_bidirectional", "transformer_block_bidirectional_padding"}) {
        check_against_pytorch<double>(name + "_f64.txt");
        check_against_pytorch<float>(name + "_f32.txt");  // PyTorch's float32 run
        check_against_pytorch<float>(name + "_f64.txt");  // and its float64 one
    }
}

TEST_CASE("a bidirectional TransformerBlock cannot be stepped", "[transformer][bert]") {
    loom::Generator generator(5);
    loom::TransformerBlock<float> block = bidirectional_block<float>(8, 2, 0, generator);
    CHECK(block.feedforward_dim == 32);
    block.eval();
    loom::KeyValueCache<float> cache;
    const Tensor<float> x = Tensor<float>::zeros(Shape{1, 8});
    CHECK(contains(error_message([&] { block.step(x, cache, 4); }),
                   "loom::TransformerBlock::step: only a causal block can be stepped"));
    CHECK(contains(error_message([&] { block.prefill(Tensor<float>::zeros(Shape{1, 2, 8}), cache, 4); }),
                   "loom::TransformerBlock::prefill: only a causal block can be stepped"));
}

char_bert::Config small_config() {
    char_bert::Config config;
    config.vocabulary_size = 10;  // [MASK] is id 10
    config.block_size = 8;
    config.embedding_dim = 16;
    config.num_heads = 2;
    config.num_layers = 2;
    return config;
}

TEST_CASE("char_bert model: names, shapes, [MASK] and a bidirectional forward", "[char_bert]") {
    loom::Generator generator(6);
    char_bert::CharBertModel<double> model(small_config(), generator);
    CHECK(model.config.mask_id() == 10);
    std::set<std::string> names;
    for (const auto& named : model.named_parameters()) names.insert(named.first);
    CHECK(names.count("blocks.1.self_attn.in_proj_weight") == 1);
    CHECK(names.count("head.bias") == 1);
    CHECK(names.size() == 2 + 2 * 12 + 2 + 2);
    CHECK(model.token_embedding.weight.shape() == Shape{11, 16});  // 10 characters and [MASK]
    CHECK(model.head.weight.shape() == Shape{10, 16});             // predicts characters only
    for (std::size_t l = 0; l < model.blocks.size(); ++l) CHECK(!model.blocks[l].causal());

    const IndexTensor ids({1, 2, 10, 4, 5, 6, 7, 8, 0, 10, 9, 3}, Shape{2, 6});
    loom::NoGradGuard no_grad;
    const Tensor<double> logits = model(ids);
    CHECK(logits.shape() == Shape{2, 6, 10});
    // The first position's logits change when the last character does.
    IndexTensor changed = ids;
    changed[5] = 9;
    const Tensor<double> first = loom::narrow(loom::narrow(logits, 0, 0, 1), 1, 0, 1);
    const Tensor<double> first_changed = loom::narrow(loom::narrow(model(changed), 0, 0, 1), 1, 0, 1);
    CHECK(loom_test::max_abs_diff(first, first_changed) > 1e-9);

    CHECK(contains(error_message([&] { model(IndexTensor::zeros(Shape{1, 9})); }),
                   "char_bert::CharBertModel: length 9 is longer than the block size 8"));
    CHECK(contains(error_message([&] { model(IndexTensor({1, 2})); }), "expected ids [batch, length]"));
    CHECK(!error_message([&] { model(IndexTensor({11}, Shape{1, 1})); }).empty());  // past [MASK]
    char_bert::Config bad = small_config();
    bad.vocabulary_size = 0;
    CHECK(contains(error_message([&] { char_bert::CharBertModel<double>(bad, generator); }),
                   "vocabulary_size, block_size and num_layers must be positive"));
}

TEST_CASE("char_bert score() is cross_entropy and argmax accuracy over the masked positions", "[char_bert]") {
    loom::Generator generator(7);
    char_bert::CharBertModel<double> model(small_config(), generator);
    const IndexTensor ids({1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6}, Shape{2, 8});
    loom::MaskedLmOptions options;
    options.mask_probability = 0.5;
    const loom::MaskedLmBatch batch = loom::mask_tokens(ids, 11, 10, generator, options);
    Tensor<double> logits;
    const char_bert::MaskedLmScore score = char_bert::score(model, batch, &logits);
    CHECK(score.count == batch.selected);
    CHECK(score.loss() == Approx(loom::cross_entropy(logits, batch.targets).item()).epsilon(1e-12));
    index_t correct = 0;
    for (index_t i = 0; i < 16; ++i)
        if (batch.targets[i] >= 0 && char_bert::argmax_row(logits, i) == batch.targets[i]) ++correct;
    CHECK(score.correct == correct);
    CHECK(score.accuracy() == Approx(double(correct) / double(batch.selected)));
    char_bert::MaskedLmScore total;
    total.add(score);
    total.add(score);
    CHECK(total.loss() == Approx(score.loss()));
    CHECK(total.count == 2 * score.count);
    CHECK(char_bert::MaskedLmScore().accuracy() == 0.0);
}

TEST_CASE("char_bert fill_masks fills every blank and keeps the rest", "[char_bert]") {
    loom::Generator generator(8);
    char_bert::CharBertModel<double> model(small_config(), generator);
    const std::vector<index_t> ids = {1, 10, 3, 10, 10, 6};
    const std::vector<index_t> one_pass = char_bert::fill_masks(model, ids, false);
    const std::vector<index_t> in_order = char_bert::fill_masks(model, ids, true);
    CHECK(!model.is_training());
    // One pass: each blank is the argmax of the single forward over the masked text.
    const Tensor<double> logits = model(IndexTensor(ids, Shape{1, 6}));
    for (index_t t = 0; t < 6; ++t) {
        const auto k = static_cast<std::size_t>(t);
        CHECK(one_pass[k] == (ids[k] == 10 ? char_bert::argmax_row(logits, t) : ids[k]));
        CHECK(in_order[k] >= 0);
        CHECK(in_order[k] < 10);
        if (ids[k] != 10) CHECK(in_order[k] == ids[k]);
    }
    // Most confident first: the first blank filled is the one the masked text is surest of.
    const Tensor<double> log_probs = loom::log_softmax(logits);
    index_t surest = -1;
    double best = -1e300;
    for (const index_t t : {1, 3, 4}) {
        const double value = log_probs.data()[t * 10 + char_bert::argmax_row(logits, t)];
        if (value > best) {
            best = value;
            surest = t;
        }
    }
    CHECK(in_order[static_cast<std::size_t>(surest)] == one_pass[static_cast<std::size_t>(surest)]);
    // Nothing to fill: unchanged.
    CHECK(char_bert::fill_masks(model, {1, 2, 3}) == std::vector<index_t>{1, 2, 3});
    CHECK(contains(error_message([&] { char_bert::fill_masks(model, std::vector<index_t>(9, 10)); }),
                   "char_bert::fill_masks: 9 ids, expected 1 to the block size 8"));
}

TEST_CASE("a tiny char_bert learns to fill in a periodic text", "[char_bert][training]") {
    // "0123401234…": every character is fixed by its neighbours, so the masked
    // loss can go to zero; a model that failed to look both ways could not
    // learn it as fast from masked inputs.
    char_bert::Config config;
    config.vocabulary_size = 5;
    config.block_size = 10;
    config.embedding_dim = 16;
    config.num_heads = 2;
    config.num_layers = 2;
    loom::Generator generator(9);
    char_bert::CharBertModel<float> model(config, generator);
    loom::Adam<float> optimizer(model.parameters(), 1e-2);
    loom::MaskedLmOptions options;
    options.mask_probability = 0.3;
    const auto window_batch = [&](std::uint64_t offset_seed) {
        std::vector<index_t> ids;
        loom::Generator offsets(offset_seed);
        for (index_t b = 0; b < 8; ++b) {
            const auto start = static_cast<index_t>(offsets.below(5));
            for (index_t t = 0; t < 10; ++t) ids.push_back((start + t) % 5);
        }
        return IndexTensor(ids, Shape{8, 10});
    };
    loom::Generator masks(10);
    const loom::MaskedLmBatch validation = loom::mask_tokens(window_batch(11), 6, 5, masks, options);
    const double initial = char_bert::score(model, validation).loss();
    model.train();
    for (int step = 0; step < 400; ++step) {
        const loom::MaskedLmBatch batch = loom::mask_tokens(window_batch(100 + step), 6, 5, masks, options);
        optimizer.zero_grad();
        loom::cross_entropy(model(batch.inputs), batch.targets).backward();
        optimizer.step();
    }
    const char_bert::MaskedLmScore trained = char_bert::score(model, validation);
    INFO("masked loss " << initial << " -> " << trained.loss() << ", accuracy " << trained.accuracy());
    CHECK(trained.loss() < 0.1 * initial);
    CHECK(trained.accuracy() > 0.95);
    // Fill a blank between known characters.
    CHECK(char_bert::fill_masks(model, {0, 1, 5, 3, 4, 0}) == std::vector<index_t>{0, 1, 2, 3, 4, 0});
}

TEST_CASE("char_bert checkpoints round-trip through load_char_bert_model", "[char_bert][checkpoint]") {
    loom::Generator generator(12);
    const char_bert::Config config = small_config();
    char_bert::CharBertModel<float> model(config, generator);
    const loom::CharTokenizer tokenizer(loom::Vocabulary::from_text("abcdefghij"));
    REQUIRE(tokenizer.vocab_size() == 10);
    const std::string path = loom_test::unique_temp_path("loom_test_char_bert", ".safetensors");
    const auto save = [&](const std::map<std::string, std::string>& metadata) {
        loom::CheckpointWriter<float> writer;
        writer.add_model(model);
        for (const auto& entry : metadata) writer.set(entry.first, entry.second);
        writer.save(path);
    };
    std::map<std::string, std::string> metadata = char_bert::model_metadata(config, tokenizer);
    CHECK(metadata.at("model.kind") == "char_bert");
    CHECK(metadata.at("model.mask_id") == "10");
    save(metadata);
    const auto loaded = char_bert::load_char_bert_model<float>(path);
    CHECK(loaded.config.block_size == 8);
    CHECK(loaded.config.mask_id() == 10);
    CHECK(loaded.tokenizer->decode({0, 9}) == "aj");
    model.eval();
    loom::NoGradGuard no_grad;
    const IndexTensor ids({1, 10, 3}, Shape{1, 3});
    check_matches(loaded.model->forward(ids), model(ids), 0.0);

    metadata["model.mask_id"] = "3";
    save(metadata);
    CHECK(contains(error_message([&] { char_bert::load_char_bert_model<float>(path); }),
                   "metadata 'model.mask_id' is 3, expected model.vocabulary_size 10"));
    metadata["model.kind"] = "char_gpt";
    save(metadata);
    CHECK(contains(error_message([&] { char_bert::load_char_bert_model<float>(path); }), "not a char_bert checkpoint"));
    std::remove(path.c_str());
}

}  // namespace examples_char_bert_test
