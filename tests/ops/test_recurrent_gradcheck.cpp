// Finite-difference checks of the fused sequence ops rnn / lstm / gru (ops/rnn.hpp,
// ops/lstm.hpp, ops/gru.hpp): every input — x, both weights, both biases and the
// initial state(s) — through the hand-written backward through time, with all
// outputs used and with only some of them used.
#include "test_util.hpp"

#include <loom/ops/gru.hpp>
#include <loom/ops/lstm.hpp>
#include <loom/ops/rnn.hpp>

namespace ops_recurrent_gradcheck_test {  // named, not anonymous: the test files are compiled together in unity batches

using loom::Shape;
using loom::Tensord;

Tensord flat(const Tensord& t) { return loom::reshape(t, {-1}); }

std::vector<Tensord> recurrent_inputs(loom::index_t gates, bool with_c0, std::uint64_t seed) {
    const loom::index_t B = 2, T = 3, I = 4, H = 5;
    std::vector<Tensord> inputs{loom_test::random_tensor<double>(Shape{B, T, I}, seed, -0.8, 0.8),
                                loom_test::random_tensor<double>(Shape{gates * H, I}, seed + 1, -0.5, 0.5),
                                loom_test::random_tensor<double>(Shape{gates * H, H}, seed + 2, -0.5, 0.5),
                                loom_test::random_tensor<double>(Shape{gates * H}, seed + 3, -0.5, 0.5),
                                loom_test::random_tensor<double>(Shape{gates * H}, seed + 4, -0.5, 0.5),
                                loom_test::random_tensor<double>(Shape{B, H}, seed + 5, -0.5, 0.5)};
    if (with_c0) inputs.push_back(loom_test::random_tensor<double>(Shape{B, H}, seed + 6, -0.5, 0.5));
    return inputs;
}

TEST_CASE("lstm passes gradcheck for every input and output", "[lstm][gradcheck]") {
    const auto inputs = recurrent_inputs(4, true, 10);
    LOOM_CHECK_GRADIENTS(
        [](const std::vector<Tensord>& v) {
            const auto out = loom::lstm(v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
            return loom::concat(std::vector<Tensord>{flat(out.output), flat(out.h_n), flat(out.c_n)}, 0);
        },
        inputs);
}

TEST_CASE("lstm gradcheck with only c_n used and no initial state", "[lstm][gradcheck]") {
    const auto all = recurrent_inputs(4, false, 20);
    const std::vector<Tensord> inputs(all.begin(), all.begin() + 5);
    LOOM_CHECK_GRADIENTS(
        [](const std::vector<Tensord>& v) { return loom::lstm(v[0], v[1], v[2], v[3], v[4]).c_n; }, inputs);
}

TEST_CASE("gru passes gradcheck for every input and output", "[gru][gradcheck]") {
    const auto inputs = recurrent_inputs(3, false, 30);
    LOOM_CHECK_GRADIENTS(
        [](const std::vector<Tensord>& v) {
            const auto out = loom::gru(v[0], v[1], v[2], v[3], v[4], v[5]);
            return loom::concat(std::vector<Tensord>{flat(out.output), flat(out.h_n)}, 0);
        },
        inputs);
}

TEST_CASE("gru gradcheck without biases, output only", "[gru][gradcheck]") {
    const auto all = recurrent_inputs(3, false, 40);
    const std::vector<Tensord> inputs{all[0], all[1], all[2], all[5]};
    LOOM_CHECK_GRADIENTS(
        [](const std::vector<Tensord>& v) {
            return loom::gru(v[0], v[1], v[2], Tensord(), Tensord(), v[3]).output;
        },
        inputs);
}

TEST_CASE("rnn passes gradcheck with tanh and relu", "[rnn][gradcheck]") {
    const auto inputs = recurrent_inputs(1, false, 50);
    for (const auto nonlinearity : {loom::RnnNonlinearity::tanh, loom::RnnNonlinearity::relu}) {
        LOOM_CHECK_GRADIENTS(
            [nonlinearity](const std::vector<Tensord>& v) {
                const auto out = loom::rnn(v[0], v[1], v[2], v[3], v[4], v[5], nonlinearity);
                return loom::concat(std::vector<Tensord>{flat(out.output), flat(out.h_n)}, 0);
            },
            inputs);
    }
}

TEST_CASE("recurrent ops name themselves and the shapes in errors", "[lstm][gru][rnn][errors]") {
    const auto v = recurrent_inputs(4, true, 60);
    const std::string wrong_weight = loom_test::error_message([&] {
        loom::lstm(v[0], loom_test::random_tensor<double>(Shape{20, 3}, 1), v[2], v[3], v[4]);
    });
    CHECK(loom_test::contains(wrong_weight, "loom::lstm"));
    CHECK(loom_test::contains(wrong_weight, "[20, 3]"));
    const std::string wrong_state = loom_test::error_message([&] {
        loom::gru(v[0], loom_test::random_tensor<double>(Shape{15, 4}, 2), loom_test::random_tensor<double>(Shape{15, 5}, 3),
                  Tensord(), Tensord(), loom_test::random_tensor<double>(Shape{3, 5}, 4));
    });
    CHECK(loom_test::contains(wrong_state, "loom::gru"));
    CHECK(loom_test::contains(wrong_state, "[3, 5]"));
    const std::string empty_sequence = loom_test::error_message([&] {
        loom::rnn(Tensord::zeros(Shape{2, 0, 4}), loom_test::random_tensor<double>(Shape{5, 4}, 5),
                  loom_test::random_tensor<double>(Shape{5, 5}, 6), Tensord(), Tensord());
    });
    CHECK(loom_test::contains(empty_sequence, "loom::rnn"));
}

}  // namespace ops_recurrent_gradcheck_test
