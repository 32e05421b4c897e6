#include "test_util.hpp"

// Tests for loom/ops/reshape.hpp: reshape, view, unsqueeze, squeeze.

#include <string>
#include <vector>

using loom::index_t;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace ops_reshape_test {  // named, not anonymous: the test files are compiled together in unity batches

// 0, 1, ..., n - 1 in the given shape.
template <typename T>
loom::Tensor<T> iota(const Shape& shape) {
    loom::Tensor<T> t = loom::Tensor<T>::empty(shape);
    for (index_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<T>(i);
    return t;
}

// The elements in row-major order must be unchanged by a reshape.
template <typename T>
void require_same_elements(const loom::Tensor<T>& a, const loom::Tensor<T>& b) {
    REQUIRE(a.numel() == b.numel());
    for (index_t i = 0; i < a.numel(); ++i) CHECK(a.data()[i] == b.data()[i]);
}

TEMPLATE_TEST_CASE("reshape keeps the row-major elements and shares storage", "[reshape]", float, double) {
    using T = TestType;
    const auto x = loom_test::random_tensor<T>(Shape{2, 3, 4}, 11);

    SECTION("explicit shape") {
        const auto y = loom::reshape(x, {4, 6});
        REQUIRE(y.shape() == Shape{4, 6});
        REQUIRE(y.shares_storage_with(x));
        REQUIRE(y.data() == x.data());
        // y[i, j] is the element at flat position 6 i + j of x, i.e. x[a, b, c]
        // with 12 a + 4 b + c = 6 i + j.
        for (index_t i = 0; i < 4; ++i)
            for (index_t j = 0; j < 6; ++j) {
                const index_t flat = 6 * i + j;
                CHECK(y.at({i, j}) == x.at({flat / 12, (flat / 4) % 3, flat % 4}));
            }
    }
    SECTION("to rank 1 and rank 4") {
        const auto flat = loom::reshape(x, {24});
        REQUIRE(flat.shape() == Shape{24});
        require_same_elements(flat, x);
        const auto four = loom::reshape(x, {1, 2, 3, 4});
        REQUIRE(four.shape() == Shape{1, 2, 3, 4});
        require_same_elements(four, x);
        REQUIRE(four.shares_storage_with(x));
    }
    SECTION("view is the same operation") {
        const auto y = loom::view(x, {6, 4});
        REQUIRE(y.shape() == Shape{6, 4});
        REQUIRE(y.shares_storage_with(x));
        require_same_elements(y, x);
    }
    SECTION("writes through the view are seen by the original (no copy)") {
        auto y = loom::reshape(x, {24});
        y.data()[13] = T(42);
        CHECK(x.at({1, 0, 1}) == T(42));
    }
    SECTION("scalar to [1] and back") {
        const auto s = loom::Tensor<T>::scalar(T(3.5));
        const auto one = loom::reshape(s, {1});
        REQUIRE(one.shape() == Shape{1});
        CHECK(one.item() == T(3.5));
        const auto back = loom::reshape(one, {});
        REQUIRE(back.shape() == Shape{});
        CHECK(back.item() == T(3.5));
        REQUIRE(back.shares_storage_with(s));
    }
}

TEMPLATE_TEST_CASE("reshape infers one -1 size", "[reshape]", float, double) {
    using T = TestType;
    const auto x = iota<T>(Shape{2, 3, 4});

    CHECK(loom::reshape(x, {-1}).shape() == Shape{24});
    CHECK(loom::reshape(x, {-1, 4}).shape() == Shape{6, 4});
    CHECK(loom::reshape(x, {2, -1}).shape() == Shape{2, 12});
    CHECK(loom::reshape(x, {3, -1, 2}).shape() == Shape{3, 4, 2});
    CHECK(loom::view(x, {-1, 1, 8}).shape() == Shape{3, 1, 8});
    const auto y = loom::reshape(x, {4, -1});
    REQUIRE(y.shares_storage_with(x));
    require_same_elements(y, x);

    SECTION("empty tensors") {
        const auto empty = loom::Tensor<T>::zeros(Shape{0, 3});
        CHECK(loom::reshape(empty, {-1, 3}).shape() == Shape{0, 3});
        CHECK(loom::reshape(empty, {3, -1}).shape() == Shape{3, 0});
        // With a 0 among the known sizes, -1 could be anything.
        const std::string message = error_message([&] { loom::reshape(empty, {0, -1}); });
        INFO(message);
        CHECK(contains(message, "loom::reshape"));
        CHECK(contains(message, "[0, 3]"));
    }
}

TEST_CASE("reshape rejects bad shapes with a message naming them", "[reshape][errors]") {
    const auto x = iota<double>(Shape{2, 3, 4});

    SECTION("two -1 sizes") {
        REQUIRE_THROWS_AS(loom::reshape(x, {-1, -1}), loom::Error);
        const std::string message = error_message([&] { loom::reshape(x, {-1, 2, -1}); });
        INFO(message);
        CHECK(contains(message, "loom::reshape"));
        CHECK(contains(message, "-1"));
        CHECK(contains(message, "[2, 3, 4]"));
    }
    SECTION("element count mismatch names both shapes") {
        REQUIRE_THROWS_AS(loom::reshape(x, {5, 5}), loom::Error);
        const std::string message = error_message([&] { loom::reshape(x, {5, 5}); });
        INFO(message);
        CHECK(contains(message, "loom::reshape"));
        CHECK(contains(message, "[2, 3, 4]"));
        CHECK(contains(message, "[5, 5]"));
        CHECK(contains(message, "24"));
        CHECK(contains(message, "25"));
    }
    SECTION("view reports the same mismatch") {
        const std::string message = error_message([&] { loom::view(x, {23}); });
        INFO(message);
        CHECK(contains(message, "loom::reshape"));
        CHECK(contains(message, "[2, 3, 4]"));
        CHECK(contains(message, "[23]"));
    }
    SECTION("-1 that cannot be inferred") {
        const std::string message = error_message([&] { loom::reshape(x, {5, -1}); });
        INFO(message);
        CHECK(contains(message, "loom::reshape"));
        CHECK(contains(message, "[2, 3, 4]"));
        CHECK(contains(message, "5"));
    }
    SECTION("negative size other than -1") {
        const std::string message = error_message([&] { loom::reshape(x, {-2, -12}); });
        INFO(message);
        CHECK(contains(message, "loom::reshape"));
        CHECK(contains(message, "-2"));
    }
    SECTION("more than four dimensions") {
        const std::string message = error_message([&] { loom::reshape(x, {1, 2, 3, 4, 1}); });
        INFO(message);
        CHECK(contains(message, "loom::reshape"));
        CHECK(contains(message, "[2, 3, 4]"));
    }
}

TEMPLATE_TEST_CASE("unsqueeze and squeeze add and remove size-1 dimensions", "[reshape]", float, double) {
    using T = TestType;
    const auto x = loom_test::random_tensor<T>(Shape{2, 3}, 5);

    SECTION("unsqueeze at every position, negative counting from rank + 1") {
        CHECK(loom::unsqueeze(x, 0).shape() == Shape{1, 2, 3});
        CHECK(loom::unsqueeze(x, 1).shape() == Shape{2, 1, 3});
        CHECK(loom::unsqueeze(x, 2).shape() == Shape{2, 3, 1});
        CHECK(loom::unsqueeze(x, -1).shape() == Shape{2, 3, 1});
        CHECK(loom::unsqueeze(x, -3).shape() == Shape{1, 2, 3});
        const auto y = loom::unsqueeze(x, 1);
        REQUIRE(y.shares_storage_with(x));
        REQUIRE(y.data() == x.data());
        for (index_t i = 0; i < 2; ++i)
            for (index_t j = 0; j < 3; ++j) CHECK(y.at({i, 0, j}) == x.at({i, j}));
    }
    SECTION("unsqueeze of a scalar") {
        const auto s = loom::Tensor<T>::scalar(T(2));
        CHECK(loom::unsqueeze(s, 0).shape() == Shape{1});
        CHECK(loom::unsqueeze(s, -1).shape() == Shape{1});
    }
    SECTION("squeeze removes the size-1 dimension") {
        const auto y = loom::reshape(x, {2, 1, 3, 1});
        CHECK(loom::squeeze(y, 1).shape() == Shape{2, 3, 1});
        CHECK(loom::squeeze(y, 3).shape() == Shape{2, 1, 3});
        CHECK(loom::squeeze(y, -1).shape() == Shape{2, 1, 3});
        const auto z = loom::squeeze(loom::squeeze(y, -1), 1);
        REQUIRE(z.shape() == x.shape());
        REQUIRE(z.shares_storage_with(x));
        require_same_elements(z, x);
        CHECK(loom::squeeze(loom::Tensor<T>::scalar(T(1)).share_storage(Shape{1}), 0).shape() == Shape{});
    }
}

TEST_CASE("unsqueeze and squeeze reject bad dimensions", "[reshape][errors]") {
    const auto x = iota<float>(Shape{2, 3});

    SECTION("unsqueeze dimension out of range") {
        REQUIRE_THROWS_AS(loom::unsqueeze(x, 3), loom::Error);
        REQUIRE_THROWS_AS(loom::unsqueeze(x, -4), loom::Error);
        const std::string message = error_message([&] { loom::unsqueeze(x, 5); });
        INFO(message);
        CHECK(contains(message, "loom::unsqueeze"));
        CHECK(contains(message, "5"));
        CHECK(contains(message, "[2, 3]"));
    }
    SECTION("unsqueeze beyond the maximum rank") {
        const auto four = iota<float>(Shape{1, 2, 3, 1});
        const std::string message = error_message([&] { loom::unsqueeze(four, 0); });
        INFO(message);
        CHECK(contains(message, "loom::unsqueeze"));
        CHECK(contains(message, "[1, 2, 3, 1]"));
    }
    SECTION("squeeze of a dimension that is not 1") {
        REQUIRE_THROWS_AS(loom::squeeze(x, 0), loom::Error);
        const std::string message = error_message([&] { loom::squeeze(x, 1); });
        INFO(message);
        CHECK(contains(message, "loom::squeeze"));
        CHECK(contains(message, "[2, 3]"));
    }
    SECTION("squeeze dimension out of range") {
        const std::string message = error_message([&] { loom::squeeze(x, 2); });
        INFO(message);
        CHECK(contains(message, "loom::squeeze"));
        CHECK(contains(message, "2"));
        CHECK(contains(message, "[2, 3]"));
    }
}

TEST_CASE("reshape backward reshapes the gradient back", "[reshape][autograd]") {
    auto x = iota<double>(Shape{2, 3});
    x.requires_grad_();
    const auto y = loom::reshape(x, {3, 2});
    REQUIRE(y.requires_grad());
    REQUIRE_FALSE(y.is_leaf());

    auto upstream = iota<double>(Shape{3, 2});
    upstream.flat() += 10.0;
    y.backward(upstream);
    const auto grad = x.grad();
    REQUIRE(grad.defined());
    REQUIRE(grad.shape() == Shape{2, 3});
    for (index_t i = 0; i < 6; ++i) CHECK(grad.data()[i] == 10.0 + static_cast<double>(i));
    // A leaf's gradient must not alias the caller's upstream buffer.
    CHECK_FALSE(grad.shares_storage_with(upstream));

    SECTION("no graph under NoGradGuard") {
        loom::NoGradGuard no_grad;
        const auto z = loom::reshape(x, {6});
        CHECK_FALSE(z.requires_grad());
        CHECK(z.is_leaf());
    }
}

TEST_CASE("reshape, view, unsqueeze and squeeze pass gradcheck", "[reshape][gradcheck]") {
    using Inputs = std::vector<loom::Tensord>;
    struct Case {
        Shape from;
        std::vector<index_t> to;
    };
    const std::vector<Case> cases = {
        {Shape{1}, {1, 1}},          {Shape{1, 1, 1}, {-1}},     {Shape{2, 3}, {3, 2}},
        {Shape{2, 3, 4}, {4, -1}},   {Shape{5, 1}, {1, 5}},      {Shape{3, 4}, {2, 3, 2}},
        {Shape{2, 3, 4}, {24}},      {Shape{7}, {7, 1, 1, 1}},
    };
    for (std::size_t k = 0; k < cases.size(); ++k) {
        INFO("case " << k << ": " << cases[k].from);
        const auto x = loom_test::random_tensor<double>(cases[k].from, 100 + k);
        const std::vector<index_t> to = cases[k].to;
        LOOM_CHECK_GRADIENTS([to](const Inputs& in) { return loom::reshape(in[0], to); }, Inputs{x});
        LOOM_CHECK_GRADIENTS([to](const Inputs& in) { return loom::view(in[0], to); }, Inputs{x});
    }

    // Random shapes (rank 1 to 3, sizes 1 to 4), flattened and unflattened.
    loom::Generator generator(2024);
    for (int trial = 0; trial < 6; ++trial) {
        std::vector<index_t> sizes(1 + generator.below(3));
        for (auto& size : sizes) size = 1 + static_cast<index_t>(generator.below(4));
        const Shape shape(sizes);
        INFO("random shape " << shape);
        const auto x = loom_test::random_tensor<double>(shape, 300 + static_cast<std::uint64_t>(trial));
        LOOM_CHECK_GRADIENTS([](const Inputs& in) { return loom::reshape(in[0], {-1, 1}); }, Inputs{x});
        LOOM_CHECK_GRADIENTS(
            [sizes](const Inputs& in) { return loom::reshape(loom::reshape(in[0], {-1}), sizes); }, Inputs{x});
        LOOM_CHECK_GRADIENTS([](const Inputs& in) { return loom::squeeze(loom::unsqueeze(in[0], 0), 0); },
                             Inputs{x});
        LOOM_CHECK_GRADIENTS([](const Inputs& in) { return loom::unsqueeze(in[0], -1); }, Inputs{x});
    }
}

}  // namespace ops_reshape_test
