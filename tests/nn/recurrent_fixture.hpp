// tests/nn/recurrent_fixture.hpp — what the RNN/LSTM/GRU tests against PyTorch
// fixtures share (tests/nn/test_{rnn,lstm,gru}.cpp): element-by-element
// comparison with a tolerance per scalar type, loading a layer's parameters
// from a fixture by PyTorch name (failing on any missing, extra or mis-shaped
// name), and small slicing helpers for sequences and stacked states.
#pragma once

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "fixture_reader.hpp"
#include "test_util.hpp"

namespace loom_test::recurrent {

using loom::index_t;
using loom::Tensor;

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 1e-5 : 1e-10;
}

// |got_i - want_i| <= tol · max(1, |want_i|) for every element.
template <typename T>
void check_matches(const std::string& what, const Tensor<T>& got, const Tensor<T>& want) {
    INFO(what);
    REQUIRE(got.defined());
    REQUIRE(got.shape() == want.shape());
    index_t failures = 0, worst_index = -1;
    double worst = 0.0;
    for (index_t i = 0; i < got.numel(); ++i) {
        const double ref = static_cast<double>(want.data()[i]);
        const double diff = std::abs(static_cast<double>(got.data()[i]) - ref) / std::max(1.0, std::abs(ref));
        if (!(diff <= tolerance<T>())) ++failures;
        if (!(diff <= worst)) {  // NaN counts as worst too
            worst = diff;
            worst_index = i;
        }
    }
    INFO(failures << " of " << got.numel() << " elements differ; largest relative difference " << worst
                  << " at element " << worst_index << ", tolerance " << tolerance<T>());
    CHECK(failures == 0);
}

// PyTorch's parameter names: weight_ih..., weight_hh..., bias_ih..., bias_hh...
inline bool is_parameter_name(const std::string& name) {
    const bool prefix = name.rfind("weight_", 0) == 0 || name.rfind("bias_", 0) == 0;
    const bool grad = name.size() >= 5 && name.compare(name.size() - 5, 5, "_grad") == 0;
    return prefix && !grad;
}

// Copies every parameter from the fixture by name (with `suffix` appended to
// the fixture's names); fails if loom has a parameter the fixture lacks, or the
// other way round, or a shape differs.
template <typename T>
void load_parameters(const loom::Module<T>& module, const loom_test::Fixture& fixture, const std::string& suffix = "") {
    std::set<std::string> expected;
    for (const std::string& name : fixture.names())
        if (is_parameter_name(name)) expected.insert(name + suffix);
    REQUIRE_FALSE(expected.empty());
    std::set<std::string> loaded;
    const auto named = module.named_parameters();
    for (const auto& entry : named) {
        INFO("loom parameter " << entry.first << " " << entry.second.shape());
        CHECK(loaded.insert(entry.first).second);  // no name twice
        const bool known = expected.count(entry.first) == 1;
        CHECK(known);  // PyTorch has a parameter of this name
        if (!known) continue;
        const Tensor<T> value = fixture.get<T>(entry.first.substr(0, entry.first.size() - suffix.size()));
        REQUIRE(entry.second.shape() == value.shape());
        Tensor<T> parameter = entry.second;
        parameter.copy_(value);
    }
    for (const std::string& name : expected) {
        INFO("PyTorch parameter " << name << " is missing from named_parameters()");
        CHECK(loaded.count(name) == 1);
    }
}

template <typename T>
Tensor<T> tracked(const loom_test::Fixture& fixture, const std::string& name) {
    Tensor<T> t = fixture.get<T>(name);
    t.requires_grad_();
    return t;
}

// sum(a ⊙ r), the part of the loss that sends r back into a.
template <typename T>
Tensor<T> dot(const Tensor<T>& a, const Tensor<T>& r) {
    return loom::sum(loom::mul(a, r));
}

// Loads `layer`'s parameters from the fixture, runs run(x, h0, c0) -> {output,
// h_n[, c_n]} on the fixture's input (h0, c0 only when with_state), and
// compares the results and the gradients of the loss sum(output ⊙ R_output) +
// sum(h_n ⊙ R_h_n) [+ sum(c_n ⊙ R_c_n)] — input, initial states and every
// parameter — with the fixture's.
template <typename T, typename Layer, typename Run>
void check_layer(Layer& layer, const loom_test::Fixture& fixture, bool with_state, Run&& run) {
    load_parameters(layer, fixture);
    Tensor<T> x = tracked<T>(fixture, "x");
    Tensor<T> h0 = with_state ? tracked<T>(fixture, "h0") : Tensor<T>();
    Tensor<T> c0 = with_state && fixture.has("c0") ? tracked<T>(fixture, "c0") : Tensor<T>();
    const std::vector<Tensor<T>> results = run(x, h0, c0);
    check_matches("output", results[0], fixture.get<T>("output"));
    check_matches("h_n", results[1], fixture.get<T>("h_n"));
    Tensor<T> loss = loom::add(dot(results[0], fixture.get<T>("R_output")), dot(results[1], fixture.get<T>("R_h_n")));
    if (results.size() == 3) {
        check_matches("c_n", results[2], fixture.get<T>("c_n"));
        loss = loom::add(loss, dot(results[2], fixture.get<T>("R_c_n")));
    }
    loss.backward();
    check_matches("x_grad", x.grad(), fixture.get<T>("x_grad"));
    if (with_state) check_matches("h0_grad", h0.grad(), fixture.get<T>("h0_grad"));
    if (c0.defined()) check_matches("c0_grad", c0.grad(), fixture.get<T>("c0_grad"));
    for (const auto& entry : layer.named_parameters())
        check_matches(entry.first + "_grad", entry.second.grad(), fixture.get<T>(entry.first + "_grad"));
}

// x[:, t, :] of [B, T, X] as [B, X]; row k of a [L, B, H] state as [B, H].
template <typename T>
Tensor<T> time_step(const Tensor<T>& x, index_t t) {
    return loom::reshape(loom::narrow(x, 1, t, 1), {x.shape()[0], x.shape()[2]});
}
template <typename T>
Tensor<T> state_layer(const Tensor<T>& state, index_t k) {
    return loom::reshape(loom::narrow(state, 0, k, 1), {state.shape()[1], state.shape()[2]});
}

}  // namespace loom_test::recurrent
