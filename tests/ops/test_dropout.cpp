#include "test_util.hpp"

// Tests for loom/ops/dropout.hpp: inverted dropout with an explicit generator.

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using loom::index_t;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace ops_dropout_test {  // named, not anonymous: the test files are compiled together in unity batches

TEMPLATE_TEST_CASE("dropout is the identity in eval mode and for p = 0", "[dropout]", float, double) {
    using T = TestType;
    const auto x = loom_test::random_tensor<T>(Shape{3, 4}, 1);
    loom::Generator generator(7);

    const auto eval = loom::dropout(x, 0.5, false, generator);
    CHECK(eval.impl_ptr() == x.impl_ptr());
    const auto eval_all = loom::dropout(x, 1.0, false, generator);
    CHECK(eval_all.impl_ptr() == x.impl_ptr());
    const auto none = loom::dropout(x, 0.0, true, generator);
    CHECK(none.impl_ptr() == x.impl_ptr());

    // The identity draws no random numbers.
    loom::Generator fresh(7);
    CHECK(generator.next_u64() == fresh.next_u64());
}

TEMPLATE_TEST_CASE("dropout with p = 1 gives zeros", "[dropout]", float, double) {
    using T = TestType;
    auto x = loom_test::random_tensor<T>(Shape{4, 5}, 2);
    x.requires_grad_();
    loom::Generator generator(3);
    const auto y = loom::dropout(x, 1.0, true, generator);
    REQUIRE(y.shape() == x.shape());
    for (T v : y.to_vector()) CHECK(v == T(0));
    y.backward(loom::Tensor<T>::ones(y.shape()));
    for (T v : x.grad().to_vector()) CHECK(v == T(0));
}

TEMPLATE_TEST_CASE("dropout keeps elements with probability 1 - p and scales them by 1 / (1 - p)", "[dropout]",
                   float, double) {
    using T = TestType;
    SECTION("kept values are x / (1 - p), dropped ones 0") {
        const auto x = loom_test::random_tensor<T>(Shape{10, 20}, 4, 0.5, 2.0);  // no zeros in x
        for (double p : {0.1, 0.5, 0.75}) {
            INFO("p " << p);
            loom::Generator generator(5);
            const auto y = loom::dropout(x, p, true, generator);
            const double scale = 1.0 / (1.0 - p);
            index_t kept = 0;
            for (index_t i = 0; i < x.numel(); ++i) {
                const double xi = static_cast<double>(x.data()[i]);
                const double yi = static_cast<double>(y.data()[i]);
                if (yi == 0.0) continue;
                ++kept;
                CHECK(std::abs(yi - xi * scale) <= 1e-6 * std::abs(xi * scale));
            }
            CHECK(kept > 0);
            CHECK(kept < x.numel());
        }
    }
    SECTION("the mask follows u >= p for the generator's uniforms") {
        const auto x = loom::Tensor<T>::ones(Shape{50});
        loom::Generator generator(6);
        const auto y = loom::dropout(x, 0.3, true, generator);
        loom::Generator replay(6);
        for (index_t i = 0; i < 50; ++i) {
            const bool keep = replay.uniform() >= 0.3;
            CHECK(y.data()[i] == (keep ? static_cast<T>(1.0 / (1.0 - 0.3)) : T(0)));
        }
    }
    SECTION("kept fraction ~ 1 - p on 100k elements") {
        const auto x = loom::Tensor<T>::ones(Shape{100000});
        for (double p : {0.1, 0.5, 0.9}) {
            INFO("p " << p);
            loom::Generator generator(8);
            const auto y = loom::dropout(x, p, true, generator);
            index_t kept = 0;
            for (T v : y.to_vector()) kept += v != T(0) ? 1 : 0;
            const double fraction = static_cast<double>(kept) / 100000.0;
            // The standard deviation is at most 0.0016; allow about 6 of them.
            CHECK(std::abs(fraction - (1.0 - p)) < 0.01);
            // The mean is preserved in expectation.
            double total = 0.0;
            for (T v : y.to_vector()) total += static_cast<double>(v);
            CHECK(std::abs(total / 100000.0 - 1.0) < 0.1);
        }
    }
}

TEMPLATE_TEST_CASE("dropout masks are reproducible from the seed", "[dropout]", float, double) {
    using T = TestType;
    const auto x = loom_test::random_tensor<T>(Shape{8, 16}, 9);
    loom::Generator a(42), b(42), c(43);
    const auto ya = loom::dropout(x, 0.5, true, a);
    const auto yb = loom::dropout(x, 0.5, true, b);
    const auto yc = loom::dropout(x, 0.5, true, c);
    CHECK(ya.to_vector() == yb.to_vector());
    CHECK(ya.to_vector() != yc.to_vector());
    // The generator advances: the next call draws a different mask.
    const auto ya2 = loom::dropout(x, 0.5, true, a);
    CHECK(ya2.to_vector() != ya.to_vector());
    // The mask does not depend on x's values.
    loom::Generator d(42);
    const auto ones = loom::dropout(loom::Tensor<T>::ones(x.shape()), 0.5, true, d);
    for (index_t i = 0; i < x.numel(); ++i) CHECK((ya.data()[i] == T(0)) == (ones.data()[i] == T(0)));
}

TEMPLATE_TEST_CASE("dropout gradient equals the mask", "[dropout][autograd]", float, double) {
    using T = TestType;
    auto x = loom_test::random_tensor<T>(Shape{6, 7}, 10, 0.5, 1.5);
    x.requires_grad_();
    loom::Generator generator(11);
    const auto y = loom::dropout(x, 0.4, true, generator);
    const auto upstream = loom_test::random_tensor<T>(y.shape(), 12);
    y.backward(upstream);
    // mask_i = y_i / x_i (x has no zeros); dx = g ⊙ mask.
    for (index_t i = 0; i < x.numel(); ++i) {
        const double mask = static_cast<double>(y.data()[i]) / static_cast<double>(x.data()[i]);
        const double want = static_cast<double>(upstream.data()[i]) * mask;
        CHECK(std::abs(static_cast<double>(x.grad().data()[i]) - want) <= 1e-5);
    }
    SECTION("no graph under NoGradGuard") {
        loom::NoGradGuard no_grad;
        CHECK_FALSE(loom::dropout(x, 0.4, true, generator).requires_grad());
    }
}

TEST_CASE("dropout passes gradcheck with a re-seeded generator", "[dropout][gradcheck]") {
    using Inputs = std::vector<loom::Tensord>;
    for (const Shape& shape : {Shape{1}, Shape{1, 1}, Shape{3, 5}, Shape{2, 3, 4}}) {
        for (double p : {0.2, 0.5, 1.0}) {
            INFO("shape " << shape << ", p " << p);
            const auto x = loom_test::random_tensor<double>(shape, 13);
            LOOM_CHECK_GRADIENTS(
                [p](const Inputs& in) {
                    loom::Generator generator(77);  // the same mask on every call
                    return loom::dropout(in[0], p, true, generator);
                },
                Inputs{x});
        }
    }
}

TEST_CASE("dropout rejects p outside 0..1", "[dropout][errors]") {
    const auto x = loom::Tensorf::ones(Shape{2, 2});
    loom::Generator generator(0);
    for (double p : {-0.1, 1.5, 2.0, std::numeric_limits<double>::quiet_NaN()}) {
        INFO("p " << p);
        REQUIRE_THROWS_AS(loom::dropout(x, p, true, generator), loom::Error);
        // Even in eval mode a bad p is reported.
        const std::string message = error_message([&] { loom::dropout(x, p, false, generator); });
        INFO(message);
        CHECK(contains(message, "loom::dropout"));
        CHECK(contains(message, "[0, 1]"));
    }
    CHECK(contains(error_message([&] { loom::dropout(x, 1.5, true, generator); }), "1.5"));
    CHECK(contains(error_message([&] { loom::dropout(x, -0.25, true, generator); }), "-0.25"));
}

}  // namespace ops_dropout_test
