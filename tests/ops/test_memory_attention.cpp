#include "test_util.hpp"

// Tests for loom/ops/memory_attention.hpp: finite-difference gradients of
// additive_scores, multiplicative_scores (with and without coverage),
// attend_memory (with source lengths, through both outputs) and coverage_loss;
// the values against the equations written out; stability on extreme scores;
// float and double; and the errors.

#include <cmath>
#include <limits>
#include <vector>

#include <loom/ops/memory_attention.hpp>
#include <loom/ops/reduce.hpp>

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace ops_memory_attention_test {

template <typename T>
Tensor<T> random(const Shape& shape, std::uint64_t seed) {
    return loom_test::random_tensor<T>(shape, seed);
}

// Σ t ⊙ R for a fixed random R: every element gets its own gradient.
inline Tensor<double> weighted(const Tensor<double>& t, std::uint64_t seed) {
    return loom::sum(loom::mul(t, random<double>(t.shape(), seed)));
}

TEST_CASE("additive and multiplicative scores pass finite differences", "[memory_attention][gradcheck]") {
    const index_t B = 2, S = 3, A = 4;
    SECTION("additive with coverage") {
        LOOM_CHECK_GRADIENTS(
            [&](const std::vector<Tensor<double>>& x) {
                return weighted(loom::additive_scores(x[0], x[1], x[2], x[3], x[4]), 11);
            },
            (std::vector<Tensor<double>>{random<double>(Shape{B, S, A}, 1), random<double>(Shape{B, A}, 2),
                                         random<double>(Shape{A}, 3), random<double>(Shape{B, S}, 4),
                                         random<double>(Shape{A}, 5)}));
    }
    SECTION("additive without coverage") {
        LOOM_CHECK_GRADIENTS(
            [&](const std::vector<Tensor<double>>& x) { return weighted(loom::additive_scores(x[0], x[1], x[2]), 12); },
            (std::vector<Tensor<double>>{random<double>(Shape{B, S, A}, 6), random<double>(Shape{B, A}, 7),
                                         random<double>(Shape{A}, 8)}));
    }
    SECTION("multiplicative with coverage") {
        LOOM_CHECK_GRADIENTS(
            [&](const std::vector<Tensor<double>>& x) {
                return weighted(loom::multiplicative_scores(x[0], x[1], x[2], x[3]), 13);
            },
            (std::vector<Tensor<double>>{random<double>(Shape{B, S, A}, 9), random<double>(Shape{B, A}, 10),
                                         random<double>(Shape{B, S}, 14), random<double>(Shape{1}, 15)}));
    }
}

TEST_CASE("attend_memory passes finite differences through the context and the weights", "[memory_attention][gradcheck]") {
    const std::vector<index_t> lengths{3, 1, 2};
    LOOM_CHECK_GRADIENTS(
        [&](const std::vector<Tensor<double>>& x) {
            const loom::MemoryRead<double> read = loom::attend_memory(x[0], x[1], lengths);
            return loom::add(weighted(read.context, 16), weighted(read.weights, 17));
        },
        (std::vector<Tensor<double>>{random<double>(Shape{3, 3}, 18), random<double>(Shape{3, 3, 2}, 19)}));
}

TEST_CASE("coverage_loss is the sum of min(a, c) with min's subgradient", "[memory_attention][gradcheck]") {
    // Values kept apart so that no a_i is within the finite-difference step of c_i.
    Tensor<double> a = Tensor<double>::from_vector({0.1, 0.7, 0.4, 0.2}, Shape{2, 2});
    Tensor<double> c = Tensor<double>::from_vector({0.5, 0.3, 0.9, 0.05}, Shape{2, 2});
    CHECK(loom::coverage_loss(a, c).data()[0] == Approx(0.1 + 0.3 + 0.4 + 0.05));
    LOOM_CHECK_GRADIENTS(
        [&](const std::vector<Tensor<double>>& x) { return loom::coverage_loss(x[0], x[1]); },
        (std::vector<Tensor<double>>{a, c}));
}

TEMPLATE_TEST_CASE("attend_memory: the masked softmax and context, written out", "[memory_attention]", float, double) {
    using T = TestType;
    const Tensor<T> scores = random<T>(Shape{2, 3}, 20);
    const Tensor<T> memory = random<T>(Shape{2, 3, 2}, 21);
    const loom::MemoryRead<T> read = loom::attend_memory(scores, memory, {3, 2});
    for (index_t b = 0; b < 2; ++b) {
        const index_t n = b == 0 ? 3 : 2;
        double total = 0;
        for (index_t i = 0; i < n; ++i) total += std::exp(static_cast<double>(scores.data()[b * 3 + i]));
        for (index_t j = 0; j < 2; ++j) {
            double context = 0;
            for (index_t i = 0; i < n; ++i)
                context += std::exp(static_cast<double>(scores.data()[b * 3 + i])) / total *
                           static_cast<double>(memory.data()[(b * 3 + i) * 2 + j]);
            CHECK(static_cast<double>(read.context.data()[b * 2 + j]) == Approx(context).epsilon(1e-5));
        }
    }
    CHECK(read.weights.data()[5] == T(0));  // source 1's padding
}

TEMPLATE_TEST_CASE("attend_memory has no NaN on extreme scores", "[memory_attention]", float, double) {
    using T = TestType;
    const T huge = std::numeric_limits<T>::max() / 4;
    const Tensor<T> scores = Tensor<T>::from_vector({huge, -huge, T(0), -huge, -huge, huge}, Shape{2, 3});
    Tensor<T> memory = random<T>(Shape{2, 3, 2}, 22);
    memory.requires_grad_();
    const loom::MemoryRead<T> read = loom::attend_memory(scores, memory, {3, 2});
    loom::sum(read.context).backward();
    for (index_t i = 0; i < 6; ++i) CHECK(std::isfinite(static_cast<double>(read.weights.data()[i])));
    CHECK(read.weights.data()[0] == T(1));
    CHECK(read.weights.data()[3] == T(0.5));  // source 1: two equal real scores; the huge one is padding
    for (index_t i = 0; i < memory.numel(); ++i) CHECK(std::isfinite(static_cast<double>(memory.grad().data()[i])));
}

TEST_CASE("memory attention ops name themselves and the shapes in their errors", "[memory_attention][errors]") {
    const Tensor<float> keys = Tensor<float>::zeros(Shape{2, 3, 4});
    const Tensor<float> query = Tensor<float>::zeros(Shape{2, 4});
    const Tensor<float> v = Tensor<float>::zeros(Shape{4});
    CHECK(contains(error_message([&] { loom::additive_scores(keys, Tensor<float>::zeros(Shape{2, 5}), v); }),
                   "loom::additive_scores: query must be [2, 4] for keys [2, 3, 4], got [2, 5]"));
    CHECK(contains(error_message([&] { loom::additive_scores(keys, query, Tensor<float>::zeros(Shape{3})); }),
                   "loom::additive_scores: v must be [4], got [3]"));
    CHECK(contains(error_message([&] { loom::additive_scores(keys, query, v, Tensor<float>::zeros(Shape{2, 3})); }),
                   "coverage and its weight must be given together"));
    CHECK(contains(error_message([&] {
                       loom::multiplicative_scores(keys, query, Tensor<float>::zeros(Shape{2, 2}),
                                                   Tensor<float>::zeros(Shape{1}));
                   }),
                   "loom::multiplicative_scores: coverage must be [2, 3] for keys [2, 3, 4], got [2, 2]"));
    CHECK(contains(error_message([&] { loom::multiplicative_scores(Tensor<float>::zeros(Shape{2, 4}), query); }),
                   "keys must be [batch, source, units], got [2, 4]"));
    const Tensor<float> scores = Tensor<float>::zeros(Shape{2, 3});
    CHECK(contains(error_message([&] { loom::attend_memory(scores, keys, {3, 0}); }),
                   "loom::attend_memory: source 1 has length 0 (an all-padding row)"));
    CHECK(contains(error_message([&] { loom::attend_memory(scores, keys, {4, 1}); }),
                   "loom::attend_memory: source 0 has length 4, more than the memory's 3 positions"));
    CHECK(contains(error_message([&] { loom::attend_memory(scores, keys, {1}); }),
                   "loom::attend_memory: lengths has 1 entries for a batch of 2"));
    CHECK(contains(error_message([&] { loom::attend_memory(Tensor<float>::zeros(Shape{2, 4}), keys); }),
                   "loom::attend_memory: scores must be [2, 3] for memory [2, 3, 4], got [2, 4]"));
    CHECK(contains(error_message([&] { loom::coverage_loss(scores, Tensor<float>::zeros(Shape{2, 4})); }),
                   "loom::coverage_loss: weights and coverage must both be [batch, source], got [2, 3] and [2, 4]"));
}

}  // namespace ops_memory_attention_test
