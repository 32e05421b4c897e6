#include "test_util.hpp"

// Tests for loom/ops/layer_norm.hpp: the fused layer_norm over the last
// dimension, forward against an independent long-double computation (float
// and double, with and without weight/bias, ranks 1 to 3, enough rows to run
// in parallel), backward against the closed-form formula and gradcheck, rows
// of equal values, large offsets, empty inputs and the argument checks.

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include <loom/ops/layer_norm.hpp>

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace ops_layer_norm_test {  // named, not anonymous: the test files are compiled together in unity batches

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 1e-5 : 1e-12;
}

// Row-wise layer norm in long double, from the definition: two passes, biased
// variance. weight/bias may be undefined (γ = 1, β = 0).
template <typename T>
std::vector<long double> reference_forward(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias,
                                           double eps) {
    const index_t dim = x.shape().last();
    const index_t rows = dim == 0 ? 0 : x.numel() / dim;
    std::vector<long double> out;
    for (index_t r = 0; r < rows; ++r) {
        const T* row = x.data() + r * dim;
        long double mean = 0;
        for (index_t c = 0; c < dim; ++c) mean += row[c];
        mean /= dim;
        long double variance = 0;
        for (index_t c = 0; c < dim; ++c) variance += (row[c] - mean) * (row[c] - mean);
        variance /= dim;
        const long double rstd = 1.0L / std::sqrt(variance + static_cast<long double>(eps));
        for (index_t c = 0; c < dim; ++c) {
            long double y = (row[c] - mean) * rstd;
            if (weight.defined()) y *= weight.data()[c];
            if (bias.defined()) y += bias.data()[c];
            out.push_back(y);
        }
    }
    return out;
}

// dx of sum(y ⊙ dy), by the chain rule written out in full (the Jacobian
// ∂x̂_j/∂x_i summed explicitly, not the simplified formula of the header).
template <typename T>
std::vector<long double> reference_dx(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& dy, double eps) {
    const index_t dim = x.shape().last();
    const index_t rows = x.numel() / dim;
    std::vector<long double> dx;
    for (index_t r = 0; r < rows; ++r) {
        const T* row = x.data() + r * dim;
        long double mean = 0, variance = 0;
        for (index_t c = 0; c < dim; ++c) mean += row[c];
        mean /= dim;
        for (index_t c = 0; c < dim; ++c) variance += (row[c] - mean) * (row[c] - mean);
        variance /= dim;
        const long double s = std::sqrt(variance + static_cast<long double>(eps));
        for (index_t i = 0; i < dim; ++i) {
            long double total = 0;
            for (index_t j = 0; j < dim; ++j) {
                // x̂_j = (x_j - μ)/s; ∂x̂_j/∂x_i = (δ_ij - 1/D)/s - (x_j - μ)(x_i - μ)/(D s³)
                const long double d = ((i == j ? 1.0L : 0.0L) - 1.0L / dim) / s -
                                      (row[j] - mean) * (row[i] - mean) / (dim * s * s * s);
                const long double g = static_cast<long double>(dy.data()[r * dim + j]) *
                                      (weight.defined() ? static_cast<long double>(weight.data()[j]) : 1.0L);
                total += g * d;
            }
            dx.push_back(total);
        }
    }
    return dx;
}

// |got_i - want_i| <= tol · max(1, |want_i|) for every element.
template <typename T>
void require_close(const Tensor<T>& got, const std::vector<long double>& want, double tol) {
    REQUIRE(got.defined());
    REQUIRE(got.numel() == static_cast<index_t>(want.size()));
    double worst = 0.0;
    for (index_t i = 0; i < got.numel(); ++i) {
        const auto ref = static_cast<double>(want[static_cast<std::size_t>(i)]);
        worst = std::max(worst, std::abs(static_cast<double>(got.data()[i]) - ref) / std::max(1.0, std::abs(ref)));
    }
    INFO("largest relative difference " << worst << ", tolerance " << tol);
    CHECK(worst <= tol);
}

template <typename T>
bool all_finite(const Tensor<T>& t) {
    for (index_t i = 0; i < t.numel(); ++i)
        if (!std::isfinite(t.data()[i])) return false;
    return true;
}

