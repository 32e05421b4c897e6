#include "test_util.hpp"

// Tests for loom/ops/masked_fill.hpp: masked_fill and causal_mask.

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

using loom::index_t;
using loom::IndexTensor;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace ops_masked_fill_test {  // named, not anonymous: the test files are compiled together in unity batches

TEST_CASE("causal_mask marks the positions after the diagonal", "[masked_fill][causal_mask]") {
    const IndexTensor mask = loom::causal_mask(4);
    REQUIRE(mask.shape() == Shape{4, 4});
    // clang-format off
    CHECK(mask.values() == std::vector<index_t>{0, 1, 1, 1,
                                                0, 0, 1, 1,
                                                0, 0, 0, 1,
                                                0, 0, 0, 0});
    // clang-format on
    CHECK(loom::causal_mask(1).values() == std::vector<index_t>{0});
    CHECK(loom::causal_mask(2).values() == std::vector<index_t>{0, 1, 0, 0});
    CHECK(loom::causal_mask(0).shape() == Shape{0, 0});
}

TEMPLATE_TEST_CASE("masked_fill with a full-shape mask", "[masked_fill]", float, double) {
    using T = TestType;
    const auto x = loom_test::random_tensor<T>(Shape{2, 3}, 1);
    // Any nonzero entry counts as set.
    const IndexTensor mask({1, 0, 0, 5, -1, 0}, Shape{2, 3});
    const auto y = loom::masked_fill(x, mask, T(9.5));
    REQUIRE(y.shape() == x.shape());
    for (index_t i = 0; i < 6; ++i) CHECK(y.data()[i] == (mask[i] != 0 ? T(9.5) : x.data()[i]));
    CHECK_FALSE(y.shares_storage_with(x));

    SECTION("an all-zero mask copies x, an all-one mask fills everything") {
        CHECK(loom::masked_fill(x, IndexTensor::zeros(Shape{2, 3}), T(1)).to_vector() == x.to_vector());
        CHECK(loom::masked_fill(x, IndexTensor::full(Shape{2, 3}, 1), T(-2)).to_vector() == std::vector<T>(6, T(-2)));
    }
    SECTION("hand-written") {
        const auto h = loom::Tensor<T>::from_list({1, 2, 3, 4}, Shape{4});
        CHECK(loom::masked_fill(h, IndexTensor{0, 1, 0, 1}, T(0)).to_vector() == std::vector<T>{1, 0, 3, 0});
    }
    SECTION("empty tensors") {
        const auto empty = loom::Tensor<T>::zeros(Shape{0, 3});
        CHECK(loom::masked_fill(empty, IndexTensor::zeros(Shape{0, 3}), T(1)).shape() == Shape{0, 3});
    }
}

TEMPLATE_TEST_CASE("masked_fill with a suffix mask repeats it over the leading dims", "[masked_fill]", float,
                   double) {
    using T = TestType;
    SECTION("[T, T] causal mask over [B, H, T, T] scores") {
        const index_t B = 2, H = 3, L = 4;
        const auto scores = loom_test::random_tensor<T>(Shape{B, H, L, L}, 2);
        const IndexTensor mask = loom::causal_mask(L);
        const auto y = loom::masked_fill(scores, mask, T(-7));
        REQUIRE(y.shape() == scores.shape());
        for (index_t b = 0; b < B; ++b)
            for (index_t h = 0; h < H; ++h)
                for (index_t i = 0; i < L; ++i)
                    for (index_t j = 0; j < L; ++j)
                        CHECK(y.at({b, h, i, j}) == (j > i ? T(-7) : scores.at({b, h, i, j})));
    }
    SECTION("a [C] mask over [N, C] rows") {
        const auto x = loom_test::random_tensor<T>(Shape{3, 4}, 3);
        const auto y = loom::masked_fill(x, IndexTensor{0, 0, 1, 0}, T(0));
        for (index_t r = 0; r < 3; ++r)
            for (index_t c = 0; c < 4; ++c) CHECK(y.at({r, c}) == (c == 2 ? T(0) : x.at({r, c})));
    }
    SECTION("a scalar mask applies to every element") {
        const auto x = loom_test::random_tensor<T>(Shape{2, 2}, 4);
        CHECK(loom::masked_fill(x, IndexTensor({1}, Shape{}), T(3)).to_vector() == std::vector<T>(4, T(3)));
        CHECK(loom::masked_fill(x, IndexTensor({0}, Shape{}), T(3)).to_vector() == x.to_vector());
    }
}

TEMPLATE_TEST_CASE("masked_fill with -infinity then softmax zeros the future", "[masked_fill][softmax]", float,
                   double) {
    using T = TestType;
    const index_t L = 5;
    auto scores = loom_test::random_tensor<T>(Shape{2, 3, L, L}, 5, -3.0, 3.0);
    scores.requires_grad_();
    const auto masked = loom::masked_fill(scores, loom::causal_mask(L), -std::numeric_limits<T>::infinity());
    const auto attention = loom::softmax(masked);
    for (index_t i = 0; i < attention.numel(); ++i) REQUIRE(std::isfinite(attention.data()[i]));

    const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-14;
    for (index_t b = 0; b < 2; ++b)
        for (index_t h = 0; h < 3; ++h)
            for (index_t i = 0; i < L; ++i) {
                // The allowed prefix j <= i gets softmax over that prefix alone.
                double total = 0.0;
                for (index_t j = 0; j <= i; ++j) total += std::exp(static_cast<double>(scores.at({b, h, i, j})));
                for (index_t j = 0; j < L; ++j) {
                    const T got = attention.at({b, h, i, j});
                    if (j > i) {
                        CHECK(got == T(0));
                    } else {
                        const double want = std::exp(static_cast<double>(scores.at({b, h, i, j}))) / total;
                        CHECK(std::abs(static_cast<double>(got) - want) <= tol);
                    }
                }
            }

    SECTION("the gradient back to the scores is finite and zero in the future") {
        attention.backward(loom_test::random_tensor<T>(attention.shape(), 6));
        const auto grad = scores.grad();
        for (index_t b = 0; b < 2; ++b)
            for (index_t h = 0; h < 3; ++h)
                for (index_t i = 0; i < L; ++i)
                    for (index_t j = 0; j < L; ++j) {
                        const T g = grad.at({b, h, i, j});
                        REQUIRE(std::isfinite(g));
                        if (j > i) CHECK(g == T(0));
                    }
    }
}

TEMPLATE_TEST_CASE("masked_fill backward is zero at masked positions", "[masked_fill][autograd]", float, double) {
    using T = TestType;
    auto x = loom_test::random_tensor<T>(Shape{2, 3, 3}, 7);
    x.requires_grad_();
    const IndexTensor mask = loom::causal_mask(3);
    const auto y = loom::masked_fill(x, mask, T(100));
    const auto upstream = loom_test::random_tensor<T>(y.shape(), 8);
    y.backward(upstream);
    for (index_t i = 0; i < x.numel(); ++i) CHECK(x.grad().data()[i] == (mask[i % 9] != 0 ? T(0) : upstream.data()[i]));
}

TEST_CASE("masked_fill passes gradcheck", "[masked_fill][gradcheck]") {
    using Inputs = std::vector<loom::Tensord>;
    struct Case {
        Shape x;
        IndexTensor mask;
    };
    const std::vector<Case> cases = {
        {Shape{1}, IndexTensor{0}},
        {Shape{1, 1}, IndexTensor({0}, Shape{1, 1})},
        {Shape{1, 1}, IndexTensor({1}, Shape{1, 1})},  // output independent of x: gradient 0
        {Shape{2, 3}, IndexTensor({0, 1, 1, 0, 0, 1}, Shape{2, 3})},
        {Shape{2, 2, 4, 4}, loom::causal_mask(4)},
        {Shape{3, 5}, IndexTensor{1, 0, 0, 1, 0}},
    };
    for (std::size_t k = 0; k < cases.size(); ++k) {
        const IndexTensor mask = cases[k].mask;
        INFO("x " << cases[k].x << ", mask " << mask);
        const auto x = loom_test::random_tensor<double>(cases[k].x, 400 + k);
        LOOM_CHECK_GRADIENTS([mask](const Inputs& in) { return loom::masked_fill(in[0], mask, -5.0); }, Inputs{x});
    }
    SECTION("through softmax with -infinity") {
        const auto x = loom_test::random_tensor<double>(Shape{2, 4, 4}, 410);
        LOOM_CHECK_GRADIENTS(
            [](const Inputs& in) {
                return loom::softmax(
                    loom::masked_fill(in[0], loom::causal_mask(4), -std::numeric_limits<double>::infinity()));
            },
            Inputs{x});
    }
}

TEST_CASE("masked_fill rejects a mask of the wrong shape", "[masked_fill][errors]") {
    const auto x = loom::Tensorf::zeros(Shape{2, 4, 4});
    struct Case {
        Shape mask;
        const char* why;
    };
    for (const Case& c : {Case{Shape{3, 3}, "different sizes"}, Case{Shape{2, 4}, "a prefix, not a suffix"},
                          Case{Shape{1, 2, 4, 4}, "more dimensions than x"}, Case{Shape{4, 1}, "no broadcasting"},
                          Case{Shape{5}, "wrong last size"}}) {
        INFO(c.why);
        const IndexTensor mask = IndexTensor::zeros(c.mask);
        REQUIRE_THROWS_AS(loom::masked_fill(x, mask, 0.0f), loom::Error);
        const std::string message = error_message([&] { loom::masked_fill(x, mask, 0.0f); });
        INFO(message);
        CHECK(contains(message, "loom::masked_fill"));
        CHECK(contains(message, c.mask.to_string()));
        CHECK(contains(message, "[2, 4, 4]"));
    }
}

}  // namespace ops_masked_fill_test
