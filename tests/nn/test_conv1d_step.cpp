#include "test_util.hpp"

// Tests for the incremental path of loom/nn/conv1d.hpp (Conv1d::step, prime and
// Conv1dStepState): stepping a causal layer through a sequence one time step at
// a time gives the columns of forward_sequence on the whole sequence, for float
// and double, several kernel sizes and dilations, batch > 1; prime() followed by
// step() equals stepping all the way; reorder() gathers rows as beam search
// needs; and the errors (a non-causal layer, wrong shapes, recording mode).

#include <string>
#include <type_traits>
#include <vector>

#include <loom/nn/conv1d.hpp>

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace nn_conv1d_step_test {  // named, not anonymous: the test files are compiled together in unity batches

using loom_test::check_matches;

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 1e-5 : 1e-12;
}

// Row t of x [B, T, C] as a new [B, C] tensor.
template <typename T>
Tensor<T> time_slice(const Tensor<T>& x, index_t t) {
    const index_t batch = x.shape()[0], length = x.shape()[1], channels = x.shape()[2];
    Tensor<T> out = Tensor<T>::empty(Shape{batch, channels});
    for (index_t n = 0; n < batch; ++n)
        for (index_t c = 0; c < channels; ++c) out.data()[n * channels + c] = x.data()[(n * length + t) * channels + c];
    return out;
}

// Writes y_t [B, C] into row t of out [B, T, C].
template <typename T>
void set_time_slice(Tensor<T>& out, index_t t, const Tensor<T>& y_t) {
    const index_t batch = out.shape()[0], length = out.shape()[1], channels = out.shape()[2];
    REQUIRE(y_t.shape() == Shape{batch, channels});
    for (index_t n = 0; n < batch; ++n)
        for (index_t c = 0; c < channels; ++c) out.data()[(n * length + t) * channels + c] = y_t.data()[n * channels + c];
}

// Steps `layer` over times [first, last) of x, writing the outputs into out.
template <typename T>
void step_range(const loom::Conv1d<T>& layer, const Tensor<T>& x, index_t first, index_t last,
                loom::Conv1dStepState<T>& state, Tensor<T>& out) {
    for (index_t t = first; t < last; ++t) set_time_slice(out, t, layer.step(time_slice(x, t), state));
}

struct StepConfig {
    index_t in_channels, out_channels, kernel, dilation;
    bool bias;
};

TEMPLATE_TEST_CASE("Conv1d::step through a sequence equals forward_sequence", "[conv1d][step]", float, double) {
    using T = TestType;
    const index_t batch = 3, length = 23;
    for (const StepConfig& config : {StepConfig{4, 5, 3, 1, true}, StepConfig{4, 5, 3, 2, true},
                                     StepConfig{3, 6, 2, 4, true}, StepConfig{5, 5, 3, 8, false},
                                     StepConfig{2, 3, 1, 1, true}, StepConfig{6, 4, 4, 3, true},
                                     StepConfig{3, 3, 3, 16, true}}) {  // span 32 > length: only padding seen at first
        INFO("C_in " << config.in_channels << ", C_out " << config.out_channels << ", K " << config.kernel
                     << ", dilation " << config.dilation << ", bias " << config.bias);
        loom::Generator generator(11);
        const loom::Conv1d<T> layer(config.in_channels, config.out_channels, config.kernel, generator, 1, 0,
                                    config.dilation, config.bias, true);
        const Tensor<T> x = loom_test::random_tensor<T>(Shape{batch, length, config.in_channels}, 12);
        loom::NoGradGuard no_grad;
        const Tensor<T> want = layer.forward_sequence(x);

        loom::Conv1dStepState<T> state;
        CHECK(!state.started());
        Tensor<T> got = Tensor<T>::zeros(Shape{batch, length, config.out_channels});
        step_range(layer, x, 0, length, state, got);
        check_matches(got, want, tolerance<T>());
        CHECK(state.steps == length);
        CHECK(state.batch == batch);
        CHECK(layer.history_length() == (config.kernel - 1) * config.dilation);

        // prime() over a prefix, then step(): the same outputs for the rest.
        for (const index_t prefix : {index_t{0}, index_t{1}, index_t{7}, length - 1}) {
            INFO("primed with " << prefix << " steps");
            loom::Conv1dStepState<T> primed;
            const Tensor<T> head = loom::slice(x, 1, 0, prefix == 0 ? 1 : prefix);
            if (prefix > 0) layer.prime(head, primed);
            Tensor<T> rest = want.clone();
            for (index_t t = 0; t < prefix; ++t) set_time_slice(rest, t, time_slice(want, t));
            step_range(layer, x, prefix, length, primed, rest);
            check_matches(rest, want, tolerance<T>());
        }
    }
}

