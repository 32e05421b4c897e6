#include "test_util.hpp"

// Tests for loom::RNN and loom::RNNCell (loom/nn/rnn.hpp), tanh and relu,
// against PyTorch's nn.RNN / nn.RNNCell (tests/data/rnn_*.txt, made by
// tests/fixtures/make_recurrent_fixtures.py): the parameters are loaded by
// name through named_parameters(), which must hold exactly PyTorch's names and
// shapes; then output, h_n and the gradients of the input, the initial state
// and every parameter are compared element by element, in double (relative
// 1e-10) and in float (1e-5). Also: step() against the same values, the
// default initialisation, and the shape checks of forward().

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

namespace nn_rnn_test {  // named, not anonymous: the test files are compiled together in unity batches

using namespace loom_test::recurrent;  // check_matches, load_parameters, tracked, dot, time_step, state_layer

using loom::RnnNonlinearity;

const char* name_of(RnnNonlinearity nonlinearity) { return nonlinearity == RnnNonlinearity::tanh ? "tanh" : "relu"; }

struct LayerCase {
    const char* file;
    RnnNonlinearity nonlinearity;
    index_t input, hidden, layers;
    bool bias, with_state;
};

const std::vector<LayerCase> kStacked{{"rnn_tanh_2layer.txt", RnnNonlinearity::tanh, 3, 5, 2, true, true},
                                      {"rnn_relu_2layer.txt", RnnNonlinearity::relu, 3, 5, 2, true, true}};
const std::vector<LayerCase> kNoBias{{"rnn_tanh_nobias.txt", RnnNonlinearity::tanh, 4, 4, 1, false, false},
                                     {"rnn_relu_nobias.txt", RnnNonlinearity::relu, 4, 4, 1, false, false}};

// For relu, the fixture must exercise both sides of the kink: some outputs 0
// (no gradient through them), some positive.
void check_relu_has_both_sides(const loom_test::Fixture& fixture, const std::string& name) {
    const Tensor<double> values = fixture.get<double>(name);
    const auto flat = values.flat();
    CHECK((flat == 0.0).count() > 0);
    CHECK((flat > 0.0).count() > 0);
    CHECK((flat < 0.0).count() == 0);
}

template <typename T>
void check_layer(const LayerCase& c) {
    INFO("fixture " << c.file);
    const auto fixture = loom_test::load_fixture(c.file);
    if (c.nonlinearity == RnnNonlinearity::relu) check_relu_has_both_sides(fixture, "output");
    loom::Generator generator(51);
    loom::RNN<T> rnn(c.input, c.hidden, c.layers, generator, c.nonlinearity, 0.0, c.bias);
    load_parameters(rnn, fixture);

    Tensor<T> x = tracked<T>(fixture, "x");
    Tensor<T> h0;
    if (c.with_state) h0 = tracked<T>(fixture, "h0");
    const loom::RecurrentOutput<T> out = rnn(x, h0);
    check_matches("output", out.output, fixture.get<T>("output"));
    check_matches("h_n", out.h_n, fixture.get<T>("h_n"));

    loom::add(dot(out.output, fixture.get<T>("R_output")), dot(out.h_n, fixture.get<T>("R_h_n"))).backward();
    check_matches("x_grad", x.grad(), fixture.get<T>("x_grad"));
    if (c.with_state) check_matches("h0_grad", h0.grad(), fixture.get<T>("h0_grad"));
    for (const auto& entry : rnn.named_parameters())
        check_matches(entry.first + "_grad", entry.second.grad(), fixture.get<T>(entry.first + "_grad"));
}

// step() through the fixture's sequence, one time step at a time, gives
// PyTorch's output at every step and its final state; and its first step
// equals forward() over the first step alone.
template <typename T>
void check_steps(const LayerCase& c) {
    INFO("fixture " << c.file);
    const auto fixture = loom_test::load_fixture(c.file);
    loom::Generator generator(52);
    loom::RNN<T> rnn(c.input, c.hidden, c.layers, generator, c.nonlinearity, 0.0, c.bias);
    load_parameters(rnn, fixture);
    loom::NoGradGuard no_grad;

    const Tensor<T> x = fixture.get<T>("x"), output = fixture.get<T>("output");
    Tensor<T> initial;
    if (c.with_state) initial = fixture.get<T>("h0");
    Tensor<T> h = initial;
    for (index_t t = 0; t < x.shape()[1]; ++t) {
        INFO("step " << t);
        h = rnn.step(time_step(x, t), h);
        check_matches("top layer's h", state_layer(h, c.layers - 1), time_step(output, t));
        if (t == 0) {
            const loom::RecurrentOutput<T> first = rnn(loom::narrow(x, 1, 0, 1), initial);
            check_matches("step vs forward: output", state_layer(h, c.layers - 1), time_step(first.output, 0));
            check_matches("step vs forward: h", h, first.h_n);
        }
    }
    check_matches("h_n", h, fixture.get<T>("h_n"));
}

struct CellCase {
    const char* file;
    RnnNonlinearity nonlinearity;
    index_t input, hidden;
    bool bias, with_state;
};

const std::vector<CellCase> kCells{{"rnn_tanh_cell.txt", RnnNonlinearity::tanh, 3, 5, true, true},
                                   {"rnn_tanh_cell_nobias.txt", RnnNonlinearity::tanh, 4, 4, false, false},
                                   {"rnn_relu_cell.txt", RnnNonlinearity::relu, 3, 5, true, true}};

template <typename T>
void check_cell(const CellCase& c) {
    INFO("fixture " << c.file);
    const auto fixture = loom_test::load_fixture(c.file);
    if (c.nonlinearity == RnnNonlinearity::relu) check_relu_has_both_sides(fixture, "h");
    loom::Generator generator(53);
    loom::RNNCell<T> cell(c.input, c.hidden, generator, c.nonlinearity, c.bias);
    load_parameters(cell, fixture);

    Tensor<T> x = tracked<T>(fixture, "x");
    Tensor<T> h0;
    if (c.with_state) h0 = tracked<T>(fixture, "h0");
    const Tensor<T> h = cell(x, h0);
    check_matches("h", h, fixture.get<T>("h"));

    dot(h, fixture.get<T>("R_h")).backward();
    check_matches("x_grad", x.grad(), fixture.get<T>("x_grad"));
    if (c.with_state) check_matches("h0_grad", h0.grad(), fixture.get<T>("h0_grad"));
    for (const auto& entry : cell.named_parameters())
        check_matches(entry.first + "_grad", entry.second.grad(), fixture.get<T>(entry.first + "_grad"));

    // A one-layer RNN with the cell's weights (named *_l0) steps to the same state.
    loom::RNN<T> layer(c.input, c.hidden, 1, generator, c.nonlinearity, 0.0, c.bias);
    load_parameters(layer, fixture, "_l0");
    loom::NoGradGuard no_grad;
    Tensor<T> stacked;
    if (c.with_state) stacked = loom::reshape(fixture.get<T>("h0"), {1, 2, c.hidden});
    check_matches("step h", state_layer(layer.step(fixture.get<T>("x"), stacked), 0), fixture.get<T>("h"));
}

TEMPLATE_TEST_CASE("RNN with 2 layers, bias and initial state matches PyTorch, tanh and relu", "[rnn][fixture]", float,
                   double) {
    for (const LayerCase& c : kStacked) {
        INFO(name_of(c.nonlinearity));
        check_layer<TestType>(c);
    }
}

TEMPLATE_TEST_CASE("RNN with 1 layer, no bias and no initial state matches PyTorch, tanh and relu", "[rnn][fixture]",
                   float, double) {
    for (const LayerCase& c : kNoBias) {
        INFO(name_of(c.nonlinearity));
        check_layer<TestType>(c);
    }
}

TEMPLATE_TEST_CASE("RNN::step reproduces PyTorch's sequence step by step", "[rnn][fixture][inference_step]", float,
                   double) {
    for (const LayerCase& c : kStacked) check_steps<TestType>(c);
    for (const LayerCase& c : kNoBias) check_steps<TestType>(c);
}

TEMPLATE_TEST_CASE("RNNCell matches PyTorch, and so does a 1-layer RNN::step", "[rnn][fixture]", float, double) {
    for (const CellCase& c : kCells) check_cell<TestType>(c);
}

TEMPLATE_TEST_CASE("RNN and RNNCell initialise every parameter uniform in (-1/sqrt(H), 1/sqrt(H))", "[rnn][init]",
                   float, double) {
    using T = TestType;
    const index_t hidden = 256;  // bound 1/16, exact in float; H = 256 gives every bias 256 draws
    const double bound = 0.0625;
    loom::Generator generator(54);
    const loom::RNN<T> rnn(10, hidden, 2, generator, RnnNonlinearity::relu);
    const loom::RNNCell<T> cell(10, hidden, generator);
    for (const loom::RecurrentBase<T>* module : {static_cast<const loom::RecurrentBase<T>*>(&rnn),
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

TEMPLATE_TEST_CASE("RNN and RNNCell check input and state shapes", "[rnn][errors]", float, double) {
    using T = TestType;
    loom::Generator generator(55);
    loom::RNN<T> rnn(3, 5, 2, generator);
    loom::RNNCell<T> cell(3, 5, generator, RnnNonlinearity::relu);

    for (const Shape& bad : {Shape{2, 4}, Shape{2, 4, 4}, Shape{2, 4, 3, 1}, Shape{3}}) {
        INFO("input shape " << bad);
        const Tensor<T> x = Tensor<T>::zeros(bad);
        REQUIRE_THROWS_AS(rnn(x), loom::Error);
        CHECK(contains(error_message([&] { rnn(x); }), "loom::RNN: input must be [batch, steps, 3]"));
    }
    const Tensor<T> x = Tensor<T>::zeros(Shape{2, 4, 3});
    for (const Shape& bad : {Shape{1, 2, 5}, Shape{2, 3, 5}, Shape{2, 2, 4}, Shape{2, 5}}) {
        INFO("state shape " << bad);
        CHECK(contains(error_message([&] { rnn(x, Tensor<T>::zeros(bad)); }),
                       "loom::RNN: state must be [num_layers=2, batch=2, hidden=5]"));
    }
    const loom::RecurrentOutput<T> out = rnn(x, Tensor<T>::zeros(Shape{2, 2, 5}));
    CHECK(out.output.shape() == Shape{2, 4, 5});
    CHECK(out.h_n.shape() == Shape{2, 2, 5});

    for (const Shape& bad : {Shape{2, 4}, Shape{2, 1, 3}, Shape{3}}) {
        INFO("cell input shape " << bad);
        CHECK(contains(error_message([&] { cell(Tensor<T>::zeros(bad)); }), "loom::RNNCell: input must be [batch, 3]"));
    }
    const Tensor<T> x_step = Tensor<T>::zeros(Shape{2, 3});
    CHECK(contains(error_message([&] { cell(x_step, Tensor<T>::zeros(Shape{3, 5})); }),
                   "initial hidden state must be [2, 5]"));
    CHECK(cell(x_step, Tensor<T>::zeros(Shape{2, 5})).shape() == Shape{2, 5});
}

}  // namespace nn_rnn_test
