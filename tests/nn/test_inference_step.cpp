#include "test_util.hpp"

// Tests for the inference-only step() of LSTM, GRU and RNN and of the cells
// LSTMCell and GRUCell (loom/nn/lstm.hpp, gru.hpp, rnn.hpp, kernels
// *_step_inference in loom/ops/) and of the example
// CharModel: T calls of step() give what forward() gives over the T-step
// sequence, on one thread and on two (the hidden units split over threads);
// step() refuses to run where a graph is expected, and checks its shapes.

#include <string>
#include <type_traits>
#include <vector>

#include "../../examples/char_model.hpp"

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace nn_inference_step_test {  // named, not anonymous: the test files are compiled together in unity batches

constexpr index_t kInput = 64, kHidden = 256, kLayers = 2, kSteps = 5;

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 1e-5 : 1e-12;
}

using loom_test::ThreadScope;

// x[:, t, :] of a [B, T, X] tensor, as a contiguous [B, X] tensor.
template <typename T>
Tensor<T> time_step(const Tensor<T>& x, index_t t) {
    const index_t batch = x.shape()[0], steps = x.shape()[1], width = x.shape()[2];
    Tensor<T> out = Tensor<T>::empty(Shape{batch, width});
    for (index_t b = 0; b < batch; ++b)
        for (index_t j = 0; j < width; ++j) out.data()[b * width + j] = x.data()[(b * steps + t) * width + j];
    return out;
}

// Row `layer` of a [L, B, H] state, as a [B, H] copy.
template <typename T>
Tensor<T> state_layer(const Tensor<T>& state, index_t layer) {
    const index_t batch = state.shape()[1], hidden = state.shape()[2];
    return state.share_storage(Shape{batch, hidden}, layer * batch * hidden).clone();
}

// |a_i - b_i| <= tol · max(1, |b_i|) for every element.
template <typename T>
void check_close(const Tensor<T>& got, const Tensor<T>& want, double tol) {
    REQUIRE(got.shape() == want.shape());
    double worst = 0.0;
    for (index_t i = 0; i < got.numel(); ++i) {
        const double ref = static_cast<double>(want.data()[i]);
        worst = std::max(worst, std::abs(static_cast<double>(got.data()[i]) - ref) / std::max(1.0, std::abs(ref)));
    }
    INFO("largest relative difference " << worst << ", tolerance " << tol);
    CHECK(worst <= tol);
}

// Runs forward over x and step() T times from the same initial state (zeros
// when `given_state` is false) and compares every step's top-layer output and
// the final states.
template <typename T>
void check_lstm(loom::LSTM<T>& lstm, index_t batch, bool given_state, std::uint64_t seed,
                const loom::LstmInferenceWeights<T>* packed = nullptr) {
    const Tensor<T> x = loom_test::random_tensor<T>(Shape{batch, kSteps, kInput}, seed);
    loom::LstmState<T> initial;
    if (given_state)
        initial = {loom_test::random_tensor<T>(Shape{kLayers, batch, kHidden}, seed + 1, -0.5, 0.5),
                   loom_test::random_tensor<T>(Shape{kLayers, batch, kHidden}, seed + 2, -2.0, 2.0)};
    const loom::LstmOutput<T> full = lstm.forward(x, initial);
    loom::LstmState<T> state = initial;
    for (index_t t = 0; t < kSteps; ++t) {
        INFO("step " << t);
        state = lstm.step(time_step(x, t), state, packed);
        REQUIRE(state.h.shape() == Shape{kLayers, batch, kHidden});
        REQUIRE(state.c.shape() == Shape{kLayers, batch, kHidden});
        check_close(state_layer(state.h, kLayers - 1), time_step(full.output, t), tolerance<T>());
    }
    check_close(state.h, full.state.h, tolerance<T>());
    check_close(state.c, full.state.c, tolerance<T>());
    if (given_state) {  // step() must not have written into the state it was given
        CHECK(initial.h.to_vector() ==
              loom_test::random_tensor<T>(Shape{kLayers, batch, kHidden}, seed + 1, -0.5, 0.5).to_vector());
    }
}

