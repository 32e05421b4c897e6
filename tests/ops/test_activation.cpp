#include "test_util.hpp"

// Tests for loom/ops/activation.hpp: tanh, sigmoid, relu and gelu (the tanh
// approximation, PyTorch's approximate='tanh'). Forward and backward are compared
// per element with formulas evaluated in double through <cmath>.

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

namespace ops_activation_test {  // named, not anonymous: the test files are compiled together in unity batches

// Eigen's float tanh and logistic are rational approximations good to a few
// ulp; 1e-6 leaves room for that (float's ulp at 1 is 1.2e-7).
template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 1e-6 : 1e-14;
}

double reference_tanh(double x) { return std::tanh(x); }
double reference_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double reference_relu(double x) { return x > 0.0 ? x : 0.0; }
// 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))
double reference_gelu(double x) {
    const double pi = 3.14159265358979323846;
    return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / pi) * (x + 0.044715 * x * x * x)));
}

// Derivatives, independent of the header's formulas (gelu by a central
// difference of the double formula: error ~h² ≈ 1e-10).
double reference_tanh_grad(double x) { return 1.0 - std::tanh(x) * std::tanh(x); }
double reference_sigmoid_grad(double x) { return reference_sigmoid(x) * (1.0 - reference_sigmoid(x)); }
double reference_relu_grad(double x) { return x > 0.0 ? 1.0 : 0.0; }
double reference_gelu_grad(double x) {
    const double h = 1e-5;
    return (reference_gelu(x + h) - reference_gelu(x - h)) / (2.0 * h);
}

template <typename T>
struct Activation {
    const char* name;
    std::function<loom::Tensor<T>(const loom::Tensor<T>&)> op;
    double (*reference)(double);
    double (*derivative)(double);
};

template <typename T>
std::vector<Activation<T>> activations() {
    return {
        {"tanh", [](const loom::Tensor<T>& x) { return loom::tanh(x); }, reference_tanh, reference_tanh_grad},
        {"sigmoid", [](const loom::Tensor<T>& x) { return loom::sigmoid(x); }, reference_sigmoid,
         reference_sigmoid_grad},
        {"relu", [](const loom::Tensor<T>& x) { return loom::relu(x); }, reference_relu, reference_relu_grad},
        {"gelu", [](const loom::Tensor<T>& x) { return loom::gelu(x); }, reference_gelu, reference_gelu_grad},
    };
}

// |y_i - f(x_i)| <= tol · max(1, |f(x_i)|) for every element.
template <typename T>
void check_each(const loom::Tensor<T>& x, const loom::Tensor<T>& y, double (*f)(double), double tol) {
    REQUIRE(y.shape() == x.shape());
    for (index_t i = 0; i < x.numel(); ++i) {
        const double want = f(static_cast<double>(x.data()[i]));
        INFO("x = " << x.data()[i] << ": got " << y.data()[i] << ", expected " << want);
        CHECK(std::abs(static_cast<double>(y.data()[i]) - want) <= tol * std::max(1.0, std::abs(want)));
    }
}

// Uniform magnitudes in [0.1, 1] with random signs: relu's kink at 0 is more
// than any finite-difference step away.
loom::Tensord away_from_zero(const Shape& shape, std::uint64_t seed) {
    auto x = loom_test::random_tensor<double>(shape, seed);
    for (index_t i = 0; i < x.numel(); ++i) {
        const double v = x.data()[i];
        x.data()[i] = (v < 0 ? -1.0 : 1.0) * (0.1 + 0.9 * std::abs(v));
    }
    return x;
}

const std::vector<Shape>& grad_shapes() {
    static const std::vector<Shape> shapes{{1}, {1, 1}, {3, 5}, {2, 3, 4}, {2, 1, 3, 2}};
    return shapes;
}

