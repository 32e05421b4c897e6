#include "test_util.hpp"

// Tests for loom/nn/linear.hpp: output and gradients against PyTorch
// (tests/data/linear.txt, made by tests/fixtures/make_layer_fixtures.py), the
// initialisation range, rank-1 and rank-3 inputs, bias = false, the shape
// checks, and a finite-difference gradient check.

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "fixture_reader.hpp"

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace nn_linear_test {  // named, not anonymous: the test files are compiled together in unity batches

using loom_test::check_matches;

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 1e-5 : 1e-10;
}

// y = x Wᵀ + b for x [rows, in], computed in double with plain loops.
template <typename T>
std::vector<double> reference_linear(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b) {
    const index_t out = w.shape()[0], in = w.shape()[1], rows = x.numel() / in;
    std::vector<double> y;
    for (index_t r = 0; r < rows; ++r)
        for (index_t o = 0; o < out; ++o) {
            double sum = b.defined() ? static_cast<double>(b.data()[o]) : 0.0;
            for (index_t i = 0; i < in; ++i)
                sum += static_cast<double>(x.data()[r * in + i]) * static_cast<double>(w.data()[o * in + i]);
            y.push_back(sum);
        }
    return y;
}

template <typename T>
void check_reference(const Tensor<T>& y, const std::vector<double>& want) {
    REQUIRE(static_cast<std::size_t>(y.numel()) == want.size());
    for (index_t i = 0; i < y.numel(); ++i) {
        INFO("element " << i);
        CHECK(std::abs(static_cast<double>(y.data()[i]) - want[static_cast<std::size_t>(i)]) <=
              tolerance<T>() * std::max(1.0, std::abs(want[static_cast<std::size_t>(i)])));
    }
}

TEMPLATE_TEST_CASE("Linear matches PyTorch's output and gradients", "[linear][fixture]", float, double) {
    using T = TestType;
    const auto fixture = loom_test::load_fixture("linear.txt");
    loom::Generator generator(1);
    loom::Linear<T> layer(4, 5, generator);
    layer.weight.copy_(fixture.template get<T>("weight"));
    layer.bias.copy_(fixture.template get<T>("bias"));

    Tensor<T> x = fixture.template get<T>("x");
    REQUIRE(x.shape() == Shape{2, 3, 4});
    x.requires_grad_();
    const Tensor<T> y = layer(x);
    check_matches(y, fixture.template get<T>("output"), tolerance<T>());

    loom::sum(loom::mul(y, fixture.template get<T>("upstream"))).backward();
    check_matches(x.grad(), fixture.template get<T>("x_grad"), tolerance<T>());
    check_matches(layer.weight.grad(), fixture.template get<T>("weight_grad"), tolerance<T>());
    check_matches(layer.bias.grad(), fixture.template get<T>("bias_grad"), tolerance<T>());
}

TEMPLATE_TEST_CASE("Linear initialises weight and bias uniform in (-1/sqrt(in), 1/sqrt(in))", "[linear]", float,
                   double) {
    using T = TestType;
    loom::Generator generator(2);
    const index_t in = 50, out = 80;
    const loom::Linear<T> layer(in, out, generator);
    REQUIRE(layer.in_features == in);
    REQUIRE(layer.out_features == out);
    REQUIRE(layer.weight.shape() == Shape{out, in});
    REQUIRE(layer.bias.shape() == Shape{out});
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));

    const auto w = layer.weight.flat().template cast<double>();
    CHECK(w.minCoeff() >= -bound);
    CHECK(w.maxCoeff() < bound);
    CHECK(w.minCoeff() < -0.99 * bound);  // 4000 draws reach both ends
    CHECK(w.maxCoeff() > 0.99 * bound);
    CHECK(std::abs(w.mean()) < 0.05 * bound);
    const double variance = (w - w.mean()).square().mean();
    CHECK(std::abs(variance / (bound * bound / 3.0) - 1.0) < 0.1);  // U(-b, b) has variance b²/3

    const auto b = layer.bias.flat().template cast<double>();
    CHECK(b.minCoeff() >= -bound);
    CHECK(b.maxCoeff() < bound);
    CHECK(b.abs().maxCoeff() > 0.8 * bound);

    SECTION("the same seed gives the same weights") {
        loom::Generator again(2);
        const loom::Linear<T> twin(in, out, again);
        CHECK(twin.weight.to_vector() == layer.weight.to_vector());
        CHECK(twin.bias.to_vector() == layer.bias.to_vector());
    }
}

