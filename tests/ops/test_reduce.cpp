#include "test_util.hpp"

// Tests for loom/ops/reduce.hpp: sum, mean and max.

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

using loom::index_t;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace ops_reduce_test {  // named, not anonymous: the test files are compiled together in unity batches

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 1e-5 : 1e-12;
}

// A rank-3 tensor reduced along `dim` by plain loops, accumulated in double.
// kind: 's' sum, 'm' mean.
template <typename T>
std::vector<double> reduce_by_loops(const loom::Tensor<T>& x, int dim, char kind) {
    const Shape s = x.shape();
    std::vector<double> out;
    const index_t a_end = dim == 0 ? 1 : s[0], b_end = dim == 1 ? 1 : s[1], c_end = dim == 2 ? 1 : s[2];
    for (index_t a = 0; a < a_end; ++a)
        for (index_t b = 0; b < b_end; ++b)
            for (index_t c = 0; c < c_end; ++c) {
                double total = 0.0;
                for (index_t k = 0; k < s[dim]; ++k)
                    total += static_cast<double>(x.at({dim == 0 ? k : a, dim == 1 ? k : b, dim == 2 ? k : c}));
                out.push_back(kind == 'm' ? total / static_cast<double>(s[dim]) : total);
            }
    return out;
}

template <typename T>
void require_close(const loom::Tensor<T>& y, const std::vector<double>& expected, double tol) {
    REQUIRE(y.numel() == static_cast<index_t>(expected.size()));
    for (index_t i = 0; i < y.numel(); ++i) {
        INFO("element " << i << ": got " << y.data()[i] << ", expected " << expected[static_cast<std::size_t>(i)]);
        CHECK(std::abs(static_cast<double>(y.data()[i]) - expected[static_cast<std::size_t>(i)]) <= tol);
    }
}

// Distinct values 0.3·k - 2 for k = 0..n-1 in a seeded random order, so that
// max has no ties and a ±1e-6 perturbation cannot change the argmax.
loom::Tensord without_ties(const Shape& shape, std::uint64_t seed) {
    loom::Generator generator(seed);
    std::vector<double> values(static_cast<std::size_t>(shape.numel()));
    for (std::size_t k = 0; k < values.size(); ++k) values[k] = 0.3 * static_cast<double>(k) - 2.0;
    for (std::size_t k = values.size(); k > 1; --k) std::swap(values[k - 1], values[generator.below(k)]);
    return loom::Tensord::from_vector(values, shape);
}

TEMPLATE_TEST_CASE("sum and mean over all elements", "[reduce]", float, double) {
    using T = TestType;
    SECTION("hand-computed") {
        const auto x = loom::Tensor<T>::from_list({1, 2, 3, 4, 5, 6}, Shape{2, 3});
        const auto s = loom::sum(x);
        REQUIRE(s.shape() == Shape{});
        CHECK(s.item() == T(21));
        CHECK(loom::mean(x).item() == T(3.5));
    }
    SECTION("random, against a double loop") {
        const auto x = loom_test::random_tensor<T>(Shape{3, 4, 5}, 1);
        double total = 0.0;
        for (index_t i = 0; i < x.numel(); ++i) total += static_cast<double>(x.data()[i]);
        CHECK(std::abs(static_cast<double>(loom::sum(x).item()) - total) <= tolerance<T>() * 60);
        CHECK(std::abs(static_cast<double>(loom::mean(x).item()) - total / 60.0) <= tolerance<T>());
    }
    SECTION("one element and a scalar") {
        const auto one = loom::Tensor<T>::from_list({T(-2.5)}, Shape{1, 1});
        CHECK(loom::sum(one).item() == T(-2.5));
        CHECK(loom::mean(one).item() == T(-2.5));
        CHECK(loom::mean(loom::Tensor<T>::scalar(T(4))).item() == T(4));
    }
    SECTION("empty: the sum is 0 and the mean is NaN") {
        const auto empty = loom::Tensor<T>::zeros(Shape{2, 0});
        CHECK(loom::sum(empty).item() == T(0));
        CHECK(std::isnan(loom::mean(empty).item()));
        CHECK(std::isnan(loom::mean(loom::Tensor<T>::zeros(Shape{0})).item()));
    }
}