TEMPLATE_TEST_CASE("layer_norm matches an independent computation", "[layer_norm]", float, double) {
    using T = TestType;
    for (const Shape& shape : {Shape{1, 1}, Shape{3, 5}, Shape{2, 3, 4}, Shape{7}, Shape{2, 2, 1, 3}, Shape{4, 64}}) {
        INFO("shape " << shape);
        const index_t dim = shape.last();
        const auto x = loom_test::random_tensor<T>(shape, 1, -4.0, 4.0);
        const auto weight = loom_test::random_tensor<T>(Shape{dim}, 2, 0.5, 1.5);
        const auto bias = loom_test::random_tensor<T>(Shape{dim}, 3, -1.0, 1.0);
        for (const double eps : {1e-5, 0.1}) {
            INFO("eps " << eps);
            const auto y = loom::layer_norm(x, weight, bias, eps);
            REQUIRE(y.shape() == shape);
            require_close(y, reference_forward(x, weight, bias, eps), tolerance<T>());
            require_close(loom::layer_norm(x, Tensor<T>(), Tensor<T>(), eps),
                          reference_forward(x, Tensor<T>(), Tensor<T>(), eps), tolerance<T>());
            require_close(loom::layer_norm(x, weight, Tensor<T>(), eps),
                          reference_forward(x, weight, Tensor<T>(), eps), tolerance<T>());
            require_close(loom::layer_norm(x, Tensor<T>(), bias, eps),
                          reference_forward(x, Tensor<T>(), bias, eps), tolerance<T>());
        }
    }
}

TEMPLATE_TEST_CASE("layer_norm of a hand-computed row", "[layer_norm]", float, double) {
    using T = TestType;
    // x = [1, 2, 3, 4, 5, 9]: μ = 4, σ² = (9 + 4 + 1 + 0 + 1 + 25) / 6 = 40/6; with eps = 0
    // x̂ = (x - 4) / √(20/3).
    const auto x = Tensor<T>::from_list({T(1), T(2), T(3), T(4), T(5), T(9)}, Shape{1, 6});
    const auto y = loom::layer_norm(x, Tensor<T>(), Tensor<T>(), 0.0);
    const double s = std::sqrt(20.0 / 3.0);
    const std::vector<double> expected = {-3 / s, -2 / s, -1 / s, 0.0, 1 / s, 5 / s};
    for (index_t i = 0; i < 6; ++i)
        CHECK(std::abs(static_cast<double>(y.data()[i]) - expected[static_cast<std::size_t>(i)]) <= tolerance<T>());
}

TEMPLATE_TEST_CASE("layer_norm backward matches the chain rule written out", "[layer_norm][autograd]", float,
                   double) {
    using T = TestType;
    for (const Shape& shape : {Shape{3, 5}, Shape{2, 3, 4}, Shape{6}}) {
        INFO("shape " << shape);
        const index_t dim = shape.last();
        auto x = loom_test::random_tensor<T>(shape, 10, -3.0, 3.0);
        auto weight = loom_test::random_tensor<T>(Shape{dim}, 11, 0.5, 1.5);
        auto bias = loom_test::random_tensor<T>(Shape{dim}, 12, -1.0, 1.0);
        const auto dy = loom_test::random_tensor<T>(shape, 13, -1.0, 1.0);
        x.requires_grad_();
        weight.requires_grad_();
        bias.requires_grad_();
        loom::layer_norm(x, weight, bias, 1e-5).backward(dy);
        require_close(x.grad(), reference_dx(x, weight, dy, 1e-5), 10 * tolerance<T>());

        // dγ = Σ_rows dy ⊙ x̂ and dβ = Σ_rows dy.
        const auto xhat = reference_forward(x, Tensor<T>(), Tensor<T>(), 1e-5);
        std::vector<long double> dweight(static_cast<std::size_t>(dim), 0.0L), dbias(static_cast<std::size_t>(dim), 0.0L);
        for (index_t i = 0; i < x.numel(); ++i) {
            dweight[static_cast<std::size_t>(i % dim)] += dy.data()[i] * xhat[static_cast<std::size_t>(i)];
            dbias[static_cast<std::size_t>(i % dim)] += dy.data()[i];
        }
        require_close(weight.grad(), dweight, 10 * tolerance<T>());
        require_close(bias.grad(), dbias, 10 * tolerance<T>());
    }
}