TEST_CASE("Conv1d::step gives the same outputs before and after a very long history", "[conv1d][step]") {
    // The ring buffer wraps many times: compare the last few outputs with a
    // full forward over the whole sequence.
    loom::Generator generator(13);
    const loom::Conv1d<double> layer(3, 3, 3, generator, 1, 0, 2, true, true);
    const index_t length = 200;
    const Tensor<double> x = loom_test::random_tensor<double>(Shape{2, length, 3}, 14);
    loom::NoGradGuard no_grad;
    const Tensor<double> want = layer.forward_sequence(x);
    loom::Conv1dStepState<double> state;
    Tensor<double> got = Tensor<double>::zeros(Shape{2, length, 3});
    step_range(layer, x, 0, length, state, got);
    check_matches(got, want, 1e-12);
}

TEMPLATE_TEST_CASE("Conv1dStepState::reorder gathers rows as beam search needs", "[conv1d][step]", float, double) {
    using T = TestType;
    loom::Generator generator(15);
    const loom::Conv1d<T> layer(4, 5, 3, generator, 1, 0, 2, true, true);
    const index_t batch = 3, length = 9, split = 6;
    const Tensor<T> x = loom_test::random_tensor<T>(Shape{batch, length, 4}, 16);
    loom::NoGradGuard no_grad;

    // Rows 2, 0, 0, 1 after `split` steps, then continue: each row equals the
    // full forward of the sequence it came from (its own past, the new inputs).
    const std::vector<index_t> rows{2, 0, 0, 1};
    loom::Conv1dStepState<T> state;
    Tensor<T> scratch = Tensor<T>::zeros(Shape{batch, length, 5});
    step_range(layer, x, 0, split, state, scratch);
    state.reorder(rows);
    REQUIRE(state.batch == 4);
    REQUIRE(state.history.shape() == Shape{4, 4, 4});

    // The reference: sequences made of row rows[i] of x for every time.
    Tensor<T> x_reordered = Tensor<T>::empty(Shape{4, length, 4});
    for (index_t i = 0; i < 4; ++i)
        for (index_t j = 0; j < length * 4; ++j)
            x_reordered.data()[i * length * 4 + j] = x.data()[rows[static_cast<std::size_t>(i)] * length * 4 + j];
    const Tensor<T> want = layer.forward_sequence(x_reordered);
    Tensor<T> got = want.clone();
    step_range(layer, x_reordered, split, length, state, got);
    check_matches(got, want, tolerance<T>());

    // Errors name the op and the offending row.
    const std::string message = error_message([&] { state.reorder({0, 4}); });
    INFO(message);
    CHECK(contains(message, "loom::Conv1dStepState::reorder"));
    CHECK(contains(message, "row 4"));
    CHECK(contains(error_message([&] { state.reorder({}); }), "no rows"));
    loom::Conv1dStepState<T> fresh;
    CHECK(contains(error_message([&] { fresh.reorder({0}); }), "no rows yet"));
}

TEST_CASE("Conv1d::step and prime check the layer, the shapes and the grad mode", "[conv1d][step][errors]") {
    loom::Generator generator(17);
    const loom::Conv1d<float> causal(3, 4, 3, generator, 1, 0, 2, true, true);
    const loom::Conv1d<float> centred(3, 4, 3, generator, 1, 1, 1, true, false);
    const Tensor<float> x = loom_test::random_tensor<float>(Shape{2, 3}, 18);
    loom::Conv1dStepState<float> state;

    // Recording is on and the parameters require grad: step() refuses.
    std::string message = error_message([&] { causal.step(x, state); });
    INFO(message);
    CHECK(contains(message, "loom::Conv1d::step"));
    CHECK(contains(message, "NoGradGuard"));

    loom::NoGradGuard no_grad;
    message = error_message([&] { centred.step(x, state); });
    CHECK(contains(message, "loom::Conv1d::step"));
    CHECK(contains(message, "causal"));
    message = error_message([&] { centred.prime(Tensor<float>::zeros(Shape{2, 5, 3}), state); });
    CHECK(contains(message, "loom::Conv1d::prime"));

    message = error_message([&] { causal.step(Tensor<float>::zeros(Shape{2, 5}), state); });
    CHECK(contains(message, "loom::Conv1d::step"));
    CHECK(contains(message, "[2, 5]"));
    message = error_message([&] { causal.step(Tensor<float>::zeros(Shape{2, 3, 1}), state); });
    CHECK(contains(message, "[2, 3, 1]"));
    message = error_message([&] { causal.prime(Tensor<float>::zeros(Shape{2, 3}), state); });
    CHECK(contains(message, "loom::Conv1d::prime"));
    CHECK(contains(message, "[2, 3]"));
    CHECK(!state.started());  // failed calls leave the state alone

    causal.step(x, state);
    message = error_message([&] { causal.step(Tensor<float>::zeros(Shape{5, 3}), state); });
    CHECK(contains(message, "2 rows"));
    CHECK(contains(message, "5"));
    // A state made by another layer (another history length) is refused.
    const loom::Conv1d<float> other(3, 4, 2, generator, 1, 0, 1, true, true);
    message = error_message([&] { other.step(x, state); });
    CHECK(contains(message, "history"));
    CHECK(contains(message, "[2, 4, 3]"));
}

}  // namespace nn_conv1d_step_test
