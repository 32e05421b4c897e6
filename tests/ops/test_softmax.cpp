#include "test_util.hpp"

// Tests for loom/ops/softmax.hpp: softmax and log_softmax along the last dim.

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

using loom::index_t;
using loom::Shape;

namespace ops_softmax_test {  // named, not anonymous: the test files are compiled together in unity batches

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 2e-6 : 1e-14;
}

// softmax of each row (last dim) computed independently in long double, with
// the row max subtracted for range.
template <typename T>
std::vector<long double> softmax_by_loops(const loom::Tensor<T>& x, bool log_space) {
    const index_t cols = x.shape().last();
    const index_t rows = cols == 0 ? 0 : x.numel() / cols;
    std::vector<long double> out;
    for (index_t r = 0; r < rows; ++r) {
        const T* row = x.data() + r * cols;
        long double m = row[0];
        for (index_t c = 1; c < cols; ++c) m = std::max<long double>(m, row[c]);
        long double total = 0;
        for (index_t c = 0; c < cols; ++c) total += std::exp(static_cast<long double>(row[c]) - m);
        for (index_t c = 0; c < cols; ++c) {
            const long double shifted = static_cast<long double>(row[c]) - m;
            out.push_back(log_space ? shifted - std::log(total) : std::exp(shifted) / total);
        }
    }
    return out;
}

template <typename T>
void require_close(const loom::Tensor<T>& y, const std::vector<long double>& expected, double tol) {
    REQUIRE(y.numel() == static_cast<index_t>(expected.size()));
    for (index_t i = 0; i < y.numel(); ++i) {
        const auto want = static_cast<double>(expected[static_cast<std::size_t>(i)]);
        INFO("element " << i << ": got " << y.data()[i] << ", expected " << want);
        CHECK(std::abs(static_cast<double>(y.data()[i]) - want) <= tol * std::max(1.0, std::abs(want)));
    }
}

template <typename T>
bool all_finite(const loom::Tensor<T>& t) {
    for (index_t i = 0; i < t.numel(); ++i)
        if (!std::isfinite(t.data()[i])) return false;
    return true;
}

TEMPLATE_TEST_CASE("softmax and log_softmax match an independent computation", "[softmax]", float, double) {
    using T = TestType;
    for (const Shape& shape : {Shape{1, 1}, Shape{3, 5}, Shape{2, 3, 4}, Shape{7}, Shape{2, 2, 1, 3}}) {
        INFO("shape " << shape);
        const auto x = loom_test::random_tensor<T>(shape, 1, -4.0, 4.0);
        const auto y = loom::softmax(x);
        const auto log_y = loom::log_softmax(x);
        REQUIRE(y.shape() == shape);
        REQUIRE(log_y.shape() == shape);
        require_close(y, softmax_by_loops(x, false), tolerance<T>());
        require_close(log_y, softmax_by_loops(x, true), tolerance<T>());

        // Rows sum to 1 and log_softmax = log(softmax).
        const index_t cols = shape.last();
        for (index_t r = 0; r < x.numel() / cols; ++r) {
            double total = 0.0;
            for (index_t c = 0; c < cols; ++c) {
                const index_t i = r * cols + c;
                total += static_cast<double>(y.data()[i]);
                CHECK(y.data()[i] > T(0));
                CHECK(std::abs(static_cast<double>(log_y.data()[i]) - std::log(static_cast<double>(y.data()[i]))) <=
                      4 * tolerance<T>());
            }
            CHECK(std::abs(total - 1.0) <= 4 * tolerance<T>());
        }
    }
}

