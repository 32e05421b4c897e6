#include "test_util.hpp"

// Tests for loom/ops/linear.hpp (y = x Wᵀ + b, fused): forward against matmul
// + add in float and double, backward by gradcheck (with and without bias, for
// 1-D, 2-D and 3-D inputs, and one product big enough for the blocked GEMM
// path rather than the small-product one), gradients only where asked, and
// the error messages.

#include <string>
#include <vector>

using loom::index_t;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace ops_linear_test {  // named, not anonymous: the test files are compiled together in unity batches

using Inputs = std::vector<loom::Tensor<double>>;

TEMPLATE_TEST_CASE("linear equals matmul with Wᵀ plus the bias", "[linear]", float, double) {
    using T = TestType;
    const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
    for (const Shape& x_shape : {Shape{7}, Shape{5, 7}, Shape{3, 4, 7}, Shape{300, 7}}) {
        for (const index_t out : {1, 9, 70}) {
            INFO("x " << x_shape << ", out_features " << out);
            const auto x = loom_test::random_tensor<T>(x_shape, 1);
            const auto w = loom_test::random_tensor<T>(Shape{out, 7}, 2);
            const auto b = loom_test::random_tensor<T>(Shape{out}, 3);
            const auto x2 = x.rank() == 1 ? loom::reshape(x, {1, 7}) : x;
            auto want = loom::add(loom::matmul(x2, w, false, true), b);
            if (x.rank() == 1) want = loom::reshape(want, {out});
            loom_test::check_matches(loom::linear(x, w, b), want, tol);
            loom_test::check_matches(loom::linear(x, w), loom::sub(want, b), tol);
        }
    }
}

TEST_CASE("linear passes gradcheck with and without bias", "[linear][gradcheck]") {
    std::uint64_t seed = 10;
    // The last shape is 48·40·36 multiply-adds, above the small-product cut-off,
    // so the blocked GEMM's forward and all three backward products are checked.
    for (const auto& [x_shape, out] : std::vector<std::pair<Shape, index_t>>{
             {{4}, 3}, {{2, 4}, 3}, {{2, 3, 4}, 5}, {{1, 1}, 1}, {{48, 40}, 36}}) {
        const index_t in = x_shape.last();
        for (const bool with_bias : {true, false}) {
            INFO("x " << x_shape << ", out_features " << out << (with_bias ? ", bias" : ", no bias"));
            Inputs inputs{loom_test::random_tensor<double>(x_shape, ++seed),
                          loom_test::random_tensor<double>(Shape{out, in}, ++seed)};
            if (with_bias) inputs.push_back(loom_test::random_tensor<double>(Shape{out}, ++seed));
            const auto fn = [](const Inputs& v) {
                return v.size() == 3 ? loom::linear(v[0], v[1], v[2]) : loom::linear(v[0], v[1]);
            };
            LOOM_CHECK_GRADIENTS(fn, inputs);
        }
    }
}

TEST_CASE("linear gives gradients only to the inputs that require them", "[linear][autograd]") {
    auto x = loom_test::random_tensor<double>(Shape{6, 4}, 1);
    auto w = loom_test::random_tensor<double>(Shape{3, 4}, 2).requires_grad_();
    auto b = loom_test::random_tensor<double>(Shape{3}, 3);
    loom::sum(loom::linear(x, w, b)).backward();
    CHECK_FALSE(x.grad().defined());
    CHECK_FALSE(b.grad().defined());
    REQUIRE(w.grad().defined());
    // d(Σ y)/dW[o, i] = Σ_r x[r, i], the same for every output o.
    for (index_t o = 0; o < 3; ++o)
        for (index_t i = 0; i < 4; ++i) {
            double column = 0.0;
            for (index_t r = 0; r < 6; ++r) column += x.at({r, i});
            CHECK(w.grad().at({o, i}) == Approx(column).epsilon(1e-12));
        }
}

TEST_CASE("linear names the op and the shapes in its errors", "[linear][errors]") {
    const auto x = loom::Tensor<float>::zeros(Shape{2, 3});
    const auto w = loom::Tensor<float>::zeros(Shape{4, 3});
    const std::string wrong_in = error_message([&] { loom::linear(x, loom::Tensor<float>::zeros(Shape{4, 5})); });
    CHECK(contains(wrong_in, "loom::linear"));
    CHECK(contains(wrong_in, "[2, 3]"));
    CHECK(contains(wrong_in, "[4, 5]"));
    const std::string wrong_bias = error_message([&] { loom::linear(x, w, loom::Tensor<float>::zeros(Shape{3})); });
    CHECK(contains(wrong_bias, "bias must be [4]"));
    const std::string flat_weight = error_message([&] { loom::linear(x, loom::Tensor<float>::zeros(Shape{12})); });
    CHECK(contains(flat_weight, "weight must be [out_features, in_features]"));
    // in_features = 0: every output is the bias.
    const auto y = loom::linear(loom::Tensor<float>::zeros(Shape{2, 0}), loom::Tensor<float>::zeros(Shape{3, 0}),
                                loom::Tensor<float>::ones(Shape{3}));
    CHECK(y.shape() == Shape{2, 3});
    CHECK(y.to_vector() == std::vector<float>(6, 1.0f));
}

}  // namespace ops_linear_test
