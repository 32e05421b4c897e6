#include "test_util.hpp"

// Tests for bidirectional RNN, LSTM and GRU (bidirectional = true, see
// loom/nn/recurrent_base.hpp) against PyTorch's (tests/data/birnn_*.txt, made
// by tests/fixtures/make_birnn_fixtures.py): parameters loaded by PyTorch name
// (the *_reverse ones included), then output, final states and the gradients
// of the input, the initial state and every parameter, in double (1e-10) and
// float (1e-5). Also a finite-difference check, the reverse direction against
// a unidirectional layer on the flipped sequence, and the errors.

#include <string>
#include <vector>

#include "fixture_reader.hpp"
#include "recurrent_fixture.hpp"

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace nn_bidirectional_test {

using namespace loom_test::recurrent;  // check_layer

struct Case {
    const char* file;
    const char* kind;  // lstm, gru, rnn_tanh, rnn_relu
    index_t input, hidden, layers;
    bool bias, with_state;
};

const Case kCases[] = {
    {"birnn_lstm_2layer.txt", "lstm", 3, 5, 2, true, true},
    {"birnn_gru_2layer.txt", "gru", 3, 5, 2, true, true},
    {"birnn_rnn_tanh_1layer.txt", "rnn_tanh", 4, 4, 1, false, false},
    {"birnn_rnn_relu_2layer.txt", "rnn_relu", 3, 5, 2, true, true},
};

TEMPLATE_TEST_CASE("bidirectional RNN, LSTM and GRU match PyTorch", "[bidirectional][fixture]", float, double) {
    using T = TestType;
    for (const Case& c : kCases) {
        INFO("fixture " << c.file);
        const auto fixture = loom_test::load_fixture(c.file);
        loom::Generator generator(51);
        const std::string kind = c.kind;
        if (kind == "lstm") {
            loom::LSTM<T> layer(c.input, c.hidden, c.layers, generator, 0.0, c.bias, true);
            check_layer<T>(layer, fixture, c.with_state, [&](const Tensor<T>& x, const Tensor<T>& h0, const Tensor<T>& c0) {
                const loom::LstmOutput<T> out = layer(x, {h0, c0});
                return std::vector<Tensor<T>>{out.output, out.state.h, out.state.c};
            });
        } else if (kind == "gru") {
            loom::GRU<T> layer(c.input, c.hidden, c.layers, generator, 0.0, c.bias, true);
            check_layer<T>(layer, fixture, c.with_state, [&](const Tensor<T>& x, const Tensor<T>& h0, const Tensor<T>&) {
                const loom::RecurrentOutput<T> out = layer(x, h0);
                return std::vector<Tensor<T>>{out.output, out.h_n};
            });
        } else {
            const auto nonlinearity = kind == "rnn_relu" ? loom::RnnNonlinearity::relu : loom::RnnNonlinearity::tanh;
            loom::RNN<T> layer(c.input, c.hidden, c.layers, generator, nonlinearity, 0.0, c.bias, true);
            check_layer<T>(layer, fixture, c.with_state, [&](const Tensor<T>& x, const Tensor<T>& h0, const Tensor<T>&) {
                const loom::RecurrentOutput<T> out = layer(x, h0);
                return std::vector<Tensor<T>>{out.output, out.h_n};
            });
        }
    }
}

TEST_CASE("bidirectional LSTM: PyTorch's names and shapes, and gradients by finite differences",
          "[bidirectional][gradcheck]") {
    loom::Generator generator(52);
    loom::LSTM<double> lstm(3, 2, 2, generator, 0.0, true, true);
    const auto named = lstm.named_parameters();
    REQUIRE(named.size() == 16);
    CHECK(named[4].first == "weight_ih_l0_reverse");
    CHECK(named[8].first == "weight_ih_l1");
    CHECK(named[8].second.shape() == Shape{8, 4});  // layer 1 reads both directions: 2H = 4
    CHECK(named[15].first == "bias_hh_l1_reverse");
    std::vector<Tensor<double>> inputs{loom_test::random_tensor<double>(Shape{2, 4, 3}, 53)};
    for (const auto& entry : named) inputs.push_back(entry.second.detach());
    LOOM_CHECK_GRADIENTS(
        [&](const std::vector<Tensor<double>>& x) {
            // The same LSTM with gradcheck's leaves as its weights, in the
            // order of named_parameters (w_ih, w_hh, b_ih, b_hh per layer and direction).
            loom::LSTM<double> probe(3, 2, 2, generator, 0.0, true, true);
            auto& layers = probe.layers;
            for (std::size_t k = 0; k < layers.size(); ++k) {
                layers[k].w_ih = x[1 + 4 * k];
                layers[k].w_hh = x[2 + 4 * k];
                layers[k].b_ih = x[3 + 4 * k];
                layers[k].b_hh = x[4 + 4 * k];
            }
            const loom::LstmOutput<double> out = probe(x[0]);
            return loom::add(loom::sum(loom::mul(out.output, out.output)), loom::sum(out.state.c));
        },
        inputs);
}

TEST_CASE("the reverse direction is a forward layer on the flipped sequence", "[bidirectional]") {
    loom::Generator generator(54);
    loom::GRU<double> both(3, 4, 1, generator, 0.0, true, true);
    loom::GRU<double> reverse_only(3, 4, 1, generator);
    reverse_only.layers[0].w_ih.copy_(both.layers[1].w_ih);
    reverse_only.layers[0].w_hh.copy_(both.layers[1].w_hh);
    reverse_only.layers[0].b_ih.copy_(both.layers[1].b_ih);
    reverse_only.layers[0].b_hh.copy_(both.layers[1].b_hh);
    const Tensor<double> x = loom_test::random_tensor<double>(Shape{2, 5, 3}, 55);
    const loom::RecurrentOutput<double> out = both(x);
    REQUIRE(out.output.shape() == Shape{2, 5, 8});
    REQUIRE(out.h_n.shape() == Shape{2, 2, 4});
    const loom::RecurrentOutput<double> flipped = reverse_only(loom::flip(x, 1));
    CHECK(loom_test::max_abs_diff(loom::narrow(out.output, 2, 4, 4), loom::flip(flipped.output, 1)) < 1e-14);
    CHECK(loom_test::max_abs_diff(loom::narrow(out.h_n, 0, 1, 1), flipped.h_n) < 1e-14);
    // The reverse direction's final state is its state after reading step 0.
    CHECK(loom_test::max_abs_diff(loom::reshape(loom::narrow(out.h_n, 0, 1, 1), {2, 4}),
                                  loom::reshape(loom::narrow(loom::narrow(out.output, 2, 4, 4), 1, 0, 1), {2, 4})) < 1e-14);
}

TEST_CASE("bidirectional layers check their state and refuse to step", "[bidirectional][errors]") {
    loom::Generator generator(56);
    loom::LSTM<float> lstm(3, 5, 2, generator, 0.0, true, true);
    const Tensor<float> x = Tensor<float>::zeros(Shape{2, 4, 3});
    const Tensor<float> wrong = Tensor<float>::zeros(Shape{2, 2, 5});
    CHECK(contains(error_message([&] { lstm(x, {wrong, wrong}); }),
                   "loom::LSTM: state must be [num_layers * 2 directions=4, batch=2, hidden=5], got [2, 2, 5]"));
    CHECK(lstm(x, {Tensor<float>::zeros(Shape{4, 2, 5}), Tensor<float>::zeros(Shape{4, 2, 5})}).output.shape() ==
          Shape{2, 4, 10});
    loom::NoGradGuard no_grad;
    CHECK(contains(error_message([&] { lstm.step(Tensor<float>::zeros(Shape{2, 3})); }),
                   "loom::LSTM::step: a bidirectional layer reads the whole sequence"));
    CHECK(contains(error_message([&] { lstm.pack_for_inference(); }), "a bidirectional LSTM cannot step"));
    loom::GRU<float> gru(3, 5, 1, generator, 0.0, true, true);
    CHECK(contains(error_message([&] { gru.step(Tensor<float>::zeros(Shape{2, 3})); }), "loom::GRU::step: a bidirectional"));
    loom::RNN<float> rnn(3, 5, 1, generator, loom::RnnNonlinearity::tanh, 0.0, true, true);
    CHECK(contains(error_message([&] { rnn.step(Tensor<float>::zeros(Shape{2, 3})); }), "loom::RNN::step: a bidirectional"));
}

}  // namespace nn_bidirectional_test