TEMPLATE_TEST_CASE("activations of hand-picked values", "[activation]", float, double) {
    using T = TestType;
    const double tol = tolerance<T>();
    const auto x = loom::Tensor<T>::from_list({-2, -1, -0.5, 0, 0.5, 1, 2}, Shape{7});
    SECTION("tanh") {
        const auto y = loom::tanh(x);
        CHECK(y.at({3}) == T(0));
        CHECK(std::abs(static_cast<double>(y.at({4})) - 0.46211715726000974) <= tol);
        CHECK(y.at({2}) == -y.at({4}));
    }
    SECTION("sigmoid") {
        const auto y = loom::sigmoid(x);
        CHECK(y.at({3}) == T(0.5));
        CHECK(std::abs(static_cast<double>(y.at({5})) - 0.7310585786300049) <= tol);
        CHECK(std::abs(static_cast<double>(y.at({1}) + y.at({5})) - 1.0) <= tol);
    }
    SECTION("relu") {
        CHECK(loom::relu(x).to_vector() == std::vector<T>{0, 0, 0, 0, T(0.5), 1, 2});
    }
    SECTION("gelu, the tanh approximation") {
        const auto y = loom::gelu(x);
        CHECK(y.at({3}) == T(0));
        CHECK(std::abs(static_cast<double>(y.at({5})) - 0.8411919906082768) <= tol);
        CHECK(std::abs(static_cast<double>(y.at({1})) - -0.15880800939172324) <= tol);
        CHECK(std::abs(static_cast<double>(y.at({6})) - 1.954597694087775) <= tol);
    }
}

TEMPLATE_TEST_CASE("activations match the formulas element by element", "[activation]", float, double) {
    using T = TestType;
    // Random shapes (long enough for full SIMD packets and a scalar tail) and
    // values up to where each function saturates.
    for (const Shape& shape : {Shape{}, Shape{1}, Shape{3, 5}, Shape{2, 3, 4}, Shape{2, 1, 3, 2}, Shape{37}}) {
        const auto x = loom_test::random_tensor<T>(shape, 5, -6.0, 6.0);
        for (const auto& act : activations<T>()) {
            INFO(act.name << " on shape " << shape);
            check_each(x, act.op(x), act.reference, tolerance<T>());
        }
    }
    const auto special = loom::Tensor<T>::from_list(
        {0, T(1e-3), T(-1e-3), T(1e-20), T(-1e-20), 3, -3, T(8.9), T(-8.9), T(9.5), T(-9.5), 15, -15, 20, -20, 40, -40},
        Shape{17});
    for (const auto& act : activations<T>()) {
        INFO(act.name << " on special values");
        check_each(special, act.op(special), act.reference, tolerance<T>());
    }
}

TEMPLATE_TEST_CASE("activations stay finite and saturate at ±1000", "[activation][numerics]", float, double) {
    using T = TestType;
    // 20 elements alternating +1000 and -1000: most sit in full SIMD packets,
    // the last few in the scalar tail, and both paths must agree.
    std::vector<T> values;
    for (int i = 0; i < 20; ++i) values.push_back(i % 2 == 0 ? T(1000) : T(-1000));
    const auto x = loom::Tensor<T>::from_vector(values);
    const auto s = loom::sigmoid(x);
    const auto t = loom::tanh(x);
    const auto r = loom::relu(x);
    const auto g = loom::gelu(x);
    for (index_t i = 0; i < x.numel(); ++i) {
        const bool positive = i % 2 == 0;
        INFO("element " << i << ", x = " << values[static_cast<std::size_t>(i)]);
        CHECK(std::isfinite(s.data()[i]));
        CHECK(std::isfinite(t.data()[i]));
        CHECK(std::isfinite(g.data()[i]));
        CHECK(s.data()[i] == (positive ? T(1) : T(0)));
        CHECK(t.data()[i] == (positive ? T(1) : T(-1)));
        CHECK(r.data()[i] == (positive ? T(1000) : T(0)));
        CHECK(g.data()[i] == (positive ? T(1000) : T(0)));
    }
    SECTION("the backward at ±1000 is finite: 0 for tanh and sigmoid") {
        for (const auto& act : activations<T>()) {
            INFO(act.name);
            auto leaf = x.clone().requires_grad_();
            act.op(leaf).backward(loom::Tensor<T>::ones(x.shape()));
            const auto grad = leaf.grad();
            for (index_t i = 0; i < x.numel(); ++i) {
                INFO("element " << i);
                CHECK(std::isfinite(grad.data()[i]));
                CHECK(std::abs(static_cast<double>(grad.data()[i]) - act.derivative(values[static_cast<std::size_t>(i)])) <=
                      1e-6);
            }
        }
    }
    SECTION("sigmoid just below the smallest normal exponent is e^x, not Eigen's clamp value") {
        // e^-95 ≈ 5.5e-42 is subnormal in float; e^-720 ≈ 3e-313 is subnormal in double.
        const T deep = std::is_same_v<T, float> ? T(-95) : T(-720);
        const auto y = loom::sigmoid(loom::Tensor<T>::full(Shape{16}, deep));
        for (index_t i = 0; i < y.numel(); ++i) CHECK(y.data()[i] == std::exp(deep));
    }
    SECTION("NaN passes through without breaking its neighbours") {
        const T nan = std::numeric_limits<T>::quiet_NaN();
        const auto y = loom::sigmoid(loom::Tensor<T>::from_list({nan, 0, nan, 0, 0, 0, 0, 0, 0}, Shape{9}));
        CHECK(std::isnan(y.at({0})));
        CHECK(y.at({1}) == T(0.5));
        CHECK(y.at({8}) == T(0.5));
    }
}

