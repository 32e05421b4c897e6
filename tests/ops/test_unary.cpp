#include "test_util.hpp"

// Tests for loom/ops/unary.hpp, the machinery shared by the element-wise ops:
// map_elements (one and two inputs, split over threads for large tensors),
// record_unary (the backward dx = grad_expr(g, saved)) and fix_exp_underflow.
// A small op built here from those pieces, square(x) = x², stands in for the
// real ones (tested in test_activation.cpp and test_pointwise.cpp).

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

using loom::index_t;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace ops_unary_test {  // named, not anonymous: the test files are compiled together in unity batches

using ThreadCountGuard = loom_test::ThreadScope;

// y = x², dx = g ⊙ 2x, written the way the ops in activation.hpp are.
template <typename T>
loom::Tensor<T> square(const loom::Tensor<T>& x) {
    loom::Tensor<T> y = loom::detail::map_elements(x, [](const auto& v) { return v.square(); });
    if (loom::needs_grad(x))
        loom::detail::record_unary(y, "square", x, x, [](const auto& g, const auto& xv) { return g * (T(2) * xv); });
    return y;
}

// y = 1 / x, with the backward written in terms of the output: dx = -g ⊙ y².
template <typename T>
loom::Tensor<T> reciprocal(const loom::Tensor<T>& x) {
    loom::Tensor<T> y = loom::detail::map_elements(x, [](const auto& v) { return v.inverse(); });
    if (loom::needs_grad(x))
        loom::detail::record_unary(y, "reciprocal", x, y, [](const auto& g, const auto& yv) { return -g * yv.square(); });
    return y;
}

TEMPLATE_TEST_CASE("map_elements applies an expression to every element", "[unary]", float, double) {
    using T = TestType;
    for (const Shape& shape : {Shape{}, Shape{1}, Shape{7}, Shape{3, 5}, Shape{2, 3, 4}, Shape{2, 1, 3, 2}}) {
        INFO("shape " << shape);
        const auto x = loom_test::random_tensor<T>(shape, 1, -3.0, 3.0);
        const auto y = loom::detail::map_elements(x, [](const auto& v) { return v * T(2) + T(1); });
        REQUIRE(y.shape() == shape);
        for (index_t i = 0; i < x.numel(); ++i) CHECK(y.data()[i] == x.data()[i] * T(2) + T(1));

        const auto b = loom_test::random_tensor<T>(shape, 2, -3.0, 3.0);
        const auto z = loom::detail::map_elements(x, b, [](const auto& u, const auto& v) { return u * T(4) - v; });
        REQUIRE(z.shape() == shape);
        for (index_t i = 0; i < x.numel(); ++i) CHECK(z.data()[i] == x.data()[i] * T(4) - b.data()[i]);
    }
}

TEMPLATE_TEST_CASE("map_elements on 2 threads gives the same elements as on 1", "[unary][threads]", float, double) {
    using T = TestType;
    // 3 × parallel_grain + 5 elements: split into uneven pieces over the threads.
    const Shape shape{3 * loom::detail::parallel_grain + 5};
    const auto x = loom_test::random_tensor<T>(shape, 3, -3.0, 3.0);
    const auto b = loom_test::random_tensor<T>(shape, 4, -3.0, 3.0);
    // Only products by powers of 2, which are exact: the loop below must match
    // exactly even if the compiler fuses a multiply-add there.
    const auto one = [](const auto& v) { return v * T(0.5) - T(1); };
    const auto two = [](const auto& u, const auto& v) { return u * T(2) + v; };
    loom::Tensor<T> y1, z1, y2, z2;
    {
        const ThreadCountGuard threads(1);
        y1 = loom::detail::map_elements(x, one);
        z1 = loom::detail::map_elements(x, b, two);
    }
    {
        const ThreadCountGuard threads(2);
        y2 = loom::detail::map_elements(x, one);
        z2 = loom::detail::map_elements(x, b, two);
    }
    CHECK(loom_test::max_abs_diff(y1, y2) == 0.0);
    CHECK(loom_test::max_abs_diff(z1, z2) == 0.0);
    index_t wrong = 0;
    for (index_t i = 0; i < x.numel(); ++i) {
        const T v = x.data()[i];
        if (y2.data()[i] != v * T(0.5) - T(1) || z2.data()[i] != v * T(2) + b.data()[i]) ++wrong;
    }
    CHECK(wrong == 0);
}

TEMPLATE_TEST_CASE("record_unary gives dx = grad_expr(g, saved)", "[unary][autograd]", float, double) {
    using T = TestType;
    SECTION("saving the input") {
        auto x = loom::Tensor<T>::from_list({1, -2, 3}, Shape{3}).requires_grad_();
        const auto y = square(x);
        REQUIRE(y.requires_grad());
        REQUIRE(y.grad_fn());
        CHECK(std::string(y.grad_fn()->name) == "square");
        CHECK(y.to_vector() == std::vector<T>{1, 4, 9});
        y.backward(loom::Tensor<T>::from_list({1, 10, 100}, Shape{3}));
        CHECK(x.grad().to_vector() == std::vector<T>{2, -40, 600});
    }
    SECTION("saving the output") {
        auto x = loom::Tensor<T>::from_list({2, -4}, Shape{2}).requires_grad_();
        const auto y = reciprocal(x);
        CHECK(y.to_vector() == std::vector<T>{T(0.5), T(-0.25)});
        y.backward(loom::Tensor<T>::ones(Shape{2}));
        CHECK(x.grad().to_vector() == std::vector<T>{T(-0.25), T(-0.0625)});
    }
    SECTION("nothing is recorded when x does not require grad") {
        const auto y = square(loom::Tensor<T>::ones(Shape{2}));
        CHECK(!y.requires_grad());
        CHECK(y.is_leaf());
    }
    SECTION("nothing is recorded under NoGradGuard") {
        auto x = loom::Tensor<T>::ones(Shape{2}).requires_grad_();
        loom::NoGradGuard no_grad;
        CHECK(!square(x).requires_grad());
    }
}

TEST_CASE("ops built with record_unary pass gradcheck on several shapes", "[unary][gradcheck]") {
    const auto square_fn = [](const std::vector<loom::Tensord>& x) { return square(x[0]); };
    const auto reciprocal_fn = [](const std::vector<loom::Tensord>& x) { return reciprocal(x[0]); };
    const auto chained = [](const std::vector<loom::Tensord>& x) { return reciprocal(square(x[0])); };
    std::uint64_t seed = 20;
    for (const Shape& shape : {Shape{}, Shape{1}, Shape{1, 1}, Shape{3, 5}, Shape{2, 3, 4}, Shape{2, 1, 3, 2}}) {
        INFO("shape " << shape);
        const std::vector<loom::Tensord> inputs{loom_test::random_tensor<double>(shape, ++seed, 0.5, 2.0)};
        LOOM_CHECK_GRADIENTS(square_fn, inputs);
        LOOM_CHECK_GRADIENTS(reciprocal_fn, inputs);
        LOOM_CHECK_GRADIENTS(chained, inputs);
    }
}

TEMPLATE_TEST_CASE("fix_exp_underflow recomputes e^x where it is subnormal or 0", "[unary][numerics]", float,
                   double) {
    using T = TestType;
    const T threshold = std::log(std::numeric_limits<T>::min());  // below it e^x is not a normal number
    // 20 elements, so several full SIMD packets and a scalar tail.
    std::vector<T> values;
    for (int i = 0; i < 20; ++i) values.push_back(i % 3 == 0 ? T(-1000) : (i % 3 == 1 ? threshold - T(5) : T(1)));
    const auto x = loom::Tensor<T>::from_vector(values);
    auto y = loom::Tensor<T>::full(x.shape(), T(-7));  // a marker for elements left alone
    loom::detail::fix_exp_underflow(x, y);
    for (index_t i = 0; i < x.numel(); ++i) {
        INFO("x = " << values[static_cast<std::size_t>(i)]);
        if (values[static_cast<std::size_t>(i)] < threshold)
            CHECK(y.data()[i] == std::exp(values[static_cast<std::size_t>(i)]));
        else
            CHECK(y.data()[i] == T(-7));
    }
    CHECK(y.data()[0] == T(0));  // e^-1000 underflows to 0
}

TEST_CASE("backward through a freed unary node names the op", "[unary][errors]") {
    auto x = loom::Tensord::ones(Shape{2}).requires_grad_();
    const auto y = square(x);
    y.backward(loom::Tensord::ones(Shape{2}));
    REQUIRE_THROWS_AS(y.backward(loom::Tensord::ones(Shape{2})), loom::Error);
    const std::string message = error_message([&] { y.backward(loom::Tensord::ones(Shape{2})); });
    INFO(message);
    CHECK(contains(message, "'square'"));
}

}  // namespace ops_unary_test
