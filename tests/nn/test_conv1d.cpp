#include "test_util.hpp"

// Tests for loom/nn/conv1d.hpp: output and gradients against PyTorch
// (tests/data/conv1d_{padding,strided,causal}.txt, made by
// tests/fixtures/make_conv_fixtures.py), the initialisation range, bias = false,
// forward_sequence on [B, T, C], and the layer's argument checks.

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include <loom/nn/conv1d.hpp>

#include "fixture_reader.hpp"

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace nn_conv1d_test {  // named, not anonymous: the test files are compiled together in unity batches

using loom_test::check_matches;

using Inputs = std::vector<Tensor<double>>;

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 1e-5 : 1e-10;
}

struct FixtureConfig {
    const char* file;
    index_t stride, padding, dilation;
    bool causal;
};

TEMPLATE_TEST_CASE("Conv1d matches PyTorch's output and gradients", "[conv1d][fixture]", float, double) {
    using T = TestType;
    for (const FixtureConfig& config : {FixtureConfig{"conv1d_padding.txt", 1, 1, 1, false},
                                        FixtureConfig{"conv1d_strided.txt", 2, 2, 2, false},
                                        FixtureConfig{"conv1d_causal.txt", 1, 0, 2, true}}) {
        INFO(config.file);
        const auto fixture = loom_test::load_fixture(config.file);
        loom::Generator generator(1);
        loom::Conv1d<T> layer(3, 4, 3, generator, config.stride, config.padding, config.dilation, true,
                              config.causal);
        // Loaded by parameter name, so a renamed parameter fails here.
        for (auto& [name, parameter] : layer.named_parameters()) parameter.copy_(fixture.template get<T>(name));
        REQUIRE(layer.named_parameters().size() == 2);

        Tensor<T> x = fixture.template get<T>("x");
        REQUIRE(x.shape() == Shape{2, 3, 10});
        x.requires_grad_();
        const Tensor<T> y = layer(x);
        check_matches(y, fixture.template get<T>("output"), tolerance<T>());

        loom::sum(loom::mul(y, fixture.template get<T>("upstream"))).backward();
        check_matches(x.grad(), fixture.template get<T>("x_grad"), tolerance<T>());
        check_matches(layer.weight.grad(), fixture.template get<T>("weight_grad"), tolerance<T>());
        check_matches(layer.bias.grad(), fixture.template get<T>("bias_grad"), tolerance<T>());
    }
}

TEMPLATE_TEST_CASE("Conv1d initialises weight and bias uniform in (-1/sqrt(C_in K), 1/sqrt(C_in K))", "[conv1d]",
                   float, double) {
    using T = TestType;
    loom::Generator generator(2);
    loom::Conv1d<T> layer(8, 16, 2, generator);
    REQUIRE(layer.weight.shape() == Shape{16, 8, 2});
    REQUIRE(layer.bias.shape() == Shape{16});
    const double bound = 1.0 / std::sqrt(16.0);
    for (const Tensor<T>* parameter : {&layer.weight, &layer.bias}) {
        double low = 1.0, high = -1.0;
        for (index_t i = 0; i < parameter->numel(); ++i) {
            low = std::min(low, static_cast<double>(parameter->data()[i]));
            high = std::max(high, static_cast<double>(parameter->data()[i]));
        }
        INFO("range [" << low << ", " << high << "], bound " << bound);
        CHECK(low >= -bound);
        CHECK(high <= bound);
        CHECK(high - low > bound);  // spread over the range, not collapsed (16 or 256 draws)
    }
    CHECK(layer.weight.requires_grad());
    CHECK(layer.bias.requires_grad());
}

TEST_CASE("Conv1d without bias has only a weight and matches the op", "[conv1d]") {
    loom::Generator generator(3);
    loom::Conv1d<double> layer(3, 2, 3, generator, 1, 1, 1, false);
    REQUIRE(layer.named_parameters().size() == 1);
    CHECK(layer.named_parameters()[0].first == "weight");
    CHECK(!layer.bias.defined());
    const auto x = loom_test::random_tensor<double>(Shape{2, 3, 5}, 4);
    const auto want = loom::conv1d(x, layer.weight, Tensor<double>(), 1, 1, 1);
    CHECK(loom_test::max_abs_diff(layer(x), want) == 0.0);
}

TEST_CASE("Conv1d::forward_sequence works on [B, T, C] and keeps gradients", "[conv1d]") {
    loom::Generator generator(5);
    loom::Conv1d<double> layer(3, 4, 3, generator, 1, 0, 2, true, true);
    const auto seq = loom_test::random_tensor<double>(Shape{2, 7, 3}, 6);
    const Tensor<double> y = layer.forward_sequence(seq);
    REQUIRE(y.shape() == Shape{2, 7, 4});
    // Same numbers as forward() on the channels-first layout.
    const Tensor<double> channels_first = layer(loom::transpose(seq));
    CHECK(loom_test::max_abs_diff(y, loom::transpose(channels_first)) == 0.0);

    Inputs inputs{seq, layer.weight.detach(), layer.bias.detach()};
    for (auto& input : inputs) input.requires_grad_();
    const auto fn = [](const Inputs& in) {
        return loom::transpose(loom::causal_conv1d(loom::transpose(in[0]), in[1], in[2], 2));
    };
    LOOM_CHECK_GRADIENTS(fn, inputs);

    const std::string message = error_message([&] { layer.forward_sequence(loom::transpose(seq)); });
    INFO(message);
    CHECK(contains(message, "loom::Conv1d::forward_sequence"));
    CHECK(contains(message, "[2, 3, 7]"));
}

TEST_CASE("Conv1d checks its arguments and inputs", "[conv1d][errors]") {
    loom::Generator generator(7);
    CHECK(contains(error_message([&] { loom::Conv1d<float> layer(0, 4, 3, generator); }), "loom::Conv1d: sizes"));
    CHECK(contains(error_message([&] { loom::Conv1d<float> layer(3, 4, 3, generator, 0); }), "loom::Conv1d"));
    CHECK(contains(error_message([&] { loom::Conv1d<float> layer(3, 4, 3, generator, 1, 0, 0); }), "dilation 0"));
    CHECK(contains(error_message([&] { loom::Conv1d<float> layer(3, 4, 3, generator, 2, 0, 1, true, true); }),
                   "causal"));
    loom::Conv1d<float> layer(3, 4, 3, generator);
    const auto x = loom_test::random_tensor<float>(Shape{2, 5, 10}, 8);
    const std::string message = error_message([&] { layer(x); });
    INFO(message);
    CHECK(contains(message, "loom::Conv1d"));
    CHECK(contains(message, "[2, 5, 10]"));
}

}  // namespace nn_conv1d_test
