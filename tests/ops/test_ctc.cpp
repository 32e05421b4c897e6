#include "test_util.hpp"

// Tests for loom/ops/ctc.hpp (and loom::CTCLoss in nn/loss.hpp): the CTC loss
// against brute-force enumeration of alignments, finite differences, PyTorch's
// ctc_loss (tests/fixtures/make_ctc_fixtures.py), and its errors.

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include <loom/nn/loss.hpp>
#include <loom/ops/ctc.hpp>
#include <loom/ops/reduction.hpp>

#include "fixture_reader.hpp"

using loom::index_t;
using loom::IndexTensor;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace ops_ctc_test {

using Lengths = std::vector<index_t>;

loom::CtcOptions options_with(loom::Reduction reduction, index_t blank = 0, bool zero_infinity = false) {
    loom::CtcOptions options;
    options.blank = blank;
    options.reduction = reduction;
    options.zero_infinity = zero_infinity;
    return options;
}

// The labels a path collapses to: merge repeats, then drop blanks.
std::vector<index_t> collapse(const std::vector<index_t>& path, index_t blank) {
    std::vector<index_t> labels;
    index_t previous = -1;
    for (index_t symbol : path) {
        if (symbol != previous && symbol != blank) labels.push_back(symbol);
        previous = symbol;
    }
    return labels;
}

// −log Σ over every path of length `length` that collapses to `target`, by
// enumerating all classes^length paths (log_probs [T, B, C], sequence b).
double brute_force_loss(const loom::Tensor<double>& log_probs, index_t b, index_t length,
                        const std::vector<index_t>& target, index_t blank) {
    const index_t batch = log_probs.shape()[1], classes = log_probs.shape()[2];
    long double total = 0;
    std::vector<index_t> path(static_cast<std::size_t>(length), 0);
    for (;;) {
        if (collapse(path, blank) == target) {
            long double log_p = 0;
            for (index_t t = 0; t < length; ++t) log_p += log_probs.data()[(t * batch + b) * classes + path[static_cast<std::size_t>(t)]];
            total += std::exp(log_p);
        }
        index_t position = 0;  // next path, counting in base `classes`
        while (position < length && ++path[static_cast<std::size_t>(position)] == classes) path[static_cast<std::size_t>(position++)] = 0;
        if (position == length) break;
    }
    return -static_cast<double>(std::log(total));
}

template <typename T>
loom::Tensor<T> random_log_probs(const Shape& shape, std::uint64_t seed, double scale = 2.0) {
    return loom::log_softmax(loom_test::random_tensor<T>(shape, seed, -scale, scale));
}

TEST_CASE("ctc_loss equals the brute-force sum over alignments", "[ctc]") {
    // T = 5, B = 4, C = 3: targets with a repeat, without, empty, and impossible.
    const loom::Tensor<double> log_probs = random_log_probs<double>(Shape{5, 4, 3}, 11);
    const IndexTensor targets({1, 1, 0, 1, 2, 2, 0, 0, 0, 1, 1, 1}, Shape{4, 3});
    const Lengths input_lengths{5, 4, 3, 4}, target_lengths{2, 3, 0, 3};
    const loom::Tensor<double> losses =
        loom::ctc_loss(log_probs, targets, input_lengths, target_lengths, options_with(loom::Reduction::none));
    REQUIRE(losses.shape() == Shape{4});
    for (index_t b = 0; b < 4; ++b) {
        std::vector<index_t> target;
        for (index_t i = 0; i < target_lengths[static_cast<std::size_t>(b)]; ++i) target.push_back(targets[b * 3 + i]);
        const double expected = brute_force_loss(log_probs, b, input_lengths[static_cast<std::size_t>(b)], target, 0);
        INFO("sequence " << b);
        if (std::isinf(expected)) {
            CHECK(std::isinf(losses.data()[b]));  // 1, 1, 1 needs 5 frames, has 4
        } else {
            CHECK(losses.data()[b] == Approx(expected).epsilon(1e-12));
        }
    }
}

TEST_CASE("ctc_loss reductions: sum, and mean over target lengths", "[ctc]") {
    const loom::Tensor<double> log_probs = random_log_probs<double>(Shape{6, 3, 4}, 12);
    const IndexTensor targets({1, 2, 3, 3, 0, 0, 2, 1, 0}, Shape{3, 3});
    const Lengths input_lengths{6, 5, 6}, target_lengths{3, 1, 2};
    const auto none = loom::ctc_loss(log_probs, targets, input_lengths, target_lengths, options_with(loom::Reduction::none));
    const auto sum = loom::ctc_loss(log_probs, targets, input_lengths, target_lengths, options_with(loom::Reduction::sum));
    const auto mean = loom::ctc_loss(log_probs, targets, input_lengths, target_lengths, options_with(loom::Reduction::mean));
    REQUIRE(sum.rank() == 0);
    CHECK(sum.item() == Approx(none.data()[0] + none.data()[1] + none.data()[2]).epsilon(1e-14));
    CHECK(mean.item() == Approx((none.data()[0] / 3 + none.data()[1] / 1 + none.data()[2] / 2) / 3).epsilon(1e-14));
    // The 1-D concatenated layout gives the same losses.
    const auto concatenated = loom::ctc_loss(log_probs, IndexTensor{1, 2, 3, 3, 2, 1}, input_lengths, target_lengths,
                                             options_with(loom::Reduction::none));
    CHECK(loom_test::max_abs_diff(concatenated, none) == 0.0);
    // CTCLoss is the same function.
    const loom::CTCLoss<double> module(0, loom::Reduction::mean);
    CHECK(module(log_probs, targets, input_lengths, target_lengths).item() == mean.item());
}

TEST_CASE("ctc_loss gradients match finite differences", "[ctc][gradcheck]") {
    // Unnormalised inputs on purpose: the backward is the op's own partial
    // derivative, not a softmax gradient in disguise.
    const std::vector<loom::Tensor<double>> inputs{loom_test::random_tensor<double>(Shape{7, 3, 4}, 13, -2.0, 1.0)};
    const IndexTensor targets({1, 1, 2, 3, 0, 0, 2, 3, 2}, Shape{3, 3});
    const Lengths input_lengths{7, 4, 6}, target_lengths{3, 1, 3};
    for (loom::Reduction reduction : {loom::Reduction::none, loom::Reduction::sum, loom::Reduction::mean}) {
        INFO("reduction " << loom::to_string(reduction));
        LOOM_CHECK_GRADIENTS(
            [&](const std::vector<loom::Tensor<double>>& x) {
                return loom::ctc_loss(x[0], targets, input_lengths, target_lengths, options_with(reduction));
            },
            inputs);
    }
    // Through log_softmax, from logits, with blank = 3 and an empty target.
    const IndexTensor labels{0, 2, 1, 1};
    LOOM_CHECK_GRADIENTS(
        [&](const std::vector<loom::Tensor<double>>& x) {
            return loom::ctc_loss(loom::log_softmax(x[0]), labels, Lengths{7, 5, 6}, Lengths{2, 0, 2},
                                  options_with(loom::Reduction::mean, 3));
        },
        inputs);
}

TEST_CASE("ctc_loss: frames past a sequence's input length get zero gradient", "[ctc]") {
    loom::Tensor<double> log_probs = random_log_probs<double>(Shape{6, 2, 3}, 14);
    log_probs.requires_grad_(true);
    loom::ctc_loss(log_probs, IndexTensor({1, 2, 2, 1}, Shape{2, 2}), Lengths{6, 3}, Lengths{2, 2}).backward();
    for (index_t t = 3; t < 6; ++t)
        for (index_t c = 0; c < 3; ++c) CHECK(log_probs.grad().data()[(t * 2 + 1) * 3 + c] == 0.0);
    // Each frame t < T_b spreads exactly one unit of posterior over the classes:
    // Σ_c γ_t(c) = 1, so the gradient of the sum loss sums to −1 per frame.
    log_probs.zero_grad();
    loom::ctc_loss(log_probs, IndexTensor({1, 2, 2, 1}, Shape{2, 2}), Lengths{6, 3}, Lengths{2, 2},
                   options_with(loom::Reduction::sum))
        .backward();
    for (index_t t = 0; t < 6; ++t) {
        double frame = 0;
        for (index_t c = 0; c < 3; ++c) frame += log_probs.grad().data()[(t * 2) * 3 + c];
        CHECK(frame == Approx(-1.0).epsilon(1e-12));
    }
}

TEST_CASE("ctc_loss: impossible alignments are +inf with zero gradient, or 0 with zero_infinity", "[ctc]") {
    loom::Tensor<double> log_probs = random_log_probs<double>(Shape{4, 2, 3}, 15);
    log_probs.requires_grad_(true);
    const IndexTensor targets({1, 1, 1, 1, 2, 0}, Shape{2, 3});  // 1,1,1 needs 5 frames
    const Lengths input_lengths{4, 4}, target_lengths{3, 2};
    const auto losses = loom::ctc_loss(log_probs, targets, input_lengths, target_lengths, options_with(loom::Reduction::none));
    CHECK(std::isinf(losses.data()[0]));
    CHECK(std::isfinite(losses.data()[1]));
    const auto zeroed = loom::ctc_loss(log_probs, targets, input_lengths, target_lengths,
                                       options_with(loom::Reduction::sum, 0, true));
    CHECK(zeroed.item() == Approx(losses.data()[1]).epsilon(1e-14));
    zeroed.backward();
    for (index_t t = 0; t < 4; ++t)
        for (index_t c = 0; c < 3; ++c) {
            CHECK(log_probs.grad().data()[(t * 2) * 3 + c] == 0.0);
            CHECK(std::isfinite(log_probs.grad().data()[(t * 2 + 1) * 3 + c]));
        }
    // Zero input frames: the empty target has probability 1, any other 0.
    const auto empty = loom::ctc_loss(log_probs, targets, Lengths{0, 0}, Lengths{0, 2}, options_with(loom::Reduction::none));
    CHECK(empty.data()[0] == 0.0);
    CHECK(std::isinf(empty.data()[1]));
}

TEMPLATE_TEST_CASE("ctc_loss matches PyTorch", "[ctc][fixture]", float, double) {
    using T = TestType;
    const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-10;
    for (const std::string name : {"basic", "blank_last", "concat", "long"}) {
        INFO("fixture ctc_" << name << ".txt");
        const loom_test::Fixture fixture = loom_test::load_fixture("ctc_" + name + ".txt");
        const auto to_indices = [&](const std::string& key) {
            const loom::Tensor<double> values = fixture.get<double>(key);
            std::vector<index_t> indices;
            for (index_t i = 0; i < values.numel(); ++i) indices.push_back(static_cast<index_t>(values.data()[i]));
            return IndexTensor(indices, values.shape());
        };
        const IndexTensor targets = to_indices("targets");
        const Lengths input_lengths = to_indices("input_lengths").values(), target_lengths = to_indices("target_lengths").values();
        const index_t blank = static_cast<index_t>(fixture.get<double>("blank").item());
        const auto loss_of = [&](loom::Reduction reduction, bool zero_infinity, const loom::Tensor<T>& logits) {
            return loom::ctc_loss(loom::log_softmax(logits), targets, input_lengths, target_lengths,
                                  options_with(reduction, blank, zero_infinity));
        };
        const loom::Tensor<T> logits = fixture.get<T>("logits");

        const loom::Tensor<T> none = loss_of(loom::Reduction::none, true, logits);
        loom_test::check_matches(none, fixture.get<T>("loss_none"), tol);
        const loom::Tensor<T> mean = loss_of(loom::Reduction::mean, true, logits);
        const std::string mean_key = fixture.has("loss_mean_zero_inf") ? "loss_mean_zero_inf" : "loss_mean";
        loom_test::check_matches(mean, fixture.get<T>(mean_key), tol);
        if (fixture.has("loss_none_finite")) {
            const loom::Tensor<T> finite = fixture.get<T>("loss_none_finite");
            const loom::Tensor<T> raw = loss_of(loom::Reduction::none, false, logits);
            for (index_t b = 0; b < raw.numel(); ++b) CHECK(std::isfinite(raw.data()[b]) == (finite.data()[b] == T(1)));
            loom_test::check_matches(loss_of(loom::Reduction::sum, true, logits), fixture.get<T>("loss_sum_zero_inf"), tol);
            // Without zero_infinity an impossible sequence makes the mean infinite.
            const bool all_finite = fixture.has("loss_mean");
            CHECK(std::isfinite(loss_of(loom::Reduction::mean, false, logits).item()) == all_finite);
            if (all_finite)
                loom_test::check_matches(loss_of(loom::Reduction::mean, false, logits), fixture.get<T>("loss_mean"), tol);
        }

        std::vector<std::pair<std::string, loom::Reduction>> gradients{{"logits_grad_mean", loom::Reduction::mean}};
        if (fixture.has("logits_grad_sum")) {
            gradients.emplace_back("logits_grad_sum", loom::Reduction::sum);
            gradients.emplace_back("logits_grad_none", loom::Reduction::none);
        }
        for (const auto& [key, reduction] : gradients) {
            INFO(key);
            loom::Tensor<T> leaf = logits.clone();
            leaf.requires_grad_(true);
            const loom::Tensor<T> loss = loss_of(reduction, true, leaf);
            if (reduction == loom::Reduction::none) loss.backward(fixture.get<T>("upstream"));
            else loss.backward();
            loom_test::check_matches(leaf.grad(), fixture.get<T>(key), tol);
        }
    }
}

TEMPLATE_TEST_CASE("ctc_loss stays finite on extreme and -inf log-probabilities", "[ctc]", float, double) {
    using T = TestType;
    // Logits of ±1e4: log_softmax gives log-probabilities down to −2e4.
    loom::Tensor<T> logits = loom_test::random_tensor<T>(Shape{10, 2, 5}, 16, -1e4, 1e4);
    logits.requires_grad_(true);
    const IndexTensor targets({1, 2, 3, 4, 1, 1}, Shape{2, 3});
    const loom::Tensor<T> loss = loom::ctc_loss(loom::log_softmax(logits), targets, Lengths{10, 9}, Lengths{3, 3});
    CHECK(std::isfinite(loss.item()));
    loss.backward();
    for (index_t i = 0; i < logits.numel(); ++i) CHECK(std::isfinite(logits.grad().data()[i]));
    // Exact zeros (−∞) for some classes: still finite where a path remains.
    loom::Tensor<T> log_probs = random_log_probs<T>(Shape{6, 1, 4}, 17);
    for (index_t t = 0; t < 6; ++t) log_probs.data()[t * 4 + 3] = -std::numeric_limits<T>::infinity();
    log_probs.requires_grad_(true);
    const loom::Tensor<T> partial = loom::ctc_loss(log_probs, IndexTensor{1, 2}, Lengths{6}, Lengths{2});
    CHECK(std::isfinite(partial.item()));
    partial.backward();
    for (index_t i = 0; i < log_probs.numel(); ++i) CHECK(std::isfinite(log_probs.grad().data()[i]));
}

TEST_CASE("ctc_loss gives the same result on 1 and 2 threads", "[ctc]") {
    const loom::Tensor<float> log_probs = random_log_probs<float>(Shape{50, 8, 12}, 18);
    std::vector<index_t> labels, target_lengths;
    for (index_t b = 0; b < 8; ++b) {
        target_lengths.push_back(3 + b);
        for (index_t i = 0; i < 3 + b; ++i) labels.push_back(1 + (b * 7 + i * 3) % 11);
    }
    const Lengths input_lengths{50, 49, 48, 47, 46, 45, 44, 43};
    std::map<int, std::pair<float, std::vector<float>>> results;
    for (int threads : {1, 2}) {
        loom_test::ThreadScope scope(threads);
        loom::Tensor<float> leaf = log_probs.clone();
        leaf.requires_grad_(true);
        const loom::Tensor<float> loss = loom::ctc_loss(leaf, IndexTensor(labels), input_lengths, target_lengths);
        loss.backward();
        results[threads] = {loss.item(), std::vector<float>(leaf.grad().data(), leaf.grad().data() + leaf.numel())};
    }
    CHECK(results[1].first == results[2].first);
    CHECK(results[1].second == results[2].second);
}

TEST_CASE("ctc_loss rejects bad input with the op and the shapes", "[ctc][errors]") {
    const loom::Tensor<double> log_probs = random_log_probs<double>(Shape{5, 2, 4}, 19);
    const IndexTensor targets({1, 2, 3, 1}, Shape{2, 2});
    const auto message = [&](const loom::Tensor<double>& x, const IndexTensor& y, const Lengths& in, const Lengths& out,
                             index_t blank = 0) {
        return error_message([&] { loom::ctc_loss(x, y, in, out, options_with(loom::Reduction::mean, blank)); });
    };
    CHECK(contains(message(loom::Tensor<double>::zeros(Shape{5, 8}), targets, {5, 5}, {2, 2}), "[T, B, C]"));
    CHECK(contains(message(log_probs, targets, {5}, {2, 2}), "has batch 2 but there are 1 input lengths"));
    CHECK(contains(message(log_probs, targets, {6, 5}, {2, 2}), "input length 6 of sequence 0 is outside [0, 5]"));
    CHECK(contains(message(log_probs, targets, {-1, 5}, {2, 2}), "input length -1"));
    CHECK(contains(message(log_probs, targets, {5, 5}, {2, 3}), "target length 3 of sequence 1 exceeds the padded targets [2, 2]"));
    CHECK(contains(message(log_probs, targets, {5, 5}, {2, -1}), "is negative"));
    CHECK(contains(message(log_probs, IndexTensor({1, 4, 3, 1}, Shape{2, 2}), {5, 5}, {2, 2}),
                   "label 4 at position 1 of target 0 is out of range for 4 classes"));
    CHECK(contains(message(log_probs, IndexTensor({1, 2, 0, 1}, Shape{2, 2}), {5, 5}, {2, 2}), "holds the blank (0)"));
    CHECK(contains(message(log_probs, targets, {5, 5}, {2, 2}, 4), "blank 4 is out of range for 4 classes"));
    CHECK(contains(message(log_probs, IndexTensor{1, 2, 3}, {5, 5}, {2, 2}), "add up to more than the 3 concatenated"));
    CHECK(contains(message(log_probs, IndexTensor({1, 2, 3}, Shape{3, 1}), {5, 5}, {1, 1}), "got shape [3, 1]"));
    CHECK(contains(error_message([] { loom::CTCLoss<float> bad(-1); }), "loom::CTCLoss: blank"));
    CHECK(contains(error_message([] { loom::parse_reduction("average"); }), "unknown reduction 'average'"));
    CHECK(loom::parse_reduction("sum") == loom::Reduction::sum);
}

}  // namespace ops_ctc_test
