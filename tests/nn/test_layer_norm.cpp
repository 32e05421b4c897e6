#include "test_util.hpp"

// Tests for loom/nn/layer_norm.hpp: output and gradients against PyTorch
// (tests/data/layer_norm.txt, made by tests/fixtures/make_norm_fixtures.py),
// the parameters (names, initial values, elementwise_affine = false), the
// shape checks, and a finite-difference gradient check through the module.

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include <loom/nn/layer_norm.hpp>

#include "fixture_reader.hpp"

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace nn_layer_norm_test {  // named, not anonymous: the test files are compiled together in unity batches

using loom_test::check_matches;

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 1e-5 : 1e-10;
}

TEMPLATE_TEST_CASE("LayerNorm matches PyTorch's output and gradients", "[layer_norm][fixture]", float, double) {
    using T = TestType;
    const auto fixture = loom_test::load_fixture("layer_norm.txt");
    loom::LayerNorm<T> layer(8);
    layer.weight.copy_(fixture.template get<T>("weight"));
    layer.bias.copy_(fixture.template get<T>("bias"));

    Tensor<T> x = fixture.template get<T>("x");
    REQUIRE(x.shape() == Shape{2, 3, 8});
    x.requires_grad_();
    const Tensor<T> y = layer(x);
    check_matches(y, fixture.template get<T>("output"), tolerance<T>());

    loom::sum(loom::mul(y, fixture.template get<T>("upstream"))).backward();
    check_matches(x.grad(), fixture.template get<T>("x_grad"), tolerance<T>());
    check_matches(layer.weight.grad(), fixture.template get<T>("weight_grad"), tolerance<T>());
    check_matches(layer.bias.grad(), fixture.template get<T>("bias_grad"), tolerance<T>());

    SECTION("the fixture's weight and bias are not the initial ones (the test would miss γ and β otherwise)") {
        const auto w = fixture.template get<T>("weight");
        const auto b = fixture.template get<T>("bias");
        CHECK(w.to_vector() != std::vector<T>(8, T(1)));
        CHECK(b.to_vector() != std::vector<T>(8, T(0)));
    }
}

TEMPLATE_TEST_CASE("LayerNorm has weight (ones) and bias (zeros) as PyTorch", "[layer_norm]", float, double) {
    using T = TestType;
    const loom::LayerNorm<T> layer(5);
    CHECK(layer.dim == 5);
    CHECK(layer.eps == 1e-5);
    CHECK(layer.elementwise_affine);
    const auto named = layer.named_parameters();
    REQUIRE(named.size() == 2);
    CHECK(named[0].first == "weight");
    CHECK(named[1].first == "bias");
    CHECK(layer.weight.requires_grad());
    CHECK(layer.bias.requires_grad());
    CHECK(layer.weight.to_vector() == std::vector<T>(5, T(1)));
    CHECK(layer.bias.to_vector() == std::vector<T>(5, T(0)));
    CHECK(layer.parameter_count() == 10);

    SECTION("at initialisation it is plain normalisation: each row mean 0, variance ~1") {
        const auto x = loom_test::random_tensor<T>(Shape{4, 5}, 5, -3.0, 3.0);
        const auto y = layer(x);
        for (index_t r = 0; r < 4; ++r) {
            double mean = 0, second = 0;
            for (index_t c = 0; c < 5; ++c) mean += static_cast<double>(y.at({r, c}));
            mean /= 5;
            for (index_t c = 0; c < 5; ++c) second += std::pow(static_cast<double>(y.at({r, c})) - mean, 2);
            CHECK(std::abs(mean) < 1e-5);
            CHECK(std::abs(second / 5 - 1.0) < 1e-3);  // slightly below 1 because of eps
        }
    }
}

TEMPLATE_TEST_CASE("LayerNorm without elementwise_affine has no parameters", "[layer_norm]", float, double) {
    using T = TestType;
    const loom::LayerNorm<T> plain(8, 1e-3, false);
    CHECK(plain.named_parameters().empty());
    CHECK_FALSE(plain.weight.defined());
    CHECK_FALSE(plain.bias.defined());
    const auto x = loom_test::random_tensor<T>(Shape{3, 8}, 6);
    const auto y = plain(x);
    CHECK(y.to_vector() == loom::layer_norm(x, Tensor<T>(), Tensor<T>(), 1e-3).to_vector());

    SECTION("and it still passes gradients to its input") {
        auto leaf = x.clone();
        leaf.requires_grad_();
        plain(leaf).backward(loom_test::random_tensor<T>(Shape{3, 8}, 7));
        CHECK(leaf.grad().defined());
    }
}

TEST_CASE("LayerNorm passes gradcheck through the module", "[layer_norm][gradcheck]") {
    using Inputs = std::vector<loom::Tensord>;
    loom::LayerNorm<double> layer(6);
    layer.weight.copy_(loom_test::random_tensor<double>(Shape{6}, 8, 0.5, 1.5));
    layer.bias.copy_(loom_test::random_tensor<double>(Shape{6}, 9));
    const auto x = loom_test::random_tensor<double>(Shape{2, 3, 6}, 10, -2.0, 2.0);
    LOOM_CHECK_GRADIENTS([&](const Inputs& in) { return layer(in[0]); }, Inputs{x});
}

TEST_CASE("LayerNorm rejects bad sizes and inputs, naming the layer and the shapes", "[layer_norm][errors]") {
    std::string message = error_message([] { loom::LayerNorm<float> bad(0); });
    CHECK(contains(message, "loom::LayerNorm"));
    CHECK(contains(message, "0"));

    message = error_message([] { loom::LayerNorm<float> bad(4, -1.0); });
    CHECK(contains(message, "loom::LayerNorm"));
    CHECK(contains(message, "eps"));

    const loom::LayerNorm<double> layer(4);
    message = error_message([&] { layer(loom::Tensord::zeros(Shape{2, 5})); });
    INFO(message);
    CHECK(contains(message, "loom::LayerNorm"));
    CHECK(contains(message, "[..., 4]"));
    CHECK(contains(message, "[2, 5]"));

    message = error_message([&] { layer(loom::Tensord::scalar(1.0)); });
    CHECK(contains(message, "loom::LayerNorm"));

    message = error_message([&] { layer(loom::Tensord()); });
    CHECK(contains(message, "loom::LayerNorm"));

    CHECK(error_message([&] { layer(loom::Tensord::zeros(Shape{3, 4})); }).empty());
}

}  // namespace nn_layer_norm_test