// The same for GRU and RNN, whose state is h alone.
template <typename Layer, typename T>
void check_single_state(Layer& layer, index_t batch, bool given_state, std::uint64_t seed) {
    const Tensor<T> x = loom_test::random_tensor<T>(Shape{batch, kSteps, kInput}, seed);
    Tensor<T> initial;
    if (given_state) initial = loom_test::random_tensor<T>(Shape{kLayers, batch, kHidden}, seed + 1, -0.9, 0.9);
    const loom::RecurrentOutput<T> full = layer.forward(x, initial);
    Tensor<T> h = initial;
    for (index_t t = 0; t < kSteps; ++t) {
        INFO("step " << t);
        h = layer.step(time_step(x, t), h);
        REQUIRE(h.shape() == Shape{kLayers, batch, kHidden});
        check_close(state_layer(h, kLayers - 1), time_step(full.output, t), tolerance<T>());
    }
    check_close(h, full.h_n, tolerance<T>());
}

TEMPLATE_TEST_CASE("LSTM::step over T steps equals forward over the sequence", "[inference_step][lstm]", float,
                   double) {
    using T = TestType;
    loom::Generator generator(21);
    loom::LSTM<T> lstm(kInput, kHidden, kLayers, generator);
    loom::NoGradGuard no_grad;
    for (int threads : {1, 2}) {
        ThreadScope scope(threads);
        for (index_t batch : {1, 3}) {
            for (bool given_state : {false, true}) {
                INFO(threads << " threads, batch " << batch << ", initial state given: " << given_state);
                check_lstm(lstm, batch, given_state, 100 + static_cast<std::uint64_t>(batch));
            }
        }
    }
}

TEMPLATE_TEST_CASE("LSTM::step with packed weights equals forward, for every batch size the kernel blocks", "[inference_step][lstm]",
                   float, double) {
    using T = TestType;
    loom::Generator generator(21);
    for (const bool bias : {true, false}) {
        loom::LSTM<T> lstm(kInput, kHidden, kLayers, generator, 0.0, bias);
        loom::NoGradGuard no_grad;
        const loom::LstmInferenceWeights<T> packed = lstm.pack_for_inference();
        for (const int threads : {1, 2}) {
            ThreadScope scope(threads);
            // 1, 2, 4: the small row blocks; 7 = 4 + 2 + 1; 11 = 8 + 2 + 1.
            for (const index_t batch : {1, 2, 4, 7, 11}) {
                INFO("bias " << bias << ", " << threads << " threads, batch " << batch);
                check_lstm(lstm, batch, batch % 2 == 1, 40 + static_cast<std::uint64_t>(batch), &packed);
            }
        }
    }
}

TEMPLATE_TEST_CASE("LSTM::step refuses packed weights of another LSTM", "[inference_step][lstm][errors]", float, double) {
    using T = TestType;
    loom::Generator generator(22);
    loom::LSTM<T> lstm(kInput, kHidden, kLayers, generator);
    loom::LSTM<T> one_layer(kInput, kHidden, 1, generator);
    loom::LSTM<T> narrower(kInput, 32, kLayers, generator);
    loom::NoGradGuard no_grad;
    const Tensor<T> x = loom_test::random_tensor<T>(Shape{3, kInput}, 5);
    const auto from_one_layer = one_layer.pack_for_inference();
    const auto from_narrower = narrower.pack_for_inference();
    CHECK(contains(error_message([&] { lstm.step(x, {}, &from_one_layer); }), "packed weights are for another LSTM"));
    CHECK(contains(error_message([&] { lstm.step(x, {}, &from_narrower); }), "do not fit this LSTM"));
}

TEMPLATE_TEST_CASE("GRU::step over T steps equals forward over the sequence", "[inference_step][gru]", float,
                   double) {
    using T = TestType;
    loom::Generator generator(22);
    loom::GRU<T> gru(kInput, kHidden, kLayers, generator);
    loom::NoGradGuard no_grad;
    for (int threads : {1, 2}) {
        ThreadScope scope(threads);
        for (index_t batch : {1, 3}) {
            for (bool given_state : {false, true}) {
                INFO(threads << " threads, batch " << batch << ", initial state given: " << given_state);
                check_single_state<loom::GRU<T>, T>(gru, batch, given_state, 200 + static_cast<std::uint64_t>(batch));
            }
        }
    }
}

