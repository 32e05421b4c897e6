#include "test_util.hpp"

// Tests for loom/optim/clip_grad.hpp: clip_grad_norm_ against
// torch.nn.utils.clip_grad_norm_ (tests/data/clip_grad.txt, made by
// tests/fixtures/make_layer_fixtures.py); the total norm it returns;
// gradients under max_norm left alone; parameters without gradients; checks;
// a non-finite total norm (returned, gradients untouched); clip_grad_value_.

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "fixture_reader.hpp"

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace optim_clip_grad_test {  // named, not anonymous: the test files are compiled together in unity batches

using loom_test::check_matches;

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 1e-5 : 1e-10;
}

// A parameter of `shape` (values irrelevant) holding `grad`, or no gradient.
template <typename T>
Tensor<T> parameter_with_grad(const Shape& shape, const Tensor<T>& grad) {
    Tensor<T> p = Tensor<T>::zeros(shape);
    p.requires_grad_();
    if (grad.defined()) p.set_grad(grad.clone());
    return p;
}

TEMPLATE_TEST_CASE("clip_grad_norm_ matches PyTorch", "[clip_grad][fixture]", float, double) {
    using T = TestType;
    const auto fixture = loom_test::load_fixture("clip_grad.txt");
    std::vector<Tensor<T>> params;
    for (int k = 0; k < 3; ++k) {
        const Tensor<T> grad = fixture.template get<T>("grad_" + std::to_string(k));
        params.push_back(parameter_with_grad(grad.shape(), grad));
    }
    // A parameter without a gradient adds nothing and is left alone.
    params.push_back(parameter_with_grad<T>(Shape{4}, Tensor<T>()));

    const double max_norm = fixture.template get<double>("max_norm").data()[0];
    const double want_total = fixture.template get<double>("total_norm").data()[0];
    REQUIRE(want_total > max_norm);
    const double total = loom::clip_grad_norm_(params, max_norm);
    CHECK(std::abs(total - want_total) <= tolerance<T>() * std::max(1.0, want_total));
    for (int k = 0; k < 3; ++k) {
        INFO("parameter " << k);
        check_matches(params[static_cast<std::size_t>(k)].grad(),
                      fixture.template get<T>("clipped_" + std::to_string(k)), tolerance<T>());
    }
    CHECK_FALSE(params[3].grad().defined());

    // The clipped gradients now have norm max_norm (up to the 1e-6 guard) ...
    double squares = 0.0;
    for (const auto& p : params)
        if (p.grad().defined()) squares += p.grad().flat().template cast<double>().square().sum();
    CHECK(std::abs(std::sqrt(squares) - max_norm) < 1e-5);
    // ... so a second call returns about max_norm and changes (almost) nothing.
    const double again = loom::clip_grad_norm_(params, max_norm);
    CHECK(std::abs(again - max_norm) < 1e-5);
}

TEMPLATE_TEST_CASE("clip_grad_norm_ leaves gradients under max_norm alone", "[clip_grad]", float, double) {
    using T = TestType;
    // Norm sqrt(9 + 16) = 5 over two tensors.
    const Tensor<T> g0 = Tensor<T>::from_list({3, 0}, Shape{2});
    const Tensor<T> g1 = Tensor<T>::from_list({0, 0, -4}, Shape{3});
    std::vector<Tensor<T>> params{parameter_with_grad(Shape{2}, g0), parameter_with_grad(Shape{3}, g1)};

    for (double max_norm : {5.5, 100.0}) {
        INFO("max_norm " << max_norm);
        CHECK(loom::clip_grad_norm_(params, max_norm) == 5.0);
        CHECK(params[0].grad().to_vector() == g0.to_vector());
        CHECK(params[1].grad().to_vector() == g1.to_vector());
    }

    SECTION("above max_norm every gradient is scaled by max_norm / (total + 1e-6)") {
        CHECK(loom::clip_grad_norm_(params, 2.5) == 5.0);
        const double scale = 2.5 / (5.0 + 1e-6);
        CHECK(std::abs(static_cast<double>(params[0].grad().at({0})) - 3.0 * scale) < tolerance<T>());
        CHECK(params[0].grad().at({1}) == T(0));
        CHECK(std::abs(static_cast<double>(params[1].grad().at({2})) + 4.0 * scale) < tolerance<T>());
    }
    SECTION("no gradients at all: total 0") {
        std::vector<Tensor<T>> bare{parameter_with_grad<T>(Shape{2}, Tensor<T>())};
        CHECK(loom::clip_grad_norm_(bare, 1.0) == 0.0);
        CHECK(loom::clip_grad_norm_(std::vector<Tensor<T>>{}, 1.0) == 0.0);
    }
    SECTION("the gradients are clipped in place, shared with the parameters' grad()") {
        const Tensor<T> before = params[1].grad();
        loom::clip_grad_norm_(params, 1.0);
        CHECK(before.impl_ptr() == params[1].grad().impl_ptr());
        CHECK(std::abs(static_cast<double>(before.at({2})) + 0.8) < 1e-5);
    }
}

