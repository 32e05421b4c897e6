#include "test_util.hpp"

// Tests for loom/ops/arithmetic.hpp: add, sub, mul, div of two tensors (with
// broadcasting), neg, and the scalar forms through the operators.

#include <cmath>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

using loom::index_t;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace ops_arithmetic_test {  // named, not anonymous: the test files are compiled together in unity batches

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 1e-6 : 1e-15;
}

// |y_i - expected_i| <= tol · max(1, |expected_i|) for all i.
template <typename T>
void check_close(const loom::Tensor<T>& y, const std::vector<double>& expected, double tol) {
    REQUIRE(y.numel() == static_cast<index_t>(expected.size()));
    for (index_t i = 0; i < y.numel(); ++i) {
        const double want = expected[static_cast<std::size_t>(i)];
        INFO("element " << i << ": got " << y.data()[i] << ", expected " << want);
        CHECK(std::abs(static_cast<double>(y.data()[i]) - want) <= tol * std::max(1.0, std::abs(want)));
    }
}

// f applied to every element, computed in double.
template <typename T>
std::vector<double> each(const loom::Tensor<T>& x, const std::function<double(double)>& f) {
    std::vector<double> out;
    for (index_t i = 0; i < x.numel(); ++i) out.push_back(f(static_cast<double>(x.data()[i])));
    return out;
}

const std::vector<Shape>& grad_shapes() {
    static const std::vector<Shape> shapes{{1}, {1, 1}, {3, 5}, {2, 3, 4}, {2, 1, 3, 2}};
    return shapes;
}

using Fn = std::function<loom::Tensord(const std::vector<loom::Tensord>&)>;

TEMPLATE_TEST_CASE("add, sub, mul, div of hand-written tensors", "[arithmetic]", float, double) {
    using T = TestType;
    const auto a = loom::Tensor<T>::from_list({1, 2, 3, 4, 5, 6}, Shape{2, 3});
    const auto b = loom::Tensor<T>::from_list({1, 2, 4}, Shape{3});
    SECTION("functions") {
        CHECK(loom::add(a, b).to_vector() == std::vector<T>{2, 4, 7, 5, 7, 10});
        CHECK(loom::sub(a, b).to_vector() == std::vector<T>{0, 0, -1, 3, 3, 2});
        CHECK(loom::mul(a, b).to_vector() == std::vector<T>{1, 4, 12, 4, 10, 24});
        CHECK(loom::div(a, b).to_vector() == std::vector<T>{1, 1, T(0.75), 4, T(2.5), T(1.5)});
        CHECK(loom::neg(a).to_vector() == std::vector<T>{-1, -2, -3, -4, -5, -6});
    }
    SECTION("operators") {
        CHECK((a + b).to_vector() == std::vector<T>{2, 4, 7, 5, 7, 10});
        CHECK((a - b).to_vector() == std::vector<T>{0, 0, -1, 3, 3, 2});
        CHECK((a * b).to_vector() == std::vector<T>{1, 4, 12, 4, 10, 24});
        CHECK((a / b).to_vector() == std::vector<T>{1, 1, T(0.75), 4, T(2.5), T(1.5)});
        CHECK((-a).to_vector() == std::vector<T>{-1, -2, -3, -4, -5, -6});
        CHECK((b - a).shape() == Shape{2, 3});
        CHECK((b - a).to_vector() == std::vector<T>{0, 0, 1, -3, -3, -2});
    }
    SECTION("results do not require grad when no input does") {
        const auto y = a * b + a;
        CHECK(!y.requires_grad());
        CHECK(y.is_leaf());
    }
}