TEMPLATE_TEST_CASE("LSTMCell::step and GRUCell::step equal their forward()", "[inference_step][cell]", float, double) {
    using T = TestType;
    loom::Generator generator(23);
    loom::LSTMCell<T> lstm(kInput, kHidden, generator);
    loom::GRUCell<T> gru(kInput, kHidden, generator);
    for (int threads : {1, 2}) {
        ThreadScope scope(threads);
        for (bool given_state : {false, true}) {
            INFO(threads << " threads, initial state given: " << given_state);
            const Tensor<T> x = loom_test::random_tensor<T>(Shape{3, kInput}, 31);
            const Tensor<T> h = given_state ? loom_test::random_tensor<T>(Shape{3, kHidden}, 32, -0.9, 0.9) : Tensor<T>();
            const Tensor<T> c = given_state ? loom_test::random_tensor<T>(Shape{3, kHidden}, 33, -2.0, 2.0) : Tensor<T>();
            const loom::LstmState<T> want = lstm(x, {h, c});
            const Tensor<T> want_gru = gru(x, h);
            loom::NoGradGuard no_grad;
            const loom::LstmState<T> got = lstm.step(x, {h, c});
            check_close(got.h, want.h, tolerance<T>());
            check_close(got.c, want.c, tolerance<T>());
            check_close(gru.step(x, h), want_gru, tolerance<T>());
        }
    }
    loom::NoGradGuard no_grad;
    CHECK(contains(error_message([&] { lstm.step(Tensor<T>::zeros(Shape{3, kInput}), {Tensor<T>::zeros(Shape{2, kHidden}), Tensor<T>()}); }),
                   "loom::LSTMCell::step: h and c must be [3, 256]"));
    CHECK(contains(error_message([&] { gru.step(Tensor<T>::zeros(Shape{3, kInput}), Tensor<T>::zeros(Shape{3, 5})); }),
                   "loom::GRUCell::step: h must be [3, 256], got [3, 5]"));
}

TEMPLATE_TEST_CASE("RNN::step over T steps equals forward over the sequence", "[inference_step][rnn]", float,
                   double) {
    using T = TestType;
    loom::Generator generator(23);
    for (auto nonlinearity : {loom::RnnNonlinearity::tanh, loom::RnnNonlinearity::relu}) {
        loom::RNN<T> rnn(kInput, kHidden, kLayers, generator, nonlinearity);
        loom::NoGradGuard no_grad;
        for (int threads : {1, 2}) {
            ThreadScope scope(threads);
            for (index_t batch : {1, 3}) {
                for (bool given_state : {false, true}) {
                    INFO((nonlinearity == loom::RnnNonlinearity::tanh ? "tanh" : "relu")
                         << ", " << threads << " threads, batch " << batch << ", initial state given: " << given_state);
                    check_single_state<loom::RNN<T>, T>(rnn, batch, given_state,
                                                        300 + static_cast<std::uint64_t>(batch));
                }
            }
        }
    }
}

TEMPLATE_TEST_CASE("step() refuses to run while gradients are recorded", "[inference_step]", float, double) {
    using T = TestType;
    loom::Generator generator(24);
    const loom::LSTM<T> lstm(4, 3, 2, generator);
    const loom::GRU<T> gru(4, 3, 2, generator);
    const loom::RNN<T> rnn(4, 3, 2, generator);
    const Tensor<T> x = loom_test::random_tensor<T>(Shape{2, 4}, 1);

    SECTION("parameters require grad and grad mode is on") {
        REQUIRE(loom::is_grad_enabled());
        REQUIRE_THROWS_AS(lstm.step(x), loom::Error);
        const std::string lstm_message = error_message([&] { lstm.step(x); });
        CHECK(contains(lstm_message, "loom::LSTM::step"));
        CHECK(contains(lstm_message, "NoGradGuard"));
        const std::string gru_message = error_message([&] { gru.step(x); });
        CHECK(contains(gru_message, "loom::GRU::step"));
        CHECK(contains(gru_message, "NoGradGuard"));
        const std::string rnn_message = error_message([&] { rnn.step(x); });
        CHECK(contains(rnn_message, "loom::RNN::step"));
        CHECK(contains(rnn_message, "NoGradGuard"));
    }
    SECTION("an input that requires grad, with frozen parameters") {
        for (Tensor<T> p : lstm.parameters()) p.requires_grad_(false);
        CHECK(lstm.step(x).h.shape() == Shape{2, 2, 3});  // frozen: fine with grad mode on
        Tensor<T> tracked = x.clone();
        tracked.requires_grad_();
        CHECK(contains(error_message([&] { lstm.step(tracked); }), "NoGradGuard"));
        loom::NoGradGuard no_grad;
        CHECK(lstm.step(tracked).h.shape() == Shape{2, 2, 3});
    }
    SECTION("under NoGradGuard it runs and records nothing") {
        loom::NoGradGuard no_grad;
        const auto state = lstm.step(x);
        CHECK_FALSE(state.h.requires_grad());
        CHECK_FALSE(state.c.requires_grad());
        CHECK_FALSE(gru.step(x).requires_grad());
        CHECK_FALSE(rnn.step(x).requires_grad());
    }
}

