#include "test_util.hpp"

// Tests for loom/ops/transpose.hpp: y[..., i, j] = x[..., j, i], a new
// contiguous tensor, for ranks 2 to 4; backward is the same swap.

#include <string>
#include <vector>

using loom::index_t;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace ops_transpose_test {  // named, not anonymous: the test files are compiled together in unity batches

// Checks y[p, i, j] == x[p, j, i] with x viewed as [P, M, N] (P = product of
// the leading dims), reading both through plain index arithmetic.
template <typename T>
void check_swapped(const loom::Tensor<T>& x, const loom::Tensor<T>& y) {
    const int r = x.rank();
    const index_t m = x.size(r - 2), n = x.size(r - 1);
    Shape expected = x.shape();
    expected[r - 2] = n;
    expected[r - 1] = m;
    REQUIRE(y.shape() == expected);
    const index_t leading = x.numel() / (m * n);
    index_t wrong = 0;
    for (index_t p = 0; p < leading; ++p)
        for (index_t i = 0; i < n; ++i)
            for (index_t j = 0; j < m; ++j)
                if (y.data()[p * m * n + i * m + j] != x.data()[p * m * n + j * n + i]) ++wrong;
    CHECK(wrong == 0);
}

TEMPLATE_TEST_CASE("transpose of a hand-written matrix", "[transpose]", float, double) {
    using T = TestType;
    const auto x = loom::Tensor<T>::from_list({1, 2, 3, 4, 5, 6}, Shape{2, 3});
    const auto y = loom::transpose(x);
    REQUIRE(y.shape() == Shape{3, 2});
    CHECK(y.to_vector() == std::vector<T>{1, 4, 2, 5, 3, 6});
    CHECK(y.at({2, 1}) == x.at({1, 2}));

    SECTION("rank 3 swaps within each matrix of the batch") {
        const auto b = loom::Tensor<T>::from_list({1, 2, 3, 4, 5, 6, 7, 8}, Shape{2, 2, 2});
        CHECK(loom::transpose(b).to_vector() == std::vector<T>{1, 3, 2, 4, 5, 7, 6, 8});
    }
}

TEMPLATE_TEST_CASE("transpose of ranks 2, 3 and 4 matches an index loop", "[transpose]", float, double) {
    using T = TestType;
    std::uint64_t seed = 1;
    for (const Shape& shape : {Shape{1, 1}, Shape{1, 5}, Shape{4, 1}, Shape{3, 5}, Shape{2, 3, 4}, Shape{3, 1, 2},
                               Shape{2, 1, 3, 2}, Shape{2, 3, 4, 5}}) {
        INFO("shape " << shape);
        const auto x = loom_test::random_tensor<T>(shape, ++seed);
        const auto y = loom::transpose(x);
        check_swapped(x, y);
        CHECK(!y.shares_storage_with(x));  // a new contiguous tensor, not a view
        CHECK(loom_test::max_abs_diff(loom::transpose(y), x) == 0.0);  // twice is the identity
    }
}

TEMPLATE_TEST_CASE("transpose then matmul equals matmul with the transpose flags", "[transpose][matmul]", float,
                   double) {
    using T = TestType;
    const auto a = loom_test::random_tensor<T>(Shape{2, 4, 3}, 40);
    const auto b = loom_test::random_tensor<T>(Shape{2, 5, 4}, 41);
    const auto with_flags = loom::matmul(a, b, true, true);
    const auto with_copies = loom::matmul(loom::transpose(a), loom::transpose(b));
    CHECK(loom_test::max_abs_diff(with_flags, with_copies) <= (sizeof(T) == 4 ? 1e-6 : 1e-15));
}

TEST_CASE("transpose passes gradcheck on several shapes", "[transpose][gradcheck]") {
    const auto fn = [](const std::vector<loom::Tensord>& x) { return loom::transpose(x[0]); };
    // Non-linear around the swap, so that a wrong backward cannot cancel out.
    const auto chained = [](const std::vector<loom::Tensord>& x) {
        return loom::transpose(x[0] * x[0]) * loom::transpose(x[0]);
    };
    std::uint64_t seed = 20;
    for (const Shape& shape : {Shape{1, 1}, Shape{1, 4}, Shape{3, 5}, Shape{2, 3, 4}, Shape{2, 1, 3, 2}, Shape{2, 2, 3, 1}}) {
        INFO("shape " << shape);
        const std::vector<loom::Tensord> inputs{loom_test::random_tensor<double>(shape, ++seed)};
        LOOM_CHECK_GRADIENTS(fn, inputs);
        LOOM_CHECK_GRADIENTS(chained, inputs);
    }
}

TEST_CASE("transpose backward swaps the gradient back", "[transpose][autograd]") {
    auto x = loom::Tensord::zeros(Shape{2, 3}).requires_grad_();
    const auto y = loom::transpose(x);
    REQUIRE(y.requires_grad());
    y.backward(loom::Tensord::from_list({1, 2, 3, 4, 5, 6}, Shape{3, 2}));
    REQUIRE(x.grad().shape() == Shape{2, 3});
    CHECK(x.grad().to_vector() == std::vector<double>{1, 3, 5, 2, 4, 6});
    CHECK(!loom::transpose(loom::Tensord::zeros(Shape{2, 3})).requires_grad());
}

TEST_CASE("transpose rejects tensors of rank below 2", "[transpose][errors]") {
    const auto vector = loom::Tensorf::zeros(Shape{3});
    REQUIRE_THROWS_AS(loom::transpose(vector), loom::Error);
    const std::string message = error_message([&] { loom::transpose(vector); });
    INFO(message);
    CHECK(contains(message, "loom::transpose"));
    CHECK(contains(message, "[3]"));

    const std::string scalar_message = error_message([] { loom::transpose(loom::Tensord::scalar(1.0)); });
    INFO(scalar_message);
    CHECK(contains(scalar_message, "loom::transpose"));
    CHECK(contains(scalar_message, "[]"));
}

}  // namespace ops_transpose_test