TEMPLATE_TEST_CASE("Linear accepts inputs of rank 1 to 3", "[linear]", float, double) {
    using T = TestType;
    loom::Generator generator(3);
    const loom::Linear<T> layer(6, 4, generator);

    SECTION("rank 1: [in] -> [out]") {
        const auto x = loom_test::random_tensor<T>(Shape{6}, 10);
        const Tensor<T> y = layer(x);
        REQUIRE(y.shape() == Shape{4});
        check_reference(y, reference_linear(x, layer.weight, layer.bias));
    }
    SECTION("rank 2: [N, in] -> [N, out]") {
        const auto x = loom_test::random_tensor<T>(Shape{5, 6}, 11);
        const Tensor<T> y = layer.forward(x);
        REQUIRE(y.shape() == Shape{5, 4});
        check_reference(y, reference_linear(x, layer.weight, layer.bias));
    }
    SECTION("rank 3: [B, T, in] -> [B, T, out]") {
        const auto x = loom_test::random_tensor<T>(Shape{2, 3, 6}, 12);
        const Tensor<T> y = layer(x);
        REQUIRE(y.shape() == Shape{2, 3, 4});
        check_reference(y, reference_linear(x, layer.weight, layer.bias));
    }
    SECTION("rank 1 gradients reach the input and the parameters") {
        auto x = loom_test::random_tensor<T>(Shape{6}, 13);
        x.requires_grad_();
        loom::sum(layer(x)).backward();
        REQUIRE(x.grad().shape() == Shape{6});
        // d/dx_i Σ_o y_o = Σ_o W[o, i]
        for (index_t i = 0; i < 6; ++i) {
            double column = 0.0;
            for (index_t o = 0; o < 4; ++o) column += static_cast<double>(layer.weight.at({o, i}));
            CHECK(std::abs(static_cast<double>(x.grad().at({i})) - column) <= tolerance<T>());
        }
        REQUIRE(layer.weight.grad().shape() == Shape{4, 6});
        CHECK(layer.bias.grad().to_vector() == std::vector<T>(4, T(1)));
    }
}

TEMPLATE_TEST_CASE("Linear without bias", "[linear]", float, double) {
    using T = TestType;
    loom::Generator generator(4);
    const loom::Linear<T> layer(3, 2, generator, false);
    CHECK_FALSE(layer.bias.defined());
    const auto named = layer.named_parameters();
    REQUIRE(named.size() == 1);
    CHECK(named[0].first == "weight");
    CHECK(layer.parameter_count() == 6);

    const auto x = loom_test::random_tensor<T>(Shape{4, 3}, 20);
    const Tensor<T> y = layer(x);
    REQUIRE(y.shape() == Shape{4, 2});
    check_reference(y, reference_linear(x, layer.weight, Tensor<T>()));
    const Tensor<T> y1 = layer(loom_test::random_tensor<T>(Shape{3}, 21));
    check_reference(y1, reference_linear(loom_test::random_tensor<T>(Shape{3}, 21), layer.weight, Tensor<T>()));
}

TEMPLATE_TEST_CASE("Linear rejects wrong input shapes and sizes", "[linear]", float, double) {
    using T = TestType;
    loom::Generator generator(5);
    const loom::Linear<T> layer(3, 2, generator);
    for (const Shape& bad : {Shape{4}, Shape{2, 4}, Shape{2, 3, 2}, Shape{3, 1}, Shape{}}) {
        INFO("input shape " << bad);
        const Tensor<T> x = Tensor<T>::zeros(bad);
        REQUIRE_THROWS_AS(layer(x), loom::Error);
        const std::string message = error_message([&] { layer(x); });
        CHECK(contains(message, "loom::Linear"));
        CHECK(contains(message, "expected input [..., 3]"));
    }
    for (const auto& sizes : {std::vector<index_t>{0, 2}, {3, 0}, {-1, 2}, {3, -4}}) {
        const std::string message = error_message([&] { loom::Linear<T>(sizes[0], sizes[1], generator); });
        CHECK(contains(message, "loom::Linear: sizes must be positive"));
    }
}

TEST_CASE("Linear passes gradcheck in double", "[linear][gradcheck]") {
    loom::Generator generator(6);
    loom::Linear<double> layer(4, 3, generator);
    const auto x = loom_test::random_tensor<double>(Shape{2, 5, 4}, 30);

    SECTION("input, weight and bias") {
        auto fn = [&](const std::vector<loom::Tensord>& in) {
            layer.weight = in[1];
            layer.bias = in[2];
            return layer(in[0]);
        };
        LOOM_CHECK_GRADIENTS(fn, (std::vector<loom::Tensord>{x, layer.weight.clone(), layer.bias.clone()}));
    }
    SECTION("rank-1 input, no bias") {
        loom::Linear<double> plain(4, 3, generator, false);
        auto fn = [&](const std::vector<loom::Tensord>& in) {
            plain.weight = in[1];
            return plain(in[0]);
        };
        LOOM_CHECK_GRADIENTS(fn, (std::vector<loom::Tensord>{loom_test::random_tensor<double>(Shape{4}, 31),
                                                              plain.weight.clone()}));
    }
}

}  // namespace nn_linear_test
