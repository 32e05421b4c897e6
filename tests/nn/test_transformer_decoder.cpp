#include "test_util.hpp"

// Tests for loom/nn/multihead_attention.hpp (cross-attention) and
// loom/nn/transformer_decoder.hpp: both against PyTorch
// (tests/data/cross_attention.txt, decoder_layer_{relu,gelu}.txt, made by
// tests/fixtures/make_transformer_decoder_fixtures.py: the output and the
// gradients of the inputs and of every parameter, loaded by PyTorch's names;
// 1e-10 in double, 1e-5 in float); finite differences in double with source
// lengths; the decoder block's cached step() against forward() on the whole
// target; the errors.

#include <algorithm>
#include <string>
#include <vector>

#include <loom/autograd/gradcheck.hpp>
#include <loom/nn/transformer_decoder.hpp>

#include "fixture_reader.hpp"
#include "nn/recurrent_fixture.hpp"

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace nn_transformer_decoder_test {

using loom_test::recurrent::check_matches;
using loom_test::recurrent::tracked;

// Loads every parameter (all names of the fixture that have a _grad and are
// not inputs) into `module`, and checks that the two sets of names agree.
template <typename T>
void load_all(loom::Module<T>& module, const loom_test::Fixture& fixture, const std::vector<std::string>& inputs) {
    std::vector<std::string> expected;
    for (const std::string& name : fixture.names()) {
        if (name.size() <= 5 || name.compare(name.size() - 5, 5, "_grad") != 0) continue;
        const std::string base = name.substr(0, name.size() - 5);
        if (std::find(inputs.begin(), inputs.end(), base) == inputs.end()) expected.push_back(base);
    }
    std::vector<std::string> names;
    for (const auto& [name, parameter] : module.named_parameters()) {
        names.push_back(name);
        INFO("loom parameter " << name);
        REQUIRE(fixture.has(name));
        Tensor<T> p = parameter;
        p.copy_(fixture.get<T>(name));
    }
    std::sort(names.begin(), names.end());
    std::sort(expected.begin(), expected.end());
    CHECK(names == expected);
}

std::vector<index_t> fixture_lengths(const loom_test::Fixture& fixture) {
    const Tensor<double> values = fixture.get<double>("lengths");
    std::vector<index_t> lengths;
    for (index_t i = 0; i < values.numel(); ++i) lengths.push_back(static_cast<index_t>(values.data()[i]));
    return lengths;
}

template <typename T, typename Module, typename Run>
void check_fixture(Module& module, const char* file, const char* input_name, Run run) {
    INFO("fixture " << file);
    const auto fixture = loom_test::load_fixture(file);
    load_all(module, fixture, {input_name, "memory"});
    Tensor<T> input = tracked<T>(fixture, input_name), memory = tracked<T>(fixture, "memory");
    const Tensor<T> output = run(input, memory, fixture_lengths(fixture));
    check_matches("output", output, fixture.get<T>("output"));
    loom::sum(loom::mul(output, fixture.get<T>("R"))).backward();
    check_matches(std::string(input_name) + "_grad", input.grad(), fixture.get<T>(std::string(input_name) + "_grad"));
    check_matches("memory_grad", memory.grad(), fixture.get<T>("memory_grad"));
    for (const auto& [name, parameter] : module.named_parameters())
        check_matches(name + "_grad", parameter.grad(), fixture.get<T>(name + "_grad"));
}

template <typename T>
void check_all_fixtures() {
    loom::Generator generator(1);
    loom::MultiheadAttention<T> attention(8, 2, generator);
    check_fixture<T>(attention, "cross_attention.txt", "query",
                     [&](const Tensor<T>& q, const Tensor<T>& m, const std::vector<index_t>& lengths) {
                         return attention(q, attention.project_memory(m, lengths));
                     });
    for (const auto activation : {loom::FeedForwardActivation::relu, loom::FeedForwardActivation::gelu_tanh}) {
        loom::TransformerDecoderLayerOptions options;
        options.feedforward_dim = 12;
        options.activation = activation;
        loom::TransformerDecoderLayer<T> layer(8, 2, generator, options);
        check_fixture<T>(layer,
                         activation == loom::FeedForwardActivation::relu ? "decoder_layer_relu.txt"
                                                                         : "decoder_layer_gelu.txt",
                         "target", [&](const Tensor<T>& x, const Tensor<T>& m, const std::vector<index_t>& lengths) {
                             return layer(x, layer.project_memory(m, lengths));
                         });
    }
}

TEST_CASE("cross-attention and the decoder block match PyTorch", "[transformer_decoder][fixture]") {
    check_all_fixtures<double>();
    check_all_fixtures<float>();
}

TEST_CASE("cross-attention and the decoder block pass finite differences", "[transformer_decoder][gradcheck]") {
    loom::Generator generator(3);
    loom::TransformerDecoderLayerOptions options;
    options.feedforward_dim = 6;
    options.activation = loom::FeedForwardActivation::gelu_tanh;
    loom::TransformerDecoderLayer<double> layer(4, 2, generator, options);
    for (auto& [name, parameter] : layer.named_parameters()) {
        Tensor<double> p = parameter;
        p.copy_(loom_test::random_tensor<double>(p.shape(), 50 + p.numel(), -0.7, 0.7));
    }
    Tensor<double> target = loom_test::random_tensor<double>(Shape{2, 3, 4}, 61);
    Tensor<double> memory = loom_test::random_tensor<double>(Shape{2, 4, 4}, 62);
    target.requires_grad_(true);
    memory.requires_grad_(true);
    std::vector<Tensor<double>> checked = layer.parameters();
    checked.push_back(target);
    checked.push_back(memory);
    const auto report = loom::gradcheck_parameters(
        [&] { return layer(target, layer.project_memory(memory, {4, 2})); }, checked);
    INFO(report.summary());
    CHECK(report.passed);
    CHECK(report.max_rel_error < 1e-6);
}

TEST_CASE("the decoder block's cached step() gives forward()'s outputs", "[transformer_decoder]") {
    loom::Generator generator(4);
    loom::TransformerDecoderLayer<double> layer(8, 2, generator);
    layer.eval();
    const Tensor<double> target = loom_test::random_tensor<double>(Shape{3, 5, 8}, 71);
    const Tensor<double> memory = loom_test::random_tensor<double>(Shape{3, 6, 8}, 72);
    const std::vector<index_t> lengths{6, 2, 4};
    loom::NoGradGuard no_grad;
    const loom::ProjectedMemory<double> projected = layer.project_memory(memory, lengths);
    const Tensor<double> whole = layer(target, projected);
    loom::KeyValueCache<double> cache;
    for (index_t t = 0; t < 5; ++t) {
        const Tensor<double> x = loom::reshape(loom::narrow(target, 1, t, 1), {3, 8});
        const Tensor<double> y = layer.step(x, cache, 5, projected);
        check_matches("step " + std::to_string(t), y, loom::reshape(loom::narrow(whole, 1, t, 1), {3, 8}));
    }
    CHECK(cache.length == 5);
}

TEST_CASE("cross-attention and the decoder block reject bad input", "[transformer_decoder][errors]") {
    loom::Generator generator(5);
    loom::MultiheadAttention<float> attention(8, 2, generator);
    const Tensor<float> memory = Tensor<float>::zeros(Shape{2, 5, 8});
    CHECK(contains(error_message([&] { attention.project_memory(Tensor<float>::zeros(Shape{2, 5, 6})); }),
                   "loom::MultiheadAttention::project_memory: memory must be [batch, source >= 1, 8], got [2, 5, 6]"));
    CHECK(contains(error_message([&] { attention.project_memory(memory, {5, 6}); }),
                   "length 6 of source 1 is outside [1, 5]"));
    CHECK(contains(error_message([&] { attention.project_memory(memory, {0, 5}); }),
                   "length 0 of source 0 is outside [1, 5]"));
    CHECK(contains(error_message([&] { attention.project_memory(memory, {5}); }), "1 lengths for a memory of 2 sources"));
    const auto projected = attention.project_memory(memory, {5, 3});
    CHECK(contains(error_message([&] { attention(Tensor<float>::zeros(Shape{3, 4, 8}), projected); }),
                   "loom::MultiheadAttention: query must be [2, length, 8] for a memory of [2, 5, 8], got [3, 4, 8]"));
    CHECK(contains(error_message([&] { attention(Tensor<float>::zeros(Shape{2, 4, 8}), loom::ProjectedMemory<float>()); }),
                   "the memory is empty; call project_memory() first"));
    CHECK(contains(error_message([&] { loom::MultiheadAttention<float> bad(6, 4, generator); }),
                   "embed_dim 6 must be a positive multiple of num_heads 4"));
    loom::TransformerDecoderLayer<float> layer(8, 2, generator);
    CHECK(contains(error_message([&] { layer(Tensor<float>::zeros(Shape{2, 4, 6}), projected); }),
                   "loom::TransformerDecoderLayer: expected input [batch, length, 8], got [2, 4, 6]"));
    loom::KeyValueCache<float> cache;
    layer.eval();
    CHECK(contains(error_message([&] { layer.step(Tensor<float>::zeros(Shape{2, 7}), cache, 4, projected); }),
                   "loom::TransformerDecoderLayer::step: expected input [batch, 8], got [2, 7]"));
    CHECK(contains(error_message([] { loom::parse_feedforward_activation("tanh"); }),
                   "unknown activation 'tanh' (expected relu or gelu_tanh)"));
    CHECK(contains(error_message([] { loom::parse_feedforward_activation("gelu"); }),
                   "activation 'gelu' is PyTorch's exact (erf) GELU"));
    CHECK(loom::parse_feedforward_activation("gelu_tanh") == loom::FeedForwardActivation::gelu_tanh);
}

}  // namespace nn_transformer_decoder_test
