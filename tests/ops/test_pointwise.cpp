#include "test_util.hpp"

// Tests for loom/ops/pointwise.hpp: exp, log, sqrt and pow by a scalar exponent.
// Forward and backward are compared per element with <cmath> in double.

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

using loom::index_t;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace ops_pointwise_test {  // named, not anonymous: the test files are compiled together in unity batches

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 1e-6 : 1e-14;
}

// |y_i - f(x_i)| <= tol · max(1, |f(x_i)|) for every element.
template <typename T>
void check_each(const loom::Tensor<T>& x, const loom::Tensor<T>& y, const std::function<double(double)>& f,
                double tol) {
    REQUIRE(y.shape() == x.shape());
    for (index_t i = 0; i < x.numel(); ++i) {
        const double want = f(static_cast<double>(x.data()[i]));
        INFO("x = " << x.data()[i] << ": got " << y.data()[i] << ", expected " << want);
        CHECK(std::abs(static_cast<double>(y.data()[i]) - want) <= tol * std::max(1.0, std::abs(want)));
    }
}

// Each op with its value and derivative in double.
template <typename T>
struct Pointwise {
    std::string name;
    std::function<loom::Tensor<T>(const loom::Tensor<T>&)> op;
    std::function<double(double)> value;
    std::function<double(double)> derivative;
    bool positive_only;  // defined (and smooth) only for x > 0
};

template <typename T>
std::vector<Pointwise<T>> pointwise_ops() {
    std::vector<Pointwise<T>> ops{
        {"exp", [](const loom::Tensor<T>& x) { return loom::exp(x); }, [](double x) { return std::exp(x); },
         [](double x) { return std::exp(x); }, false},
        {"log", [](const loom::Tensor<T>& x) { return loom::log(x); }, [](double x) { return std::log(x); },
         [](double x) { return 1.0 / x; }, true},
        {"sqrt", [](const loom::Tensor<T>& x) { return loom::sqrt(x); }, [](double x) { return std::sqrt(x); },
         [](double x) { return 0.5 / std::sqrt(x); }, true},
    };
    // Integer exponents also on negative inputs; the others need x > 0.
    for (const double p : {2.0, 3.0, -1.0, 1.0, 0.0, 0.5, -1.5, 2.7}) {
        const bool integer = p == std::floor(p);
        ops.push_back({"pow " + std::to_string(p),
                       [p](const loom::Tensor<T>& x) { return loom::pow(x, static_cast<T>(p)); },
                       [p](double x) { return std::pow(x, p); },
                       [p](double x) { return p == 0.0 ? 0.0 : p * std::pow(x, p - 1.0); }, !integer || p < 0});
    }
    return ops;
}

const std::vector<Shape>& grad_shapes() {
    static const std::vector<Shape> shapes{{1}, {1, 1}, {3, 5}, {2, 3, 4}, {2, 1, 3, 2}};
    return shapes;
}

