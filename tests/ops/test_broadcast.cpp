#include "test_util.hpp"

// Tests for loom/ops/broadcast.hpp: the broadcasting rules (broadcast_shape),
// the forward kernel behind add/sub/mul/div (broadcast_binary) and its backward,
// sum_to. Every forward result is compared with a reference that computes the
// source index of each output element by hand.

#include <string>
#include <type_traits>
#include <vector>

using loom::index_t;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace ops_broadcast_test {  // named, not anonymous: the test files are compiled together in unity batches

using ThreadCountGuard = loom_test::ThreadScope;

// The multi-index of flat (row-major) position `flat` in `shape`.
std::vector<index_t> unravel(index_t flat, const Shape& shape) {
    std::vector<index_t> index(static_cast<std::size_t>(shape.rank()));
    for (int d = shape.rank() - 1; d >= 0; --d) {
        index[static_cast<std::size_t>(d)] = flat % shape[d];
        flat /= shape[d];
    }
    return index;
}

// Flat position in `source` of the element that output element `index` (an
// index into a tensor of rank out_rank) reads: shapes are aligned on the right,
// and a size-1 dimension is read at 0 whatever the output index.
index_t source_flat(const Shape& source, int out_rank, const std::vector<index_t>& index) {
    const int skip = out_rank - source.rank();
    index_t flat = 0;
    for (int d = 0; d < source.rank(); ++d) {
        const index_t i = source[d] == 1 ? 0 : index[static_cast<std::size_t>(skip + d)];
        flat = flat * source[d] + i;
    }
    return flat;
}

// out[i] = fn(a[src_a(i)], b[src_b(i)]) over the given output shape.
template <typename T, typename Fn>
loom::Tensor<T> reference_binary(const loom::Tensor<T>& a, const loom::Tensor<T>& b, const Shape& out_shape, Fn fn) {
    auto out = loom::Tensor<T>::zeros(out_shape);
    for (index_t i = 0; i < out.numel(); ++i) {
        const auto index = unravel(i, out_shape);
        out.data()[i] = fn(a.data()[source_flat(a.shape(), out_shape.rank(), index)],
                           b.data()[source_flat(b.shape(), out_shape.rank(), index)]);
    }
    return out;
}

// Every element of grad added (in double) into the element of `shape` it was copied from.
template <typename T>
std::vector<double> reference_sum_to(const loom::Tensor<T>& grad, const Shape& shape) {
    std::vector<double> out(static_cast<std::size_t>(shape.numel()), 0.0);
    for (index_t i = 0; i < grad.numel(); ++i) {
        const auto index = unravel(i, grad.shape());
        out[static_cast<std::size_t>(source_flat(shape, grad.rank(), index))] += static_cast<double>(grad.data()[i]);
    }
    return out;
}

struct Pattern {
    const char* name;
    Shape a, b, out;
};

// The broadcasting patterns every test below runs through.
const std::vector<Pattern>& patterns() {
    static const std::vector<Pattern> list{
        {"same shape", {2, 3, 4}, {2, 3, 4}, {2, 3, 4}},
        {"rank-0 scalar on the right", {2, 3}, {}, {2, 3}},
        {"rank-0 scalar on the left", {}, {2, 3}, {2, 3}},
        {"both rank 0", {}, {}, {}},
        {"shape {1} on the right", {3, 4}, {1}, {3, 4}},
        {"shape {1} on the left", {1}, {3, 4}, {3, 4}},
        {"{1} against rank 0", {1}, {}, {1}},
        {"bias [C] against [B, T, C]", {2, 3, 4}, {4}, {2, 3, 4}},
        {"bias [C] on the left", {4}, {2, 3, 4}, {2, 3, 4}},
        {"column [N, 1] against [N, C]", {5, 3}, {5, 1}, {5, 3}},
        {"column [N, 1] on the left", {5, 1}, {5, 3}, {5, 3}},
        {"[T, C] against [B, T, C]", {2, 3, 4}, {3, 4}, {2, 3, 4}},
        {"middle dimension repeated", {2, 1, 4}, {2, 3, 4}, {2, 3, 4}},
        {"both sides: [3, 1] and [1, 4]", {3, 1}, {1, 4}, {3, 4}},
        {"both sides, rank 4 and 3", {2, 1, 3, 1}, {4, 1, 5}, {2, 4, 3, 5}},
        {"[1, 1] against [3]", {1, 1}, {3}, {1, 3}},
        {"[1, 3, 1, 2] against [2, 1, 4, 1]", {1, 3, 1, 2}, {2, 1, 4, 1}, {2, 3, 4, 2}},
    };
    return list;
}

TEST_CASE("broadcast_shape aligns on the right and takes the larger size", "[broadcast]") {
    for (const Pattern& p : patterns()) {
        INFO(p.name << ": " << p.a << " and " << p.b);
        CHECK(loom::detail::broadcast_shape(p.a, p.b, "test") == p.out);
        CHECK(loom::detail::broadcast_shape(p.b, p.a, "test") == p.out);
    }
}

TEMPLATE_TEST_CASE("broadcast forward of add, sub, mul, div matches an index-computing loop", "[broadcast]", float,
                   double) {
    using T = TestType;
    std::uint64_t seed = 10;
    for (const Pattern& p : patterns()) {
        INFO(p.name << ": " << p.a << " and " << p.b);
        const auto a = loom_test::random_tensor<T>(p.a, ++seed);
        const auto b = loom_test::random_tensor<T>(p.b, ++seed, 0.5, 1.5);  // away from 0 for div

        // Each result element is one IEEE operation on the same two values as
        // in the reference, so the results must agree exactly.
        const auto sum = loom::add(a, b);
        REQUIRE(sum.shape() == p.out);
        CHECK(loom_test::max_abs_diff(sum, reference_binary(a, b, p.out, [](T x, T y) { return x + y; })) == 0.0);
        const auto difference = loom::sub(a, b);
        REQUIRE(difference.shape() == p.out);
        CHECK(loom_test::max_abs_diff(difference, reference_binary(a, b, p.out, [](T x, T y) { return x - y; })) ==
              0.0);
        const auto product = loom::mul(a, b);
        REQUIRE(product.shape() == p.out);
        CHECK(loom_test::max_abs_diff(product, reference_binary(a, b, p.out, [](T x, T y) { return x * y; })) == 0.0);
        const auto quotient = loom::div(a, b);
        REQUIRE(quotient.shape() == p.out);
        CHECK(loom_test::max_abs_diff(quotient, reference_binary(a, b, p.out, [](T x, T y) { return x / y; })) ==
              0.0);
    }
}

TEMPLATE_TEST_CASE("broadcast of hand-written tensors", "[broadcast]", float, double) {
    using T = TestType;
    SECTION("column [2, 1] plus row [1, 3]") {
        const auto column = loom::Tensor<T>::from_list({10, 20}, Shape{2, 1});
        const auto row = loom::Tensor<T>::from_list({1, 2, 3}, Shape{1, 3});
        const auto y = loom::add(column, row);
        REQUIRE(y.shape() == Shape{2, 3});
        CHECK(y.to_vector() == std::vector<T>{11, 12, 13, 21, 22, 23});
    }
    SECTION("bias [3] added to every row of [2, 2, 3]") {
        const auto x = loom::Tensor<T>::from_list({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, Shape{2, 2, 3});
        const auto bias = loom::Tensor<T>::from_list({100, 200, 300}, Shape{3});
        const auto y = loom::add(x, bias);
        REQUIRE(y.shape() == Shape{2, 2, 3});
        CHECK(y.to_vector() == std::vector<T>{100, 201, 302, 103, 204, 305, 106, 207, 308, 109, 210, 311});
    }
    SECTION("scalar divided by a tensor") {
        const auto y = loom::div(loom::Tensor<T>::scalar(6), loom::Tensor<T>::from_list({1, 2, 3, 4}, Shape{4}));
        CHECK(y.to_vector() == std::vector<T>{6, 3, 2, T(1.5)});
    }
}

TEMPLATE_TEST_CASE("broadcast forward on 2 threads matches the loop for tensors large enough to be split",
                   "[broadcast][threads]", float, double) {
    using T = TestType;
    const ThreadCountGuard threads(2);
    // 64 × 1024 = 2 × parallel_grain elements: both the same-shape path and the
    // row-wise broadcast path split the work over the threads.
    const Shape big{64, 1024};
    const auto a = loom_test::random_tensor<T>(big, 1);
    const auto same = loom_test::random_tensor<T>(big, 2);
    const auto bias = loom_test::random_tensor<T>(Shape{1024}, 3);
    const auto column = loom_test::random_tensor<T>(Shape{64, 1}, 4);
    const auto times = [](T x, T y) { return x * y; };
    CHECK(loom_test::max_abs_diff(loom::mul(a, same), reference_binary(a, same, big, times)) == 0.0);
    CHECK(loom_test::max_abs_diff(loom::mul(a, bias), reference_binary(a, bias, big, times)) == 0.0);
    CHECK(loom_test::max_abs_diff(loom::mul(column, a), reference_binary(column, a, big, times)) == 0.0);
}

TEMPLATE_TEST_CASE("sum_to sums a gradient back to each broadcast shape", "[broadcast][sum_to]", float, double) {
    using T = TestType;
    const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;

    SECTION("hand-computed from a [2, 3] gradient") {
        const auto g = loom::Tensor<T>::from_list({1, 2, 3, 4, 5, 6}, Shape{2, 3});
        CHECK(loom::detail::sum_to(g, Shape{3}).to_vector() == std::vector<T>{5, 7, 9});
        CHECK(loom::detail::sum_to(g, Shape{1, 3}).to_vector() == std::vector<T>{5, 7, 9});
        CHECK(loom::detail::sum_to(g, Shape{2, 1}).to_vector() == std::vector<T>{6, 15});
        const auto total = loom::detail::sum_to(g, Shape{});
        REQUIRE(total.shape() == Shape{});
        CHECK(total.item() == T(21));
        CHECK(loom::detail::sum_to(g, Shape{1}).shape() == Shape{1});
        CHECK(loom::detail::sum_to(g, Shape{1}).item() == T(21));
        CHECK(loom::detail::sum_to(g, Shape{1, 1}).item() == T(21));
    }
    SECTION("same shape gives the gradient unchanged") {
        const auto g = loom_test::random_tensor<T>(Shape{2, 3, 4}, 5);
        const auto same = loom::detail::sum_to(g, g.shape());
        REQUIRE(same.shape() == g.shape());
        CHECK(loom_test::max_abs_diff(same, g) == 0.0);
    }
    SECTION("every pattern, against a loop") {
        std::uint64_t seed = 40;
        for (const Pattern& p : patterns()) {
            const auto g = loom_test::random_tensor<T>(p.out, ++seed);
            for (const Shape& target : {p.a, p.b}) {
                INFO(p.name << ": " << p.out << " summed to " << target);
                const auto reduced = loom::detail::sum_to(g, target);
                REQUIRE(reduced.shape() == target);
                const auto expected = reference_sum_to(g, target);
                for (index_t i = 0; i < reduced.numel(); ++i) {
                    INFO("element " << i);
                    CHECK(std::abs(static_cast<double>(reduced.data()[i]) - expected[static_cast<std::size_t>(i)]) <=
                          tol * static_cast<double>(g.numel()));
                }
            }
        }
    }
}

TEST_CASE("broadcast backward (sum_to) passes gradcheck for every pattern", "[broadcast][gradcheck]") {
    const auto add = [](const std::vector<loom::Tensord>& x) { return loom::add(x[0], x[1]); };
    const auto sub = [](const std::vector<loom::Tensord>& x) { return loom::sub(x[0], x[1]); };
    const auto mul = [](const std::vector<loom::Tensord>& x) { return loom::mul(x[0], x[1]); };
    const auto div = [](const std::vector<loom::Tensord>& x) { return loom::div(x[0], x[1]); };
    std::uint64_t seed = 70;
    for (const Pattern& p : patterns()) {
        INFO(p.name << ": " << p.a << " and " << p.b);
        const std::vector<loom::Tensord> inputs{loom_test::random_tensor<double>(p.a, ++seed),
                                                loom_test::random_tensor<double>(p.b, ++seed, 0.5, 1.5)};
        LOOM_CHECK_GRADIENTS(add, inputs);
        LOOM_CHECK_GRADIENTS(sub, inputs);
        LOOM_CHECK_GRADIENTS(mul, inputs);
        LOOM_CHECK_GRADIENTS(div, inputs);
    }
}

TEST_CASE("broadcast gradient of a repeated operand is the sum over its copies", "[broadcast][autograd]") {
    // y = x + bias with bias [3] repeated over 2 rows: dL/dbias = column sums of g.
    auto x = loom::Tensord::zeros(Shape{2, 3}).requires_grad_();
    auto bias = loom::Tensord::zeros(Shape{3}).requires_grad_();
    const auto g = loom::Tensord::from_list({1, 2, 3, 4, 5, 6}, Shape{2, 3});
    loom::add(x, bias).backward(g);
    REQUIRE(bias.grad().defined());
    CHECK(bias.grad().to_vector() == std::vector<double>{5, 7, 9});
    CHECK(x.grad().to_vector() == g.to_vector());
}

TEST_CASE("broadcast rejects incompatible shapes naming the op and both shapes", "[broadcast][errors]") {
    const auto a = loom::Tensorf::zeros(Shape{2, 3});
    const auto b = loom::Tensorf::zeros(Shape{4});
    const auto c = loom::Tensorf::zeros(Shape{3, 2});
    const auto d = loom::Tensorf::zeros(Shape{2, 3, 4});
    const auto e = loom::Tensorf::zeros(Shape{5, 4});

    REQUIRE_THROWS_AS(loom::add(a, b), loom::Error);
    const std::string add_message = error_message([&] { loom::add(a, b); });
    INFO(add_message);
    CHECK(contains(add_message, "loom::add"));
    CHECK(contains(add_message, "[2, 3]"));
    CHECK(contains(add_message, "[4]"));

    const std::string sub_message = error_message([&] { loom::sub(c, a); });
    INFO(sub_message);
    CHECK(contains(sub_message, "loom::sub"));
    CHECK(contains(sub_message, "[3, 2]"));
    CHECK(contains(sub_message, "[2, 3]"));

    const std::string mul_message = error_message([&] { loom::mul(d, e); });
    INFO(mul_message);
    CHECK(contains(mul_message, "loom::mul"));
    CHECK(contains(mul_message, "[2, 3, 4]"));
    CHECK(contains(mul_message, "[5, 4]"));

    const std::string div_message = error_message([&] { loom::div(b, a); });
    INFO(div_message);
    CHECK(contains(div_message, "loom::div"));
    CHECK(contains(div_message, "[4]"));
    CHECK(contains(div_message, "[2, 3]"));

    const std::string direct = error_message([] { loom::detail::broadcast_shape(Shape{3, 1}, Shape{2, 4}, "op"); });
    INFO(direct);
    CHECK(contains(direct, "[3, 1]"));
    CHECK(contains(direct, "[2, 4]"));
}

}  // namespace ops_broadcast_test