TEMPLATE_TEST_CASE("tensor-tensor arithmetic matches an element loop", "[arithmetic]", float, double) {
    using T = TestType;
    // Same shapes, so element i of the result pairs a_i with b_i.
    for (const Shape& shape : grad_shapes()) {
        INFO("shape " << shape);
        const auto a = loom_test::random_tensor<T>(shape, 1, -2.0, 2.0);
        const auto b = loom_test::random_tensor<T>(shape, 2, 0.5, 2.0);
        std::vector<double> sum, difference, product, quotient;
        for (index_t i = 0; i < a.numel(); ++i) {
            const T x = a.data()[i], y = b.data()[i];
            sum.push_back(static_cast<double>(T(x + y)));
            difference.push_back(static_cast<double>(T(x - y)));
            product.push_back(static_cast<double>(T(x * y)));
            quotient.push_back(static_cast<double>(T(x / y)));
        }
        check_close(a + b, sum, 0.0);
        check_close(a - b, difference, 0.0);
        check_close(a * b, product, 0.0);
        check_close(a / b, quotient, 0.0);
        check_close(-a, each(a, [](double x) { return -x; }), 0.0);
    }
}

TEMPLATE_TEST_CASE("scalar arithmetic in both orders through the operators", "[arithmetic][scalar]", float, double) {
    using T = TestType;
    const double tol = tolerance<T>();
    const auto x = loom_test::random_tensor<T>(Shape{3, 5}, 3, 0.5, 2.0);

    // The scalar is a double literal even for Tensor<float>: T comes from the tensor alone.
    SECTION("x + s and s + x") {
        check_close(x + 2.0, each(x, [](double v) { return v + 2.0; }), tol);
        check_close(2.0 + x, each(x, [](double v) { return 2.0 + v; }), tol);
        check_close(loom::add(x, 2.0), each(x, [](double v) { return v + 2.0; }), tol);
    }
    SECTION("x - s and s - x") {
        check_close(x - 2.0, each(x, [](double v) { return v - 2.0; }), tol);
        check_close(2.0 - x, each(x, [](double v) { return 2.0 - v; }), tol);
        check_close(loom::sub(x, 2.0), each(x, [](double v) { return v - 2.0; }), tol);
    }
    SECTION("x * s and s * x") {
        check_close(x * 2.0, each(x, [](double v) { return v * 2.0; }), tol);
        check_close(2.0 * x, each(x, [](double v) { return 2.0 * v; }), tol);
        check_close(x * -0.3, each(x, [](double v) { return v * -0.3; }), tol);
        check_close(x * 3, each(x, [](double v) { return v * 3.0; }), tol);  // an int scalar too
        check_close(loom::mul(x, 2.0), each(x, [](double v) { return v * 2.0; }), tol);
    }
    SECTION("x / s and s / x") {
        check_close(x / 2.0, each(x, [](double v) { return v / 2.0; }), tol);
        check_close(x / 3.0, each(x, [](double v) { return v / 3.0; }), tol);
        check_close(2.0 / x, each(x, [](double v) { return 2.0 / v; }), tol);
        check_close(loom::div(x, 3.0), each(x, [](double v) { return v / 3.0; }), tol);
    }
    SECTION("hand-written values") {
        const auto v = loom::Tensor<T>::from_list({1, 2, 4}, Shape{3});
        CHECK((v + 1.0).to_vector() == std::vector<T>{2, 3, 5});
        CHECK((1.0 - v).to_vector() == std::vector<T>{0, -1, -3});
        CHECK((v * 0.5).to_vector() == std::vector<T>{T(0.5), 1, 2});
        CHECK((8.0 / v).to_vector() == std::vector<T>{8, 4, 2});
        CHECK((v / 4.0).to_vector() == std::vector<T>{T(0.25), T(0.5), 1});
    }
    SECTION("shapes are kept, including rank 0") {
        const auto s = loom::Tensor<T>::scalar(T(4));
        CHECK((2.0 / s).shape() == Shape{});
        CHECK((2.0 / s).item() == T(0.5));
        CHECK((2.0 - s).shape() == Shape{});
        CHECK((2.0 - s).item() == T(-2));
        CHECK((x * 2.0).shape() == x.shape());
        CHECK((2.0 / x).shape() == x.shape());
    }
}

