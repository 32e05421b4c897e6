#include "test_util.hpp"

// Tests for loom::GRU and loom::GRUCell (loom/nn/gru.hpp) against PyTorch's
// nn.GRU / nn.GRUCell (tests/data/gru_*.txt, made by
// tests/fixtures/make_recurrent_fixtures.py): the parameters are loaded by
// name through named_parameters(), which must hold exactly PyTorch's names and
// shapes; then output, h_n and the gradients of the input, the initial state
// and every parameter (b_hh apart from b_ih: the reset gate scales only the
// h-part of the candidate) are compared element by element, in double
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

namespace nn_gru_test {  // named, not anonymous: the test files are compiled together in unity batches

using namespace loom_test::recurrent;  // check_matches, load_parameters, tracked, dot, time_step, state_layer

struct LayerCase {
    const char* file;
    index_t input, hidden, layers;
    bool bias, with_state;
};

const LayerCase kStacked{"gru_2layer.txt", 3, 5, 2, true, true};
const LayerCase kNoBias{"gru_nobias.txt", 4, 4, 1, false, false};

template <typename T>
void check_layer(const LayerCase& c) {
    INFO("fixture " << c.file);
    const auto fixture = loom_test::load_fixture(c.file);
    loom::Generator generator(41);
    loom::GRU<T> gru(c.input, c.hidden, c.layers, generator, 0.0, c.bias);
    load_parameters(gru, fixture);

    Tensor<T> x = tracked<T>(fixture, "x");
    Tensor<T> h0;
    if (c.with_state) h0 = tracked<T>(fixture, "h0");
    const loom::RecurrentOutput<T> out = gru(x, h0);
    check_matches("output", out.output, fixture.get<T>("output"));
    check_matches("h_n", out.h_n, fixture.get<T>("h_n"));

    loom::add(dot(out.output, fixture.get<T>("R_output")), dot(out.h_n, fixture.get<T>("R_h_n"))).backward();
    check_matches("x_grad", x.grad(), fixture.get<T>("x_grad"));
    if (c.with_state) check_matches("h0_grad", h0.grad(), fixture.get<T>("h0_grad"));
    for (const auto& entry : gru.named_parameters())
        check_matches(entry.first + "_grad", entry.second.grad(), fixture.get<T>(entry.first + "_grad"));
}

// step() through the fixture's sequence, one time step at a time, gives
// PyTorch's output at every step and its final state; and its first step
// equals forward() over the first step alone.
template <typename T>
void check_steps(const LayerCase& c) {
    INFO("fixture " << c.file);
    const auto fixture = loom_test::load_fixture(c.file);
    loom::Generator generator(42);
    loom::GRU<T> gru(c.input, c.hidden, c.layers, generator, 0.0, c.bias);
    load_parameters(gru, fixture);
    loom::NoGradGuard no_grad;

    const Tensor<T> x = fixture.get<T>("x"), output = fixture.get<T>("output");
    Tensor<T> initial;
    if (c.with_state) initial = fixture.get<T>("h0");
    Tensor<T> h = initial;
    for (index_t t = 0; t < x.shape()[1]; ++t) {
        INFO("step " << t);
        h = gru.step(time_step(x, t), h);
        check_matches("top layer's h", state_layer(h, c.layers - 1), time_step(output, t));
        if (t == 0) {
            const loom::RecurrentOutput<T> first = gru(loom::narrow(x, 1, 0, 1), initial);
            check_matches("step vs forward: output", state_layer(h, c.layers - 1), time_step(first.output, 0));
            check_matches("step vs forward: h", h, first.h_n);
        }
    }
    check_matches("h_n", h, fixture.get<T>("h_n"));
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
    loom::Generator generator(43);
    loom::GRUCell<T> cell(c.input, c.hidden, generator, c.bias);
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

    // A one-layer GRU with the cell's weights (named *_l0) steps to the same state.
    loom::GRU<T> layer(c.input, c.hidden, 1, generator, 0.0, c.bias);
    load_parameters(layer, fixture, "_l0");
    loom::NoGradGuard no_grad;
    Tensor<T> stacked;
    if (c.with_state) stacked = loom::reshape(fixture.get<T>("h0"), {1, 2, c.hidden});
    check_matches("step h", state_layer(layer.step(fixture.get<T>("x"), stacked), 0), fixture.get<T>("h"));
}

TEMPLATE_TEST_CASE("GRU with 2 layers, bias and initial state matches PyTorch", "[gru][fixture]", float, double) {
    check_layer<TestType>(kStacked);
}

TEMPLATE_TEST_CASE("GRU with 1 layer, no bias and no initial state matches PyTorch", "[gru][fixture]", float,
                   double) {
    check_layer<TestType>(kNoBias);
}

TEMPLATE_TEST_CASE("GRU::step reproduces PyTorch's sequence step by step", "[gru][fixture][inference_step]", float,
                   double) {
    check_steps<TestType>(kStacked);
    check_steps<TestType>(kNoBias);
}

TEMPLATE_TEST_CASE("GRUCell matches PyTorch, and so does a 1-layer GRU::step", "[gru][fixture]", float, double) {
    check_cell<TestType>({"gru_cell.txt", 3, 5, true, true});
    check_cell<TestType>({"gru_cell_nobias.txt", 4, 4, false, false});
}

TEMPLATE_TEST_CASE("GRU and GRUCell initialise every parameter uniform in (-1/sqrt(H), 1/sqrt(H))", "[gru][init]",
                   float, double) {
    using T = TestType;
    const index_t hidden = 64;  // bound 1/8, exact in float
    const double bound = 0.125;
    loom::Generator generator(44);
    const loom::GRU<T> gru(10, hidden, 2, generator);
    const loom::GRUCell<T> cell(10, hidden, generator);
    for (const loom::RecurrentBase<T>* module : {static_cast<const loom::RecurrentBase<T>*>(&gru),
                                                 static_cast<const loom::RecurrentBase<T>*>(&cell)}) {
        double sum = 0.0, sum_squares = 0.0;
        index_t count = 0;
        std::vector<std::vector<T>> seen;
        for (const auto& entry : module->named_parameters()) {
            INFO(entry.first);
            const auto values = entry.second.flat().template cast<double>();
            CHECK(values.minCoeff() >= -bound);
            CHECK(values.maxCoeff() < bound);
            CHECK(values.minCoeff() < -0.9 * bound);  // ≥ 192 draws reach both ends
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

TEMPLATE_TEST_CASE("GRU and GRUCell check input and state shapes", "[gru][errors]", float, double) {
    using T = TestType;
    loom::Generator generator(45);
    loom::GRU<T> gru(3, 5, 2, generator);
    loom::GRUCell<T> cell(3, 5, generator);

    for (const Shape& bad : {Shape{2, 4}, Shape{2, 4, 4}, Shape{2, 4, 3, 1}, Shape{3}}) {
        INFO("input shape " << bad);
        const Tensor<T> x = Tensor<T>::zeros(bad);
        REQUIRE_THROWS_AS(gru(x), loom::Error);
        CHECK(contains(error_message([&] { gru(x); }), "loom::GRU: input must be [batch, steps, 3]"));
    }
    const Tensor<T> x = Tensor<T>::zeros(Shape{2, 4, 3});
    for (const Shape& bad : {Shape{1, 2, 5}, Shape{2, 3, 5}, Shape{2, 2, 4}, Shape{2, 5}}) {
        INFO("state shape " << bad);
        CHECK(contains(error_message([&] { gru(x, Tensor<T>::zeros(bad)); }),
                       "loom::GRU: state must be [num_layers=2, batch=2, hidden=5]"));
    }
    const loom::RecurrentOutput<T> out = gru(x, Tensor<T>::zeros(Shape{2, 2, 5}));
    CHECK(out.output.shape() == Shape{2, 4, 5});
    CHECK(out.h_n.shape() == Shape{2, 2, 5});

    for (const Shape& bad : {Shape{2, 4}, Shape{2, 1, 3}, Shape{3}}) {
        INFO("cell input shape " << bad);
        CHECK(contains(error_message([&] { cell(Tensor<T>::zeros(bad)); }), "loom::GRUCell: input must be [batch, 3]"));
    }
    const Tensor<T> x_step = Tensor<T>::zeros(Shape{2, 3});
    CHECK(contains(error_message([&] { cell(x_step, Tensor<T>::zeros(Shape{3, 5})); }),
                   "initial hidden state must be [2, 5]"));
    CHECK(cell(x_step, Tensor<T>::zeros(Shape{2, 5})).shape() == Shape{2, 5});
}

}  // namespace nn_gru_test
