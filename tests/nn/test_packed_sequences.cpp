#include "test_util.hpp"

// Tests for variable-length batches in RNN, LSTM and GRU (forward(x, state,
// lengths), ops/recurrent_common.hpp PaddedSteps, ops/flip.hpp reverse_padded)
// against PyTorch's pack_padded_sequence (tests/data/packed_*.txt, made by
// tests/fixtures/make_packed_fixtures.py): output, final states and every
// gradient in double (1e-10) and float (1e-5). Also finite differences through
// the fused ops with lengths, that padding never reaches a result, that a
// padded batch equals its sequences run one by one, and the errors.

#include <string>
#include <vector>

#include <loom/nn/gru.hpp>
#include <loom/nn/lstm.hpp>
#include <loom/nn/rnn.hpp>
#include <loom/ops/flip.hpp>
#include <loom/quant/format.hpp>
#include <loom/nn/quantize.hpp>

#include "fixture_reader.hpp"
#include "recurrent_fixture.hpp"

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace nn_packed_sequences_test {

using namespace loom_test::recurrent;  // check_matches, load_parameters, tracked, dot

struct Case {
    const char* file;
    const char* kind;  // lstm, gru, rnn_tanh
    index_t input, hidden, layers;
    bool bias, with_state, bidirectional;
};

const Case kCases[] = {
    {"packed_bilstm_2layer.txt", "lstm", 3, 4, 2, true, true, true},
    {"packed_bigru_2layer.txt", "gru", 3, 4, 2, true, true, true},
    {"packed_lstm_1layer.txt", "lstm", 3, 4, 1, true, false, false},
    {"packed_rnn_tanh_2layer.txt", "rnn_tanh", 3, 4, 2, false, true, false},
};

template <typename T>
std::vector<index_t> fixture_lengths(const loom_test::Fixture& fixture) {
    const Tensor<T> lengths = fixture.get<T>("lengths");
    std::vector<index_t> out;
    for (index_t i = 0; i < lengths.numel(); ++i) out.push_back(static_cast<index_t>(lengths.data()[i]));
    return out;
}

TEMPLATE_TEST_CASE("RNN, LSTM and GRU with lengths match PyTorch's packed sequences", "[packed][fixture]", float,
                   double) {
    using T = TestType;
    for (const Case& c : kCases) {
        INFO("fixture " << c.file);
        const auto fixture = loom_test::load_fixture(c.file);
        loom::Generator generator(61);
        const std::string kind = c.kind;
        const std::vector<index_t> lengths = fixture_lengths<T>(fixture);
        if (kind == "lstm") {
            loom::LSTM<T> layer(c.input, c.hidden, c.layers, generator, 0.0, c.bias, c.bidirectional);
            check_layer<T>(layer, fixture, c.with_state, [&](const Tensor<T>& x, const Tensor<T>& h0, const Tensor<T>& c0) {
                const loom::LstmOutput<T> out = layer(x, {h0, c0}, lengths);
                return std::vector<Tensor<T>>{out.output, out.state.h, out.state.c};
            });
        } else if (kind == "gru") {
            loom::GRU<T> layer(c.input, c.hidden, c.layers, generator, 0.0, c.bias, c.bidirectional);
            check_layer<T>(layer, fixture, c.with_state,
                           [&](const Tensor<T>& x, const Tensor<T>& h0, const Tensor<T>&) {
                               const loom::RecurrentOutput<T> out = layer(x, h0, lengths);
                               return std::vector<Tensor<T>>{out.output, out.h_n};
                           });
        } else {
            loom::RNN<T> layer(c.input, c.hidden, c.layers, generator, loom::RnnNonlinearity::tanh, 0.0, c.bias,
                               c.bidirectional);
            check_layer<T>(layer, fixture, c.with_state,
                           [&](const Tensor<T>& x, const Tensor<T>& h0, const Tensor<T>&) {
                               const loom::RecurrentOutput<T> out = layer(x, h0, lengths);
                               return std::vector<Tensor<T>>{out.output, out.h_n};
                           });
        }
    }
}

TEST_CASE("the fused recurrent ops with lengths pass finite differences", "[packed][gradcheck]") {
    const std::vector<index_t> lengths{2, 4, 1};
    const index_t B = 3, T = 4, I = 3, H = 2;
    auto inputs = [&](index_t gates, std::uint64_t seed) {
        std::vector<Tensor<double>> in{loom_test::random_tensor<double>(Shape{B, T, I}, seed),
                                       loom_test::random_tensor<double>(Shape{gates * H, I}, seed + 1),
                                       loom_test::random_tensor<double>(Shape{gates * H, H}, seed + 2),
                                       loom_test::random_tensor<double>(Shape{gates * H}, seed + 3),
                                       loom_test::random_tensor<double>(Shape{gates * H}, seed + 4),
                                       loom_test::random_tensor<double>(Shape{B, H}, seed + 5),
                                       loom_test::random_tensor<double>(Shape{B, H}, seed + 6)};
        return in;
    };
    // Weighted sums so that every output element and state gets its own gradient.
    auto weighted = [](const Tensor<double>& t, std::uint64_t seed) {
        return loom::sum(loom::mul(t, loom_test::random_tensor<double>(t.shape(), seed)));
    };
    SECTION("lstm") {
        LOOM_CHECK_GRADIENTS(
            [&](const std::vector<Tensor<double>>& x) {
                const auto out = loom::lstm(x[0], x[1], x[2], x[3], x[4], x[5], x[6], lengths);
                return loom::add(loom::add(weighted(out.output, 71), weighted(out.h_n, 72)), weighted(out.c_n, 73));
            },
            inputs(4, 62));
    }
    SECTION("gru") {
        auto in = inputs(3, 63);
        in.pop_back();
        LOOM_CHECK_GRADIENTS(
            [&](const std::vector<Tensor<double>>& x) {
                const auto out = loom::gru(x[0], x[1], x[2], x[3], x[4], x[5], lengths);
                return loom::add(weighted(out.output, 74), weighted(out.h_n, 75));
            },
            in);
    }
    SECTION("rnn") {
        auto in = inputs(1, 64);
        in.pop_back();
        LOOM_CHECK_GRADIENTS(
            [&](const std::vector<Tensor<double>>& x) {
                const auto out = loom::rnn(x[0], x[1], x[2], x[3], x[4], x[5], loom::RnnNonlinearity::tanh, lengths);
                return loom::add(weighted(out.output, 76), weighted(out.h_n, 77));
            },
            in);
    }
    SECTION("reverse_padded") {
        LOOM_CHECK_GRADIENTS(
            [&](const std::vector<Tensor<double>>& x) { return weighted(loom::reverse_padded(x[0], lengths), 78); },
            std::vector<Tensor<double>>{loom_test::random_tensor<double>(Shape{B, T, I}, 65)});
    }
}

TEST_CASE("a padded batch gives each sequence what it gives alone, and padding reaches nothing", "[packed]") {
    loom::Generator generator(66);
    loom::LSTM<double> lstm(3, 4, 2, generator, 0.0, true, true);
    const std::vector<index_t> lengths{3, 5, 1};
    Tensor<double> x = loom_test::random_tensor<double>(Shape{3, 5, 3}, 67);
    x.requires_grad_();
    const loom::LstmOutput<double> out = lstm(x, {}, lengths);
    loom::sum(loom::mul(out.output, out.output)).backward();
    for (index_t b = 0; b < 3; ++b) {
        INFO("sequence " << b);
        const index_t n = lengths[static_cast<std::size_t>(b)];
        const Tensor<double> alone_x = loom::narrow(loom::narrow(x.detach(), 0, b, 1), 1, 0, n);
        const loom::LstmOutput<double> alone = lstm(alone_x);
        const Tensor<double> row = loom::narrow(out.output, 0, b, 1);
        CHECK(loom_test::max_abs_diff(loom::narrow(row, 1, 0, n), alone.output) < 1e-13);
        CHECK(loom_test::max_abs_diff(loom::narrow(out.state.h, 1, b, 1), alone.state.h) < 1e-13);
        CHECK(loom_test::max_abs_diff(loom::narrow(out.state.c, 1, b, 1), alone.state.c) < 1e-13);
        for (index_t t = n; t < 5; ++t)
            for (index_t j = 0; j < 8; ++j) {
                CHECK(row.data()[t * 8 + j] == 0.0);
                for (index_t i = 0; i < 3; ++i) CHECK(x.grad().data()[(b * 5 + t) * 3 + i] == 0.0);
            }
    }
}

TEST_CASE("lengths are checked and name the op", "[packed][errors]") {
    loom::Generator generator(68);
    loom::GRU<float> gru(3, 4, 1, generator, 0.0, true, true);
    const Tensor<float> x = Tensor<float>::zeros(Shape{2, 4, 3});
    CHECK(contains(error_message([&] { gru(x, {}, {4}); }), "loom::gru: lengths has 1 entries for a batch of 2"));
    CHECK(contains(error_message([&] { gru(x, {}, {4, 0}); }),
                   "loom::gru: sequence 1 has length 0 (an all-padding row)"));
    CHECK(contains(error_message([&] { gru(x, {}, {5, 2}); }),
                   "loom::gru: sequence 0 has length 5, more than the padded size of 4 steps"));
    loom::LSTM<float> lstm(3, 4, 1, generator);
    CHECK(contains(error_message([&] { lstm(x, {}, {-1, 2}); }), "loom::lstm: sequence 0 has length -1"));
    CHECK(contains(error_message([&] { loom::reverse_padded(x, {1, 9}); }),
                   "loom::reverse_padded: sequence 1 has length 9, outside [0, 4]"));
    CHECK(contains(error_message([&] { loom::reverse_padded(Tensor<float>::zeros(Shape{2, 4}), {1, 2}); }),
                   "loom::reverse_padded: input must be [batch, steps, features], got [2, 4]"));
    loom::quantize(lstm, loom::WeightFormat::int8);
    loom::NoGradGuard no_grad;
    CHECK(contains(error_message([&] { lstm(x, {}, {4, 2}); }),
                   "loom::LSTM: per-sequence lengths with quantized weights are not supported"));
}

}  // namespace nn_packed_sequences_test