TEMPLATE_TEST_CASE("layer_norm with many rows (split over threads) matches too", "[layer_norm]", float, double) {
    using T = TestType;
    // 2048 rows of 40: above the size at which the row loops run in parallel.
    const Shape shape{2048, 40};
    auto x = loom_test::random_tensor<T>(shape, 20, -5.0, 5.0);
    auto weight = loom_test::random_tensor<T>(Shape{40}, 21, 0.5, 1.5);
    auto bias = loom_test::random_tensor<T>(Shape{40}, 22, -1.0, 1.0);
    const auto dy = loom_test::random_tensor<T>(shape, 23);
    x.requires_grad_();
    weight.requires_grad_();
    bias.requires_grad_();
    const auto y = loom::layer_norm(x, weight, bias, 1e-5);
    require_close(y, reference_forward(x, weight, bias, 1e-5), tolerance<T>());
    y.backward(dy);
    require_close(x.grad(), reference_dx(x, weight, dy, 1e-5), 10 * tolerance<T>());
    std::vector<long double> dbias(40, 0.0L);
    for (index_t i = 0; i < x.numel(); ++i) dbias[static_cast<std::size_t>(i % 40)] += dy.data()[i];
    // 2048 terms per column: float rounding grows with the count.
    require_close(bias.grad(), dbias, std::is_same_v<T, float> ? 1e-4 : 1e-12);
}

TEST_CASE("layer_norm passes gradcheck w.r.t. x, weight and bias", "[layer_norm][gradcheck]") {
    using Inputs = std::vector<loom::Tensord>;
    for (const Shape& shape : {Shape{1, 3}, Shape{3, 5}, Shape{2, 3, 4}, Shape{6}, Shape{4, 1}}) {
        INFO("shape " << shape);
        const index_t dim = shape.last();
        const auto x = loom_test::random_tensor<double>(shape, 30, -3.0, 3.0);
        const auto weight = loom_test::random_tensor<double>(Shape{dim}, 31, 0.5, 1.5);
        const auto bias = loom_test::random_tensor<double>(Shape{dim}, 32, -1.0, 1.0);
        LOOM_CHECK_GRADIENTS([](const Inputs& in) { return loom::layer_norm(in[0], in[1], in[2], 1e-5); },
                             (Inputs{x, weight, bias}));
        LOOM_CHECK_GRADIENTS([](const Inputs& in) { return loom::layer_norm(in[0], in[1], loom::Tensord(), 1e-5); },
                             (Inputs{x, weight}));
        LOOM_CHECK_GRADIENTS([](const Inputs& in) { return loom::layer_norm(in[0], loom::Tensord(), in[1], 0.5); },
                             (Inputs{x, bias}));
        LOOM_CHECK_GRADIENTS([](const Inputs& in) { return loom::layer_norm(in[0]); }, (Inputs{x}));
    }
}

TEST_CASE("layer_norm gradients only for the inputs that require grad", "[layer_norm][autograd]") {
    const auto dy = loom_test::random_tensor<double>(Shape{3, 4}, 40);
    auto x = loom_test::random_tensor<double>(Shape{3, 4}, 41);
    auto weight = loom_test::random_tensor<double>(Shape{4}, 42, 0.5, 1.5);
    auto bias = loom_test::random_tensor<double>(Shape{4}, 43);

    SECTION("weight only") {
        weight.requires_grad_();
        loom::layer_norm(x, weight, bias).backward(dy);
        CHECK_FALSE(x.grad().defined());
        CHECK_FALSE(bias.grad().defined());
        REQUIRE(weight.grad().defined());
        const auto xhat = reference_forward(x, loom::Tensord(), loom::Tensord(), 1e-5);
        std::vector<long double> expected(4, 0.0L);
        for (index_t i = 0; i < 12; ++i) expected[static_cast<std::size_t>(i % 4)] += dy.data()[i] * xhat[static_cast<std::size_t>(i)];
        require_close(weight.grad(), expected, 1e-12);
    }
    SECTION("x only: weight and bias are constants") {
        x.requires_grad_();
        loom::layer_norm(x, weight, bias).backward(dy);
        CHECK_FALSE(weight.grad().defined());
        CHECK_FALSE(bias.grad().defined());
        require_close(x.grad(), reference_dx(x, weight, dy, 1e-5), 1e-12);
    }
    SECTION("nothing requires grad: nothing is recorded") {
        CHECK_FALSE(loom::layer_norm(x, weight, bias).requires_grad());
    }
    SECTION("no recording under NoGradGuard") {
        x.requires_grad_();
        loom::NoGradGuard no_grad;
        CHECK_FALSE(loom::layer_norm(x, weight, bias).requires_grad());
    }
}