TEMPLATE_TEST_CASE("clip_grad_norm_ rejects max_norm <= 0", "[clip_grad]", float, double) {
    using T = TestType;
    const std::vector<Tensor<T>> params{parameter_with_grad(Shape{2}, Tensor<T>::ones(Shape{2}))};
    for (double bad : {0.0, -1.0, std::nan("")}) {
        INFO("max_norm " << bad);
        REQUIRE_THROWS_AS(loom::clip_grad_norm_(params, bad), loom::Error);
        CHECK(contains(error_message([&] { loom::clip_grad_norm_(params, bad); }),
                       "loom::clip_grad_norm_: max_norm must be positive"));
    }
    CHECK(params[0].grad().to_vector() == std::vector<T>{1, 1});
}


TEMPLATE_TEST_CASE("clip_grad_norm_ returns a non-finite total and leaves the gradients alone", "[clip_grad]", float,
                   double) {
    using T = TestType;
    const T inf = std::numeric_limits<T>::infinity();
    const T nan = std::numeric_limits<T>::quiet_NaN();
    const Tensor<T> finite = Tensor<T>::from_list({3, -4}, Shape{2});
    for (const T bad : {inf, -inf, nan}) {
        INFO("bad gradient element " << bad);
        std::vector<Tensor<T>> params{parameter_with_grad(Shape{2}, finite),
                                      parameter_with_grad(Shape{2}, Tensor<T>::from_list({1, bad}, Shape{2}))};
        const double total = loom::clip_grad_norm_(params, 1.0);
        if (std::isnan(static_cast<double>(bad))) CHECK(std::isnan(total));
        else CHECK(total == std::numeric_limits<double>::infinity());
        // Not scaled by NaN (or zeroed by 1/inf): the finite gradient is as it was.
        CHECK(params[0].grad().to_vector() == finite.to_vector());
        CHECK(params[1].grad().at({0}) == T(1));
    }
}

TEMPLATE_TEST_CASE("clip_grad_value_ clamps every gradient element", "[clip_grad]", float, double) {
    using T = TestType;
    const T nan = std::numeric_limits<T>::quiet_NaN();
    std::vector<Tensor<T>> params{
        parameter_with_grad(Shape{2, 3}, Tensor<T>::from_list({-3, -0.5, 0, 0.25, 0.5, 7}, Shape{2, 3})),
        parameter_with_grad<T>(Shape{4}, Tensor<T>()),  // no gradient: skipped
        parameter_with_grad(Shape{3}, Tensor<T>::from_list({nan, -std::numeric_limits<T>::infinity(), T(0.49)},
                                                           Shape{3}))};
    const Tensor<T> shared = params[0].grad();
    loom::clip_grad_value_(params, 0.5);
    CHECK(params[0].grad().to_vector() == std::vector<T>{T(-0.5), T(-0.5), T(0), T(0.25), T(0.5), T(0.5)});
    CHECK(shared.impl_ptr() == params[0].grad().impl_ptr());  // in place
    CHECK_FALSE(params[1].grad().defined());
    CHECK(std::isnan(params[2].grad().at({0})));  // NaN stays NaN, as in PyTorch
    CHECK(params[2].grad().at({1}) == T(-0.5));
    CHECK(params[2].grad().at({2}) == T(0.49));

    // clip_value 0 zeroes the gradients; a negative one is an error.
    loom::clip_grad_value_(params, 0.0);
    CHECK(params[0].grad().to_vector() == std::vector<T>(6, T(0)));
    for (double bad : {-0.1, std::nan("")}) {
        INFO("clip_value " << bad);
        CHECK(contains(error_message([&] { loom::clip_grad_value_(params, bad); }),
                       "loom::clip_grad_value_: clip_value must be >= 0, got "));
    }
}

}  // namespace optim_clip_grad_test