TEMPLATE_TEST_CASE("sum and mean along each dim, keepdim true and false", "[reduce]", float, double) {
    using T = TestType;
    const auto x = loom_test::random_tensor<T>(Shape{2, 3, 4}, 2);
    for (int dim = -3; dim < 3; ++dim) {
        const int d = dim < 0 ? dim + 3 : dim;
        for (bool keepdim : {false, true}) {
            INFO("dim " << dim << ", keepdim " << keepdim);
            const Shape expected_shape = keepdim ? x.shape().with(d, 1) : x.shape().without(d);
            const auto s = loom::sum(x, dim, keepdim);
            const auto m = loom::mean(x, dim, keepdim);
            REQUIRE(s.shape() == expected_shape);
            REQUIRE(m.shape() == expected_shape);
            require_close(s, reduce_by_loops(x, d, 's'), 4 * tolerance<T>());
            require_close(m, reduce_by_loops(x, d, 'm'), tolerance<T>());
        }
    }
    SECTION("hand-computed") {
        const auto h = loom::Tensor<T>::from_list({1, 2, 3, 4, 5, 6}, Shape{2, 3});
        CHECK(loom::sum(h, 0).to_vector() == std::vector<T>{5, 7, 9});
        CHECK(loom::sum(h, 1).to_vector() == std::vector<T>{6, 15});
        CHECK(loom::mean(h, 1, true).to_vector() == std::vector<T>{2, 5});
        CHECK(loom::mean(h, 1, true).shape() == Shape{2, 1});
        CHECK(loom::sum(loom::Tensor<T>::from_list({3, 4}, Shape{2}), 0).shape() == Shape{});
    }
    SECTION("over an empty dimension: sum 0, mean NaN") {
        const auto empty = loom::Tensor<T>::zeros(Shape{3, 0});
        const auto s = loom::sum(empty, 1);
        REQUIRE(s.shape() == Shape{3});
        for (T v : s.to_vector()) CHECK(v == T(0));
        const auto m = loom::mean(empty, 1);
        REQUIRE(m.shape() == Shape{3});
        for (T v : m.to_vector()) CHECK(std::isnan(v));
        CHECK(loom::sum(empty, 0).shape() == Shape{0});
    }
}

TEMPLATE_TEST_CASE("max along a dim returns values and indices", "[reduce][max]", float, double) {
    using T = TestType;
    SECTION("against plain loops on each dim") {
        const auto x = loom_test::random_tensor<T>(Shape{3, 4, 5}, 3);
        for (int dim = -3; dim < 3; ++dim) {
            const int d = dim < 0 ? dim + 3 : dim;
            for (bool keepdim : {false, true}) {
                INFO("dim " << dim << ", keepdim " << keepdim);
                const auto result = loom::max(x, dim, keepdim);
                const Shape expected_shape = keepdim ? x.shape().with(d, 1) : x.shape().without(d);
                REQUIRE(result.values.shape() == expected_shape);
                REQUIRE(result.indices.shape() == expected_shape);
                index_t out = 0;
                const Shape s = x.shape();
                for (index_t a = 0; a < (d == 0 ? 1 : s[0]); ++a)
                    for (index_t b = 0; b < (d == 1 ? 1 : s[1]); ++b)
                        for (index_t c = 0; c < (d == 2 ? 1 : s[2]); ++c, ++out) {
                            T best = -std::numeric_limits<T>::infinity();
                            index_t best_k = -1;
                            for (index_t k = 0; k < s[d]; ++k) {
                                const T v = x.at({d == 0 ? k : a, d == 1 ? k : b, d == 2 ? k : c});
                                if (v > best) {
                                    best = v;
                                    best_k = k;
                                }
                            }
                            CHECK(result.values.data()[out] == best);
                            CHECK(result.indices[out] == best_k);
                        }
            }
        }
    }
    SECTION("ties go to the first index") {
        const auto x = loom::Tensor<T>::from_list({1, 3, 3, 2, 2, 1, 5, 5, 5}, Shape{3, 3});
        const auto rows = loom::max(x, 1);
        CHECK(rows.values.to_vector() == std::vector<T>{3, 2, 5});
        CHECK(rows.indices.values() == std::vector<index_t>{1, 0, 0});
        const auto cols = loom::max(x, 0);
        CHECK(cols.values.to_vector() == std::vector<T>{5, 5, 5});
        CHECK(cols.indices.values() == std::vector<index_t>{2, 2, 2});
        const auto equal = loom::max(loom::Tensor<T>::full(Shape{2, 4}, T(7)), -1, true);
        CHECK(equal.indices.values() == std::vector<index_t>{0, 0});
        CHECK(equal.indices.shape() == Shape{2, 1});
    }
    SECTION("a NaN is the maximum") {
        const T nan = std::numeric_limits<T>::quiet_NaN();
        const auto result = loom::max(loom::Tensor<T>::from_list({1, nan, 3, 4}, Shape{4}), 0);
        CHECK(std::isnan(result.values.item()));
        CHECK(result.indices[0] == 1);
    }
    SECTION("negative values and a size-1 dim") {
        const auto x = loom::Tensor<T>::from_list({-3, -1, -2}, Shape{3, 1});
        const auto over_rows = loom::max(x, 0);
        CHECK(over_rows.values.to_vector() == std::vector<T>{-1});
        CHECK(over_rows.indices.values() == std::vector<index_t>{1});
        const auto over_one = loom::max(x, 1);
        CHECK(over_one.values.to_vector() == x.to_vector());
        CHECK(over_one.indices.values() == std::vector<index_t>{0, 0, 0});
    }
}