TEMPLATE_TEST_CASE("pointwise ops of hand-picked values", "[pointwise]", float, double) {
    using T = TestType;
    const double tol = tolerance<T>();
    SECTION("exp") {
        const auto y = loom::exp(loom::Tensor<T>::from_list({0, 1, -1}, Shape{3}));
        CHECK(y.at({0}) == T(1));
        CHECK(std::abs(static_cast<double>(y.at({1})) - 2.718281828459045) <= tol * 3);
        CHECK(std::abs(static_cast<double>(y.at({2})) - 0.36787944117144233) <= tol);
    }
    SECTION("log") {
        const auto y = loom::log(loom::Tensor<T>::from_list({1, T(2.718281828459045), T(0.25)}, Shape{3}));
        CHECK(y.at({0}) == T(0));
        CHECK(std::abs(static_cast<double>(y.at({1})) - 1.0) <= tol);
        CHECK(std::abs(static_cast<double>(y.at({2})) - -1.3862943611198906) <= tol * 2);
    }
    SECTION("sqrt") {
        // Not exact in float: Eigen's default EIGEN_FAST_MATH computes float sqrt
        // in SIMD packets as rsqrt plus one Newton step (up to ~3 ulp off).
        const auto y = loom::sqrt(loom::Tensor<T>::from_list({4, T(2.25), 0, 1}, Shape{2, 2}));
        REQUIRE(y.shape() == Shape{2, 2});
        const std::vector<double> expected{2, 1.5, 0, 1};
        for (index_t i = 0; i < 4; ++i)
            CHECK(std::abs(static_cast<double>(y.data()[i]) - expected[static_cast<std::size_t>(i)]) <= tol * 2);
    }
    SECTION("pow") {
        const auto x = loom::Tensor<T>::from_list({2, -2, -3, 4}, Shape{4});
        CHECK(loom::pow(x, T(3)).to_vector() == std::vector<T>{8, -8, -27, 64});
        CHECK(loom::pow(x, T(2)).to_vector() == std::vector<T>{4, 4, 9, 16});
        CHECK(loom::pow(x, T(0)).to_vector() == std::vector<T>{1, 1, 1, 1});
        CHECK(loom::pow(x, T(-1)).to_vector() == std::vector<T>{T(0.5), T(-0.5), T(-1) / T(3), T(0.25)});
        const auto roots = loom::pow(loom::Tensor<T>::from_list({4, 9, T(0.25)}, Shape{3}), T(0.5));
        CHECK(std::abs(static_cast<double>(roots.at({0})) - 2.0) <= tol);
        CHECK(std::abs(static_cast<double>(roots.at({1})) - 3.0) <= tol);
        CHECK(std::abs(static_cast<double>(roots.at({2})) - 0.5) <= tol);
        CHECK(loom::pow(x, 2.0).shape() == Shape{4});  // a double exponent for Tensor<float> too
    }
}

TEMPLATE_TEST_CASE("pointwise ops match <cmath> element by element", "[pointwise]", float, double) {
    using T = TestType;
    for (const Shape& shape : {Shape{}, Shape{1}, Shape{3, 5}, Shape{2, 3, 4}, Shape{2, 1, 3, 2}, Shape{37}}) {
        const auto mixed = loom_test::random_tensor<T>(shape, 8, -3.0, 3.0);
        const auto positive = loom_test::random_tensor<T>(shape, 9, 0.05, 5.0);
        for (const auto& op : pointwise_ops<T>()) {
            INFO(op.name << " on shape " << shape);
            const auto& x = op.positive_only ? positive : mixed;
            check_each(x, op.op(x), op.value, tolerance<T>());
        }
    }
}

TEMPLATE_TEST_CASE("pointwise ops at the edges of their domains", "[pointwise][numerics]", float, double) {
    using T = TestType;
    const T inf = std::numeric_limits<T>::infinity();
    SECTION("exp(-1000) = 0 and exp(1000) = inf at every position") {
        // 20 elements: full SIMD packets and a scalar tail must agree.
        std::vector<T> values;
        for (int i = 0; i < 20; ++i) values.push_back(i % 2 == 0 ? T(-1000) : T(1000));
        const auto y = loom::exp(loom::Tensor<T>::from_vector(values));
        for (index_t i = 0; i < y.numel(); ++i) {
            INFO("element " << i);
            CHECK(y.data()[i] == (i % 2 == 0 ? T(0) : inf));
        }
    }
    SECTION("exp where the result is subnormal equals std::exp") {
        const T deep = std::is_same_v<T, float> ? T(-95) : T(-720);
        const auto y = loom::exp(loom::Tensor<T>::full(Shape{16}, deep));
        for (index_t i = 0; i < y.numel(); ++i) CHECK(y.data()[i] == std::exp(deep));
        // Just above the smallest normal number nothing is recomputed, and the values are still close.
        const T shallow = std::is_same_v<T, float> ? T(-87) : T(-708);
        const auto z = loom::exp(loom::Tensor<T>::full(Shape{16}, shallow));
        for (index_t i = 0; i < z.numel(); ++i)
            CHECK(std::abs(z.data()[i] - std::exp(shallow)) <= T(1e-5) * std::exp(shallow));
    }
    SECTION("log and sqrt outside their domain follow IEEE arithmetic") {
        const auto x = loom::Tensor<T>::from_list({-1, 0, 1, -2, 0, 4, -1, 0, 1}, Shape{9});
        const auto l = loom::log(x);
        CHECK(std::isnan(l.at({0})));
        CHECK(l.at({1}) == -inf);
        CHECK(l.at({2}) == T(0));
        CHECK(std::isnan(l.at({6})));
        CHECK(l.at({7}) == -inf);
        const auto s = loom::sqrt(x);
        CHECK(std::isnan(s.at({0})));
        CHECK(s.at({1}) == T(0));
        CHECK(std::abs(s.at({5}) - T(2)) <= T(tolerance<T>() * 2));
        CHECK(std::isnan(s.at({6})));
    }
    SECTION("log(exp(x)) = x and sqrt(x)² = x") {
        const auto x = loom_test::random_tensor<T>(Shape{5, 7}, 10, 0.1, 10.0);
        CHECK(loom_test::max_abs_diff(loom::log(loom::exp(x)), x) <= 10 * tolerance<T>() * 10);
        CHECK(loom_test::max_abs_diff(loom::pow(loom::sqrt(x), T(2)), x) <= 10 * tolerance<T>() * 10);
    }
}