TEST_CASE("tensor-tensor arithmetic passes gradcheck on several shapes", "[arithmetic][gradcheck]") {
    const std::vector<std::pair<const char*, Fn>> ops{
        {"add", [](const std::vector<loom::Tensord>& x) { return x[0] + x[1]; }},
        {"sub", [](const std::vector<loom::Tensord>& x) { return x[0] - x[1]; }},
        {"mul", [](const std::vector<loom::Tensord>& x) { return x[0] * x[1]; }},
        {"div", [](const std::vector<loom::Tensord>& x) { return x[0] / x[1]; }},
        {"neg", [](const std::vector<loom::Tensord>& x) { return -x[0]; }},
        {"mixed", [](const std::vector<loom::Tensord>& x) { return (x[0] * x[1] - x[0]) / (x[1] + x[0] * x[0]); }},
    };
    std::uint64_t seed = 100;
    for (const Shape& shape : grad_shapes()) {
        // Positive inputs in [0.5, 2] keep every denominator away from 0.
        const std::vector<loom::Tensord> inputs{loom_test::random_tensor<double>(shape, ++seed, -2.0, 2.0),
                                                loom_test::random_tensor<double>(shape, ++seed, 0.5, 2.0)};
        const std::vector<loom::Tensord> positive{loom_test::random_tensor<double>(shape, ++seed, 0.5, 2.0),
                                                  loom_test::random_tensor<double>(shape, ++seed, 0.5, 2.0)};
        for (const auto& [name, fn] : ops) {
            INFO(name << " on shape " << shape);
            LOOM_CHECK_GRADIENTS(fn, name == std::string("mixed") ? positive : inputs);
        }
    }
}

TEST_CASE("tensor-tensor arithmetic with broadcasting passes gradcheck", "[arithmetic][gradcheck]") {
    const Fn mul = [](const std::vector<loom::Tensord>& x) { return x[0] * x[1]; };
    const Fn div = [](const std::vector<loom::Tensord>& x) { return x[0] / x[1]; };
    const Fn sub = [](const std::vector<loom::Tensord>& x) { return x[0] - x[1]; };
    const std::vector<std::pair<Shape, Shape>> pairs{{{2, 3, 4}, {4}}, {{4, 1}, {1, 5}}, {{}, {2, 3}}, {{3, 1}, {3, 2}}};
    std::uint64_t seed = 200;
    for (const auto& [sa, sb] : pairs) {
        INFO(sa << " and " << sb);
        const std::vector<loom::Tensord> inputs{loom_test::random_tensor<double>(sa, ++seed, 0.5, 2.0),
                                                loom_test::random_tensor<double>(sb, ++seed, 0.5, 2.0)};
        const std::vector<loom::Tensord> swapped{inputs[1], inputs[0]};
        LOOM_CHECK_GRADIENTS(mul, inputs);
        LOOM_CHECK_GRADIENTS(div, inputs);
        LOOM_CHECK_GRADIENTS(div, swapped);
        LOOM_CHECK_GRADIENTS(sub, swapped);
    }
}

TEST_CASE("div gradient with respect to the denominator", "[arithmetic][gradcheck]") {
    SECTION("hand-computed: d(a / b)/db = -a / b²") {
        auto a = loom::Tensord::from_list({3, -1}, Shape{2}).requires_grad_();
        auto b = loom::Tensord::from_list({2, 4}, Shape{2}).requires_grad_();
        loom::div(a, b).backward(loom::Tensord::ones(Shape{2}));
        CHECK(b.grad().to_vector() == std::vector<double>{-0.75, 0.0625});
        CHECK(a.grad().to_vector() == std::vector<double>{0.5, 0.25});
    }
    SECTION("gradcheck with only the denominator requiring grad") {
        const Fn div = [](const std::vector<loom::Tensord>& x) { return x[0] / x[1]; };
        for (const Shape& shape : grad_shapes()) {
            INFO("shape " << shape);
            auto numerator = loom_test::random_tensor<double>(shape, 300, -2.0, 2.0);
            auto denominator = loom_test::random_tensor<double>(shape, 301, 0.5, 2.0).requires_grad_();
            const std::vector<loom::Tensord> inputs{numerator, denominator};
            LOOM_CHECK_GRADIENTS(div, inputs);
        }
    }
    SECTION("broadcast denominator [C] against [N, C] sums over the rows") {
        auto a = loom::Tensord::from_list({1, 2, 3, 4}, Shape{2, 2});
        auto b = loom::Tensord::from_list({1, 2}, Shape{2}).requires_grad_();
        loom::div(a, b).backward(loom::Tensord::ones(Shape{2, 2}));
        // -(1 + 3) / 1² and -(2 + 4) / 2²
        CHECK(b.grad().to_vector() == std::vector<double>{-4.0, -1.5});
    }
}

