#include "test_util.hpp"

// Tests for loom/nn/recurrent_base.hpp through its users LSTM, GRU, RNN and
// their cells: PyTorch's parameter names and shapes for stacks of 1 to 3
// layers, bias = false, the initialisation range, and the argument checks.

#include <cmath>
#include <string>
#include <vector>

using loom::index_t;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace nn_recurrent_base_test {  // named, not anonymous: the test files are compiled together in unity batches

// Checks a recurrent module's parameters: for each layer k, in order,
// weight_ih{s} [G·H, in_k], weight_hh{s} [G·H, H] and (with bias) bias_ih{s},
// bias_hh{s} [G·H], where s = "_l{k}" for stacks and "" for cells; all in
// [-1/√H, 1/√H) and the same tensors as `layers`.
template <typename T>
void check_layout(const loom::RecurrentBase<T>& module, index_t gates, index_t input, index_t hidden,
                  index_t num_layers, bool bias, bool is_cell) {
    const auto named = module.named_parameters();
    const index_t per_layer = bias ? 4 : 2;
    REQUIRE(static_cast<index_t>(named.size()) == per_layer * num_layers);
    REQUIRE(static_cast<index_t>(module.layers.size()) == num_layers);
    CHECK(module.input_size == input);
    CHECK(module.hidden_size == hidden);
    CHECK(module.num_layers == num_layers);
    CHECK(module.has_bias == bias);
    CHECK(module.parameter_count() ==
          gates * hidden * (input + hidden + (num_layers - 1) * 2 * hidden + (bias ? 2 * num_layers : 0)));

    const double bound = 1.0 / std::sqrt(static_cast<double>(hidden));
    for (index_t k = 0; k < num_layers; ++k) {
        const std::string s = is_cell ? "" : "_l" + std::to_string(k);
        const index_t in = k == 0 ? input : hidden;
        const auto& w = module.layers[static_cast<std::size_t>(k)];
        const auto* entry = &named[static_cast<std::size_t>(k * per_layer)];

        std::vector<std::string> names = {"weight_ih" + s, "weight_hh" + s};
        std::vector<Shape> shapes = {Shape{gates * hidden, in}, Shape{gates * hidden, hidden}};
        std::vector<const loom::Tensor<T>*> members = {&w.w_ih, &w.w_hh};
        if (bias) {
            names.insert(names.end(), {"bias_ih" + s, "bias_hh" + s});
            shapes.insert(shapes.end(), {Shape{gates * hidden}, Shape{gates * hidden}});
            members.insert(members.end(), {&w.b_ih, &w.b_hh});
        } else {
            CHECK_FALSE(w.b_ih.defined());
            CHECK_FALSE(w.b_hh.defined());
        }
        for (std::size_t i = 0; i < names.size(); ++i) {
            INFO("layer " << k << ", expected " << names[i] << " " << shapes[i] << ", got " << entry[i].first << " "
                          << entry[i].second.shape());
            CHECK(entry[i].first == names[i]);
            CHECK(entry[i].second.shape() == shapes[i]);
            CHECK(entry[i].second.impl_ptr() == members[i]->impl_ptr());
            CHECK(entry[i].second.requires_grad());
            const auto values = entry[i].second.flat().template cast<double>();
            CHECK(values.minCoeff() >= -bound);
            CHECK(values.maxCoeff() < bound);
            if (values.size() >= 20)  // spread over the range, not all near 0 (fails with chance 2^-20)
                CHECK(values.abs().maxCoeff() > 0.5 * bound);
        }
    }
}

TEMPLATE_TEST_CASE("stacked recurrent layers have PyTorch's parameter names and shapes", "[recurrent_base]", float,
                   double) {
    using T = TestType;
    loom::Generator generator(11);
    const index_t input = 5, hidden = 7;
    for (index_t layers = 1; layers <= 3; ++layers) {
        for (bool bias : {true, false}) {
            INFO(layers << " layers, bias " << bias);
            {
                const loom::LSTM<T> lstm(input, hidden, layers, generator, 0.0, bias);
                check_layout(lstm, 4, input, hidden, layers, bias, false);
            }
            {
                const loom::GRU<T> gru(input, hidden, layers, generator, 0.0, bias);
                check_layout(gru, 3, input, hidden, layers, bias, false);
            }
            {
                const loom::RNN<T> rnn(input, hidden, layers, generator, loom::RnnNonlinearity::relu, 0.0, bias);
                check_layout(rnn, 1, input, hidden, layers, bias, false);
                CHECK(rnn.nonlinearity == loom::RnnNonlinearity::relu);
            }
        }
    }
}

TEMPLATE_TEST_CASE("recurrent cells have unsuffixed parameter names", "[recurrent_base]", float, double) {
    using T = TestType;
    loom::Generator generator(12);
    for (bool bias : {true, false}) {
        INFO("bias " << bias);
        const loom::LSTMCell<T> lstm(6, 4, generator, bias);
        check_layout(lstm, 4, 6, 4, 1, bias, true);
        const loom::GRUCell<T> gru(6, 4, generator, bias);
        check_layout(gru, 3, 6, 4, 1, bias, true);
        const loom::RNNCell<T> rnn(6, 4, generator, loom::RnnNonlinearity::tanh, bias);
        check_layout(rnn, 1, 6, 4, 1, bias, true);
    }
}

TEMPLATE_TEST_CASE("recurrent layers keep the dropout setting", "[recurrent_base]", float, double) {
    using T = TestType;
    loom::Generator generator(13);
    CHECK(loom::LSTM<T>(3, 4, 2, generator, 0.25).dropout == 0.25);
    CHECK(loom::GRU<T>(3, 4, 2, generator).dropout == 0.0);
    CHECK(loom::RNN<T>(3, 4, 2, generator, loom::RnnNonlinearity::tanh, 0.5).dropout == 0.5);
}

TEMPLATE_TEST_CASE("recurrent layers reject invalid sizes and dropout", "[recurrent_base]", float, double) {
    using T = TestType;
    loom::Generator generator(14);

    struct Sizes {
        index_t input, hidden, layers;
    };
    for (const Sizes& s : {Sizes{0, 4, 1}, Sizes{3, 0, 1}, Sizes{3, 4, 0}, Sizes{-1, 4, 1}, Sizes{3, -2, 1},
                           Sizes{3, 4, -1}}) {
        INFO("input " << s.input << ", hidden " << s.hidden << ", layers " << s.layers);
        const std::string lstm = error_message([&] { loom::LSTM<T>(s.input, s.hidden, s.layers, generator); });
        CHECK(contains(lstm, "loom::LSTM: input_size, hidden_size and num_layers must be positive"));
        const std::string gru = error_message([&] { loom::GRU<T>(s.input, s.hidden, s.layers, generator); });
        CHECK(contains(gru, "loom::GRU: input_size, hidden_size and num_layers must be positive"));
        const std::string rnn = error_message([&] { loom::RNN<T>(s.input, s.hidden, s.layers, generator); });
        CHECK(contains(rnn, "loom::RNN: input_size, hidden_size and num_layers must be positive"));
    }
    for (const index_t bad : {index_t{0}, index_t{-3}}) {
        CHECK(contains(error_message([&] { loom::LSTMCell<T>(bad, 4, generator); }), "loom::LSTMCell"));
        CHECK(contains(error_message([&] { loom::GRUCell<T>(4, bad, generator); }), "loom::GRUCell"));
        CHECK(contains(error_message([&] { loom::RNNCell<T>(bad, bad, generator); }), "loom::RNNCell"));
    }
    for (const double dropout : {-0.1, 1.0, 1.5, std::nan("")}) {
        INFO("dropout " << dropout);
        REQUIRE_THROWS_AS(loom::LSTM<T>(3, 4, 2, generator, dropout), loom::Error);
        CHECK(contains(error_message([&] { loom::LSTM<T>(3, 4, 2, generator, dropout); }),
                       "loom::LSTM: dropout must be in [0, 1)"));
        CHECK(contains(error_message([&] { loom::GRU<T>(3, 4, 2, generator, dropout); }),
                       "loom::GRU: dropout must be in [0, 1)"));
        CHECK(contains(error_message([&] {
                           loom::RNN<T>(3, 4, 2, generator, loom::RnnNonlinearity::tanh, dropout);
                       }),
                       "loom::RNN: dropout must be in [0, 1)"));
    }
}

}  // namespace nn_recurrent_base_test