TEMPLATE_TEST_CASE("softmax of a large input (rows split over threads) matches too", "[softmax]", float, double) {
    using T = TestType;
    // 2048 rows of 40: enough work for the row loop to run in parallel when
    // more than one thread is available.
    auto x = loom_test::random_tensor<T>(Shape{2048, 40}, 3, -5.0, 5.0);
    x.requires_grad_();
    const auto y = loom::softmax(x);
    const auto log_y = loom::log_softmax(x);
    const std::vector<long double> expected = softmax_by_loops(x, false);
    const std::vector<long double> expected_log = softmax_by_loops(x, true);
    double worst = 0.0, worst_log = 0.0;
    for (index_t i = 0; i < x.numel(); ++i) {
        const auto k = static_cast<std::size_t>(i);
        worst = std::max(worst, std::abs(static_cast<double>(y.data()[i]) - static_cast<double>(expected[k])));
        worst_log = std::max(worst_log, std::abs(static_cast<double>(log_y.data()[i]) -
                                                 static_cast<double>(expected_log[k])) /
                                            std::max(1.0, std::abs(static_cast<double>(expected_log[k]))));
    }
    CHECK(worst <= tolerance<T>());
    CHECK(worst_log <= tolerance<T>());
    // Backward: an upstream gradient of all ones gives dx = y (1 - Σ y) = 0.
    y.backward(loom::Tensor<T>::ones(y.shape()));
    double largest_grad = 0.0;
    for (index_t i = 0; i < x.numel(); ++i)
        largest_grad = std::max(largest_grad, std::abs(static_cast<double>(x.grad().data()[i])));
    CHECK(largest_grad <= 1e-6);
}

TEMPLATE_TEST_CASE("softmax of hand-computed rows", "[softmax]", float, double) {
    using T = TestType;
    // e^0 : e^(ln 2) : e^(ln 5) = 1 : 2 : 5, so softmax = [1/8, 2/8, 5/8].
    const auto x = loom::Tensor<T>::from_vector({T(0), static_cast<T>(std::log(2.0)), static_cast<T>(std::log(5.0)),
                                                 T(3), T(3), T(3)},
                                                Shape{2, 3});
    const auto y = loom::softmax(x);
    const std::vector<double> expected = {0.125, 0.25, 0.625, 1.0 / 3, 1.0 / 3, 1.0 / 3};
    const auto log_y = loom::log_softmax(x);
    for (index_t i = 0; i < 6; ++i) {
        CHECK(std::abs(static_cast<double>(y.data()[i]) - expected[static_cast<std::size_t>(i)]) <= tolerance<T>());
        CHECK(std::abs(static_cast<double>(log_y.data()[i]) - std::log(expected[static_cast<std::size_t>(i)])) <=
              tolerance<T>());
    }
    SECTION("a single class gets probability 1") {
        const auto one = loom::softmax(loom::Tensor<T>::from_list({T(-7)}, Shape{1, 1}));
        CHECK(one.item() == T(1));
        CHECK(loom::log_softmax(loom::Tensor<T>::from_list({T(9)}, Shape{1})).item() == T(0));
    }
    SECTION("empty rows") {
        CHECK(loom::softmax(loom::Tensor<T>::zeros(Shape{0, 3})).shape() == Shape{0, 3});
        CHECK(loom::log_softmax(loom::Tensor<T>::zeros(Shape{2, 0})).shape() == Shape{2, 0});
    }
}

TEMPLATE_TEST_CASE("softmax stays finite for extreme logits", "[softmax][stability]", float, double) {
    using T = TestType;
    // ±1e4 overflows e^x in float; ±1e300 overflows it in double, and the
    // difference 2e300 is still representable.
    const T big = std::is_same_v<T, float> ? T(1e4) : T(1e300);
    const auto x = loom::Tensor<T>::from_vector({big, -big, T(0),    //
                                                 -big, -big, -big,   //
                                                 big, big, big,      //
                                                 -big, T(0), -big},  //
                                                Shape{4, 3});
    auto leaf = x.clone();
    leaf.requires_grad_();
    const auto y = loom::softmax(leaf);
    const auto log_y = loom::log_softmax(leaf);
    REQUIRE(all_finite(y));
    REQUIRE(all_finite(log_y));

    const std::vector<double> expected_y = {1, 0, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0, 1, 0};
    for (index_t i = 0; i < 12; ++i) {
        const double want = expected_y[static_cast<std::size_t>(i)];
        CHECK(std::abs(static_cast<double>(y.data()[i]) - want) <= tolerance<T>());
        // A probability that underflows is exactly 0, not a tiny leftover.
        if (want == 0.0) CHECK(y.data()[i] == T(0));
    }
    // log_softmax: x - max - log(sum), sum = 1 for rows with one dominant value.
    const double b = static_cast<double>(big);
    const std::vector<double> expected_log = {0, -2 * b, -b, -std::log(3.0), -std::log(3.0), -std::log(3.0),
                                              -std::log(3.0), -std::log(3.0), -std::log(3.0), -b, 0, -b};
    for (index_t i = 0; i < 12; ++i) {
        const double want = expected_log[static_cast<std::size_t>(i)];
        CHECK(std::abs(static_cast<double>(log_y.data()[i]) - want) <= tolerance<T>() * std::max(1.0, std::abs(want)));
    }

    SECTION("gradients are finite too") {
        const auto upstream = loom_test::random_tensor<T>(Shape{4, 3}, 9);
        y.backward(upstream);
        REQUIRE(all_finite(leaf.grad()));
        leaf.zero_grad();
        log_y.backward(upstream);
        REQUIRE(all_finite(leaf.grad()));
    }
}