TEMPLATE_TEST_CASE("pointwise backward matches the derivative element by element", "[pointwise][autograd]", float,
                   double) {
    using T = TestType;
    const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
    for (const auto& op : pointwise_ops<T>()) {
        INFO(op.name);
        auto x = (op.positive_only ? loom_test::random_tensor<T>(Shape{4, 9}, 11, 0.5, 2.0)
                                   : loom_test::random_tensor<T>(Shape{4, 9}, 12, -2.0, 2.0))
                     .requires_grad_();
        const auto upstream = loom_test::random_tensor<T>(x.shape(), 13);
        op.op(x).backward(upstream);
        REQUIRE(x.grad().defined());
        for (index_t i = 0; i < x.numel(); ++i) {
            const double want =
                static_cast<double>(upstream.data()[i]) * op.derivative(static_cast<double>(x.data()[i]));
            INFO("x = " << x.data()[i] << ": got " << x.grad().data()[i] << ", expected " << want);
            CHECK(std::abs(static_cast<double>(x.grad().data()[i]) - want) <= tol * std::max(1.0, std::abs(want)));
        }
    }
}

TEST_CASE("pointwise ops pass gradcheck on several shapes", "[pointwise][gradcheck]") {
    std::uint64_t seed = 50;
    for (const Shape& shape : grad_shapes()) {
        const std::vector<loom::Tensord> mixed{loom_test::random_tensor<double>(shape, ++seed, -2.0, 2.0)};
        const std::vector<loom::Tensord> positive{loom_test::random_tensor<double>(shape, ++seed, 0.5, 2.0)};
        for (const auto& op : pointwise_ops<double>()) {
            INFO(op.name << " on shape " << shape);
            const auto fn = [&op](const std::vector<loom::Tensord>& x) { return op.op(x[0]); };
            LOOM_CHECK_GRADIENTS(fn, op.positive_only ? positive : mixed);
        }
        INFO("log(exp(x) + sqrt(x)) on shape " << shape);
        const auto chained = [](const std::vector<loom::Tensord>& x) {
            return loom::log(loom::exp(x[0]) + loom::pow(loom::sqrt(x[0]), 3.0));
        };
        LOOM_CHECK_GRADIENTS(chained, positive);
    }
}

TEST_CASE("a second backward through a freed pointwise op names the op", "[pointwise][errors]") {
    using Fn = std::function<loom::Tensord(const loom::Tensord&)>;
    const std::vector<std::pair<const char*, Fn>> ops{
        {"exp", [](const loom::Tensord& x) { return loom::exp(x); }},
        {"log", [](const loom::Tensord& x) { return loom::log(x); }},
        {"sqrt", [](const loom::Tensord& x) { return loom::sqrt(x); }},
        {"pow", [](const loom::Tensord& x) { return loom::pow(x, 1.5); }},
    };
    for (const auto& [name, op] : ops) {
        INFO(name);
        auto x = loom::Tensord::ones(Shape{2}).requires_grad_();
        const auto y = op(x);
        y.backward(loom::Tensord::ones(Shape{2}));
        REQUIRE_THROWS_AS(y.backward(loom::Tensord::ones(Shape{2})), loom::Error);
        const std::string message = error_message([&] { y.backward(loom::Tensord::ones(Shape{2})); });
        INFO(message);
        CHECK(contains(message, std::string("'") + name + "'"));
    }
}

}  // namespace ops_pointwise_test
