#include "test_util.hpp"

// Tests for loom::LSTM and loom::LSTMCell (loom/nn/lstm.hpp) against PyTorch's
// nn.LSTM / nn.LSTMCell (tests/data/lstm_*.txt, made by
// tests/fixtures/make_recurrent_fixtures.py): the parameters are loaded by
// name through named_parameters(), which must hold exactly PyTorch's names and
// shapes; then output, h_n, c_n and the gradients of the input, the initial
// state and every parameter are compared element by element, in double
// (relative 1e-10) and in float (1e-5). Also: step() against the same values,
// the default initialisation, and the shape checks of forward().

#include <cmath>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "fixture_reader.hpp"
#include "recurrent_fixture.hpp"

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace nn_lstm_test {  // named, not anonymous: the test files are compiled together in unity batches

using namespace loom_test::recurrent;  // check_matches, load_parameters, tracked, dot, time_step, state_layer

struct LayerCase {
    const char* file;
    index_t input, hidden, layers;
    bool bias, with_state;
};

const LayerCase kStacked{"lstm_2layer.txt", 3, 5, 2, true, true};
const LayerCase kNoBias{"lstm_nobias.txt", 4, 4, 1, false, false};

template <typename T>
void check_layer(const LayerCase& c) {
    INFO("fixture " << c.file);
    const auto fixture = loom_test::load_fixture(c.file);
    loom::Generator generator(31);
    loom::LSTM<T> lstm(c.input, c.hidden, c.layers, generator, 0.0, c.bias);
    load_parameters(lstm, fixture);

    Tensor<T> x = tracked<T>(fixture, "x");
    loom::LstmState<T> state;
    if (c.with_state) state = {tracked<T>(fixture, "h0"), tracked<T>(fixture, "c0")};
    const loom::LstmOutput<T> out = lstm(x, state);
    check_matches("output", out.output, fixture.get<T>("output"));
    check_matches("h_n", out.state.h, fixture.get<T>("h_n"));
    check_matches("c_n", out.state.c, fixture.get<T>("c_n"));

    const Tensor<T> loss = loom::add(loom::add(dot(out.output, fixture.get<T>("R_output")),
                                               dot(out.state.h, fixture.get<T>("R_h_n"))),
                                     dot(out.state.c, fixture.get<T>("R_c_n")));
    loss.backward();
    check_matches("x_grad", x.grad(), fixture.get<T>("x_grad"));
    if (c.with_state) {
        check_matches("h0_grad", state.h.grad(), fixture.get<T>("h0_grad"));
        check_matches("c0_grad", state.c.grad(), fixture.get<T>("c0_grad"));
    }
    for (const auto& entry : lstm.named_parameters())
        check_matches(entry.first + "_grad", entry.second.grad(), fixture.get<T>(entry.first + "_grad"));
}

// step() through the fixture's sequence, one time step at a time, gives
// PyTorch's output at every step and its final state; and its first step
// equals forward() over the first step alone.
template <typename T>
void check_steps(const LayerCase& c) {
    INFO("fixture " << c.file);
    const auto fixture = loom_test::load_fixture(c.file);
    loom::Generator generator(32);
    loom::LSTM<T> lstm(c.input, c.hidden, c.layers, generator, 0.0, c.bias);
    load_parameters(lstm, fixture);
    loom::NoGradGuard no_grad;

    const Tensor<T> x = fixture.get<T>("x"), output = fixture.get<T>("output");
    loom::LstmState<T> initial;
    if (c.with_state) initial = {fixture.get<T>("h0"), fixture.get<T>("c0")};
    loom::LstmState<T> state = initial;
    for (index_t t = 0; t < x.shape()[1]; ++t) {
        INFO("step " << t);
        state = lstm.step(time_step(x, t), state);
        check_matches("top layer's h", state_layer(state.h, c.layers - 1), time_step(output, t));
        if (t == 0) {
            const loom::LstmOutput<T> first = lstm(loom::narrow(x, 1, 0, 1), initial);
            check_matches("step vs forward: output", state_layer(state.h, c.layers - 1), time_step(first.output, 0));
            check_matches("step vs forward: h", state.h, first.state.h);
            check_matches("step vs forward: c", state.c, first.state.c);
        }
    }
    check_matches("h_n", state.h, fixture.get<T>("h_n"));
    check_matches("c_n", state.c, fixture.get<T>("c_n"));
}

struct CellCase {
    const char* file;
    index_t input, hidden;
    bool bias, with_state;
};

template <typename T>
void check_cell(const CellCase& c) {
    INFO("fixture " << c.file);
    const auto fixture = loom_test::load_fixture(c.file);
    loom::Generator generator(33);
    loom::LSTMCell<T> cell(c.input, c.hidden, generator, c.bias);
    load_parameters(cell, fixture);

    Tensor<T> x = tracked<T>(fixture, "x");
    loom::LstmState<T> state;
    if (c.with_state) state = {tracked<T>(fixture, "h0"), tracked<T>(fixture, "c0")};
    const loom::LstmState<T> next = cell(x, state);
    check_matches("h", next.h, fixture.get<T>("h"));
    check_matches("c", next.c, fixture.get<T>("c"));

    loom::add(dot(next.h, fixture.get<T>("R_h")), dot(next.c, fixture.get<T>("R_c"))).backward();
    check_matches("x_grad", x.grad(), fixture.get<T>("x_grad"));
    if (c.with_state) {
        check_matches("h0_grad", state.h.grad(), fixture.get<T>("h0_grad"));
        check_matches("c0_grad", state.c.grad(), fixture.get<T>("c0_grad"));
    }
    for (const auto& entry : cell.named_parameters())
        check_matches(entry.first + "_grad", entry.second.grad(), fixture.get<T>(entry.first + "_grad"));

    // A one-layer LSTM with the cell's weights (named *_l0) steps to the same state.
    loom::LSTM<T> layer(c.input, c.hidden, 1, generator, 0.0, c.bias);
    load_parameters(layer, fixture, "_l0");
    loom::NoGradGuard no_grad;
    loom::LstmState<T> stacked;
    if (c.with_state)
        stacked = {loom::reshape(fixture.get<T>("h0"), {1, 2, c.hidden}),
                   loom::reshape(fixture.get<T>("c0"), {1, 2, c.hidden})};
    const loom::LstmState<T> stepped = layer.step(fixture.get<T>("x"), stacked);
    check_matches("step h", state_layer(stepped.h, 0), fixture.get<T>("h"));
    check_matches("step c", state_layer(stepped.c, 0), fixture.get<T>("c"));
}

TEMPLATE_TEST_CASE("LSTM with 2 layers, bias and initial state matches PyTorch", "[lstm][fixture]", float, double) {
    check_layer<TestType>(kStacked);
}

TEMPLATE_TEST_CASE("LSTM with 1 layer, no bias and no initial state matches PyTorch", "[lstm][fixture]", float,
                   double) {
    check_layer<TestType>(kNoBias);
}

TEMPLATE_TEST_CASE("LSTM::step reproduces PyTorch's sequence step by step", "[lstm][fixture][inference_step]", float,
                   double) {
    check_steps<TestType>(kStacked);
    check_steps<TestType>(kNoBias);
}

TEMPLATE_TEST_CASE("LSTMCell matches PyTorch, and so does a 1-layer LSTM::step", "[lstm][fixture]", float, double) {
    check_cell<TestType>({"lstm_cell.txt", 3, 5, true, true});
    check_cell<TestType>({"lstm_cell_nobias.txt", 4, 4, false, false});
}

TEMPLATE_TEST_CASE("LSTM and LSTMCell initialise every parameter uniform in (-1/sqrt(H), 1/sqrt(H))", "[lstm][init]",
                   float, double) {
    using T = TestType;
    const index_t hidden = 64;  // bound 1/8, exact in float
    const double bound = 0.125;
    loom::Generator generator(34);
    const loom::LSTM<T> lstm(10, hidden, 2, generator);
    const loom::LSTMCell<T> cell(10, hidden, generator);
    for (const loom::RecurrentBase<T>* module : {static_cast<const loom::RecurrentBase<T>*>(&lstm),
                                                 static_cast<const loom::RecurrentBase<T>*>(&cell)}) {
        double sum = 0.0, sum_squares = 0.0;
        index_t count = 0;
        std::vector<std::vector<T>> seen;
        for (const auto& entry : module->named_parameters()) {
            INFO(entry.first);
            const auto values = entry.second.flat().template cast<double>();
            CHECK(values.minCoeff() >= -bound);
            CHECK(values.maxCoeff() < bound);
            CHECK(values.minCoeff() < -0.9 * bound);  // ≥ 256 draws reach both ends
            CHECK(values.maxCoeff() > 0.9 * bound);
            sum += values.sum();
            sum_squares += values.square().sum();
            count += values.size();
            for (const auto& other : seen) CHECK(other != entry.second.to_vector());  // each drawn afresh
            seen.push_back(entry.second.to_vector());
        }
        const double mean = sum / static_cast<double>(count);
        const double variance = sum_squares / static_cast<double>(count) - mean * mean;
        CHECK(std::abs(mean) < 0.02 * bound);
        CHECK(std::abs(variance / (bound * bound / 3.0) - 1.0) < 0.05);  // U(-b, b) has variance b²/3
    }
}

TEMPLATE_TEST_CASE("LSTM and LSTMCell check input and state shapes", "[lstm][errors]", float, double) {
    using T = TestType;
    loom::Generator generator(35);
    loom::LSTM<T> lstm(3, 5, 2, generator);
    loom::LSTMCell<T> cell(3, 5, generator);

    for (const Shape& bad : {Shape{2, 4}, Shape{2, 4, 4}, Shape{2, 4, 3, 1}, Shape{3}}) {
        INFO("input shape " << bad);
        const Tensor<T> x = Tensor<T>::zeros(bad);
        REQUIRE_THROWS_AS(lstm(x), loom::Error);
        CHECK(contains(error_message([&] { lstm(x); }), "loom::LSTM: input must be [batch, steps, 3]"));
    }
    const Tensor<T> x = Tensor<T>::zeros(Shape{2, 4, 3});
    const Tensor<T> good = Tensor<T>::zeros(Shape{2, 2, 5});
    for (const Shape& bad : {Shape{1, 2, 5}, Shape{2, 3, 5}, Shape{2, 2, 4}, Shape{2, 5}}) {
        INFO("state shape " << bad);
        const Tensor<T> state = Tensor<T>::zeros(bad);
        const std::string h_message = error_message([&] { lstm(x, {state, good}); });
        CHECK(contains(h_message, "loom::LSTM: state must be [num_layers=2, batch=2, hidden=5]"));
        CHECK(contains(error_message([&] { lstm(x, {good, state}); }), "loom::LSTM: state must be"));
    }
    CHECK(lstm(x, {good, good}).output.shape() == Shape{2, 4, 5});

    for (const Shape& bad : {Shape{2, 4}, Shape{2, 1, 3}, Shape{3}}) {
        INFO("cell input shape " << bad);
        CHECK(contains(error_message([&] { cell(Tensor<T>::zeros(bad)); }), "loom::LSTMCell: input must be [batch, 3]"));
    }
    const Tensor<T> x_step = Tensor<T>::zeros(Shape{2, 3});
    const Tensor<T> cell_good = Tensor<T>::zeros(Shape{2, 5});
    const Tensor<T> cell_bad = Tensor<T>::zeros(Shape{3, 5});
    CHECK(contains(error_message([&] { cell(x_step, {cell_bad, cell_good}); }), "initial hidden state must be [2, 5]"));
    CHECK(contains(error_message([&] { cell(x_step, {cell_good, cell_bad}); }), "initial cell state must be [2, 5]"));
    const loom::LstmState<T> next = cell(x_step, {cell_good, cell_good});
    CHECK(next.h.shape() == Shape{2, 5});
    CHECK(next.c.shape() == Shape{2, 5});
}

}  // namespace nn_lstm_test