TEST_CASE("max rejects an empty dimension and reduce ops reject bad dims", "[reduce][errors]") {
    SECTION("max over a dimension of size 0") {
        const auto x = loom::Tensord::zeros(Shape{2, 0});
        REQUIRE_THROWS_AS(loom::max(x, 1), loom::Error);
        const std::string message = error_message([&] { loom::max(x, -1); });
        INFO(message);
        CHECK(contains(message, "loom::max"));
        CHECK(contains(message, "size 0"));
        CHECK(contains(message, "[2, 0]"));
        // Over the other (non-empty) dimension there is nothing to reduce: no error.
        CHECK(loom::max(x, 0).values.shape() == Shape{0});
    }
    SECTION("dimension out of range") {
        const auto x = loom::Tensorf::zeros(Shape{2, 3});
        for (const char* op : {"loom::sum", "loom::mean", "loom::max"}) {
            const std::string name = op;
            const std::string message = error_message([&] {
                if (name == "loom::sum") loom::sum(x, 2);
                if (name == "loom::mean") loom::mean(x, -3);
                if (name == "loom::max") loom::max(x, 5);
            });
            INFO(message);
            CHECK(contains(message, name));
            CHECK(contains(message, "[2, 3]"));
        }
    }
}

TEST_CASE("reduce backward spreads the gradient", "[reduce][autograd]") {
    auto x = loom::Tensord::from_list({1, 4, 4, 2, 0, 3}, Shape{2, 3});
    x.requires_grad_();
    SECTION("sum and mean over all") {
        loom::sum(x).backward();
        CHECK(x.grad().to_vector() == std::vector<double>(6, 1.0));
        x.zero_grad();
        loom::mean(x).backward(loom::Tensord::scalar(3.0));
        CHECK(loom_test::max_abs_diff(x.grad(), loom::Tensord::full(Shape{2, 3}, 0.5)) < 1e-15);
    }
    SECTION("mean along dim 0") {
        loom::mean(x, 0).backward(loom::Tensord::from_list({2, 4, 6}, Shape{3}));
        CHECK(x.grad().to_vector() == std::vector<double>{1, 2, 3, 1, 2, 3});
    }
    SECTION("max sends the gradient to the first maximum only") {
        loom::max(x, 1).values.backward(loom::Tensord::from_list({10, 20}, Shape{2}));
        CHECK(x.grad().to_vector() == std::vector<double>{0, 10, 0, 0, 0, 20});
    }
}

TEST_CASE("reduce ops pass gradcheck", "[reduce][gradcheck]") {
    using Inputs = std::vector<loom::Tensord>;
    const std::vector<Shape> shapes = {Shape{1}, Shape{1, 1, 1}, Shape{2, 3, 4}, Shape{3, 1, 5}, Shape{4, 2}};
    for (std::size_t s = 0; s < shapes.size(); ++s) {
        const Shape shape = shapes[s];
        INFO("shape " << shape);
        const auto x = loom_test::random_tensor<double>(shape, 70 + s);
        LOOM_CHECK_GRADIENTS([](const Inputs& in) { return loom::sum(in[0]); }, Inputs{x});
        LOOM_CHECK_GRADIENTS([](const Inputs& in) { return loom::mean(in[0]); }, Inputs{x});
        const auto distinct = without_ties(shape, 80 + s);
        for (int dim = -shape.rank(); dim < shape.rank(); ++dim)
            for (bool keepdim : {false, true}) {
                INFO("dim " << dim << ", keepdim " << keepdim);
                LOOM_CHECK_GRADIENTS([=](const Inputs& in) { return loom::sum(in[0], dim, keepdim); }, Inputs{x});
                LOOM_CHECK_GRADIENTS([=](const Inputs& in) { return loom::mean(in[0], dim, keepdim); }, Inputs{x});
                LOOM_CHECK_GRADIENTS([=](const Inputs& in) { return loom::max(in[0], dim, keepdim).values; },
                                     Inputs{distinct});
            }
    }
}

}  // namespace ops_reduce_test