TEMPLATE_TEST_CASE("softmax gives exactly 0 where a logit is -infinity", "[softmax][stability]", float, double) {
    using T = TestType;
    const T inf = std::numeric_limits<T>::infinity();
    const auto x = loom::Tensor<T>::from_vector({T(1), -inf, T(1), -inf, T(-3), -inf}, Shape{2, 3});
    const auto y = loom::softmax(x);
    CHECK(y.to_vector() == std::vector<T>{T(0.5), T(0), T(0.5), T(0), T(1), T(0)});
    const auto log_y = loom::log_softmax(x);
    CHECK(std::abs(static_cast<double>(log_y.at({0, 0})) - std::log(0.5)) <= tolerance<T>());
    CHECK(log_y.at({0, 1}) == -inf);
    CHECK(log_y.at({1, 1}) == T(0));
    CHECK(log_y.at({1, 2}) == -inf);
}

TEST_CASE("softmax backward matches the Jacobian formula", "[softmax][autograd]") {
    auto x = loom::Tensord::from_list({0.5, -1.0, 2.0}, Shape{1, 3});
    x.requires_grad_();
    const auto y = loom::softmax(x);
    const auto g = loom::Tensord::from_list({1.0, 0.0, -2.0}, Shape{1, 3});
    y.backward(g);
    // dx_i = Σ_j g_j (δ_ij y_i - y_i y_j), summed explicitly.
    for (index_t i = 0; i < 3; ++i) {
        double expected = 0.0;
        for (index_t j = 0; j < 3; ++j)
            expected += g.data()[j] * ((i == j ? y.data()[i] : 0.0) - y.data()[i] * y.data()[j]);
        CHECK(std::abs(x.grad().data()[i] - expected) <= 1e-15);
    }
    SECTION("log_softmax of a sum-zero upstream") {
        x.zero_grad();
        const auto log_y = loom::log_softmax(x);
        log_y.backward(loom::Tensord::from_list({1.0, 0.0, -1.0}, Shape{1, 3}));
        // Σ g = 0, so dx = g exactly.
        CHECK(std::abs(x.grad().data()[0] - 1.0) <= 1e-15);
        CHECK(std::abs(x.grad().data()[1]) <= 1e-15);
        CHECK(std::abs(x.grad().data()[2] + 1.0) <= 1e-15);
    }
}

TEST_CASE("softmax and log_softmax pass gradcheck", "[softmax][gradcheck]") {
    using Inputs = std::vector<loom::Tensord>;
    for (const Shape& shape : {Shape{1, 1}, Shape{3, 5}, Shape{2, 3, 4}, Shape{4, 1}, Shape{6}}) {
        INFO("shape " << shape);
        const auto x = loom_test::random_tensor<double>(shape, 90, -3.0, 3.0);
        LOOM_CHECK_GRADIENTS([](const Inputs& in) { return loom::softmax(in[0]); }, Inputs{x});
        LOOM_CHECK_GRADIENTS([](const Inputs& in) { return loom::log_softmax(in[0]); }, Inputs{x});
    }
}

}  // namespace ops_softmax_test
