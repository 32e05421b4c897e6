#include "test_util.hpp"

// Tests for loom/ops/matmul.hpp: C = op(A) · op(B) with op(X) = X or Xᵀ, for
// 2-D × 2-D, batched 3-D × 3-D and [..., K] × [K, N]; forward against a naive
// triple loop, backward by gradcheck, the error messages, and the threaded
// paths (Eigen splitting one large product, loom splitting a batch).

#include <functional>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

using loom::index_t;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace ops_matmul_test {  // named, not anonymous: the test files are compiled together in unity batches

using ThreadCountGuard = loom_test::ThreadScope;

// Element (i, j) of op(X) for a matrix X stored row-major as rows × cols.
template <typename T>
double op_element(const T* x, index_t cols, bool transposed, index_t i, index_t j) {
    return static_cast<double>(transposed ? x[j * cols + i] : x[i * cols + j]);
}

// op(a) · op(b) by the textbook triple loop, accumulated in double, for
//   a [M, K] or [B, M, K] or [..., K] (rows flattened) and b [K, N] or [B, K, N]
// (stored shapes: transposed operands are stored as [K, M] / [N, K]).
template <typename T>
std::vector<double> naive_matmul(const loom::Tensor<T>& a, const loom::Tensor<T>& b, bool ta, bool tb) {
    const bool batched = b.rank() == 3;
    const index_t batch = batched ? a.size(0) : 1;
    const index_t a_cols = a.shape().last();
    const index_t a_rows = a.numel() / batch / a_cols;
    const index_t b_rows = b.size(-2), b_cols = b.size(-1);
    const index_t m = ta ? a_cols : a_rows, k = ta ? a_rows : a_cols, n = tb ? b_rows : b_cols;
    std::vector<double> out;
    for (index_t p = 0; p < batch; ++p) {
        const T* ap = a.data() + p * a_rows * a_cols;
        const T* bp = b.data() + (batched ? p * b_rows * b_cols : 0);
        for (index_t i = 0; i < m; ++i)
            for (index_t j = 0; j < n; ++j) {
                double sum = 0.0;
                for (index_t q = 0; q < k; ++q)
                    sum += op_element(ap, a_cols, ta, i, q) * op_element(bp, b_cols, tb, q, j);
                out.push_back(sum);
            }
    }
    return out;
}

// Largest |c_i - expected_i| allowed for inner dimension k: rounding grows with
// the number of terms (inputs are in [-1, 1]).
template <typename T>
double tolerance(index_t k) {
    return (std::is_same_v<T, float> ? 1e-6 : 1e-14) * static_cast<double>(std::max<index_t>(k, 1));
}

template <typename T>
void check_against_naive(const loom::Tensor<T>& c, const loom::Tensor<T>& a, const loom::Tensor<T>& b, bool ta,
                         bool tb, index_t k) {
    const auto expected = naive_matmul(a, b, ta, tb);
    REQUIRE(c.numel() == static_cast<index_t>(expected.size()));
    double worst = 0.0;
    for (index_t i = 0; i < c.numel(); ++i)
        worst = std::max(worst, std::abs(static_cast<double>(c.data()[i]) - expected[static_cast<std::size_t>(i)]));
    INFO("largest difference from the naive loop: " << worst);
    CHECK(worst <= tolerance<T>(k));
}

// Stored shape of an operand: [rows, cols], or [cols, rows] when transposed.
Shape stored(index_t rows, index_t cols, bool transposed) {
    return transposed ? Shape{cols, rows} : Shape{rows, cols};
}
Shape stored(index_t batch, index_t rows, index_t cols, bool transposed) {
    return transposed ? Shape{batch, cols, rows} : Shape{batch, rows, cols};
}

const std::vector<std::pair<bool, bool>>& flag_combos() {
    static const std::vector<std::pair<bool, bool>> combos{{false, false}, {true, false}, {false, true}, {true, true}};
    return combos;
}

using Inputs = std::vector<loom::Tensord>;

TEMPLATE_TEST_CASE("matmul of hand-written 2 × 2 matrices with every transpose flag", "[matmul]", float, double) {
    using T = TestType;
    const auto a = loom::Tensor<T>::from_list({1, 2, 3, 4}, Shape{2, 2});
    const auto b = loom::Tensor<T>::from_list({5, 6, 7, 8}, Shape{2, 2});
    CHECK(loom::matmul(a, b).to_vector() == std::vector<T>{19, 22, 43, 50});
    CHECK(loom::matmul(a, b, true, false).to_vector() == std::vector<T>{26, 30, 38, 44});
    CHECK(loom::matmul(a, b, false, true).to_vector() == std::vector<T>{17, 23, 39, 53});
    CHECK(loom::matmul(a, b, true, true).to_vector() == std::vector<T>{23, 31, 34, 46});

    SECTION("non-square: [2, 3] · [3, 1]") {
        const auto x = loom::Tensor<T>::from_list({1, 2, 3, 4, 5, 6}, Shape{2, 3});
        const auto v = loom::Tensor<T>::from_list({1, 0, -1}, Shape{3, 1});
        const auto y = loom::matmul(x, v);
        REQUIRE(y.shape() == Shape{2, 1});
        CHECK(y.to_vector() == std::vector<T>{-2, -2});
    }
}

TEMPLATE_TEST_CASE("matmul 2-D × 2-D matches the naive loop for all transpose flags", "[matmul]", float, double) {
    using T = TestType;
    std::uint64_t seed = 1;
    for (const auto& [m, k, n] : std::vector<std::tuple<index_t, index_t, index_t>>{
             {3, 4, 5}, {1, 1, 1}, {1, 6, 1}, {5, 1, 4}, {7, 3, 1}, {1, 3, 8}, {17, 9, 13}}) {
        for (const auto& [ta, tb] : flag_combos()) {
            INFO("M " << m << ", K " << k << ", N " << n << ", transpose_a " << ta << ", transpose_b " << tb);
            const auto a = loom_test::random_tensor<T>(stored(m, k, ta), ++seed);
            const auto b = loom_test::random_tensor<T>(stored(k, n, tb), ++seed);
            const auto c = loom::matmul(a, b, ta, tb);
            REQUIRE(c.shape() == Shape{m, n});
            check_against_naive(c, a, b, ta, tb, k);
        }
    }
}

TEMPLATE_TEST_CASE("matmul batched 3-D × 3-D matches the naive loop for all transpose flags", "[matmul][batched]",
                   float, double) {
    using T = TestType;
    std::uint64_t seed = 100;
    for (const auto& [batch, m, k, n] : std::vector<std::tuple<index_t, index_t, index_t, index_t>>{
             {2, 3, 4, 5}, {1, 1, 1, 1}, {3, 1, 5, 2}, {4, 6, 1, 3}, {5, 2, 3, 1}}) {
        for (const auto& [ta, tb] : flag_combos()) {
            INFO("B " << batch << ", M " << m << ", K " << k << ", N " << n << ", transpose_a " << ta
                      << ", transpose_b " << tb);
            const auto a = loom_test::random_tensor<T>(stored(batch, m, k, ta), ++seed);
            const auto b = loom_test::random_tensor<T>(stored(batch, k, n, tb), ++seed);
            const auto c = loom::matmul(a, b, ta, tb);
            REQUIRE(c.shape() == Shape{batch, m, n});
            check_against_naive(c, a, b, ta, tb, k);
        }
    }
}

TEMPLATE_TEST_CASE("matmul (..., K) × (K, N) flattens the leading dims of a", "[matmul]", float, double) {
    using T = TestType;
    SECTION("[B, T, K] × [K, N], b plain and transposed") {
        for (const bool tb : {false, true}) {
            INFO("transpose_b " << tb);
            const auto a = loom_test::random_tensor<T>(Shape{2, 3, 4}, 7);
            const auto b = loom_test::random_tensor<T>(stored(4, 5, tb), 8);
            const auto c = loom::matmul(a, b, false, tb);
            REQUIRE(c.shape() == Shape{2, 3, 5});
            check_against_naive(c, a, b, false, tb, 4);
        }
    }
    SECTION("rank 4 × 2-D") {
        const auto a = loom_test::random_tensor<T>(Shape{2, 3, 2, 4}, 9);
        const auto b = loom_test::random_tensor<T>(Shape{4, 6}, 10);
        const auto c = loom::matmul(a, b);
        REQUIRE(c.shape() == Shape{2, 3, 2, 6});
        check_against_naive(c, a, b, false, false, 4);
    }
    SECTION("each [T, K] slice times b equals the 2-D product") {
        const auto a = loom_test::random_tensor<T>(Shape{3, 2, 5}, 11);
        const auto b = loom_test::random_tensor<T>(Shape{5, 4}, 12);
        const auto c = loom::matmul(a, b);
        for (index_t p = 0; p < 3; ++p) {
            const auto slice = loom::matmul(a.share_storage(Shape{2, 5}, p * 10), b);
            for (index_t i = 0; i < slice.numel(); ++i) CHECK(slice.data()[i] == c.data()[p * 8 + i]);
        }
    }
}

TEST_CASE("matmul passes gradcheck for 2-D × 2-D with all transpose flags", "[matmul][gradcheck]") {
    std::uint64_t seed = 200;
    for (const auto& [m, k, n] :
         std::vector<std::tuple<index_t, index_t, index_t>>{{3, 4, 5}, {1, 1, 1}, {1, 3, 1}, {2, 1, 3}, {4, 2, 1}}) {
        for (const auto& [ta, tb] : flag_combos()) {
            INFO("M " << m << ", K " << k << ", N " << n << ", transpose_a " << ta << ", transpose_b " << tb);
            const auto fn = [ta = ta, tb = tb](const Inputs& x) { return loom::matmul(x[0], x[1], ta, tb); };
            const Inputs inputs{loom_test::random_tensor<double>(stored(m, k, ta), ++seed),
                                loom_test::random_tensor<double>(stored(k, n, tb), ++seed)};
            LOOM_CHECK_GRADIENTS(fn, inputs);
        }
    }
}

TEST_CASE("matmul passes gradcheck for batched 3-D × 3-D with all transpose flags", "[matmul][batched][gradcheck]") {
    std::uint64_t seed = 300;
    for (const auto& [batch, m, k, n] : std::vector<std::tuple<index_t, index_t, index_t, index_t>>{
             {2, 3, 4, 5}, {1, 1, 1, 1}, {3, 2, 1, 3}, {2, 1, 3, 1}}) {
        for (const auto& [ta, tb] : flag_combos()) {
            INFO("B " << batch << ", M " << m << ", K " << k << ", N " << n << ", transpose_a " << ta
                      << ", transpose_b " << tb);
            const auto fn = [ta = ta, tb = tb](const Inputs& x) { return loom::matmul(x[0], x[1], ta, tb); };
            const Inputs inputs{loom_test::random_tensor<double>(stored(batch, m, k, ta), ++seed),
                                loom_test::random_tensor<double>(stored(batch, k, n, tb), ++seed)};
            LOOM_CHECK_GRADIENTS(fn, inputs);
        }
    }
}

TEST_CASE("matmul passes gradcheck for (..., K) × (K, N)", "[matmul][gradcheck]") {
    std::uint64_t seed = 400;
    for (const auto& [a_shape, b_shape] : std::vector<std::pair<Shape, Shape>>{
             {{2, 3, 4}, {4, 5}}, {{1, 1, 1}, {1, 1}}, {{3, 1, 2}, {2, 3}}, {{2, 1, 3, 2}, {2, 4}}}) {
        for (const bool tb : {false, true}) {
            INFO("a " << a_shape << ", b " << b_shape << (tb ? " transposed" : ""));
            const auto fn = [tb = tb](const Inputs& x) { return loom::matmul(x[0], x[1], false, tb); };
            const Shape b_stored = tb ? Shape{b_shape[1], b_shape[0]} : b_shape;
            const Inputs inputs{loom_test::random_tensor<double>(a_shape, ++seed),
                                loom_test::random_tensor<double>(b_stored, ++seed)};
            LOOM_CHECK_GRADIENTS(fn, inputs);
        }
    }
}

TEST_CASE("matmul gives a gradient only to operands that require grad", "[matmul][autograd]") {
    for (const auto& [a_shape, b_shape] :
         std::vector<std::pair<Shape, Shape>>{{{3, 4}, {4, 2}}, {{2, 3, 4}, {2, 4, 2}}, {{2, 3, 4}, {4, 2}}}) {
        for (const bool first_requires : {true, false}) {
            INFO("a " << a_shape << ", b " << b_shape << (first_requires ? ", only a" : ", only b")
                      << " requires grad");
            auto a = loom_test::random_tensor<double>(a_shape, 1);
            auto b = loom_test::random_tensor<double>(b_shape, 2);
            (first_requires ? a : b).requires_grad_();
            const auto c = loom::matmul(a, b);
            c.backward(loom::Tensord::ones(c.shape()));
            auto& with = first_requires ? a : b;
            auto& without = first_requires ? b : a;
            REQUIRE(with.grad().defined());
            CHECK(with.grad().shape() == with.shape());
            CHECK(!without.grad().defined());
            // Only the one input is checked; the other is a constant of the function.
            const auto fn = [](const Inputs& x) { return loom::matmul(x[0], x[1]); };
            const Inputs inputs{a, b};
            LOOM_CHECK_GRADIENTS(fn, inputs);
        }
    }
    SECTION("dB of a shared b sums over the flattened rows of a") {
        // a [2, 1, 2] with rows (1, 2) and (3, 4); G = 1: dB = aᵀ · 1 = column sums of a, repeated per column.
        const auto a = loom::Tensord::from_list({1, 2, 3, 4}, Shape{2, 1, 2});
        auto b = loom::Tensord::zeros(Shape{2, 3}).requires_grad_();
        loom::matmul(a, b).backward(loom::Tensord::ones(Shape{2, 1, 3}));
        CHECK(b.grad().to_vector() == std::vector<double>{4, 4, 4, 6, 6, 6});
    }
}

TEST_CASE("matmul with an inner dimension of 0 gives zeros", "[matmul][edge]") {
    const auto b = loom::Tensord::ones(Shape{0, 4});
    const auto c2 = loom::matmul(loom::Tensord::ones(Shape{3, 0}), b);
    REQUIRE(c2.shape() == Shape{3, 4});
    CHECK(c2.to_vector() == std::vector<double>(12, 0.0));
    const auto c3 = loom::matmul(loom::Tensord::ones(Shape{2, 3, 0}), b);
    REQUIRE(c3.shape() == Shape{2, 3, 4});
    CHECK(c3.to_vector() == std::vector<double>(24, 0.0));
    const auto cb = loom::matmul(loom::Tensord::ones(Shape{2, 3, 0}), loom::Tensord::ones(Shape{2, 0, 4}));
    REQUIRE(cb.shape() == Shape{2, 3, 4});
    CHECK(cb.to_vector() == std::vector<double>(24, 0.0));
}

TEST_CASE("matmul rejects bad shapes with clear messages", "[matmul][errors]") {
    const auto check_message = [](const std::function<void()>& call, const std::vector<std::string>& parts) {
        REQUIRE_THROWS_AS(call(), loom::Error);
        const std::string message = error_message(call);
        INFO(message);
        CHECK(contains(message, "loom::matmul"));
        for (const auto& part : parts) CHECK(contains(message, part));
    };
    const auto t = [](const Shape& shape) { return loom::Tensorf::zeros(shape); };

    SECTION("inner dimensions differ") {
        check_message([&] { loom::matmul(t({2, 3}), t({4, 5})); }, {"inner", "[2, 3]", "[4, 5]", "3 vs 4"});
        check_message([&] { loom::matmul(t({2, 3}), t({4, 5}), false, true); }, {"[2, 3]", "[4, 5] (transposed)"});
        check_message([&] { loom::matmul(t({2, 3}), t({2, 5}), true, true); },
                      {"[2, 3] (transposed)", "[2, 5] (transposed)"});
        check_message([&] { loom::matmul(t({2, 3, 4}), t({2, 5, 6})); }, {"[2, 3, 4]", "[2, 5, 6]"});
        check_message([&] { loom::matmul(t({2, 3, 4}), t({5, 6})); }, {"[2, 3, 4]", "[5, 6]"});
    }
    SECTION("an operand of rank below 2") {
        check_message([&] { loom::matmul(t({3}), t({3, 4})); }, {"rank", "[3]", "[3, 4]"});
        check_message([&] { loom::matmul(t({2, 3}), t({3})); }, {"rank", "[2, 3]", "[3]"});
        check_message([&] { loom::matmul(t({}), t({1, 1})); }, {"rank", "[]"});
    }
    SECTION("batch sizes differ or b is batched but a is not 3-D") {
        check_message([&] { loom::matmul(t({2, 3, 4}), t({3, 4, 5})); }, {"batch", "[2, 3, 4]", "[3, 4, 5]"});
        check_message([&] { loom::matmul(t({3, 4}), t({2, 4, 5})); }, {"batch", "[3, 4]", "[2, 4, 5]"});
        check_message([&] { loom::matmul(t({2, 2, 3, 4}), t({2, 4, 5})); }, {"[2, 2, 3, 4]", "[2, 4, 5]"});
    }
    SECTION("transpose_a with a rank-3 a times a 2-D b") {
        check_message([&] { loom::matmul(t({2, 3, 4}), t({3, 5}), true, false); }, {"transpose_a", "[2, 3, 4]", "[3, 5]"});
    }
}

TEMPLATE_TEST_CASE("matmul of a larger product matches the naive loop on 1 and 2 threads", "[matmul][threads]", float,
                   double) {
    using T = TestType;
    const auto a = loom_test::random_tensor<T>(Shape{64, 128}, 21);
    const auto b = loom_test::random_tensor<T>(Shape{128, 96}, 22);
    const auto bt = loom_test::random_tensor<T>(Shape{96, 128}, 23);
    loom::Tensor<T> c1, c2, ct1, ct2;
    {
        const ThreadCountGuard threads(1);
        c1 = loom::matmul(a, b);
        ct1 = loom::matmul(a, bt, false, true);
    }
    {
        const ThreadCountGuard threads(2);
        c2 = loom::matmul(a, b);
        ct2 = loom::matmul(a, bt, false, true);
    }
    REQUIRE(c1.shape() == Shape{64, 96});
    check_against_naive(c1, a, b, false, false, 128);
    check_against_naive(c2, a, b, false, false, 128);
    check_against_naive(ct2, a, bt, false, true, 128);
    // Eigen may block a product differently per thread count, which reorders
    // the sums, so "equal" means equal to within a few roundings.
    const double same = std::is_same_v<T, float> ? 1e-5 : 1e-13;
    CHECK(loom_test::max_abs_diff(c1, c2) <= same);
    CHECK(loom_test::max_abs_diff(ct1, ct2) <= same);
}

TEMPLATE_TEST_CASE("matmul splits a batch over 2 threads with the same results", "[matmul][batched][threads]", float,
                   double) {
    using T = TestType;
    for (const auto& [ta, tb] : flag_combos()) {
        INFO("transpose_a " << ta << ", transpose_b " << tb);
        const auto a_data = loom_test::random_tensor<T>(stored(6, 16, 24, ta), 31);
        const auto b_data = loom_test::random_tensor<T>(stored(6, 24, 8, tb), 32);
        const auto upstream = loom_test::random_tensor<T>(Shape{6, 16, 8}, 33);
        std::vector<loom::Tensor<T>> outputs, grads_a, grads_b;
        for (const int thread_count : {1, 2}) {
            const ThreadCountGuard threads(thread_count);
            auto a = a_data.clone().requires_grad_();
            auto b = b_data.clone().requires_grad_();
            const auto c = loom::matmul(a, b, ta, tb);
            c.backward(upstream);
            outputs.push_back(c.detach());
            grads_a.push_back(a.grad());
            grads_b.push_back(b.grad());
        }
        check_against_naive(outputs[1], a_data, b_data, ta, tb, 24);
        // Each product of the batch runs on one thread either way: identical results.
        CHECK(loom_test::max_abs_diff(outputs[0], outputs[1]) == 0.0);
        CHECK(loom_test::max_abs_diff(grads_a[0], grads_a[1]) == 0.0);
        CHECK(loom_test::max_abs_diff(grads_b[0], grads_b[1]) == 0.0);
    }
    SECTION("gradcheck on 2 threads") {
        const ThreadCountGuard threads(2);
        for (const auto& [ta, tb] : flag_combos()) {
            INFO("transpose_a " << ta << ", transpose_b " << tb);
            const auto fn = [ta = ta, tb = tb](const Inputs& x) { return loom::matmul(x[0], x[1], ta, tb); };
            const Inputs inputs{loom_test::random_tensor<double>(stored(4, 3, 5, ta), 34),
                                loom_test::random_tensor<double>(stored(4, 5, 2, tb), 35)};
            LOOM_CHECK_GRADIENTS(fn, inputs);
        }
    }
}

}  // namespace ops_matmul_test
