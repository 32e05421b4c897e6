#include "test_util.hpp"

// loom::MultiheadSelfAttention and loom::TransformerBlock against PyTorch
// (issue 5): torch.nn.MultiheadAttention(d, H, batch_first=True) called as
// attn(x, x, x) and torch.nn.TransformerEncoderLayer(d, H, F, dropout=0,
// activation=gelu(tanh), batch_first=True, norm_first=True) with a causal
// src_mask. The fixtures (tests/data/mha_*.txt, transformer_block_*.txt, made by
// tests/fixtures/make_attention_fixtures.py) hold PyTorch's parameters under
// their state-dict names; loom's named_parameters() must have exactly those
// names and shapes, the values are copied in by name, and then y, the input's
// gradient and every parameter's gradient of sum(y ⊙ dy) are compared element
// by element: double against PyTorch's float64 run at relative 1e-10, float
// against PyTorch's float32 run (and against the float64 one) at 1e-5. Also:
// eval() gives the same y, step() with the key/value cache reproduces PyTorch's
// y position by position, and the default initialisation follows PyTorch's.

#include <cmath>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "fixture_reader.hpp"
#include "loom/nn/attention.hpp"
#include "loom/nn/transformer.hpp"

namespace nn_attention_fixtures_test {  // named: the test files are compiled together in unity batches

using loom::index_t;
using loom::Shape;
using loom::Tensor;

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 1e-5 : 1e-10;
}

inline std::string join(const std::set<std::string>& names) {
    std::ostringstream out;
    for (const std::string& name : names) out << name << " ";
    return out.str();
}

// PyTorch's state-dict names of the two modules (no buffers: state_dict() ==
// named_parameters(), which the fixture script asserts).
inline std::set<std::string> mha_names(const std::string& prefix = "") {
    std::set<std::string> names;
    for (const char* name : {"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"})
        names.insert(prefix + name);
    return names;
}

inline std::set<std::string> transformer_names() {
    std::set<std::string> names = mha_names("self_attn.");
    for (const char* module : {"linear1", "linear2", "norm1", "norm2"})
        for (const char* tensor : {".weight", ".bias"}) names.insert(std::string(module) + tensor);
    return names;
}

// The fixture's tensors that are not parameters.
inline bool is_parameter_name(const std::string& name) {
    static const std::set<std::string> others{"num_heads", "causal", "key_padding_mask", "x", "dy", "y"};
    const bool grad = name.size() >= 5 && name.compare(name.size() - 5, 5, "_grad") == 0;
    return !grad && others.count(name) == 0;
}

inline index_t scalar_of(const loom_test::Fixture& fixture, const std::string& name) {
    const Tensor<double> value = fixture.get<double>(name);
    REQUIRE(value.numel() == 1);
    return static_cast<index_t>(std::lround(value.data()[0]));
}

// The fixture's key padding mask as an IndexTensor [B, T] (nonzero = padding),
// or an empty one.
inline loom::IndexTensor padding_mask(const loom_test::Fixture& fixture) {
    if (!fixture.has("key_padding_mask")) return loom::IndexTensor();
    const Tensor<double> mask = fixture.get<double>("key_padding_mask");
    std::vector<index_t> values;
    for (index_t i = 0; i < mask.numel(); ++i) values.push_back(static_cast<index_t>(std::lround(mask.data()[i])));
    return loom::IndexTensor(values, mask.shape());
}

// Checks that loom's parameter names are exactly PyTorch's (the fixture's,
// which must be `expected`), with the same shapes, and copies the values in.
template <typename T>
void load_parameters(const loom::Module<T>& module, const loom_test::Fixture& fixture,
                     const std::set<std::string>& expected) {
    std::set<std::string> in_fixture;
    for (const std::string& name : fixture.names())
        if (is_parameter_name(name)) in_fixture.insert(name);
    INFO("PyTorch's names in the fixture: " << join(in_fixture));
    REQUIRE(in_fixture == expected);

    std::set<std::string> in_loom;
    const auto named = module.named_parameters();
    for (const auto& entry : named) CHECK(in_loom.insert(entry.first).second);  // no name twice
    INFO("loom's names: " << join(in_loom));
    REQUIRE(in_loom == expected);

    for (const auto& entry : named) {
        const Tensor<T> value = fixture.get<T>(entry.first);
        INFO("parameter " << entry.first << ": loom " << entry.second.shape() << ", PyTorch " << value.shape());
        REQUIRE(entry.second.shape() == value.shape());
        Tensor<T> parameter = entry.second;
        parameter.copy_(value);
    }
}

template <typename T>
void check_close(const std::string& what, const Tensor<T>& got, const Tensor<T>& want, double tol) {
    INFO(what);
    loom_test::check_matches(got, want, tol);
}

// Forward and backward of `module` (a MultiheadSelfAttention or a
// TransformerBlock with the fixture's parameters) against the fixture.
template <typename T, typename Layer>
void check_forward_backward(Layer& module, const loom_test::Fixture& fixture, double tol) {
    const loom::IndexTensor mask = padding_mask(fixture);
    Tensor<T> x = fixture.get<T>("x");
    x.requires_grad_();
    const Tensor<T> y = module(x, mask);
    check_close("y", y, fixture.get<T>("y"), tol);

    loom::sum(loom::mul(y, fixture.get<T>("dy"))).backward();
    check_close("x_grad", x.grad(), fixture.get<T>("x_grad"), tol);
    for (const auto& entry : module.named_parameters())
        check_close(entry.first + "_grad", entry.second.grad(), fixture.get<T>(entry.first + "_grad"), tol);

    // Evaluation mode (dropout is 0 anyway) computes the same y.
    module.eval();
    {
        loom::NoGradGuard no_grad;
        check_close("y in eval mode", module(fixture.get<T>("x"), mask), fixture.get<T>("y"), tol);
    }
    module.train();
}