TEST_CASE("scalar arithmetic passes gradcheck on several shapes", "[arithmetic][scalar][gradcheck]") {
    const std::vector<std::pair<const char*, Fn>> ops{
        {"x + s", [](const std::vector<loom::Tensord>& x) { return x[0] + 1.5; }},
        {"s + x", [](const std::vector<loom::Tensord>& x) { return 1.5 + x[0]; }},
        {"x - s", [](const std::vector<loom::Tensord>& x) { return x[0] - 1.5; }},
        {"s - x", [](const std::vector<loom::Tensord>& x) { return 2.0 - x[0]; }},
        {"x * s", [](const std::vector<loom::Tensord>& x) { return x[0] * -3.0; }},
        {"s * x", [](const std::vector<loom::Tensord>& x) { return 2.5 * x[0]; }},
        {"x / s", [](const std::vector<loom::Tensord>& x) { return x[0] / 4.0; }},
        {"s / x", [](const std::vector<loom::Tensord>& x) { return 2.0 / x[0]; }},
    };
    std::uint64_t seed = 400;
    for (const Shape& shape : grad_shapes()) {
        const std::vector<loom::Tensord> inputs{loom_test::random_tensor<double>(shape, ++seed, 0.5, 2.0)};
        for (const auto& [name, fn] : ops) {
            INFO(name << " on shape " << shape);
            LOOM_CHECK_GRADIENTS(fn, inputs);
        }
    }
}

TEST_CASE("scalar arithmetic gradients, hand-computed", "[arithmetic][scalar][autograd]") {
    auto x = loom::Tensord::from_list({1, 2, 4}, Shape{3}).requires_grad_();
    const auto ones = loom::Tensord::ones(Shape{3});
    SECTION("s - x gives -1") {
        (2.0 - x).backward(ones);
        CHECK(x.grad().to_vector() == std::vector<double>{-1, -1, -1});
    }
    SECTION("s / x gives -s / x²") {
        (2.0 / x).backward(ones);
        CHECK(x.grad().to_vector() == std::vector<double>{-2, -0.5, -0.125});
    }
    SECTION("x * s and x / s give s and 1 / s") {
        (x * 3.0).backward(ones);
        CHECK(x.grad().to_vector() == std::vector<double>{3, 3, 3});
        x.zero_grad();
        (x / 4.0).backward(ones);
        CHECK(x.grad().to_vector() == std::vector<double>{0.25, 0.25, 0.25});
    }
    SECTION("x + s gives 1") {
        (x + 3.0).backward(ones);
        CHECK(x.grad().to_vector() == std::vector<double>{1, 1, 1});
    }
}

