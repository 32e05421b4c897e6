#include "test_util.hpp"

// Tests for loom/ops/conv1d.hpp: conv1d and causal_conv1d forward against a
// direct quadruple loop (float and double), backward by gradcheck for stride,
// padding, dilation, causal, K = 1 and no-bias configurations, gradients for
// only some inputs, the error messages, and causality (future inputs do not
// change the past outputs).

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include <loom/ops/conv1d.hpp>

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace ops_conv1d_test {  // named, not anonymous: the test files are compiled together in unity batches

using Inputs = std::vector<Tensor<double>>;

struct Config {
    const char* name;
    index_t batch, in_channels, length, out_channels, kernel;
    index_t stride, padding, dilation;
    bool bias;
    bool causal;
};

// Left and right padding of a configuration.
index_t pad_left(const Config& c) { return c.causal ? (c.kernel - 1) * c.dilation : c.padding; }
index_t pad_right(const Config& c) { return c.causal ? 0 : c.padding; }

const std::vector<Config>& configs() {
    static const std::vector<Config> all{
        {"plain", 2, 3, 9, 4, 3, 1, 0, 1, true, false},
        {"stride 2", 2, 3, 10, 4, 3, 2, 0, 1, true, false},
        {"padding 1", 2, 3, 7, 2, 3, 1, 1, 1, true, false},
        {"dilation 2", 2, 2, 11, 3, 3, 1, 0, 2, true, false},
        {"stride 3, padding 2, dilation 2", 3, 2, 12, 3, 4, 3, 2, 2, true, false},
        {"causal, dilation 4", 2, 3, 13, 2, 3, 1, 0, 4, true, true},
        {"causal, dilation 1", 1, 2, 5, 3, 2, 1, 0, 1, true, true},
        {"K 1", 2, 4, 6, 3, 1, 1, 0, 1, true, false},
        {"K 1, stride 2, padding 1", 2, 3, 6, 2, 1, 2, 1, 1, true, false},
        {"no bias", 2, 3, 8, 4, 3, 1, 1, 1, false, false},
        {"causal, no bias", 2, 3, 8, 2, 2, 1, 0, 3, false, true},
        {"taps 0 and 2 read only padding", 2, 3, 2, 2, 3, 1, 5, 4, true, false},
    };
    return all;
}

template <typename T>
Tensor<T> run(const Config& c, const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b) {
    return c.causal ? loom::causal_conv1d(x, w, b, c.dilation) : loom::conv1d(x, w, b, c.stride, c.padding, c.dilation);
}

// y[n, o, t] = b[o] + Σ_c Σ_k w[o, c, k] · x[n, c, t·s + k·d − pad_left], in double.
template <typename T>
std::vector<double> reference(const Config& c, const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b,
                              index_t& out_length) {
    out_length = (c.length + pad_left(c) + pad_right(c) - c.dilation * (c.kernel - 1) - 1) / c.stride + 1;
    std::vector<double> y;
    for (index_t n = 0; n < c.batch; ++n)
        for (index_t o = 0; o < c.out_channels; ++o)
            for (index_t t = 0; t < out_length; ++t) {
                double sum = b.defined() ? static_cast<double>(b.data()[o]) : 0.0;
                for (index_t ch = 0; ch < c.in_channels; ++ch)
                    for (index_t k = 0; k < c.kernel; ++k) {
                        const index_t src = t * c.stride + k * c.dilation - pad_left(c);
                        if (src < 0 || src >= c.length) continue;
                        sum += static_cast<double>(w.data()[(o * c.in_channels + ch) * c.kernel + k]) *
                               static_cast<double>(x.data()[(n * c.in_channels + ch) * c.length + src]);
                    }
                y.push_back(sum);
            }
    return y;
}

template <typename T>
Inputs make_inputs(const Config& c, std::uint64_t seed) {
    Inputs inputs{loom_test::random_tensor<double>(Shape{c.batch, c.in_channels, c.length}, seed),
                  loom_test::random_tensor<double>(Shape{c.out_channels, c.in_channels, c.kernel}, seed + 1)};
    if (c.bias) inputs.push_back(loom_test::random_tensor<double>(Shape{c.out_channels}, seed + 2));
    return inputs;
}

template <typename T>
Tensor<T> cast(const Tensor<double>& t) {
    std::vector<T> values(t.data(), t.data() + t.numel());
    return Tensor<T>::from_vector(values, t.shape());
}

TEMPLATE_TEST_CASE("conv1d and causal_conv1d match a direct loop", "[conv1d]", float, double) {
    using T = TestType;
    std::uint64_t seed = 100;
    for (const Config& c : configs()) {
        INFO(c.name);
        const Inputs inputs = make_inputs<T>(c, seed += 3);
        const Tensor<T> x = cast<T>(inputs[0]), w = cast<T>(inputs[1]);
        const Tensor<T> b = c.bias ? cast<T>(inputs[2]) : Tensor<T>();
        index_t out_length = 0;
        const std::vector<double> want = reference(c, x, w, b, out_length);
        const Tensor<T> y = run(c, x, w, b);
        REQUIRE(y.shape() == Shape{c.batch, c.out_channels, out_length});
        if (c.causal) CHECK(out_length == c.length);
        const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
        double worst = 0.0;
        for (index_t i = 0; i < y.numel(); ++i)
            worst = std::max(worst, std::abs(static_cast<double>(y.data()[i]) - want[static_cast<std::size_t>(i)]));
        INFO("largest difference from the direct loop: " << worst);
        CHECK(worst <= tol);
    }
}

TEST_CASE("conv1d output length follows PyTorch's formula", "[conv1d]") {
    // T_out = floor((T + 2p - d(K-1) - 1) / s) + 1
    const auto x = loom_test::random_tensor<double>(Shape{1, 2, 10}, 1);
    const auto w = loom_test::random_tensor<double>(Shape{3, 2, 3}, 2);
    CHECK(loom::conv1d(x, w).shape() == Shape{1, 3, 8});
    CHECK(loom::conv1d(x, w, Tensor<double>(), 2, 2, 2).shape() == Shape{1, 3, 5});
    CHECK(loom::conv1d(x, w, Tensor<double>(), 3, 1, 1).shape() == Shape{1, 3, 4});
    CHECK(loom::conv1d(x, w, Tensor<double>(), 1, 0, 4).shape() == Shape{1, 3, 2});
    CHECK(loom::causal_conv1d(x, w, Tensor<double>(), 5).shape() == Shape{1, 3, 10});
}

TEST_CASE("conv1d gradients match finite differences", "[conv1d][gradcheck]") {
    std::uint64_t seed = 500;
    for (const Config& c : configs()) {
        INFO(c.name);
        Inputs inputs = make_inputs<double>(c, seed += 3);
        for (auto& input : inputs) input.requires_grad_();
        const auto fn = [c](const Inputs& in) { return run(c, in[0], in[1], c.bias ? in[2] : Tensor<double>()); };
        LOOM_CHECK_GRADIENTS(fn, inputs);
    }
}

TEST_CASE("conv1d computes gradients only for the inputs that need them", "[conv1d]") {
    const Config c{"padding 1, stride 2", 2, 3, 9, 4, 3, 2, 1, 1, true, false};
    for (int which = 0; which < 3; ++which) {
        INFO("only input " << which << " requires grad");
        Inputs inputs = make_inputs<double>(c, 900);
        inputs[static_cast<std::size_t>(which)].requires_grad_();
        loom::sum(run(c, inputs[0], inputs[1], inputs[2])).backward();
        for (int i = 0; i < 3; ++i) {
            const Tensor<double>& input = inputs[static_cast<std::size_t>(i)];
            CHECK(input.grad().defined() == (i == which));
            if (i == which) CHECK(input.grad().shape() == input.shape());
        }
        const auto fn = [c](const Inputs& in) { return run(c, in[0], in[1], in[2]); };
        LOOM_CHECK_GRADIENTS(fn, inputs);
    }
}

TEST_CASE("conv1d records nothing when no input requires grad", "[conv1d]") {
    const auto x = loom_test::random_tensor<double>(Shape{1, 2, 6}, 3);
    const auto w = loom_test::random_tensor<double>(Shape{2, 2, 2}, 4);
    const auto y = loom::conv1d(x, w);
    CHECK(!y.requires_grad());
    CHECK(!y.grad_fn());
}

TEST_CASE("causal_conv1d output at time t does not depend on later inputs", "[conv1d][causal]") {
    for (const index_t dilation : {1, 2, 4}) {
        INFO("dilation " << dilation);
        const index_t length = 12;
        const auto x = loom_test::random_tensor<double>(Shape{2, 3, length}, 10);
        const auto w = loom_test::random_tensor<double>(Shape{4, 3, 3}, 11);
        const auto b = loom_test::random_tensor<double>(Shape{4}, 12);
        const auto y = loom::causal_conv1d(x, w, b, dilation);
        for (const index_t cut : {0, 5, 11}) {
            INFO("inputs from time " << cut << " on replaced");
            Tensor<double> changed = x.clone();
            for (index_t i = 0; i < changed.numel(); ++i)
                if (i % length >= cut) changed.data()[i] += 10.0 + static_cast<double>(i);
            const auto y2 = loom::causal_conv1d(changed, w, b, dilation);
            REQUIRE(y2.shape() == y.shape());
            for (index_t i = 0; i < y.numel(); ++i) {
                const index_t t = i % length;
                if (t < cut) CHECK(y2.data()[i] == y.data()[i]);
                else if (t == cut) CHECK(y2.data()[i] != y.data()[i]);  // the present input does count
            }
        }
    }
}

TEST_CASE("conv1d reports bad arguments naming the op and the shapes", "[conv1d][errors]") {
    const auto x = loom_test::random_tensor<double>(Shape{2, 3, 10}, 20);
    const auto w = loom_test::random_tensor<double>(Shape{4, 3, 3}, 21);
    const auto b = loom_test::random_tensor<double>(Shape{4}, 22);
    const Tensor<double> none;

    SECTION("channel mismatch") {
        const auto w2 = loom_test::random_tensor<double>(Shape{4, 5, 3}, 23);
        const std::string message = error_message([&] { loom::conv1d(x, w2, b); });
        INFO(message);
        CHECK(contains(message, "loom::conv1d"));
        CHECK(contains(message, "[2, 3, 10]"));
        CHECK(contains(message, "[4, 5, 3]"));
        const std::string causal = error_message([&] { loom::causal_conv1d(x, w2, b); });
        CHECK(contains(causal, "loom::causal_conv1d"));
        CHECK(contains(causal, "[4, 5, 3]"));
    }
    SECTION("input too short for the kernel") {
        const auto w7 = loom_test::random_tensor<double>(Shape{4, 3, 7}, 24);
        const std::string message = error_message([&] { loom::conv1d(x, w7, b, 1, 0, 2); });
        INFO(message);
        CHECK(contains(message, "loom::conv1d"));
        CHECK(contains(message, "[2, 3, 10]"));
        CHECK(contains(message, "[4, 3, 7]"));
        CHECK(contains(message, "13"));  // the span 2·(7−1) + 1
        // With enough padding the same kernel fits: 10 + 2·2 = 14 >= 13.
        CHECK(loom::conv1d(x, w7, b, 1, 2, 2).shape() == Shape{2, 4, 2});
        const auto empty = Tensor<double>::zeros(Shape{2, 3, 0});
        const std::string causal = error_message([&] { loom::causal_conv1d(empty, w, b); });
        INFO(causal);
        CHECK(contains(causal, "loom::causal_conv1d"));
        CHECK(contains(causal, "[2, 3, 0]"));
    }
    SECTION("stride, dilation and padding out of range") {
        for (const index_t bad : {0, -1}) {
            const std::string stride = error_message([&] { loom::conv1d(x, w, b, bad); });
            INFO(stride);
            CHECK(contains(stride, "loom::conv1d: stride"));
            CHECK(contains(stride, "[2, 3, 10]"));
            const std::string dilation = error_message([&] { loom::conv1d(x, w, b, 1, 0, bad); });
            INFO(dilation);
            CHECK(contains(dilation, "loom::conv1d: dilation"));
            CHECK(contains(dilation, "[4, 3, 3]"));
            const std::string causal = error_message([&] { loom::causal_conv1d(x, w, b, bad); });
            INFO(causal);
            CHECK(contains(causal, "loom::causal_conv1d: dilation"));
        }
        const std::string padding = error_message([&] { loom::conv1d(x, w, b, 1, -1); });
        INFO(padding);
        CHECK(contains(padding, "loom::conv1d: padding"));
    }
    SECTION("wrong ranks and bias shape") {
        const auto flat = loom_test::random_tensor<double>(Shape{3, 10}, 25);
        const std::string input = error_message([&] { loom::conv1d(flat, w, b); });
        INFO(input);
        CHECK(contains(input, "loom::conv1d"));
        CHECK(contains(input, "[3, 10]"));
        const auto w2d = loom_test::random_tensor<double>(Shape{4, 9}, 26);
        const std::string weight = error_message([&] { loom::causal_conv1d(x, w2d, b); });
        INFO(weight);
        CHECK(contains(weight, "loom::causal_conv1d"));
        CHECK(contains(weight, "[4, 9]"));
        const auto b5 = loom_test::random_tensor<double>(Shape{5}, 27);
        const std::string bias = error_message([&] { loom::conv1d(x, w, b5); });
        INFO(bias);
        CHECK(contains(bias, "loom::conv1d: bias"));
        CHECK(contains(bias, "[5]"));
        CHECK(contains(bias, "[4, 3, 3]"));
        const std::string undefined = error_message([&] { loom::conv1d(none, w, b); });
        CHECK(contains(undefined, "loom::conv1d"));
    }
}

// The channels-last ops: x [B, T, C_in] -> [B, T_out, C_out].
template <typename T>
Tensor<T> run_channels_last(const Config& c, const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b) {
    return c.causal ? loom::causal_conv1d_channels_last(x, w, b, c.dilation)
                    : loom::conv1d_channels_last(x, w, b, c.stride, c.padding, c.dilation);
}

TEMPLATE_TEST_CASE("conv1d_channels_last gives conv1d's values and gradients without the transposes",
                   "[conv1d][channels_last]", float, double) {
    using T = TestType;
    std::vector<Config> all = configs();
    // Big enough for whole SIMD tiles in every transpose and full row blocks in the products.
    all.push_back({"larger, causal, dilation 2", 3, 20, 40, 36, 3, 1, 0, 2, true, true});
    all.push_back({"larger, stride 2, padding 3", 2, 17, 45, 33, 4, 2, 3, 1, true, false});
    std::uint64_t seed = 700;
    for (const Config& c : all) {
        INFO(c.name);
        const Inputs inputs = make_inputs<T>(c, seed += 3);
        Tensor<T> x = cast<T>(inputs[0]), w = cast<T>(inputs[1]);
        Tensor<T> b = c.bias ? cast<T>(inputs[2]) : Tensor<T>();
        Tensor<T> x_last = loom::transpose(x).detach();  // [B, T, C_in]
        for (Tensor<T>* t : {&x, &w, &b, &x_last})
            if (t->defined()) t->requires_grad_();

        const Tensor<T> y = run(c, x, w, b);                          // [B, C_out, T_out]
        const Tensor<T> y_last = run_channels_last(c, x_last, w, b);  // [B, T_out, C_out]
        REQUIRE(y_last.shape() == loom::transpose(y).shape());
        // The same computation inside, so the same bits.
        CHECK(loom_test::max_abs_diff(y_last, loom::transpose(y).detach()) == 0.0);

        // Backward with the same upstream gradient in each layout.
        const Tensor<T> g = loom_test::random_tensor<T>(y.shape(), seed + 1);
        y.backward(g);
        const Tensor<T> dw = w.grad().clone(), db = c.bias ? b.grad().clone() : Tensor<T>();
        w.zero_grad();
        if (c.bias) b.zero_grad();
        y_last.backward(loom::transpose(g).detach());
        CHECK(loom_test::max_abs_diff(x_last.grad(), loom::transpose(x.grad()).detach()) == 0.0);
        CHECK(loom_test::max_abs_diff(w.grad(), dw) == 0.0);
        if (c.bias) CHECK(loom_test::max_abs_diff(b.grad(), db) == 0.0);
    }
}

TEST_CASE("conv1d_channels_last gradients match finite differences", "[conv1d][channels_last][gradcheck]") {
    std::uint64_t seed = 900;
    for (const Config& c : configs()) {
        INFO(c.name);
        Inputs inputs = make_inputs<double>(c, seed += 3);
        inputs[0] = loom::transpose(inputs[0]).detach();
        for (auto& input : inputs) input.requires_grad_();
        const auto fn = [c](const Inputs& in) {
            return run_channels_last(c, in[0], in[1], c.bias ? in[2] : Tensor<double>());
        };
        LOOM_CHECK_GRADIENTS(fn, inputs);
    }
}

TEST_CASE("conv1d_channels_last names its layout in errors", "[conv1d][channels_last][errors]") {
    const auto w = loom_test::random_tensor<double>(Shape{4, 3, 3}, 1);
    const auto channels_first = loom_test::random_tensor<double>(Shape{2, 3, 10}, 2);  // C_in in the wrong place
    const std::string wrong = error_message([&] { loom::conv1d_channels_last(channels_first, w); });
    INFO(wrong);
    CHECK(contains(wrong, "loom::conv1d_channels_last: input has 10 channels but weight expects 3"));
    const auto flat = loom_test::random_tensor<double>(Shape{2, 10}, 3);
    const std::string rank = error_message([&] { loom::causal_conv1d_channels_last(flat, w); });
    INFO(rank);
    CHECK(contains(rank, "loom::causal_conv1d_channels_last: input must be [batch, length, in_channels]"));
}

}  // namespace ops_conv1d_test
