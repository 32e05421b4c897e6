#include "test_util.hpp"

// Tests for loom/ops/concat.hpp: concat and stack.

#include <string>
#include <vector>

using loom::index_t;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace ops_concat_test {  // named, not anonymous: the test files are compiled together in unity batches

// Element (i, j, k) of a rank-3 tensor, with the index along `dim` replaced.
template <typename T>
T at3(const loom::Tensor<T>& x, index_t i, index_t j, index_t k, int dim, index_t along) {
    return x.at({dim == 0 ? along : i, dim == 1 ? along : j, dim == 2 ? along : k});
}

// concat of rank-3 tensors by plain loops: for each output position along
// `dim`, find the input that owns it and the position inside that input.
template <typename T>
std::vector<T> concat_by_loops(const std::vector<loom::Tensor<T>>& xs, int dim) {
    Shape shape = xs[0].shape();
    index_t total = 0;
    for (const auto& x : xs) total += x.size(dim);
    shape[dim] = total;
    std::vector<T> out;
    for (index_t i = 0; i < shape[0]; ++i)
        for (index_t j = 0; j < shape[1]; ++j)
            for (index_t k = 0; k < shape[2]; ++k) {
                index_t along = dim == 0 ? i : dim == 1 ? j : k;
                std::size_t which = 0;
                while (along >= xs[which].size(dim)) along -= xs[which++].size(dim);
                out.push_back(at3(xs[which], i, j, k, dim, along));
            }
    return out;
}

TEMPLATE_TEST_CASE("concat along each dim matches plain loops", "[concat]", float, double) {
    using T = TestType;
    for (int dim = -3; dim < 3; ++dim) {
        const int d = dim < 0 ? dim + 3 : dim;
        INFO("dim " << dim);
        const std::vector<loom::Tensor<T>> xs = {
            loom_test::random_tensor<T>(Shape{2, 3, 4}.with(d, 1), 1),
            loom_test::random_tensor<T>(Shape{2, 3, 4}, 2),
            loom_test::random_tensor<T>(Shape{2, 3, 4}.with(d, 2), 3),
        };
        const auto y = loom::concat(xs, dim);
        REQUIRE(y.shape() == Shape{2, 3, 4}.with(d, xs[0].size(d) + xs[1].size(d) + xs[2].size(d)));
        CHECK(y.to_vector() == concat_by_loops(xs, d));
        CHECK_FALSE(y.shares_storage_with(xs[0]));
    }
}

TEMPLATE_TEST_CASE("concat of hand-written matrices", "[concat]", float, double) {
    using T = TestType;
    const auto a = loom::Tensor<T>::from_list({1, 2, 3, 4}, Shape{2, 2});
    const auto b = loom::Tensor<T>::from_list({5, 6}, Shape{2, 1});
    const auto c = loom::Tensor<T>::from_list({7, 8}, Shape{1, 2});

    CHECK(loom::concat<T>({a, b}, 1).to_vector() == std::vector<T>{1, 2, 5, 3, 4, 6});
    CHECK(loom::concat<T>({a, b}, -1).shape() == Shape{2, 3});
    CHECK(loom::concat<T>({a, c}, 0).to_vector() == std::vector<T>{1, 2, 3, 4, 7, 8});
    CHECK(loom::concat<T>({c, a, c}, 0).to_vector() == std::vector<T>{7, 8, 1, 2, 3, 4, 7, 8});
    SECTION("a single tensor and an empty piece") {
        CHECK(loom::concat<T>({a}, 0).to_vector() == a.to_vector());
        const auto none = loom::Tensor<T>::zeros(Shape{0, 2});
        CHECK(loom::concat<T>({none, a, none}, 0).to_vector() == a.to_vector());
    }
}

TEST_CASE("concat rejects mismatched inputs naming the tensor index", "[concat][errors]") {
    const auto a = loom::Tensord::zeros(Shape{2, 3});
    const auto b = loom::Tensord::zeros(Shape{2, 5});
    const auto c = loom::Tensord::zeros(Shape{4, 3});

    SECTION("shape differs outside the concat dim") {
        REQUIRE_THROWS_AS(loom::concat<double>({a, b, c}, 1), loom::Error);
        const std::string message = error_message([&] { loom::concat<double>({a, b, c}, 1); });
        INFO(message);
        CHECK(contains(message, "loom::concat"));
        CHECK(contains(message, "tensor 2"));
        CHECK(contains(message, "[4, 3]"));
        CHECK(contains(message, "[2, 3]"));
    }
    SECTION("rank differs") {
        const auto flat = loom::Tensord::zeros(Shape{6});
        const std::string message = error_message([&] { loom::concat<double>({a, flat}, 0); });
        INFO(message);
        CHECK(contains(message, "loom::concat"));
        CHECK(contains(message, "tensor 1"));
        CHECK(contains(message, "[6]"));
    }
    SECTION("dimension out of range") {
        const std::string message = error_message([&] { loom::concat<double>({a, a}, 2); });
        INFO(message);
        CHECK(contains(message, "loom::concat"));
        CHECK(contains(message, "2"));
        CHECK(contains(message, "[2, 3]"));
    }
    SECTION("no tensors") {
        const std::string message = error_message([&] { loom::concat<double>({}, 0); });
        CHECK(contains(message, "loom::concat"));
    }
}

TEMPLATE_TEST_CASE("stack inserts a new dim at the start, middle and end", "[concat][stack]", float, double) {
    using T = TestType;
    const std::vector<loom::Tensor<T>> xs = {
        loom_test::random_tensor<T>(Shape{2, 3}, 1),
        loom_test::random_tensor<T>(Shape{2, 3}, 2),
        loom_test::random_tensor<T>(Shape{2, 3}, 3),
        loom_test::random_tensor<T>(Shape{2, 3}, 4),
    };
    // y[n at position `at`] = xs[n][i, j]
    auto check_stacked = [&](const loom::Tensor<T>& y, int at) {
        for (index_t n = 0; n < 4; ++n)
            for (index_t i = 0; i < 2; ++i)
                for (index_t j = 0; j < 3; ++j) {
                    const T got = at == 0 ? y.at({n, i, j}) : at == 1 ? y.at({i, n, j}) : y.at({i, j, n});
                    CHECK(got == xs[static_cast<std::size_t>(n)].at({i, j}));
                }
    };
    SECTION("dim 0") {
        const auto y = loom::stack(xs, 0);
        REQUIRE(y.shape() == Shape{4, 2, 3});
        check_stacked(y, 0);
        CHECK(loom::stack(xs, -3).to_vector() == y.to_vector());
    }
    SECTION("middle") {
        const auto y = loom::stack(xs, 1);
        REQUIRE(y.shape() == Shape{2, 4, 3});
        check_stacked(y, 1);
        CHECK(loom::stack(xs, -2).to_vector() == y.to_vector());
    }
    SECTION("end (dim = rank)") {
        const auto y = loom::stack(xs, 2);
        REQUIRE(y.shape() == Shape{2, 3, 4});
        check_stacked(y, 2);
        CHECK(loom::stack(xs, -1).to_vector() == y.to_vector());
    }
    SECTION("scalars stack into a vector") {
        const auto y = loom::stack<T>({loom::Tensor<T>::scalar(T(1)), loom::Tensor<T>::scalar(T(2))}, 0);
        REQUIRE(y.shape() == Shape{2});
        CHECK(y.to_vector() == std::vector<T>{1, 2});
    }
}

TEST_CASE("stack rejects bad inputs", "[concat][stack][errors]") {
    const auto a = loom::Tensorf::zeros(Shape{2, 3});
    const auto b = loom::Tensorf::zeros(Shape{3, 2});

    SECTION("shape mismatch names the tensor index") {
        REQUIRE_THROWS_AS(loom::stack<float>({a, a, b}, 0), loom::Error);
        const std::string message = error_message([&] { loom::stack<float>({a, a, b}, 0); });
        INFO(message);
        CHECK(contains(message, "loom::stack"));
        CHECK(contains(message, "tensor 2"));
        CHECK(contains(message, "[3, 2]"));
        CHECK(contains(message, "[2, 3]"));
    }
    SECTION("dimension out of range") {
        REQUIRE_THROWS_AS(loom::stack<float>({a, a}, -4), loom::Error);
        const std::string message = error_message([&] { loom::stack<float>({a, a}, 3); });
        INFO(message);
        CHECK(contains(message, "loom::stack"));
        CHECK(contains(message, "3"));
        CHECK(contains(message, "[2, 3]"));
    }
    SECTION("result above the maximum rank") {
        const auto four = loom::Tensorf::zeros(Shape{1, 2, 1, 2});
        const std::string message = error_message([&] { loom::stack<float>({four, four}, 0); });
        INFO(message);
        CHECK(contains(message, "loom::stack"));
        CHECK(contains(message, "[1, 2, 1, 2]"));
    }
    SECTION("no tensors") {
        CHECK(contains(error_message([&] { loom::stack<float>({}, 0); }), "loom::stack"));
    }
}

TEST_CASE("concat passes gradcheck with 3 inputs of different sizes", "[concat][gradcheck]") {
    using Inputs = std::vector<loom::Tensord>;
    const std::vector<Shape> bases = {Shape{2, 3, 4}, Shape{1, 1, 1}, Shape{3, 1, 2}};
    for (std::size_t s = 0; s < bases.size(); ++s)
        for (int dim = -3; dim < 3; ++dim) {
            const int d = dim < 0 ? dim + 3 : dim;
            INFO("base " << bases[s] << ", dim " << dim);
            const Inputs xs = {
                loom_test::random_tensor<double>(bases[s].with(d, 1), 40 + s),
                loom_test::random_tensor<double>(bases[s].with(d, 3), 50 + s),
                loom_test::random_tensor<double>(bases[s].with(d, 2), 60 + s),
            };
            LOOM_CHECK_GRADIENTS([dim](const Inputs& in) { return loom::concat(in, dim); }, xs);
        }
    SECTION("rank 1") {
        const Inputs xs = {loom_test::random_tensor<double>(Shape{1}, 1),
                           loom_test::random_tensor<double>(Shape{4}, 2),
                           loom_test::random_tensor<double>(Shape{2}, 3)};
        LOOM_CHECK_GRADIENTS([](const Inputs& in) { return loom::concat(in, 0); }, xs);
    }
}

TEST_CASE("stack passes gradcheck at the start, middle and end", "[concat][stack][gradcheck]") {
    using Inputs = std::vector<loom::Tensord>;
    for (const Shape& shape : {Shape{1}, Shape{2, 3}, Shape{3, 1, 2}}) {
        const Inputs xs = {loom_test::random_tensor<double>(shape, 7), loom_test::random_tensor<double>(shape, 8),
                           loom_test::random_tensor<double>(shape, 9)};
        for (int dim = -shape.rank() - 1; dim <= shape.rank(); ++dim) {
            INFO("shape " << shape << ", dim " << dim);
            LOOM_CHECK_GRADIENTS([dim](const Inputs& in) { return loom::stack(in, dim); }, xs);
        }
    }
}

TEST_CASE("concat and stack give gradients only to inputs that require them", "[concat][autograd]") {
    auto a = loom_test::random_tensor<double>(Shape{2, 1}, 1);
    auto b = loom_test::random_tensor<double>(Shape{2, 2}, 2);
    auto c = loom_test::random_tensor<double>(Shape{2, 3}, 3);
    a.requires_grad_();
    c.requires_grad_();

    SECTION("concat") {
        const auto y = loom::concat<double>({a, b, c}, 1);
        REQUIRE(y.requires_grad());
        // The graph does not keep the constant input alive.
        REQUIRE(y.grad_fn()->inputs.size() == 3);
        CHECK_FALSE(y.grad_fn()->inputs[1].defined());
        auto upstream = loom::Tensord::empty(Shape{2, 6});
        for (index_t i = 0; i < upstream.numel(); ++i) upstream.data()[i] = static_cast<double>(i);
        y.backward(upstream);
        REQUIRE(a.grad().defined());
        REQUIRE(c.grad().defined());
        CHECK_FALSE(b.grad().defined());
        CHECK(a.grad().to_vector() == std::vector<double>{0, 6});
        CHECK(c.grad().to_vector() == std::vector<double>{3, 4, 5, 9, 10, 11});
    }
    SECTION("stack") {
        auto d = loom_test::random_tensor<double>(Shape{2, 2}, 4);
        d.requires_grad_();
        const auto y = loom::stack<double>({b, d}, 1);  // [2, 2, 2]
        auto upstream = loom::Tensord::empty(y.shape());
        for (index_t i = 0; i < upstream.numel(); ++i) upstream.data()[i] = static_cast<double>(i);
        y.backward(upstream);
        CHECK_FALSE(b.grad().defined());
        REQUIRE(d.grad().defined());
        // d[i, j] sits at y[i, 1, j], flat index 4 i + 2 + j.
        CHECK(d.grad().to_vector() == std::vector<double>{2, 3, 6, 7});
    }
    SECTION("nothing requires grad: no graph") {
        const auto y = loom::concat<double>({b, b.detach()}, 0);
        CHECK_FALSE(y.requires_grad());
        CHECK(y.is_leaf());
    }
}

}  // namespace ops_concat_test
