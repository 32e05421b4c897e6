#include "test_util.hpp"

// Tests for loom/nn/attention.hpp, loom/nn/transformer.hpp and
// loom/nn/dropout.hpp: parameter names, shapes and initialisation (PyTorch's),
// gradchecks of the whole layers, step() with a key/value cache against
// forward() on the whole sequence (float and double), cache reordering,
// dropout in train/eval mode, and the errors. The match with PyTorch's own
// numbers is tests/nn/test_attention_fixtures.cpp.

#include <cmath>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include <loom/autograd/engine.hpp>
#include <loom/autograd/gradcheck.hpp>
#include <loom/autograd/grad_mode.hpp>
#include <loom/nn/attention.hpp>
#include <loom/nn/dropout.hpp>
#include <loom/nn/transformer.hpp>
#include <loom/ops/reduce.hpp>

using loom::index_t;
using loom::IndexTensor;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace nn_attention_test {  // named, not anonymous: the test files are compiled together in unity batches

using loom_test::check_matches;

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 2e-5 : 1e-12;
}

std::set<std::string> names_of(const loom::Module<double>& module) {
    std::set<std::string> names;
    for (const auto& named : module.named_parameters()) names.insert(named.first);
    return names;
}

// Rows [b, t, :] of a [B, T, d] tensor for one t, as [B, d].
template <typename T>
Tensor<T> position(const Tensor<T>& x, index_t t) {
    const index_t batch = x.shape()[0], length = x.shape()[1], d = x.shape()[2];
    Tensor<T> out = Tensor<T>::empty(Shape{batch, d});
    for (index_t b = 0; b < batch; ++b)
        for (index_t c = 0; c < d; ++c) out.data()[b * d + c] = x.data()[(b * length + t) * d + c];
    return out;
}