TEMPLATE_TEST_CASE("activation backward matches the derivative element by element", "[activation][autograd]", float,
                   double) {
    using T = TestType;
    const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-9;  // gelu's reference derivative is a difference quotient
    for (const auto& act : activations<T>()) {
        INFO(act.name);
        auto x = loom_test::random_tensor<T>(Shape{4, 9}, 6, -4.0, 4.0).requires_grad_();
        const auto upstream = loom_test::random_tensor<T>(x.shape(), 7);
        act.op(x).backward(upstream);
        REQUIRE(x.grad().defined());
        for (index_t i = 0; i < x.numel(); ++i) {
            const double want = static_cast<double>(upstream.data()[i]) * act.derivative(static_cast<double>(x.data()[i]));
            INFO("x = " << x.data()[i] << ": got " << x.grad().data()[i] << ", expected " << want);
            CHECK(std::abs(static_cast<double>(x.grad().data()[i]) - want) <= tol);
        }
    }
    SECTION("relu's gradient is 0 at x = 0 and below, 1 above") {
        auto x = loom::Tensor<T>::from_list({-1, 0, 2}, Shape{3}).requires_grad_();
        loom::relu(x).backward(loom::Tensor<T>::ones(Shape{3}));
        CHECK(x.grad().to_vector() == std::vector<T>{0, 0, 1});
    }
}

TEST_CASE("activations pass gradcheck on several shapes", "[activation][gradcheck]") {
    using Fn = std::function<loom::Tensord(const std::vector<loom::Tensord>&)>;
    const Fn tanh = [](const std::vector<loom::Tensord>& x) { return loom::tanh(x[0]); };
    const Fn sigmoid = [](const std::vector<loom::Tensord>& x) { return loom::sigmoid(x[0]); };
    const Fn relu = [](const std::vector<loom::Tensord>& x) { return loom::relu(x[0]); };
    const Fn gelu = [](const std::vector<loom::Tensord>& x) { return loom::gelu(x[0]); };
    const Fn chained = [](const std::vector<loom::Tensord>& x) { return loom::gelu(loom::sigmoid(loom::tanh(x[0]))); };
    std::uint64_t seed = 30;
    for (const Shape& shape : grad_shapes()) {
        INFO("shape " << shape);
        const std::vector<loom::Tensord> inputs{loom_test::random_tensor<double>(shape, ++seed, -3.0, 3.0)};
        const std::vector<loom::Tensord> kinkless{away_from_zero(shape, ++seed)};
        LOOM_CHECK_GRADIENTS(tanh, inputs);
        LOOM_CHECK_GRADIENTS(sigmoid, inputs);
        LOOM_CHECK_GRADIENTS(gelu, inputs);
        LOOM_CHECK_GRADIENTS(chained, inputs);
        LOOM_CHECK_GRADIENTS(relu, kinkless);
        LOOM_CHECK_GRADIENTS(gelu, kinkless);
    }
}

TEST_CASE("a second backward through a freed activation names the op", "[activation][errors]") {
    for (const auto& act : activations<double>()) {
        INFO(act.name);
        auto x = loom::Tensord::ones(Shape{2}).requires_grad_();
        const auto y = act.op(x);
        REQUIRE(y.grad_fn());
        CHECK(std::string(y.grad_fn()->name) == act.name);
        y.backward(loom::Tensord::ones(Shape{2}));
        REQUIRE_THROWS_AS(y.backward(loom::Tensord::ones(Shape{2})), loom::Error);
        const std::string message = error_message([&] { y.backward(loom::Tensord::ones(Shape{2})); });
        INFO(message);
        CHECK(contains(message, std::string("'") + act.name + "'"));
    }
}

}  // namespace ops_activation_test
