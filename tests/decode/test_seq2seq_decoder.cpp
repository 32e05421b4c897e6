#include "test_util.hpp"

// Tests for loom/decode/seq2seq_decoder.hpp and beam search's coverage
// penalty: a Seq2SeqDecoder's greedy output equals translate_greedy's for
// every row of a padded batch; a hypothesis's log-probability is minus the
// teacher-forced loss of the same pair; beam width 1 is greedy; the coverage
// penalty is β Σ_i log min(c_i, 1) of the hypothesis's own attention; errors.

#include <cmath>
#include <vector>

#include <loom/decode/beam_search.hpp>
#include <loom/decode/greedy.hpp>
#include <loom/decode/seq2seq_decoder.hpp>

#include "decode/fake_decoders.hpp"

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace decode_seq2seq_decoder_test {

constexpr index_t kBegin = 0, kEnd = 1;

// A random model that ends its outputs within a few steps (the end token's
// output bias is raised), so that searches finish.
template <typename T>
std::unique_ptr<loom::Seq2Seq<T>> random_model(loom::Seq2SeqAttention attention, bool coverage, std::uint64_t seed) {
    loom::Seq2SeqConfig config;
    config.source_vocabulary = 7;
    config.target_vocabulary = 6;
    config.embedding_dim = 4;
    config.hidden_size = 5;
    config.attention = attention;
    config.coverage = coverage;
    loom::Generator generator(seed);
    auto model = std::make_unique<loom::Seq2Seq<T>>(config, generator);
    for (auto& [name, parameter] : model->named_parameters()) {
        Tensor<T> p = parameter;
        p.copy_(loom_test::random_tensor<T>(p.shape(), seed++, -1.0, 1.0));
    }
    model->output.bias.data()[kEnd] = T(1.5);
    return model;
}

const std::vector<std::vector<index_t>> kSources{{3, 1, 4, 1, 5}, {2, 6}, {5, 3, 5}};

TEST_CASE("Seq2SeqDecoder's greedy output is translate_greedy's for every row of a batch", "[seq2seq][decode]") {
    for (const auto attention : {loom::Seq2SeqAttention::none, loom::Seq2SeqAttention::bahdanau,
                                 loom::Seq2SeqAttention::luong}) {
        INFO(loom::to_string(attention));
        auto model = random_model<double>(attention, attention == loom::Seq2SeqAttention::bahdanau, 21);
        const auto batch = loom::make_seq2seq_batch(kSources, {{}, {}, {}}, kBegin, kEnd, 0);
        const auto translations = loom::translate_greedy(*model, batch.source, batch.source_lengths, kBegin, kEnd, 12);
        REQUIRE(translations.size() == 3);
        for (std::size_t b = 0; b < kSources.size(); ++b) {
            loom::Seq2SeqDecoder<double> decoder(*model, kSources[b]);
            loom::GenerationOptions options;
            options.max_new_tokens = 12;
            options.end_token = kEnd;
            const auto greedy = loom::greedy(decoder, {kBegin}, options);
            CHECK(greedy.tokens == translations[b].tokens);
            CHECK(translations[b].finished == (greedy.stop_reason == loom::StopReason::end_token));
            const std::size_t steps = translations[b].tokens.size() + (translations[b].finished ? 1 : 0);
            if (attention == loom::Seq2SeqAttention::none) {
                CHECK(translations[b].attention.empty());
                continue;
            }
            REQUIRE(translations[b].attention.size() == steps);
            for (const auto& weights : translations[b].attention) {
                REQUIRE(weights.size() == kSources[b].size());
                double sum = 0.0;
                for (double w : weights) sum += w;
                CHECK(sum == Approx(1.0).epsilon(1e-12));
            }
        }
    }
}

TEST_CASE("a beam hypothesis's log-probability is minus the teacher-forced loss of the pair", "[seq2seq][decode]") {
    auto model = random_model<double>(loom::Seq2SeqAttention::bahdanau, true, 5);
    loom::Seq2SeqDecoder<double> decoder(*model, kSources[0]);
    loom::BeamSearchOptions options;
    options.beam_width = 4;
    options.num_results = 3;
    options.max_new_tokens = 10;
    options.end_token = kEnd;
    const auto hypotheses = loom::beam_search(decoder, {kBegin}, options);
    REQUIRE(hypotheses.size() == 3);
    for (const auto& h : hypotheses) {
        REQUIRE(h.finished);
        const auto pair = loom::make_seq2seq_batch({kSources[0]}, {h.tokens}, kBegin, kEnd, 0);
        const double tokens = static_cast<double>(h.tokens.size() + 1);
        CHECK(-model->loss(pair).cross_entropy.item() * tokens == Approx(h.log_probability).epsilon(1e-12));
    }

    options.beam_width = 1;
    options.num_results = 1;
    loom::GenerationOptions greedy_options;
    greedy_options.max_new_tokens = 10;
    greedy_options.end_token = kEnd;
    CHECK(loom::beam_search(decoder, {kBegin}, options)[0].tokens == loom::greedy(decoder, {kBegin}, greedy_options).tokens);
}

TEST_CASE("beam search's coverage penalty is beta times the sum of log min(coverage, 1)", "[seq2seq][decode]") {
    auto model = random_model<double>(loom::Seq2SeqAttention::luong, false, 9);
    loom::Seq2SeqDecoder<double> decoder(*model, kSources[0]);
    loom::BeamSearchOptions options;
    options.beam_width = 3;
    options.num_results = 3;
    options.max_new_tokens = 4;  // some hypotheses end unfinished
    options.end_token = kEnd;
    options.coverage_penalty = 0.4;
    const auto hypotheses = loom::beam_search(decoder, {kBegin}, options);
    REQUIRE(!hypotheses.empty());
    for (const auto& h : hypotheses) {
        // Replay: the coverage after the step that chose the hypothesis's last token.
        loom::Seq2SeqDecoder<double> replay(*model, kSources[0]);
        replay.start({kBegin}, 1);
        const std::size_t read = h.finished ? h.tokens.size() : h.tokens.size() - 1;
        for (std::size_t i = 0; i < read; ++i) replay.advance({h.tokens[i]});
        const Tensor<double> coverage = replay.source_coverage();
        double penalty = 0.0;
        for (index_t i = 0; i < coverage.numel(); ++i) penalty += std::log(std::min(coverage.data()[i], 1.0));
        CHECK(h.score == Approx(h.log_probability + 0.4 * penalty).epsilon(1e-12));
        CHECK(penalty < 0.0);
    }
    for (std::size_t i = 1; i < hypotheses.size(); ++i) CHECK(hypotheses[i - 1].score >= hypotheses[i].score);

    auto markov = decode_fake_decoders::MarkovDecoder<double>::random(4, 1, 3);
    CHECK(contains(error_message([&] { loom::beam_search(markov, {0}, options); }),
                   "loom::beam_search: coverage_penalty needs a decoder that attends to a source"));
    options.coverage_penalty = -1.0;
    CHECK(contains(error_message([&] { loom::beam_search(decoder, {kBegin}, options); }),
                   "coverage_penalty must be finite and >= 0, got -1"));
}

TEST_CASE("Seq2SeqDecoder and translate_greedy reject bad calls", "[seq2seq][decode][errors]") {
    auto model = random_model<float>(loom::Seq2SeqAttention::bahdanau, false, 2);
    CHECK(contains(error_message([&] { loom::Seq2SeqDecoder<float> empty(*model, {}); }),
                   "loom::Seq2SeqDecoder: the source is empty"));
    loom::Seq2SeqDecoder<float> decoder(*model, {3, 9});
    CHECK(contains(error_message([&] { decoder.advance({2}); }), "loom::Seq2SeqDecoder::advance: call start() first"));
    CHECK(contains(error_message([&] { decoder.start({kBegin}, 1); }),
                   "loom::Seq2Seq::encode: source id 9 at position 1 is outside the vocabulary of 7 tokens"));
    loom::Seq2SeqDecoder<float> good(*model, {3, 4});
    CHECK(contains(error_message([&] { good.start({}, 1); }), "the prompt is empty"));
    good.start({kBegin}, 2);
    CHECK(contains(error_message([&] { good.advance({2}); }), "1 tokens for a batch of 2 rows"));
    CHECK(contains(error_message([&] { good.advance({2, 6}); }), "target id 6 at position 1 is outside the vocabulary of 6"));
    CHECK(contains(error_message([&] { good.reorder({0, 2}); }), "row 2 is outside the batch of 2"));
    good.reorder({1, 1, 0});
    CHECK(good.advance({2, 3, 4}).shape() == Shape{3, 6});
    CHECK(good.source_coverage().shape() == Shape{3, 2});

    const auto batch = loom::make_seq2seq_batch(kSources, {{}, {}, {}}, kBegin, kEnd, 0);
    CHECK(contains(error_message([&] { loom::translate_greedy(*model, batch.source, batch.source_lengths, kBegin, 6, 5); }),
                   "loom::translate_greedy: begin token 0 and end token 6 must be in the target vocabulary of 6"));
    CHECK(contains(error_message([&] { loom::translate_greedy(*model, batch.source, {5, 7, 1}, kBegin, kEnd, 5); }),
                   "source length 7 of row 1 is outside [1, 5]"));
}

}  // namespace decode_seq2seq_decoder_test