TEST_CASE("MultiheadSelfAttention has PyTorch's parameters and initialisation", "[attention][nn]") {
    loom::Generator generator(1);
    loom::MultiheadSelfAttention<double> attention(64, 4, generator);
    CHECK(names_of(attention) ==
          std::set<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"});
    CHECK(attention.in_proj_weight.shape() == Shape{192, 64});
    CHECK(attention.in_proj_bias.shape() == Shape{192});
    CHECK(attention.out_proj.weight.shape() == Shape{64, 64});
    CHECK(attention.parameter_count() == 4 * 64 * 64 + 4 * 64);
    // xavier_uniform on [3d, d]: |w| <= √(6 / 4d), and the spread fills the range.
    const double bound = std::sqrt(6.0 / 256.0);
    CHECK(attention.in_proj_weight.flat().abs().maxCoeff() <= bound);
    CHECK(attention.in_proj_weight.flat().abs().maxCoeff() > 0.95 * bound);
    CHECK(attention.in_proj_bias.flat().abs().maxCoeff() == 0.0);
    CHECK(attention.out_proj.bias.flat().abs().maxCoeff() == 0.0);
    CHECK(attention.out_proj.weight.flat().abs().maxCoeff() <= 1.0 / 8.0);
}

TEST_CASE("MultiheadSelfAttention gradcheck over input and parameters", "[attention][nn][gradcheck]") {
    using Inputs = std::vector<loom::Tensord>;
    loom::Generator generator(2);
    loom::MultiheadSelfAttention<double> attention(6, 2, generator);
    attention.in_proj_bias.flat() = Eigen::ArrayXd::LinSpaced(18, -0.3, 0.3);  // nonzero, so its gradient is tested
    const loom::Tensord x = loom::Tensord::uniform(Shape{2, 4, 6}, -1, 1, generator);
    const IndexTensor padding({0, 0, 0, 1, 0, 0, 0, 0}, Shape{2, 4});
    LOOM_CHECK_GRADIENTS(
        [&](const Inputs& in) {
            attention.in_proj_weight = in[1];
            attention.in_proj_bias = in[2];
            attention.out_proj.weight = in[3];
            attention.out_proj.bias = in[4];
            return attention(in[0], padding);
        },
        (Inputs{x, attention.in_proj_weight, attention.in_proj_bias, attention.out_proj.weight,
                attention.out_proj.bias}));
}

TEMPLATE_TEST_CASE("MultiheadSelfAttention::step with a cache equals forward on the whole sequence",
                   "[attention][nn][cache]", float, double) {
    using T = TestType;
    loom::Generator generator(3);
    loom::MultiheadSelfAttention<T> attention(16, 4, generator);
    attention.eval();
    const index_t batch = 3, length = 7;
    const Tensor<T> x = Tensor<T>::uniform(Shape{batch, length, 16}, T(-1), T(1), generator);
    loom::NoGradGuard no_grad;
    const Tensor<T> full = attention(x);
    loom::KeyValueCache<T> cache;
    for (index_t t = 0; t < length; ++t) {
        const Tensor<T> step = attention.step(position(x, t), cache, length);
        check_matches(step, position(full, t), tolerance<T>());
    }
    CHECK(cache.length == length);
    CHECK(contains(error_message([&] { attention.step(position(x, 0), cache, length); }), "the cache is full (7"));
}

TEST_CASE("KeyValueCache::reorder continues each row from its parent", "[attention][nn][cache]") {
    loom::Generator generator(4);
    loom::MultiheadSelfAttention<double> attention(8, 2, generator);
    attention.eval();
    const Tensor<double> x = Tensor<double>::uniform(Shape{3, 5, 8}, -1, 1, generator);
    loom::NoGradGuard no_grad;
    loom::KeyValueCache<double> cache;
    for (index_t t = 0; t < 3; ++t) attention.step(position(x, t), cache, 5);
    // Rows (2, 2, 0) continue sequences 2, 2 and 0 — beam search keeping parents.
    cache.reorder({2, 2, 0});
    CHECK(cache.batch() == 3);
    Tensor<double> next = Tensor<double>::empty(Shape{3, 8});
    const Tensor<double> x3 = position(x, 3);
    for (index_t c = 0; c < 8; ++c) {
        next.data()[0 * 8 + c] = x3.data()[2 * 8 + c];
        next.data()[1 * 8 + c] = x3.data()[2 * 8 + c];
        next.data()[2 * 8 + c] = x3.data()[0 * 8 + c];
    }
    const Tensor<double> stepped = attention.step(next, cache, 5);
    const Tensor<double> full = position(attention(x), 3);
    for (index_t c = 0; c < 8; ++c) {
        CHECK(stepped.data()[0 * 8 + c] == Approx(full.data()[2 * 8 + c]).margin(1e-12));
        CHECK(stepped.data()[1 * 8 + c] == Approx(full.data()[2 * 8 + c]).margin(1e-12));
        CHECK(stepped.data()[2 * 8 + c] == Approx(full.data()[0 * 8 + c]).margin(1e-12));
    }
    CHECK(contains(error_message([&] { cache.reorder({0, 3}); }), "row 3 at position 1 is out of range"));
}

TEST_CASE("TransformerBlock has TransformerEncoderLayer's parameter names", "[transformer][nn]") {
    loom::Generator generator(5);
    loom::TransformerBlock<double> block(32, 4, generator);
    CHECK(block.feedforward_dim == 128);
    CHECK(names_of(block) == std::set<std::string>{"self_attn.in_proj_weight", "self_attn.in_proj_bias",
                                                   "self_attn.out_proj.weight", "self_attn.out_proj.bias",
                                                   "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
                                                   "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"});
    CHECK(block.linear1.weight.shape() == Shape{128, 32});
    CHECK(block.linear2.weight.shape() == Shape{32, 128});
}

TEST_CASE("TransformerBlock gradcheck over input and parameters", "[transformer][nn][gradcheck]") {
    using Inputs = std::vector<loom::Tensord>;
    loom::Generator generator(6);
    loom::TransformerBlock<double> block(4, 2, generator, 8);
    block.norm1.weight.flat() = Eigen::ArrayXd::LinSpaced(4, 0.5, 1.5);  // not the identity, so it matters
    block.norm2.bias.flat() = Eigen::ArrayXd::LinSpaced(4, -0.2, 0.2);
    const loom::Tensord x = loom::Tensord::uniform(Shape{2, 3, 4}, -1, 1, generator);
    std::vector<std::pair<std::string, loom::Tensord>> params = block.named_parameters();
    Inputs inputs{x};
    for (auto& named : params) inputs.push_back(named.second);
    LOOM_CHECK_GRADIENTS(
        [&](const Inputs& in) {
            // Point every parameter of the block at the perturbed copy.
            block.self_attn.in_proj_weight = in[1];
            block.self_attn.in_proj_bias = in[2];
            block.self_attn.out_proj.weight = in[3];
            block.self_attn.out_proj.bias = in[4];
            block.linear1.weight = in[5];
            block.linear1.bias = in[6];
            block.linear2.weight = in[7];
            block.linear2.bias = in[8];
            block.norm1.weight = in[9];
            block.norm1.bias = in[10];
            block.norm2.weight = in[11];
            block.norm2.bias = in[12];
            return block(in[0]);
        },
        inputs);
    // The order above must be named_parameters()' order.
    REQUIRE(params.size() == 12);
    CHECK(params[0].first == "self_attn.in_proj_weight");
    CHECK(params[4].first == "linear1.weight");
    CHECK(params[8].first == "norm1.weight");
}

TEMPLATE_TEST_CASE("TransformerBlock::step equals forward on the whole sequence", "[transformer][nn][cache]", float,
                   double) {
    using T = TestType;
    loom::Generator generator(7);
    loom::TransformerBlock<T> block(16, 2, generator);
    block.eval();
    const index_t batch = 2, length = 9;
    const Tensor<T> x = Tensor<T>::uniform(Shape{batch, length, 16}, T(-1), T(1), generator);
    loom::NoGradGuard no_grad;
    const Tensor<T> full = block(x);
    loom::KeyValueCache<T> cache;
    for (index_t t = 0; t < length; ++t) check_matches(block.step(position(x, t), cache, 16), position(full, t), tolerance<T>());
}

TEST_CASE("Dropout modules act in training only and are reproducible", "[dropout][nn]") {
    loom::Generator first(8), second(8);
    loom::Dropout<double> a(0.5, first), b(0.5, second);
    const Tensor<double> x = Tensor<double>::ones(Shape{1000});
    const Tensor<double> ya = a(x), yb = b(x);
    CHECK(loom_test::max_abs_diff(ya, yb) == 0.0);
    const double kept = (ya.flat() > 0).template cast<double>().sum();
    CHECK(kept > 400);
    CHECK(kept < 600);
    a.eval();
    CHECK(loom_test::max_abs_diff(a(x), x) == 0.0);
    CHECK(a.named_generators().size() == 1);
    CHECK(contains(error_message([&] { loom::Dropout<double>(1.5, first); }), "p must be in [0, 1], got 1.5"));
}

TEST_CASE("attention layers reject bad sizes and inputs", "[attention][transformer][errors]") {
    loom::Generator generator(9);
    CHECK(contains(error_message([&] { loom::MultiheadSelfAttention<float>(10, 3, generator); }),
                   "embed_dim 10 must be a positive multiple of num_heads 3"));
    CHECK(contains(error_message([&] { loom::MultiheadSelfAttention<float>(8, 2, generator, true, 1.0); }),
                   "dropout must be in [0, 1)"));
    loom::MultiheadSelfAttention<float> attention(8, 2, generator);
    CHECK(contains(error_message([&] { attention(Tensor<float>::zeros(Shape{2, 3, 6})); }),
                   "expected input [batch, length, 8], got [2, 3, 6]"));
    loom::KeyValueCache<float> cache;
    CHECK(contains(error_message([&] { attention.step(Tensor<float>::zeros(Shape{2, 6}), cache, 4); }),
                   "expected input [batch, 8], got [2, 6]"));
    attention.step(Tensor<float>::zeros(Shape{2, 8}), cache, 4);
    CHECK(contains(error_message([&] { attention.step(Tensor<float>::zeros(Shape{3, 8}), cache, 4); }),
                   "does not fit a cache of shape [2, 4, 8]"));
    loom::MultiheadSelfAttention<float> bidirectional(8, 2, generator, false);
    loom::KeyValueCache<float> other;
    CHECK(contains(error_message([&] { bidirectional.step(Tensor<float>::zeros(Shape{1, 8}), other, 4); }),
                   "only a causal layer can be stepped"));
    loom::TransformerBlock<float> block(8, 2, generator, 0, 0.1);
    CHECK(contains(error_message([&] { block(Tensor<float>::zeros(Shape{2, 8})); }),
                   "expected input [batch, length, 8], got [2, 8]"));
    CHECK(contains(error_message([&] { block.step(Tensor<float>::zeros(Shape{1, 8}), other, 4); }), "call eval() first"));
}

}  // namespace nn_attention_test