TEMPLATE_TEST_CASE("step() checks the input and state shapes", "[inference_step]", float, double) {
    using T = TestType;
    loom::Generator generator(25);
    const loom::LSTM<T> lstm(4, 3, 2, generator);
    const loom::GRU<T> gru(4, 3, 2, generator);
    const loom::RNN<T> rnn(4, 3, 2, generator);
    loom::NoGradGuard no_grad;

    for (const Shape& bad : {Shape{2, 5}, Shape{2, 3}, Shape{4}, Shape{2, 1, 4}}) {
        INFO("input shape " << bad);
        const Tensor<T> x = Tensor<T>::zeros(bad);
        REQUIRE_THROWS_AS(lstm.step(x), loom::Error);
        CHECK(contains(error_message([&] { lstm.step(x); }), "loom::LSTM::step: step input must be [batch, 4]"));
        CHECK(contains(error_message([&] { gru.step(x); }), "loom::GRU::step: step input must be [batch, 4]"));
        CHECK(contains(error_message([&] { rnn.step(x); }), "loom::RNN::step: step input must be [batch, 4]"));
    }

    const Tensor<T> x = Tensor<T>::zeros(Shape{2, 4});
    for (const Shape& bad : {Shape{1, 2, 3}, Shape{2, 3, 3}, Shape{2, 2, 4}, Shape{2, 3}}) {
        INFO("state shape " << bad);
        const Tensor<T> h = Tensor<T>::zeros(bad);
        const Tensor<T> good = Tensor<T>::zeros(Shape{2, 2, 3});
        CHECK(contains(error_message([&] { lstm.step(x, {h, good}); }), "loom::LSTM::step: state must be"));
        CHECK(contains(error_message([&] { lstm.step(x, {good, h}); }), "loom::LSTM::step: state must be"));
        CHECK(contains(error_message([&] { gru.step(x, h); }), "loom::GRU::step: state must be"));
        CHECK(contains(error_message([&] { rnn.step(x, h); }), "loom::RNN::step: state must be"));
    }
}

TEMPLATE_TEST_CASE("CharModel::step equals the last row of CharModel::forward", "[inference_step][char_model]", float,
                   double) {
    using T = TestType;
    const index_t batch = 2, steps = 6, vocabulary = 13;
    for (auto cell : {char_model::CellKind::lstm, char_model::CellKind::gru, char_model::CellKind::rnn}) {
        INFO("cell " << char_model::cell_name(cell));
        char_model::Config config;
        config.vocabulary_size = vocabulary;
        config.embedding_dim = 16;
        config.hidden_size = 32;
        config.num_layers = 2;
        config.cell = cell;
        loom::Generator generator(26);
        char_model::CharModel<T> model(config, generator);
        model.eval();
        loom::NoGradGuard no_grad;

        std::vector<index_t> values;
        loom::Generator id_generator(27);
        for (index_t i = 0; i < batch * steps; ++i)
            values.push_back(static_cast<index_t>(id_generator.next_u64() % vocabulary));
        const loom::IndexTensor ids(values, Shape{batch, steps});

        char_model::State<T> full_state;
        const Tensor<T> logits = model.forward(ids, full_state);
        REQUIRE(logits.shape() == Shape{batch, steps, vocabulary});

        {  // stepping through the whole sequence
            char_model::State<T> state;
            for (index_t t = 0; t < steps; ++t) {
                INFO("step " << t);
                std::vector<index_t> column;
                for (index_t b = 0; b < batch; ++b) column.push_back(values[static_cast<std::size_t>(b * steps + t)]);
                const Tensor<T> step_logits = model.step(loom::IndexTensor(column), state);
                check_close(step_logits, time_step(logits, t), tolerance<T>());
            }
            check_close(state.h, full_state.h, tolerance<T>());
            if (cell == char_model::CellKind::lstm) check_close(state.c, full_state.c, tolerance<T>());
        }
        {  // forward over the prefix, then one step
            std::vector<index_t> prefix, last;
            for (index_t b = 0; b < batch; ++b) {
                for (index_t t = 0; t + 1 < steps; ++t) prefix.push_back(values[static_cast<std::size_t>(b * steps + t)]);
                last.push_back(values[static_cast<std::size_t>(b * steps + steps - 1)]);
            }
            char_model::State<T> state;
            model.forward(loom::IndexTensor(prefix, Shape{batch, steps - 1}), state);
            const Tensor<T> step_logits = model.step(loom::IndexTensor(last, Shape{batch, 1}), state);
            check_close(step_logits, time_step(logits, steps - 1), tolerance<T>());
        }
    }
}

}  // namespace nn_inference_step_test
