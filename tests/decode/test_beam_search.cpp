#include "test_util.hpp"

// Tests for loom/decode/beam_search.hpp: width 1 is greedy, a wide beam equals
// exhaustive search (with and without length normalisation and end tokens),
// beam never loses to greedy on random models, one batched advance per step
// with reorder by parent, finished hypotheses kept, early stopping, the
// repetition penalty, the worked example of docs/decoding.md, argument checks.

#include <cmath>
#include <limits>
#include <vector>

#include <loom/decode/beam_search.hpp>
#include <loom/decode/greedy.hpp>

#include "decode/fake_decoders.hpp"

namespace decode_beam_search_test {  // named, not anonymous: the test files are compiled together in unity batches

using decode_fake_decoders::MarkovDecoder;
using loom::index_t;
using loom_test::contains;
using loom_test::error_message;

struct Scored {
    std::vector<index_t> tokens;
    double log_probability;
    bool finished;
    double score;
};

// Every hypothesis beam search can return: non-end tokens of length max, or
// m < max non-end tokens followed by the end token.
template <typename T>
std::vector<Scored> all_hypotheses(const MarkovDecoder<T>& model, const std::vector<index_t>& prompt, index_t vocabulary,
                                   index_t max_new_tokens, std::optional<index_t> end, double alpha) {
    std::vector<Scored> out;
    std::vector<std::vector<index_t>> prefixes = {{}};
    for (index_t length = 0; length <= max_new_tokens; ++length) {
        std::vector<std::vector<index_t>> longer;
        for (const auto& prefix : prefixes) {
            if (length == max_new_tokens) {
                out.push_back({prefix, model.sequence_log_prob(prompt, prefix), false, 0.0});
                continue;
            }
            if (end) {
                auto with_end = prefix;
                with_end.push_back(*end);
                out.push_back({prefix, model.sequence_log_prob(prompt, with_end), true, 0.0});
            }
            for (index_t v = 0; v < vocabulary; ++v) {
                if (end && v == *end) continue;
                auto next = prefix;
                next.push_back(v);
                longer.push_back(next);
            }
        }
        prefixes = longer;
    }
    for (Scored& s : out) {
        const auto length = static_cast<index_t>(s.tokens.size()) + (s.finished ? 1 : 0);
        s.score = s.log_probability / loom::length_normalisation(length, alpha);
    }
    return out;
}

TEMPLATE_TEST_CASE("beam width 1 equals greedy", "[beam]", float, double) {
    using T = TestType;
    for (std::uint64_t seed = 1; seed <= 8; ++seed) {
        for (bool with_end : {false, true}) {
            INFO("seed " << seed << ", end token " << with_end);
            auto model = MarkovDecoder<T>::random(5, 2, seed);
            loom::GenerationOptions g;
            g.max_new_tokens = 7;
            loom::BeamSearchOptions b;
            b.beam_width = 1;
            b.max_new_tokens = 7;
            if (with_end) g.end_token = b.end_token = 4;
            const auto greedy = loom::greedy(model, {0, 1}, g);
            const auto beam = loom::beam_search(model, {0, 1}, b);
            REQUIRE(beam.size() == 1);
            CHECK(beam[0].tokens == greedy.tokens);
            CHECK(beam[0].finished == (greedy.stop_reason == loom::StopReason::end_token));
            // Width 1 advances a batch of one row.
            for (index_t batch : model.advance_batches) CHECK(batch == 1);
        }
    }
}

TEMPLATE_TEST_CASE("a wide beam finds the exhaustive best sequence and score", "[beam]", float, double) {
    using T = TestType;
    const double tolerance = std::is_same<T, float>::value ? 1e-4 : 1e-10;
    for (std::uint64_t seed = 11; seed <= 15; ++seed) {
        for (bool with_end : {false, true}) {
            for (double alpha : {0.0, 0.8}) {
                INFO("seed " << seed << ", end token " << with_end << ", alpha " << alpha);
                const index_t vocabulary = with_end ? 4 : 3;
                const index_t length = 4;
                auto model = MarkovDecoder<T>::random(vocabulary, 2, seed);
                loom::BeamSearchOptions options;
                options.beam_width = 100;  // more than the 81 sequences of length 4 over 3 tokens
                options.max_new_tokens = length;
                options.length_penalty = alpha;
                options.num_results = 3;
                std::optional<index_t> end;
                if (with_end) options.end_token = end = 3;
                const auto beams = loom::beam_search(model, {2}, options);
                auto all = all_hypotheses(model, {2}, vocabulary, length, end, alpha);
                std::stable_sort(all.begin(), all.end(), [](const Scored& a, const Scored& b) { return a.score > b.score; });
                REQUIRE(beams.size() == 3);
                CHECK(beams[0].tokens == all[0].tokens);
                CHECK(beams[0].finished == all[0].finished);
                for (std::size_t i = 0; i < 3; ++i) {
                    CHECK(std::abs(beams[i].score - all[i].score) < tolerance);
                    // The raw log-probability is the model's own Σ log p of the sequence.
                    auto with_end_token = beams[i].tokens;
                    if (beams[i].finished) with_end_token.push_back(3);
                    CHECK(std::abs(beams[i].log_probability - model.sequence_log_prob({2}, with_end_token)) < tolerance);
                }
                CHECK(beams[0].score >= beams[1].score);
                CHECK(beams[1].score >= beams[2].score);
            }
        }
    }
}

TEMPLATE_TEST_CASE("beam search never scores below greedy on random models", "[beam]", float, double) {
    using T = TestType;
    for (std::uint64_t seed = 100; seed < 130; ++seed) {
        for (index_t width : {2, 3, 5}) {
            INFO("seed " << seed << ", width " << width);
            auto model = MarkovDecoder<T>::random(6, 2, seed, 2.0);
            loom::GenerationOptions g;
            g.max_new_tokens = 6;
            loom::BeamSearchOptions b;
            b.beam_width = width;
            b.max_new_tokens = 6;
            const auto greedy = loom::greedy(model, {1}, g);
            const double greedy_log_prob = model.sequence_log_prob({1}, greedy.tokens);
            const auto beam = loom::beam_search(model, {1}, b);
            CHECK(beam[0].log_probability >= greedy_log_prob - 1e-5);
        }
    }
}

TEMPLATE_TEST_CASE("beams advance in one batched call per step and are reordered by parent", "[beam]", float, double) {
    using T = TestType;
    auto model = MarkovDecoder<T>::random(5, 2, 42);
    loom::BeamSearchOptions options;
    options.beam_width = 3;
    options.max_new_tokens = 6;
    options.num_results = 3;
    const auto beams = loom::beam_search(model, {0, 4}, options);
    CHECK(model.start_calls == 1);
    CHECK(model.start_batches == std::vector<index_t>{1});
    // No end token: every step but the last advances all 3 beams at once.
    CHECK(model.advance_batches == std::vector<index_t>(5, 3));
    REQUIRE(model.reorders.size() == 5);
    // Step 1 expands the single prompt row into three children of row 0.
    CHECK(model.reorders[0] == std::vector<index_t>{0, 0, 0});
    for (const auto& rows : model.reorders) {
        REQUIRE(rows.size() == 3);
        for (index_t row : rows) CHECK((row >= 0 && row < 3));
    }
    // The rows followed their parents: the decoder's histories are the prefixes
    // of the live beams, and the reported log-probabilities (computed by the
    // decoder from those rows) are the true ones.
    for (const auto& history : model.histories()) CHECK(history.size() == 2 + 5);
    for (const auto& beam : beams) {
        CHECK(std::abs(beam.log_probability - model.sequence_log_prob({0, 4}, beam.tokens)) < 1e-4);
        std::vector<index_t> prefix = {0, 4};
        prefix.insert(prefix.end(), beam.tokens.begin(), beam.tokens.end() - 1);
        CHECK(std::find(model.histories().begin(), model.histories().end(), prefix) != model.histories().end());
    }
}

// After the prompt: end (token 0) with probability 0.5, else a and b share the
// rest, and every later token has probability at most 0.3.
template <typename T>
MarkovDecoder<T> early_end_model() {
    return MarkovDecoder<T>(3, 1, [](const std::vector<index_t>& context) {
        if (context.back() == 2 || context.back() == 0) return std::vector<double>{std::log(0.5), std::log(0.3), std::log(0.2)};
        return std::vector<double>{std::log(0.2), std::log(0.3), std::log(0.5)};
    });
}

TEMPLATE_TEST_CASE("finished hypotheses are kept and the search stops when no beam can beat them", "[beam]", float, double) {
    using T = TestType;
    // Prompt token 2: P(end) = 0.5 at once; any longer sequence has probability <= 0.5 · 0.5 < 0.5.
    auto model = early_end_model<T>();
    loom::BeamSearchOptions options;
    options.beam_width = 2;
    options.max_new_tokens = 10;
    options.end_token = 0;
    const auto best = loom::beam_search(model, {2}, options);
    REQUIRE(best.size() == 1);
    CHECK(best[0].finished);
    CHECK(best[0].tokens.empty());
    CHECK(std::abs(best[0].log_probability - std::log(0.5)) < 1e-6);
    // The live beams (0.3 and 0.2 after one step) cannot beat 0.5: no advance at all.
    CHECK(model.advance_batches.empty());

    // Asking for 2 results keeps searching until the second one is settled; the
    // results are sorted and both are finished hypotheses.
    auto again = early_end_model<T>();
    options.num_results = 2;
    const auto two = loom::beam_search(again, {2}, options);
    REQUIRE(two.size() == 2);
    CHECK(two[0].score >= two[1].score);
    CHECK(two[1].finished);
    // Second best: "b end" = 0.2 · 0.5 = 0.1 beats "a end" = 0.3 · 0.2 = 0.06 and "a b end" = 0.3 · 0.5 · 0.5 = 0.075.
    CHECK(two[1].tokens == std::vector<index_t>{2});
    CHECK(std::abs(two[1].log_probability - std::log(0.1)) < 1e-6);
    CHECK(again.advance_batches.size() < 9);
}

// docs/decoding.md, "A worked example": greedy picks a (0.5) then a (0.4): 0.20;
// a beam of 2 keeps b (0.4), whose continuation c has 0.9: b c = 0.36.
template <typename T>
MarkovDecoder<T> worked_example_model() {
    // Tokens: 0 = a, 1 = b, 2 = c, 3 = the prompt token s.
    return MarkovDecoder<T>(4, 1, [](const std::vector<index_t>& context) {
        const auto logs = [](double a, double b, double c) {
            return std::vector<double>{std::log(a), std::log(b), std::log(c), -std::numeric_limits<double>::infinity()};
        };
        switch (context.back()) {
            case 3: return logs(0.5, 0.4, 0.1);
            case 0: return logs(0.4, 0.3, 0.3);
            case 1: return logs(0.05, 0.05, 0.9);
            default: return logs(1.0 / 3, 1.0 / 3, 1.0 / 3);
        }
    });
}

TEMPLATE_TEST_CASE("worked example: beam search beats greedy", "[beam]", float, double) {
    using T = TestType;
    auto model = worked_example_model<T>();
    loom::GenerationOptions g;
    g.max_new_tokens = 2;
    const auto greedy = loom::greedy(model, {3}, g);
    CHECK(greedy.tokens == std::vector<index_t>{0, 0});
    CHECK(std::abs(model.sequence_log_prob({3}, greedy.tokens) - std::log(0.20)) < 1e-12);

    loom::BeamSearchOptions options;
    options.beam_width = 2;
    options.max_new_tokens = 2;
    options.num_results = 2;
    const auto beams = loom::beam_search(model, {3}, options);
    REQUIRE(beams.size() == 2);
    CHECK(beams[0].tokens == std::vector<index_t>{1, 2});
    CHECK(std::abs(beams[0].score - std::log(0.36)) < 1e-6);  // -1.0217
    CHECK(beams[1].tokens == std::vector<index_t>{0, 0});
    CHECK(std::abs(beams[1].score - std::log(0.20)) < 1e-6);  // -1.6094
    // The -inf log-probability of the prompt token is never a candidate.
    for (const auto& beam : beams)
        for (index_t token : beam.tokens) CHECK(token != 3);
    // With length normalisation α = 1 the same two sequences, scores / ((5 + 2) / 6).
    options.length_penalty = 1.0;
    auto again = worked_example_model<T>();
    const auto normalised = loom::beam_search(again, {3}, options);
    CHECK(std::abs(normalised[0].score - std::log(0.36) * 6.0 / 7.0) < 1e-6);
    CHECK(std::abs(normalised[0].log_probability - std::log(0.36)) < 1e-6);
}

TEMPLATE_TEST_CASE("the repetition penalty multiplies repeated tokens' log-probabilities", "[beam]", float, double) {
    using T = TestType;
    // Token 0 always has 0.6, token 1 0.4: without a penalty the best is 0 0 0.
    MarkovDecoder<T> model(2, 1, [](const std::vector<index_t>&) {
        return std::vector<double>{std::log(0.6), std::log(0.4)};
    });
    loom::BeamSearchOptions options;
    options.beam_width = 8;
    options.max_new_tokens = 3;
    CHECK(loom::beam_search(model, {0}, options)[0].tokens == std::vector<index_t>{0, 0, 0});
    // θ = 3 (the prompt does not count): S(0 0 0) = l6 + 3 l6 + 3 l6 = -3.576,
    // S(0 1 0) = l6 + l4 + 3 l6 = -2.959, S(0 1 1) = l6 + l4 + 3 l4 = -4.176,
    // S(1 0 1) = l4 + l6 + 3 l4 = -4.176, S(1 0 0) = l4 + l6 + 3 l6 = -2.959: a tie with 0 1 0,
    // which wins it because ties go to the lower parent row, and "0 ..." ranks first from step 1.
    options.repetition_penalty = 3.0;
    const auto best = loom::beam_search(model, {0}, options)[0];
    const double l6 = std::log(0.6), l4 = std::log(0.4);
    CHECK(best.tokens == std::vector<index_t>{0, 1, 0});
    CHECK(std::abs(best.score - (4 * l6 + l4)) < 1e-5);
    CHECK(std::abs(best.log_probability - (2 * l6 + l4)) < 1e-5);
}

TEMPLATE_TEST_CASE("beam search checks its arguments", "[beam]", float, double) {
    using T = TestType;
    auto model = MarkovDecoder<T>::random(3, 1, 5);
    loom::BeamSearchOptions options;
    options.beam_width = 0;
    CHECK(contains(error_message([&] { loom::beam_search(model, {0}, options); }), "loom::beam_search: beam_width must be >= 1"));
    options.beam_width = 2;
    options.num_results = 3;
    CHECK(contains(error_message([&] { loom::beam_search(model, {0}, options); }), "num_results must be in [1, beam_width = 2]"));
    options.num_results = 1;
    CHECK(contains(error_message([&] { loom::beam_search(model, std::vector<index_t>{}, options); }), "the prompt is empty"));
    options.end_token = 7;
    CHECK(contains(error_message([&] { loom::beam_search(model, {0}, options); }), "end_token 7 is not in the vocabulary of size 3"));
    options.end_token.reset();
    options.repetition_penalty = 0.0;
    CHECK(contains(error_message([&] { loom::beam_search(model, {0}, options); }), "repetition_penalty must be finite and > 0"));
    MarkovDecoder<T> nan_model(3, 1, [](const std::vector<index_t>&) { return std::vector<double>{0.0, std::nan(""), -1.0}; });
    CHECK(contains(error_message([&] { loom::beam_search(nan_model, {0}, loom::BeamSearchOptions{}); }),
                   "loom::beam_search: log-probability of token 1 in row 0 is NaN"));
    options.repetition_penalty = 1.0;
    options.max_new_tokens = 0;
    const auto none = loom::beam_search(model, {0}, options);
    REQUIRE(none.size() == 1);
    CHECK(none[0].tokens.empty());
}

}  // namespace decode_beam_search_test
