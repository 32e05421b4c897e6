#include "test_util.hpp"

// Tests for loom/ops/slice.hpp: narrow and slice.

#include <string>
#include <vector>

using loom::index_t;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace ops_slice_test {  // named, not anonymous: the test files are compiled together in unity batches

// narrow computed with plain loops over a rank-3 tensor: out[i, j, k] is
// x[i, j, k] shifted by `start` along `dim`.
template <typename T>
std::vector<T> narrow_by_loops(const loom::Tensor<T>& x, int dim, index_t start, index_t length) {
    const index_t n0 = x.size(0), n1 = x.size(1), n2 = x.size(2);
    const index_t m0 = dim == 0 ? length : n0;
    const index_t m1 = dim == 1 ? length : n1;
    const index_t m2 = dim == 2 ? length : n2;
    std::vector<T> out;
    for (index_t i = 0; i < m0; ++i)
        for (index_t j = 0; j < m1; ++j)
            for (index_t k = 0; k < m2; ++k)
                out.push_back(x.at({i + (dim == 0 ? start : 0), j + (dim == 1 ? start : 0),
                                    k + (dim == 2 ? start : 0)}));
    return out;
}

TEMPLATE_TEST_CASE("narrow along dim 0 is a view sharing storage", "[slice]", float, double) {
    using T = TestType;
    const auto x = loom_test::random_tensor<T>(Shape{4, 3}, 1);

    const auto rows = loom::narrow(x, 0, 1, 2);
    REQUIRE(rows.shape() == Shape{2, 3});
    REQUIRE(rows.shares_storage_with(x));
    REQUIRE(rows.data() == x.data() + 3);
    for (index_t i = 0; i < 2; ++i)
        for (index_t j = 0; j < 3; ++j) CHECK(rows.at({i, j}) == x.at({i + 1, j}));

    SECTION("writes through the view reach the original") {
        auto view = loom::narrow(x, 0, 2, 1);
        view.set({0, 1}, T(7));
        CHECK(x.at({2, 1}) == T(7));
    }
    SECTION("an inner dim after leading size-1 dims is also one block, so a view") {
        const auto y = loom_test::random_tensor<T>(Shape{1, 5, 2}, 2);
        const auto part = loom::narrow(y, 1, 2, 3);
        REQUIRE(part.shape() == Shape{1, 3, 2});
        REQUIRE(part.shares_storage_with(y));
        CHECK(part.data() == y.data() + 4);
    }
}

TEMPLATE_TEST_CASE("narrow along an inner dim copies", "[slice]", float, double) {
    using T = TestType;
    const auto x = loom_test::random_tensor<T>(Shape{4, 3}, 3);

    const auto cols = loom::narrow(x, 1, 1, 2);
    REQUIRE(cols.shape() == Shape{4, 2});
    REQUIRE_FALSE(cols.shares_storage_with(x));
    for (index_t i = 0; i < 4; ++i)
        for (index_t j = 0; j < 2; ++j) CHECK(cols.at({i, j}) == x.at({i, j + 1}));

    SECTION("negative dim counts from the end") {
        const auto same = loom::narrow(x, -1, 1, 2);
        REQUIRE(same.shape() == Shape{4, 2});
        CHECK(loom_test::max_abs_diff(same, cols) == 0.0);
        const auto first = loom::narrow(x, -2, 3, 1);
        REQUIRE(first.shape() == Shape{1, 3});
        for (index_t j = 0; j < 3; ++j) CHECK(first.at({0, j}) == x.at({3, j}));
    }
    SECTION("slice is x[start:end]") {
        const auto s = loom::slice(x, 1, 1, 3);
        CHECK(loom_test::max_abs_diff(s, cols) == 0.0);
        CHECK(loom::slice(x, 0, 2, 2).shape() == Shape{0, 3});
    }
}

TEMPLATE_TEST_CASE("narrow matches plain loops for every range of a rank-3 tensor", "[slice]", float, double) {
    using T = TestType;
    const auto x = loom_test::random_tensor<T>(Shape{3, 4, 5}, 4);
    for (int dim = -3; dim < 3; ++dim) {
        const int d = dim < 0 ? dim + 3 : dim;
        const index_t size = x.size(d);
        for (index_t start = 0; start <= size; ++start)
            for (index_t length = 0; start + length <= size; ++length) {
                INFO("dim " << dim << ", start " << start << ", length " << length);
                const auto y = loom::narrow(x, dim, start, length);
                REQUIRE(y.shape() == x.shape().with(d, length));
                CHECK(y.to_vector() == narrow_by_loops(x, d, start, length));
                CHECK(y.shares_storage_with(x) == (d == 0));
            }
    }
}

TEST_CASE("narrow and slice reject out-of-range arguments", "[slice][errors]") {
    const auto x = loom_test::random_tensor<double>(Shape{4, 3}, 5);

    SECTION("range past the end names range, size and shape") {
        REQUIRE_THROWS_AS(loom::narrow(x, 1, 2, 2), loom::Error);
        const std::string message = error_message([&] { loom::narrow(x, 1, 2, 2); });
        INFO(message);
        CHECK(contains(message, "loom::narrow"));
        CHECK(contains(message, "[2, 4)"));
        CHECK(contains(message, "size 3"));
        CHECK(contains(message, "[4, 3]"));
    }
    SECTION("negative start") {
        const std::string message = error_message([&] { loom::narrow(x, 0, -1, 2); });
        INFO(message);
        CHECK(contains(message, "loom::narrow"));
        CHECK(contains(message, "-1"));
        CHECK(contains(message, "[4, 3]"));
    }
    SECTION("negative length") {
        const std::string message = error_message([&] { loom::narrow(x, 0, 2, -1); });
        INFO(message);
        CHECK(contains(message, "loom::narrow"));
        CHECK(contains(message, "[4, 3]"));
    }
    SECTION("start past the end") {
        REQUIRE_THROWS_AS(loom::narrow(x, 0, 5, 0), loom::Error);
    }
    SECTION("dimension out of range") {
        REQUIRE_THROWS_AS(loom::narrow(x, -3, 0, 1), loom::Error);
        const std::string message = error_message([&] { loom::narrow(x, 2, 0, 1); });
        INFO(message);
        CHECK(contains(message, "loom::narrow"));
        CHECK(contains(message, "dimension 2"));
        CHECK(contains(message, "[4, 3]"));
    }
    SECTION("slice with end before start") {
        const std::string message = error_message([&] { loom::slice(x, 0, 3, 1); });
        INFO(message);
        CHECK(contains(message, "loom::slice"));
        CHECK(contains(message, "3"));
        CHECK(contains(message, "1"));
    }
    SECTION("slice past the end") {
        const std::string message = error_message([&] { loom::slice(x, 0, 1, 9); });
        INFO(message);
        CHECK(contains(message, "loom::narrow"));
        CHECK(contains(message, "[1, 9)"));
    }
}

TEST_CASE("narrow backward puts the gradient in its range and zeros elsewhere", "[slice][autograd]") {
    for (int dim = 0; dim < 2; ++dim) {
        INFO("dim " << dim);
        auto x = loom_test::random_tensor<double>(Shape{4, 3}, 6);
        x.requires_grad_();
        const auto y = loom::narrow(x, dim, 1, 2);
        const auto upstream = loom_test::random_tensor<double>(y.shape(), 7);
        y.backward(upstream);
        const auto grad = x.grad();
        REQUIRE(grad.shape() == Shape{4, 3});
        for (index_t i = 0; i < 4; ++i)
            for (index_t j = 0; j < 3; ++j) {
                const index_t along = dim == 0 ? i : j;
                const bool inside = along >= 1 && along < 3;
                const double expected =
                    inside ? upstream.at({dim == 0 ? i - 1 : i, dim == 1 ? j - 1 : j}) : 0.0;
                CHECK(grad.at({i, j}) == expected);
            }
    }
}

TEST_CASE("narrow passes gradcheck along each dim of a rank-3 tensor", "[slice][gradcheck]") {
    using Inputs = std::vector<loom::Tensord>;
    const std::vector<Shape> shapes = {Shape{1, 1, 1}, Shape{2, 3, 4}, Shape{4, 1, 3}, Shape{3, 5, 2}};
    for (std::size_t s = 0; s < shapes.size(); ++s) {
        const auto x = loom_test::random_tensor<double>(shapes[s], 20 + s);
        for (int dim = 0; dim < 3; ++dim) {
            const index_t size = shapes[s][dim];
            // A middle range when there is one, else the whole (size-1) dimension.
            const index_t start = size > 2 ? 1 : 0;
            const index_t length = size > 2 ? size - 2 : size;
            INFO("shape " << shapes[s] << ", dim " << dim << ", start " << start << ", length " << length);
            LOOM_CHECK_GRADIENTS([=](const Inputs& in) { return loom::narrow(in[0], dim, start, length); },
                                 Inputs{x});
            LOOM_CHECK_GRADIENTS([=](const Inputs& in) { return loom::narrow(in[0], dim - 3, 0, 1); }, Inputs{x});
            LOOM_CHECK_GRADIENTS([=](const Inputs& in) { return loom::slice(in[0], dim, size - 1, size); },
                                 Inputs{x});
        }
    }
    SECTION("rank 1 and rank 2") {
        const auto v = loom_test::random_tensor<double>(Shape{1}, 30);
        LOOM_CHECK_GRADIENTS([](const Inputs& in) { return loom::narrow(in[0], 0, 0, 1); }, Inputs{v});
        const auto m = loom_test::random_tensor<double>(Shape{2, 5}, 31);
        LOOM_CHECK_GRADIENTS([](const Inputs& in) { return loom::narrow(in[0], 1, 1, 3); }, Inputs{m});
        LOOM_CHECK_GRADIENTS([](const Inputs& in) { return loom::narrow(in[0], 0, 1, 1); }, Inputs{m});
    }
}

}  // namespace ops_slice_test
