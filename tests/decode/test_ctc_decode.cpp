#include "test_util.hpp"

// Tests for loom/decode/ctc_decode.hpp: best-path decoding and prefix beam
// search, against exhaustive enumeration of every path on small inputs.

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include <loom/decode/ctc_decode.hpp>

using loom::index_t;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace decode_ctc_decode_test {

using Labels = std::vector<index_t>;

// log_probs [T, 1, C] from rows of probabilities.
loom::Tensor<double> from_probabilities(const std::vector<std::vector<double>>& rows) {
    std::vector<double> values;
    for (const auto& row : rows)
        for (double p : row) values.push_back(std::log(p));
    return loom::Tensor<double>::from_vector(values, Shape{static_cast<index_t>(rows.size()), 1,
                                                           static_cast<index_t>(rows[0].size())});
}

// p(labelling | x) for every labelling, by enumerating all C^T paths of
// sequence b and collapsing each (merge repeats, drop blanks).
std::map<Labels, double> labelling_probabilities(const loom::Tensor<double>& log_probs, index_t b, index_t length,
                                                 index_t blank) {
    const index_t batch = log_probs.shape()[1], classes = log_probs.shape()[2];
    std::map<Labels, double> totals;
    Labels path(static_cast<std::size_t>(length), 0);
    for (;;) {
        Labels labels;
        double log_p = 0;
        for (index_t t = 0; t < length; ++t) {
            const index_t symbol = path[static_cast<std::size_t>(t)];
            if (symbol != blank && (t == 0 || symbol != path[static_cast<std::size_t>(t - 1)])) labels.push_back(symbol);
            log_p += log_probs.data()[(t * batch + b) * classes + symbol];
        }
        totals[labels] += std::exp(log_p);
        index_t position = 0;
        while (position < length && ++path[static_cast<std::size_t>(position)] == classes) path[static_cast<std::size_t>(position++)] = 0;
        if (position == length) break;
    }
    return totals;
}

TEST_CASE("ctc_greedy_decode merges repeats, drops blanks and stops at each input length", "[ctc][decode]") {
    // Best path of sequence 0: a a - a b b -> "a a b"; sequence 1 reads 3 frames: - b b -> "b".
    const std::vector<index_t> best0{1, 1, 0, 1, 2, 2}, best1{0, 2, 2, 1, 1, 1};
    loom::Tensor<float> log_probs = loom::Tensor<float>::full(Shape{6, 2, 3}, -5.0f);
    for (index_t t = 0; t < 6; ++t) {
        log_probs.data()[(t * 2 + 0) * 3 + best0[static_cast<std::size_t>(t)]] = -0.1f;
        log_probs.data()[(t * 2 + 1) * 3 + best1[static_cast<std::size_t>(t)]] = -0.1f;
    }
    const auto decoded = loom::ctc_greedy_decode(log_probs, {6, 3});
    CHECK(decoded[0] == Labels{1, 1, 2});
    CHECK(decoded[1] == Labels{2});
    // With class 2 as the blank, sequence 0 reads "1 1 0 1" -> 1, 0, 1.
    CHECK(loom::ctc_greedy_decode(log_probs, {6, 3}, 2)[0] == Labels{1, 0, 1});
}

TEST_CASE("prefix beam search finds the most probable labelling where best path does not", "[ctc][decode]") {
    // Two frames of p(blank) = 0.6, p(a) = 0.4: the best path is "- -" (0.36),
    // but "a" has probability 0.4·0.4 + 0.4·0.6 + 0.6·0.4 = 0.64.
    const loom::Tensor<double> log_probs = from_probabilities({{0.6, 0.4}, {0.6, 0.4}});
    CHECK(loom::ctc_greedy_decode(log_probs, {2})[0].empty());
    const auto beams = loom::ctc_prefix_beam_search(log_probs, {2});
    REQUIRE(beams[0].size() == 3);  // "a", "", "a a"
    CHECK(beams[0][0].labels == Labels{1});
    CHECK(beams[0][0].log_prob == Approx(std::log(0.64)).epsilon(1e-14));
    CHECK(beams[0][1].labels.empty());
    CHECK(beams[0][1].log_prob == Approx(std::log(0.36)).epsilon(1e-14));
    CHECK(beams[0][2].labels == Labels{1, 1});  // needs "a - a": impossible in 2 frames
    CHECK(std::isinf(beams[0][2].log_prob));
}

TEST_CASE("prefix beam search with an unpruned beam equals exhaustive enumeration", "[ctc][decode]") {
    const loom::Tensor<double> log_probs = loom::log_softmax(loom_test::random_tensor<double>(Shape{5, 2, 3}, 31, -2, 2));
    const std::vector<index_t> lengths{5, 4};
    loom::CtcBeamOptions options;
    options.beam_width = 1000;  // more than the number of labellings: nothing is pruned
    const auto beams = loom::ctc_prefix_beam_search(log_probs, lengths, options);
    for (index_t b = 0; b < 2; ++b) {
        const auto exact = labelling_probabilities(log_probs, b, lengths[static_cast<std::size_t>(b)], 0);
        std::vector<std::pair<double, Labels>> ranked;
        for (const auto& [labels, p] : exact) ranked.emplace_back(p, labels);
        std::sort(ranked.begin(), ranked.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
        const auto& found = beams[static_cast<std::size_t>(b)];
        // Every labelling reachable in T frames appears, with its exact probability.
        std::size_t finite = 0;
        for (const auto& hypothesis : found) {
            if (std::isinf(hypothesis.log_prob)) continue;
            ++finite;
            INFO("sequence " << b << ", labelling of length " << hypothesis.labels.size());
            REQUIRE(exact.count(hypothesis.labels) == 1);
            CHECK(hypothesis.log_prob == Approx(std::log(exact.at(hypothesis.labels))).epsilon(1e-12));
        }
        CHECK(finite == exact.size());
        CHECK(found[0].labels == ranked[0].second);
        CHECK(found[1].labels == ranked[1].second);
    }
    // A narrow beam still returns its best few, best first.
    options.beam_width = 3;
    const auto narrow = loom::ctc_prefix_beam_search(log_probs, lengths, options);
    REQUIRE(narrow[0].size() == 3);
    CHECK(narrow[0][0].log_prob >= narrow[0][1].log_prob);
    CHECK(narrow[0][1].log_prob >= narrow[0][2].log_prob);
}

TEST_CASE("prefix beam search: top_classes prunes extensions, not the answer on a peaked input", "[ctc][decode]") {
    const loom::Tensor<float> log_probs = loom::log_softmax(loom_test::random_tensor<float>(Shape{20, 1, 8}, 32, -6, 6));
    loom::CtcBeamOptions all, pruned;
    all.beam_width = pruned.beam_width = 8;
    pruned.top_classes = 3;
    const auto exact = loom::ctc_prefix_beam_search(log_probs, {20}, all)[0];
    const auto fast = loom::ctc_prefix_beam_search(log_probs, {20}, pruned)[0];
    CHECK(fast[0].labels == exact[0].labels);
    CHECK(fast[0].log_prob <= exact[0].log_prob + 1e-9);  // fewer paths summed, never more
}

TEST_CASE("ctc decoders reject bad input", "[ctc][decode][errors]") {
    const loom::Tensor<float> log_probs = loom::Tensor<float>::zeros(Shape{4, 2, 3});
    CHECK(contains(error_message([&] { loom::ctc_greedy_decode(loom::Tensor<float>::zeros(Shape{4, 3}), {4}); }),
                   "loom::ctc_greedy_decode: log_probs must be [T, B, C]"));
    CHECK(contains(error_message([&] { loom::ctc_greedy_decode(log_probs, {4}); }), "has batch 2 but there are 1"));
    CHECK(contains(error_message([&] { loom::ctc_greedy_decode(log_probs, {4, 5}); }),
                   "input length 5 of sequence 1 is outside [0, 4]"));
    CHECK(contains(error_message([&] { loom::ctc_greedy_decode(log_probs, {4, 4}, 3); }), "blank 3 is out of range"));
    loom::CtcBeamOptions options;
    options.beam_width = 0;
    CHECK(contains(error_message([&] { loom::ctc_prefix_beam_search(log_probs, {4, 4}, options); }),
                   "loom::ctc_prefix_beam_search: beam_width must be at least 1"));
    options.beam_width = 2;
    options.top_classes = -1;
    CHECK(contains(error_message([&] { loom::ctc_prefix_beam_search(log_probs, {4, 4}, options); }), "top_classes"));
}

}  // namespace decode_ctc_decode_test
