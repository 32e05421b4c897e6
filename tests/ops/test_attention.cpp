#include "test_util.hpp"

// Tests for loom/ops/attention.hpp: the fused multi-head attention against the
// same computation composed from loom's ops (narrow, matmul, masked_fill,
// softmax, concat) in forward and backward, gradcheck (causal, not causal,
// padding, dropout), extreme scores, fully padded rows, attention_step against
// the full op, and the argument checks.

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <loom/autograd/engine.hpp>
#include <loom/autograd/gradcheck.hpp>
#include <loom/ops/arithmetic.hpp>
#include <loom/ops/attention.hpp>
#include <loom/ops/concat.hpp>
#include <loom/ops/masked_fill.hpp>
#include <loom/ops/matmul.hpp>
#include <loom/ops/reduce.hpp>
#include <loom/ops/slice.hpp>
#include <loom/ops/softmax.hpp>

using loom::index_t;
using loom::IndexTensor;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace ops_attention_test {  // named, not anonymous: the test files are compiled together in unity batches

using loom_test::check_matches;

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 1e-5 : 1e-12;
}

// The mask of query i against key j for sequence b: causal and/or padding, as
// a [B, T, T] IndexTensor (1 = hidden).
IndexTensor full_mask(index_t batch, index_t length, bool causal, const IndexTensor& padding) {
    IndexTensor mask = IndexTensor::zeros(Shape{batch, length, length});
    for (index_t b = 0; b < batch; ++b)
        for (index_t i = 0; i < length; ++i)
            for (index_t j = 0; j < length; ++j) {
                const bool hidden = (causal && j > i) || (padding.numel() > 0 && padding[b * length + j] != 0);
                mask[(b * length + i) * length + j] = hidden ? 1 : 0;
            }
    return mask;
}

// The same attention from general ops; every step has its own recorded backward.
template <typename T>
Tensor<T> composed_attention(const Tensor<T>& qkv, index_t heads, bool causal, const IndexTensor& padding) {
    const index_t batch = qkv.shape()[0], length = qkv.shape()[1], d = qkv.shape()[2] / 3, D = d / heads;
    const IndexTensor mask = full_mask(batch, length, causal, padding);
    std::vector<Tensor<T>> outputs;
    for (index_t h = 0; h < heads; ++h) {
        const Tensor<T> q = loom::narrow(qkv, 2, h * D, D);
        const Tensor<T> k = loom::narrow(qkv, 2, d + h * D, D);
        const Tensor<T> v = loom::narrow(qkv, 2, 2 * d + h * D, D);
        Tensor<T> scores = loom::mul(loom::matmul(q, k, false, true), static_cast<T>(1.0 / std::sqrt(double(D))));
        scores = loom::masked_fill(scores, mask, -std::numeric_limits<T>::infinity());
        outputs.push_back(loom::matmul(loom::softmax(scores), v));
    }
    return loom::concat(outputs, 2);
}

template <typename T>
Tensor<T> random_qkv(index_t batch, index_t length, index_t d, std::uint64_t seed, T scale = T(1)) {
    loom::Generator generator(seed);
    return Tensor<T>::uniform(Shape{batch, length, 3 * d}, -scale, scale, generator);
}

TEMPLATE_TEST_CASE("attention matches the composed ops, forward and backward", "[attention]", float, double) {
    using T = TestType;
    struct Case {
        index_t batch, length, d, heads;
        bool causal, padded;
    };
    for (const Case& c : {Case{1, 1, 4, 1, true, false}, Case{2, 5, 8, 2, true, false}, Case{3, 7, 12, 3, false, false},
                          Case{2, 6, 8, 4, true, true}, Case{2, 4, 6, 1, false, true}, Case{9, 16, 32, 4, true, false}}) {
        INFO("batch " << c.batch << " length " << c.length << " d " << c.d << " heads " << c.heads << " causal "
                      << c.causal << " padded " << c.padded);
        IndexTensor padding;
        if (c.padded) {  // the last position of every sequence but the first is padding
            padding = IndexTensor::zeros(Shape{c.batch, c.length});
            for (index_t b = 1; b < c.batch; ++b) padding[b * c.length + c.length - 1] = 1;
        }
        loom::AttentionOptions options;
        options.causal = c.causal;
        options.key_padding_mask = padding;

        Tensor<T> qkv = random_qkv<T>(c.batch, c.length, c.d, 7);
        qkv.requires_grad_(true);
        Tensor<T> fused = loom::attention(qkv, c.heads, options);
        Tensor<T> reference = composed_attention(qkv.detach(), c.heads, c.causal, padding);
        check_matches(fused, reference, tolerance<T>());

        loom::Generator generator(3);
        const Tensor<T> upstream = Tensor<T>::uniform(fused.shape(), T(-1), T(1), generator);
        loom::sum(loom::mul(fused, upstream)).backward();
        const Tensor<T> fused_grad = qkv.grad();
        qkv.zero_grad();
        loom::sum(loom::mul(composed_attention(qkv, c.heads, c.causal, padding), upstream)).backward();
        check_matches(fused_grad, qkv.grad(), tolerance<T>());
    }
}