TEMPLATE_TEST_CASE("layer_norm of rows of equal values is finite: y = bias", "[layer_norm][stability]", float,
                   double) {
    using T = TestType;
    // σ² = 0, so rstd = 1/√ε; x̂ = 0 exactly and y = β. Row 2 has huge equal values.
    const T big = std::is_same_v<T, float> ? T(1e30) : T(1e300);
    auto x = Tensor<T>::from_vector({T(3), T(3), T(3), T(3), T(0), T(0), T(0), T(0), big, big, big, big},
                                    Shape{3, 4});
    auto weight = Tensor<T>::from_list({T(2), T(-1), T(0.5), T(3)}, Shape{4});
    auto bias = Tensor<T>::from_list({T(0.25), T(-0.5), T(1), T(0)}, Shape{4});
    x.requires_grad_();
    weight.requires_grad_();
    bias.requires_grad_();
    const auto y = loom::layer_norm(x, weight, bias, 1e-5);
    REQUIRE(all_finite(y));
    for (index_t r = 0; r < 3; ++r)
        for (index_t c = 0; c < 4; ++c) CHECK(y.at({r, c}) == bias.at({c}));
    y.backward(loom_test::random_tensor<T>(Shape{3, 4}, 50));
    CHECK(all_finite(x.grad()));
    CHECK(all_finite(weight.grad()));
    CHECK(all_finite(bias.grad()));
    // x̂ = 0 everywhere, so dγ = Σ dy ⊙ x̂ = 0.
    for (index_t c = 0; c < 4; ++c) CHECK(weight.grad().at({c}) == T(0));

    SECTION("D = 1: every row is constant") {
        const auto one = loom::layer_norm(Tensor<T>::from_list({T(7), T(-2)}, Shape{2, 1}),
                                          Tensor<T>::from_list({T(5)}, Shape{1}),
                                          Tensor<T>::from_list({T(0.5)}, Shape{1}));
        CHECK(one.to_vector() == std::vector<T>{T(0.5), T(0.5)});
    }
}

TEST_CASE("layer_norm is accurate for large offsets in double", "[layer_norm][stability]") {
    // 10⁶ + U(-1, 1): E[x²] - E[x]² would lose ~4 of double's 16 digits here.
    auto x = loom_test::random_tensor<double>(Shape{16, 32}, 60, -1.0, 1.0);
    for (index_t i = 0; i < x.numel(); ++i) x.data()[i] += 1e6 * (1 + i / 32);  // each row its own offset
    const auto weight = loom_test::random_tensor<double>(Shape{32}, 61, 0.5, 1.5);
    const auto bias = loom_test::random_tensor<double>(Shape{32}, 62);
    const auto y = loom::layer_norm(x, weight, bias, 1e-5);
    require_close(y, reference_forward(x, weight, bias, 1e-5), 1e-8);
    // ... and gradients.
    auto leaf = x.clone();
    leaf.requires_grad_();
    const auto dy = loom_test::random_tensor<double>(Shape{16, 32}, 63);
    loom::layer_norm(leaf, weight, bias, 1e-5).backward(dy);
    require_close(leaf.grad(), reference_dx(x, weight, dy, 1e-5), 1e-7);
}

TEST_CASE("layer_norm is stable for large offsets in float", "[layer_norm][stability]") {
    // Float near 10⁶ has a spacing of 0.0625, so the values themselves are a
    // coarse grid; μ rounded to float is off by up to 0.03 of that grid, which
    // moves x̂ by up to 0.03 · rstd (≈ 0.05 for noise of std 0.58). The naive
    // E[x²] - E[x]² gives garbage or NaN here (both terms ≈ 10¹², float keeps 7 digits).
    auto x = loom_test::random_tensor<float>(Shape{16, 32}, 70, -1.0, 1.0);
    for (index_t i = 0; i < x.numel(); ++i) x.data()[i] += 1e6f;
    const auto y = loom::layer_norm(x);
    REQUIRE(all_finite(y));
    require_close(y, reference_forward(x, loom::Tensorf(), loom::Tensorf(), 1e-5), 0.06);
    // Every output row is still normalised: mean 0, variance 1.
    for (index_t r = 0; r < 16; ++r) {
        double mean = 0, second = 0;
        for (index_t c = 0; c < 32; ++c) mean += y.at({r, c});
        mean /= 32;
        for (index_t c = 0; c < 32; ++c) second += (y.at({r, c}) - mean) * (y.at({r, c}) - mean);
        CHECK(std::abs(mean) < 0.06);
        CHECK(std::abs(second / 32 - 1.0) < 1e-3);
    }

    SECTION("offset 10³: accurate to float's spacing there") {
        auto z = loom_test::random_tensor<float>(Shape{16, 32}, 71, -1.0, 1.0);
        for (index_t i = 0; i < z.numel(); ++i) z.data()[i] += 1e3f;
        require_close(loom::layer_norm(z), reference_forward(z, loom::Tensorf(), loom::Tensorf(), 1e-5), 1e-4);
    }
}