TEST_CASE("arithmetic gives no gradient to an operand that does not require grad", "[arithmetic][autograd]") {
    const std::vector<std::pair<const char*, Fn>> ops{
        {"add", [](const std::vector<loom::Tensord>& x) { return x[0] + x[1]; }},
        {"sub", [](const std::vector<loom::Tensord>& x) { return x[0] - x[1]; }},
        {"mul", [](const std::vector<loom::Tensord>& x) { return x[0] * x[1]; }},
        {"div", [](const std::vector<loom::Tensord>& x) { return x[0] / x[1]; }},
    };
    for (const auto& [name, fn] : ops) {
        for (const bool first_requires : {true, false}) {
            INFO(name << (first_requires ? ", only a requires grad" : ", only b requires grad"));
            auto a = loom_test::random_tensor<double>(Shape{2, 3}, 1, 0.5, 2.0);
            auto b = loom_test::random_tensor<double>(Shape{3}, 2, 0.5, 2.0);
            (first_requires ? a : b).requires_grad_();
            const auto y = fn({a, b});
            REQUIRE(y.requires_grad());
            y.backward(loom::Tensord::ones(y.shape()));
            auto& with = first_requires ? a : b;
            auto& without = first_requires ? b : a;
            CHECK(with.grad().defined());
            CHECK(with.grad().shape() == with.shape());
            CHECK(!without.grad().defined());
            CHECK(!without.requires_grad());
        }
    }
    SECTION("mul: the gradient of the one that requires grad is the other's values") {
        auto a = loom::Tensord::from_list({2, 3}, Shape{2}).requires_grad_();
        const auto b = loom::Tensord::from_list({5, 7}, Shape{2});
        (a * b).backward(loom::Tensord::ones(Shape{2}));
        CHECK(a.grad().to_vector() == std::vector<double>{5, 7});
        CHECK(!b.grad().defined());
    }
}

TEST_CASE("arithmetic with the same tensor as both operands", "[arithmetic][autograd]") {
    const auto ones = loom::Tensord::ones(Shape{3});
    auto x = loom::Tensord::from_list({1, -2, 4}, Shape{3}).requires_grad_();
    SECTION("x * x gives 2x") {
        (x * x).backward(ones);
        CHECK(x.grad().to_vector() == std::vector<double>{2, -4, 8});
    }
    SECTION("x + x gives 2") {
        (x + x).backward(ones);
        CHECK(x.grad().to_vector() == std::vector<double>{2, 2, 2});
    }
    SECTION("x - x and x / x give 0") {
        (x - x).backward(ones);
        CHECK(x.grad().to_vector() == std::vector<double>{0, 0, 0});
        x.zero_grad();
        (x / x).backward(ones);
        CHECK(x.grad().to_vector() == std::vector<double>{0, 0, 0});
    }
    SECTION("gradcheck of x * x + x / (x * x)") {
        const Fn fn = [](const std::vector<loom::Tensord>& v) { return v[0] * v[0] + v[0] / (v[0] * v[0]); };
        const std::vector<loom::Tensord> inputs{loom_test::random_tensor<double>(Shape{2, 3}, 9, 0.5, 2.0)};
        LOOM_CHECK_GRADIENTS(fn, inputs);
    }
}

TEST_CASE("arithmetic rejects incompatible shapes naming the op and both shapes", "[arithmetic][errors]") {
    const auto a = loom::Tensord::zeros(Shape{2, 3});
    const auto b = loom::Tensord::zeros(Shape{2});
    const std::vector<std::pair<const char*, std::function<void()>>> calls{
        {"loom::add", [&] { loom::add(a, b); }}, {"loom::sub", [&] { loom::sub(a, b); }},
        {"loom::mul", [&] { loom::mul(a, b); }}, {"loom::div", [&] { loom::div(a, b); }},
        {"loom::add", [&] { (void)(a + b); }},   {"loom::sub", [&] { (void)(a - b); }},
        {"loom::mul", [&] { (void)(a * b); }},   {"loom::div", [&] { (void)(a / b); }},
    };
    for (const auto& [op, call] : calls) {
        REQUIRE_THROWS_AS(call(), loom::Error);
        const std::string message = error_message(call);
        INFO(message);
        CHECK(contains(message, op));
        CHECK(contains(message, "[2, 3]"));
        CHECK(contains(message, "[2]"));
    }
    SECTION("the order of the shapes follows the operands") {
        const std::string message = error_message([&] { loom::sub(b, a); });
        INFO(message);
        CHECK(contains(message, "[2] and [2, 3]"));
    }
}

}  // namespace ops_arithmetic_test