TEST_CASE("attention gradcheck", "[attention][gradcheck]") {
    using Inputs = std::vector<loom::Tensord>;
    const loom::Tensord qkv = random_qkv<double>(2, 5, 6, 11);
    for (bool causal : {true, false}) {
        loom::AttentionOptions options;
        options.causal = causal;
        LOOM_CHECK_GRADIENTS([&](const Inputs& in) { return loom::attention(in[0], 2, options); }, (Inputs{qkv}));
    }
    loom::AttentionOptions padded;
    padded.key_padding_mask = IndexTensor({0, 0, 1, 0, 1, 1, 0, 0, 0, 0}, Shape{2, 5});
    LOOM_CHECK_GRADIENTS([&](const Inputs& in) { return loom::attention(in[0], 3, padded); }, (Inputs{qkv}));
}

TEST_CASE("attention gradcheck with dropout on the weights", "[attention][gradcheck][dropout]") {
    using Inputs = std::vector<loom::Tensord>;
    const loom::Tensord qkv = random_qkv<double>(2, 4, 4, 5);
    // gradcheck needs a deterministic function: the generator is re-seeded on every call.
    LOOM_CHECK_GRADIENTS(
        [](const Inputs& in) {
            loom::Generator generator(42);
            loom::AttentionOptions options;
            options.dropout = 0.3;
            options.generator = &generator;
            return loom::attention(in[0], 2, options);
        },
        (Inputs{qkv}));
}

TEST_CASE("attention dropout keeps the expected value and is reproducible", "[attention][dropout]") {
    const Tensor<double> qkv = random_qkv<double>(4, 8, 8, 9);
    const Tensor<double> plain = loom::attention(qkv, 2);
    loom::Generator first(5), second(5);
    loom::AttentionOptions options;
    options.dropout = 0.5;
    options.generator = &first;
    const Tensor<double> a = loom::attention(qkv, 2, options);
    options.generator = &second;
    const Tensor<double> b = loom::attention(qkv, 2, options);
    CHECK(loom_test::max_abs_diff(a, b) == 0.0);
    CHECK(loom_test::max_abs_diff(a, plain) > 1e-3);  // something was dropped
    // Averaged over many masks, dropout with 1/(1-p) scaling is unbiased.
    Tensor<double> mean = Tensor<double>::zeros(plain.shape());
    const int draws = 2000;
    for (int k = 0; k < draws; ++k) mean.flat() += loom::attention(qkv, 2, options).flat() / draws;
    CHECK(loom_test::max_abs_diff(mean, plain) < 0.1);
}

TEMPLATE_TEST_CASE("attention stays finite on extreme scores and on fully padded rows", "[attention][numerics]", float,
                   double) {
    using T = TestType;
    // Scores near ±1e4·√D would overflow exp without the max subtraction.
    Tensor<T> qkv = random_qkv<T>(2, 6, 4, 13, T(100));
    qkv.requires_grad_(true);
    Tensor<T> out = loom::attention(qkv, 1);
    loom::sum(out).backward();
    for (index_t i = 0; i < out.numel(); ++i) REQUIRE(std::isfinite(out.data()[i]));
    for (index_t i = 0; i < qkv.numel(); ++i) REQUIRE(std::isfinite(qkv.grad().data()[i]));

    // Sequence 1 is all padding: its rows are zero (PyTorch would give NaN) and
    // pass no gradient; sequence 0 is unaffected.
    qkv.zero_grad();
    loom::AttentionOptions options;
    options.causal = false;
    options.key_padding_mask = IndexTensor({0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1}, Shape{2, 6});
    out = loom::attention(qkv, 2, options);
    loom::sum(out).backward();
    for (index_t i = 6 * 4; i < 12 * 4; ++i) CHECK(out.data()[i] == T(0));
    for (index_t i = 6 * 12; i < 12 * 12; ++i) CHECK(qkv.grad().data()[i] == T(0));
    for (index_t i = 0; i < out.numel(); ++i) REQUIRE(std::isfinite(out.data()[i]));
}