TEMPLATE_TEST_CASE("layer_norm of a 3-D input normalises each [.., .., D] row", "[layer_norm]", float, double) {
    using T = TestType;
    const auto x = loom_test::random_tensor<T>(Shape{2, 3, 8}, 80, -2.0, 2.0);
    const auto weight = loom_test::random_tensor<T>(Shape{8}, 81, 0.5, 1.5);
    const auto bias = loom_test::random_tensor<T>(Shape{8}, 82);
    const auto y = loom::layer_norm(x, weight, bias);
    REQUIRE(y.shape() == Shape{2, 3, 8});
    // The same as the [6, 8] matrix, and row (1, 2) the same as that row alone.
    const auto flat = loom::layer_norm(loom::reshape(x, {6, 8}), weight, bias);
    CHECK(y.to_vector() == flat.to_vector());
    std::vector<T> last_row(x.data() + 5 * 8, x.data() + 6 * 8);
    const auto alone = loom::layer_norm(Tensor<T>::from_vector(last_row, Shape{8}), weight, bias);
    for (index_t c = 0; c < 8; ++c) CHECK(std::abs(static_cast<double>(alone.at({c}) - y.at({1, 2, c}))) <= tolerance<T>());
}

TEMPLATE_TEST_CASE("layer_norm of empty inputs", "[layer_norm]", float, double) {
    using T = TestType;
    auto x = Tensor<T>::zeros(Shape{0, 4});
    auto weight = Tensor<T>::ones(Shape{4});
    x.requires_grad_();
    weight.requires_grad_();
    const auto y = loom::layer_norm(x, weight);
    CHECK(y.shape() == Shape{0, 4});
    y.backward(Tensor<T>::zeros(Shape{0, 4}));
    REQUIRE(weight.grad().defined());
    CHECK(weight.grad().to_vector() == std::vector<T>(4, T(0)));
    CHECK(loom::layer_norm(Tensor<T>::zeros(Shape{3, 0})).shape() == Shape{3, 0});
}

TEST_CASE("layer_norm rejects bad shapes, naming the op and the shapes", "[layer_norm][errors]") {
    const auto x = loom_test::random_tensor<double>(Shape{2, 3}, 90);
    std::string message = error_message([&] { loom::layer_norm(x, loom::Tensord::ones(Shape{4})); });
    INFO(message);
    CHECK(contains(message, "loom::layer_norm"));
    CHECK(contains(message, "weight"));
    CHECK(contains(message, "[2, 3]"));
    CHECK(contains(message, "[4]"));

    message = error_message([&] { loom::layer_norm(x, loom::Tensord::ones(Shape{3}), loom::Tensord::zeros(Shape{3, 1})); });
    CHECK(contains(message, "loom::layer_norm"));
    CHECK(contains(message, "bias"));
    CHECK(contains(message, "[2, 3]"));
    CHECK(contains(message, "[3, 1]"));

    // An undefined weight with a wrong bias: the message must not touch the weight.
    message = error_message([&] { loom::layer_norm(x, loom::Tensord(), loom::Tensord::zeros(Shape{2})); });
    CHECK(contains(message, "loom::layer_norm"));
    CHECK(contains(message, "[2]"));

    message = error_message([&] { loom::layer_norm(loom::Tensord::scalar(1.0)); });
    CHECK(contains(message, "loom::layer_norm"));
    CHECK(contains(message, "at least one dimension"));

    message = error_message([&] { loom::layer_norm(loom::Tensord()); });
    CHECK(contains(message, "loom::layer_norm"));
    CHECK(contains(message, "undefined"));

    message = error_message([&] { loom::layer_norm(x, loom::Tensord(), loom::Tensord(), -1.0); });
    CHECK(contains(message, "loom::layer_norm"));
    CHECK(contains(message, "eps"));
    CHECK(contains(message, "[2, 3]"));

    // A weight of the right size but rank 2 is refused too.
    message = error_message([&] { loom::layer_norm(x, loom::Tensord::ones(Shape{1, 3})); });
    CHECK(contains(message, "[1, 3]"));
}

}  // namespace ops_layer_norm_test