// step() through the sequence with a key/value cache gives PyTorch's y at every
// position (causal layers without padding only).
template <typename T, typename Layer>
void check_steps(Layer& module, const loom_test::Fixture& fixture, double tol) {
    module.eval();
    loom::NoGradGuard no_grad;
    const Tensor<T> x = fixture.get<T>("x"), y = fixture.get<T>("y");
    const index_t batch = x.shape()[0], length = x.shape()[1], dim = x.shape()[2];
    loom::KeyValueCache<T> cache;
    for (index_t t = 0; t < length; ++t) {
        INFO("step " << t);
        const Tensor<T> out = module.step(loom::reshape(loom::narrow(x, 1, t, 1), {batch, dim}), cache, length);
        check_close("step y", out, loom::reshape(loom::narrow(y, 1, t, 1), {batch, dim}), tol);
    }
    module.train();
}

struct Case {
    const char* name;  // fixture files <name>_f64.txt and <name>_f32.txt
    bool transformer;
};

const Case kCases[] = {
    {"mha_causal", false},           {"mha_padding", false},
    {"mha_causal_h1", false},        {"mha_causal_padding_h4", false},
    {"transformer_block_causal", true},
};

// Loads `file` and checks loom in precision T against it.
template <typename T>
void check_case(const Case& c, const std::string& file) {
    INFO("fixture " << file);
    const auto fixture = loom_test::load_fixture(file);
    const double tol = tolerance<T>();
    const Tensor<double> x = fixture.get<double>("x");
    REQUIRE(x.rank() == 3);
    const index_t dim = x.shape()[2], heads = scalar_of(fixture, "num_heads");
    const bool causal = scalar_of(fixture, "causal") != 0;
    const bool padded = fixture.has("key_padding_mask");
    loom::Generator generator(2025);
    if (!c.transformer) {
        loom::MultiheadSelfAttention<T> attention(dim, heads, generator, causal);
        load_parameters(attention, fixture, mha_names());
        check_forward_backward<T>(attention, fixture, tol);
        if (causal && !padded) check_steps<T>(attention, fixture, tol);
    } else {
        REQUIRE(causal);  // TransformerBlock is always causal
        const index_t feedforward = fixture.get<double>("linear1.weight").shape()[0];
        loom::TransformerBlock<T> block(dim, heads, generator, feedforward);
        load_parameters(block, fixture, transformer_names());
        check_forward_backward<T>(block, fixture, tol);
        if (!padded) check_steps<T>(block, fixture, tol);
    }
}

TEST_CASE("MultiheadSelfAttention and TransformerBlock match PyTorch in double", "[attention][transformer][fixture]") {
    for (const Case& c : kCases) check_case<double>(c, std::string(c.name) + "_f64.txt");
}

TEST_CASE("MultiheadSelfAttention and TransformerBlock match PyTorch in float", "[attention][transformer][fixture]") {
    for (const Case& c : kCases) {
        check_case<float>(c, std::string(c.name) + "_f32.txt");  // PyTorch's float32 run
        check_case<float>(c, std::string(c.name) + "_f64.txt");  // and its float64 one
    }
}

// All of |t| <= bound, and the largest is near it (a uniform(−bound, bound) draw).
template <typename T>
void check_uniform(const std::string& what, const Tensor<T>& t, double bound) {
    INFO(what << " should be uniform in ±" << bound);
    double largest = 0.0;
    for (index_t i = 0; i < t.numel(); ++i) largest = std::max(largest, std::abs(static_cast<double>(t.data()[i])));
    CHECK(largest <= bound);
    CHECK(largest >= 0.8 * bound);
}

template <typename T>
void check_constant(const std::string& what, const Tensor<T>& t, double value) {
    INFO(what << " should be all " << value);
    for (index_t i = 0; i < t.numel(); ++i) CHECK(static_cast<double>(t.data()[i]) == value);
}

TEST_CASE("MultiheadSelfAttention and TransformerBlock initialise like PyTorch", "[attention][transformer]") {
    const index_t d = 8, heads = 2, feedforward = 32;
    loom::Generator generator(7);
    loom::MultiheadSelfAttention<double> attention(d, heads, generator);
    check_uniform("in_proj_weight (xavier_uniform)", attention.parameter("in_proj_weight"), std::sqrt(6.0 / (4 * d)));
    check_constant("in_proj_bias", attention.parameter("in_proj_bias"), 0.0);
    check_uniform("out_proj.weight", attention.parameter("out_proj.weight"), 1.0 / std::sqrt(double(d)));
    check_constant("out_proj.bias", attention.parameter("out_proj.bias"), 0.0);

    loom::TransformerBlock<double> block(d, heads, generator, feedforward);
    CHECK(block.parameter_count() == 3 * d * d + 3 * d + d * d + d + 2 * d * feedforward + feedforward + d + 4 * d);
    check_uniform("linear1.weight", block.parameter("linear1.weight"), 1.0 / std::sqrt(double(d)));
    check_uniform("linear1.bias", block.parameter("linear1.bias"), 1.0 / std::sqrt(double(d)));
    check_uniform("linear2.weight", block.parameter("linear2.weight"), 1.0 / std::sqrt(double(feedforward)));
    check_constant("norm1.weight", block.parameter("norm1.weight"), 1.0);
    check_constant("norm2.bias", block.parameter("norm2.bias"), 0.0);
    check_constant("self_attn.out_proj.bias", block.parameter("self_attn.out_proj.bias"), 0.0);
}

}  // namespace nn_attention_fixtures_test