TEMPLATE_TEST_CASE("attention_step over a cache equals the last row of full causal attention", "[attention][cache]",
                   float, double) {
    using T = TestType;
    const index_t batch = 3, length = 9, d = 8, heads = 2, capacity = 12;
    const Tensor<T> qkv = random_qkv<T>(batch, length, d, 17);
    const Tensor<T> full = loom::attention(qkv, heads);
    Tensor<T> keys = Tensor<T>::zeros(Shape{batch, capacity, d}), values = Tensor<T>::zeros(Shape{batch, capacity, d});
    for (index_t t = 0; t < length; ++t) {
        Tensor<T> query = Tensor<T>::empty(Shape{batch, d});
        for (index_t b = 0; b < batch; ++b)
            for (index_t c = 0; c < d; ++c) {
                const T* row = qkv.data() + (b * length + t) * 3 * d;
                query.data()[b * d + c] = row[c];
                keys.data()[(b * capacity + t) * d + c] = row[d + c];
                values.data()[(b * capacity + t) * d + c] = row[2 * d + c];
            }
        const Tensor<T> step = loom::attention_step(query, keys, values, t + 1, heads);
        Tensor<T> want = Tensor<T>::empty(Shape{batch, d});
        for (index_t b = 0; b < batch; ++b)
            for (index_t c = 0; c < d; ++c) want.data()[b * d + c] = full.data()[(b * length + t) * d + c];
        check_matches(step, want, tolerance<T>());
    }
}

TEST_CASE("attention argument errors name the op and the shapes", "[attention][errors]") {
    const Tensor<float> qkv = Tensor<float>::zeros(Shape{2, 3, 12});
    CHECK(contains(error_message([&] { loom::attention(Tensor<float>::zeros(Shape{2, 3, 10}), 2); }),
                   "qkv [batch, length, 3 * model_dim]"));
    CHECK(contains(error_message([&] { loom::attention(Tensor<float>::zeros(Shape{6, 12}), 2); }), "[6, 12]"));
    CHECK(contains(error_message([&] { loom::attention(qkv, 3); }), "not divisible by num_heads 3"));
    CHECK(contains(error_message([&] { loom::attention(qkv, 0); }), "num_heads 0"));
    loom::AttentionOptions options;
    options.key_padding_mask = IndexTensor::zeros(Shape{2, 4});
    CHECK(contains(error_message([&] { loom::attention(qkv, 2, options); }), "key_padding_mask must be [2, 3]"));
    options = loom::AttentionOptions();
    options.dropout = 0.1;
    CHECK(contains(error_message([&] { loom::attention(qkv, 2, options); }), "needs a generator"));
    options.dropout = 1.0;
    CHECK(contains(error_message([&] { loom::attention(qkv, 2, options); }), "dropout must be in [0, 1)"));

    const Tensor<float> cache = Tensor<float>::zeros(Shape{2, 5, 4});
    CHECK(contains(error_message([&] { loom::attention_step(Tensor<float>::zeros(Shape{2, 4}), cache, cache, 6, 2); }),
                   "length 6 must be in [1, capacity 5]"));
    CHECK(contains(error_message([&] { loom::attention_step(Tensor<float>::zeros(Shape{3, 4}), cache, cache, 1, 2); }),
                   "needs keys and values [3, capacity, 4]"));
    CHECK(contains(error_message([&] { loom::attention_step(Tensor<float>::zeros(Shape{2, 4}), cache, cache, 1, 3); }),
                   "not divisible by num_heads 3"));
}

TEST_CASE("attention on empty batches", "[attention]") {
    Tensor<float> qkv = Tensor<float>::zeros(Shape{0, 4, 6});
    qkv.requires_grad_(true);
    const Tensor<float> out = loom::attention(qkv, 2);
    CHECK(out.shape() == Shape{0, 4, 2});
    loom::sum(out).backward();
    CHECK(qkv.grad().shape() == Shape{0, 4, 6});
}

}  // namespace ops_attention_test
