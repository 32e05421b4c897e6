#include "test_util.hpp"

// Tests for loom/autograd/gradcheck.hpp: it must pass correct gradients and,
// just as important, catch wrong ones.

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using loom::index_t;
using loom::Shape;
using loom::Tensord;
using loom_test::contains;
using loom_test::error_message;

namespace autograd_gradcheck_test {  // named, not anonymous: the test files are compiled together in unity batches

using Inputs = std::vector<Tensord>;

// y = x² element-wise, with a backward scaled by `grad_scale`: 1 is correct,
// 2 is the deliberate mistake gradcheck has to catch.
Tensord square_with_grad_scale(const Tensord& x, double grad_scale) {
    Tensord y = Tensord::empty(x.shape());
    y.flat() = x.flat().square();
    if (loom::needs_grad(x)) {
        loom::record(y, "scaled_square", {x}, [saved = x.detach(), grad_scale](const Tensord& g) {
            Tensord dx = Tensord::empty(g.shape());
            dx.flat() = grad_scale * 2.0 * saved.flat() * g.flat();
            return std::vector<Tensord>{dx};
        });
    }
    return y;
}

// a ⊙ b whose backward returns the right gradient for a and the one for b
// plus `b_error` everywhere.
Tensord mul_with_b_error(const Tensord& a, const Tensord& b, double b_error) {
    Tensord y = Tensord::empty(a.shape());
    y.flat() = a.flat() * b.flat();
    if (loom::needs_grad(a, b)) {
        loom::record(y, "mul_b_error", {a, b}, [sa = a.detach(), sb = b.detach(), b_error](const Tensord& g) {
            Tensord da = Tensord::empty(g.shape()), db = Tensord::empty(g.shape());
            da.flat() = g.flat() * sb.flat();
            db.flat() = g.flat() * sa.flat() + b_error;
            return std::vector<Tensord>{da, db};
        });
    }
    return y;
}

TEST_CASE("gradcheck passes correct composites", "[autograd][gradcheck]") {
    SECTION("tanh(matmul(a, b) + bias)") {
        const Inputs inputs{loom_test::random_tensor<double>(Shape{2, 3}, 1),
                            loom_test::random_tensor<double>(Shape{3, 4}, 2),
                            loom_test::random_tensor<double>(Shape{4}, 3)};
        const auto fn = [](const Inputs& in) { return loom::tanh(loom::matmul(in[0], in[1]) + in[2]); };
        const loom::GradcheckReport report = loom::gradcheck(fn, inputs);
        INFO(report.summary());
        CHECK(report.passed);
        CHECK(report.max_rel_error < 1e-7);
        CHECK(report.elements_checked == 6 + 12 + 4);
        CHECK(report.worst_input >= 0);
        CHECK(report.worst_input < 3);
        CHECK(report.worst_index >= 0);
        CHECK(contains(report.summary(), "gradcheck passed: 22 elements"));
    }
    SECTION("products, quotients and sums through the macro") {
        const Inputs inputs{loom_test::random_tensor<double>(Shape{3, 2}, 4),
                            loom_test::random_tensor<double>(Shape{3, 2}, 5, 1.0, 2.0)};
        LOOM_CHECK_GRADIENTS([](const Inputs& in) { return loom::sum(in[0] * in[0] / in[1] + in[1], 1); }, inputs);
    }
    SECTION("a hand-recorded op with the right backward") {
        const Inputs inputs{loom_test::random_tensor<double>(Shape{5}, 6)};
        LOOM_CHECK_GRADIENTS([](const Inputs& in) { return square_with_grad_scale(in[0], 1.0); }, inputs);
    }
}

TEST_CASE("gradcheck fails a backward that is twice too large", "[autograd][gradcheck]") {
    const Inputs inputs{Tensord::from_list({0.5, -1.0, 2.0, 0.25}, Shape{2, 2})};
    const loom::GradcheckReport report =
        loom::gradcheck([](const Inputs& in) { return square_with_grad_scale(in[0], 2.0); }, inputs);
    INFO(report.summary());
    CHECK_FALSE(report.passed);
    CHECK(report.elements_checked == 4);
    CHECK(report.worst_input == 0);
    REQUIRE(report.worst_index >= 0);
    REQUIRE(report.worst_index < 4);
    // At the worst element the analytic gradient is twice the numeric one.
    CHECK(std::abs(report.numeric) > 1e-3);
    CHECK(std::abs(report.analytic - 2.0 * report.numeric) < 1e-6 * std::abs(report.analytic));
    CHECK(report.max_abs_error > 0.1);
    CHECK(report.max_abs_error >= std::abs(report.analytic - report.numeric));
    const std::string summary = report.summary();
    CHECK(contains(summary, "gradcheck FAILED"));
    CHECK(contains(summary, "4 elements"));
    CHECK(contains(summary, "input 0"));
}

TEST_CASE("gradcheck reports which input is wrong", "[autograd][gradcheck]") {
    const Inputs inputs{loom_test::random_tensor<double>(Shape{3}, 7), loom_test::random_tensor<double>(Shape{3}, 8)};
    SECTION("an error in b's gradient") {
        const auto report =
            loom::gradcheck([](const Inputs& in) { return mul_with_b_error(in[0], in[1], 0.01); }, inputs);
        INFO(report.summary());
        CHECK_FALSE(report.passed);
        CHECK(report.worst_input == 1);
        CHECK(report.elements_checked == 6);
    }
    SECTION("an error smaller than tol passes; a larger tol accepts a larger error") {
        CHECK(loom::gradcheck([](const Inputs& in) { return mul_with_b_error(in[0], in[1], 1e-9); }, inputs).passed);
        CHECK(loom::gradcheck([](const Inputs& in) { return mul_with_b_error(in[0], in[1], 0.01); }, inputs, 1e-6,
                              0.1)
                  .passed);
    }
    SECTION("only inputs marked requires_grad are checked") {
        Inputs marked{inputs[0].clone(), inputs[1].clone()};
        marked[0].requires_grad_();
        const auto report =
            loom::gradcheck([](const Inputs& in) { return mul_with_b_error(in[0], in[1], 0.01); }, marked);
        INFO(report.summary());
        CHECK(report.passed);  // b's wrong gradient is never looked at
        CHECK(report.elements_checked == 3);
        CHECK(report.worst_input == 0);
    }
}

TEST_CASE("gradcheck fails missing and NaN gradients", "[autograd][gradcheck]") {
    const Inputs inputs{Tensord::from_list({1.0, 2.0}, Shape{2})};
    SECTION("an op that returns no gradient") {
        const auto fn = [](const Inputs& in) {
            Tensord y = in[0] * 3.0;  // recorded, so y requires grad ...
            Tensord out = y.clone();  // ... but this copy's node returns nothing
            loom::record(out, "drops_gradient", {y}, [](const Tensord&) { return std::vector<Tensord>{Tensord()}; });
            return out;
        };
        const auto report = loom::gradcheck(fn, inputs);
        INFO(report.summary());
        CHECK_FALSE(report.passed);
        CHECK(report.analytic == 0.0);
        CHECK(std::abs(report.numeric) > 0.1);
    }
    SECTION("a NaN gradient") {
        const auto fn = [](const Inputs& in) {
            Tensord out = in[0].clone();
            loom::record(out, "nan_gradient", {in[0]}, [](const Tensord& g) {
                return std::vector<Tensord>{Tensord::full(g.shape(), std::numeric_limits<double>::quiet_NaN())};
            });
            return out;
        };
        const auto report = loom::gradcheck(fn, inputs);
        INFO(report.summary());
        CHECK_FALSE(report.passed);
        CHECK(std::isnan(report.max_rel_error));
        CHECK(std::isnan(report.analytic));
    }
}

TEST_CASE("gradcheck leaves the caller's tensors alone", "[autograd][gradcheck]") {
    auto x = Tensord::from_list({0.3, -0.7}, Shape{2});
    const auto report = loom::gradcheck([](const Inputs& in) { return loom::tanh(in[0]); }, Inputs{x});
    CHECK(report.passed);
    CHECK(x.to_vector() == std::vector<double>{0.3, -0.7});
    CHECK_FALSE(x.requires_grad());
    CHECK_FALSE(x.grad().defined());
}

TEST_CASE("gradcheck rejects unusable calls", "[autograd][gradcheck]") {
    const auto identity = [](const Inputs& in) { return in[0] * 1.0; };
    SECTION("no inputs") {
        CHECK(contains(error_message([&] { loom::gradcheck(identity, Inputs{}); }),
                       "loom::gradcheck: no inputs given"));
    }
    SECTION("an output that does not depend on the inputs") {
        const auto constant = [](const Inputs&) { return Tensord::ones(Shape{2, 2}); };
        const std::string message = error_message([&] { loom::gradcheck(constant, Inputs{Tensord::ones(Shape{2})}); });
        CHECK(contains(message, "loom::gradcheck: the function's output does not depend on any"));
        CHECK(contains(message, "[2, 2]"));
    }
    SECTION("eps and tol must be positive") {
        const Inputs inputs{Tensord::ones(Shape{2})};
        CHECK(contains(error_message([&] { loom::gradcheck(identity, inputs, 0.0); }), "eps (0)"));
        REQUIRE_THROWS_AS(loom::gradcheck(identity, inputs, 1e-6, -1.0), loom::Error);
    }
    SECTION("an output whose shape changes between calls") {
        // Returns [2] while recording and [1] when gradcheck evaluates without grad.
        const auto unstable = [](const Inputs& in) {
            const Tensord y = in[0] * 2.0;
            return loom::is_grad_enabled() ? y : y.share_storage(Shape{1});
        };
        CHECK(contains(error_message([&] { loom::gradcheck(unstable, Inputs{Tensord::ones(Shape{2})}); }),
                       "loom::gradcheck: the function's output shape changed from [2] to [1]"));
    }
}

}  // namespace autograd_gradcheck_test
