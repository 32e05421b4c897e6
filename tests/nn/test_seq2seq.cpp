#include "test_util.hpp"

// Tests for loom/nn/seq2seq.hpp and loom/data/seq2seq_batch.hpp: the loss and
// every parameter's gradient against the same model written with torch.nn
// (tests/data/seq2seq_*.txt, made by tests/fixtures/make_seq2seq_fixtures.py;
// 1e-10 in double, 1e-5 in float); the
// teacher-forced loss of every cell × attention × coverage combination passes
// finite differences in double (every parameter, a padded batch of mixed
// lengths); padding is never read (changing padded ids changes nothing, and
// a row's loss in a batch is its loss alone); float agrees with double; the
// parameter names; the bad-input errors; make_seq2seq_batch's layout.

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include <loom/autograd/gradcheck.hpp>
#include <loom/nn/seq2seq.hpp>

#include "fixture_reader.hpp"
#include "nn/recurrent_fixture.hpp"

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace nn_seq2seq_test {

loom::Seq2SeqConfig small_config(loom::Seq2SeqCell cell, loom::Seq2SeqAttention attention, bool coverage) {
    loom::Seq2SeqConfig config;
    config.source_vocabulary = 6;
    config.target_vocabulary = 5;
    config.embedding_dim = 3;
    config.hidden_size = 3;
    config.attention_size = 4;
    config.cell = cell;
    config.attention = attention;
    config.coverage = coverage;
    config.coverage_loss_weight = 0.7;
    return config;
}

// Three pairs of different lengths: sources of 3, 5 and 1 tokens, targets of 2, 0 and 3 tokens.
loom::Seq2SeqBatch small_batch() {
    return loom::make_seq2seq_batch({{1, 4, 2}, {5, 3, 3, 0, 2}, {4}}, {{2, 3}, {}, {4, 4, 2}}, 0, 1, 1);
}

// Random weights larger than the default initialisation, so that every
// nonlinearity is exercised away from its linear part.
template <typename T>
void randomise(loom::Module<T>& model, std::uint64_t seed) {
    for (auto& [name, parameter] : model.named_parameters()) {
        Tensor<T> p = parameter;
        p.copy_(loom_test::random_tensor<T>(p.shape(), seed++, -0.8, 0.8));
    }
}

template <typename T>
void check_against_pytorch(const char* file, loom::Seq2SeqConfig config) {
    INFO("fixture " << file);
    const auto fixture = loom_test::load_fixture(file);
    loom::Generator generator(1);
    loom::Seq2Seq<T> model(config, generator);
    std::set<std::string> loaded;
    for (const auto& [name, parameter] : model.named_parameters()) {
        INFO("loom parameter " << name);
        REQUIRE(fixture.has(name));
        Tensor<T> p = parameter;
        p.copy_(fixture.get<T>(name));
        loaded.insert(name);
    }
    for (const std::string& name : fixture.names())  // and the fixture has no parameter loom lacks
        if (name.size() > 5 && name.compare(name.size() - 5, 5, "_grad") == 0) CHECK(loaded.count(name.substr(0, name.size() - 5)) == 1);
    const loom::Seq2SeqLoss<T> loss = model.loss(small_batch());
    loss.total.backward();
    using loom_test::recurrent::check_matches;
    check_matches("total", loom::reshape(loss.total, {1}), fixture.get<T>("total"));
    check_matches("cross_entropy", loom::reshape(loss.cross_entropy, {1}), fixture.get<T>("cross_entropy"));
    if (config.coverage) check_matches("coverage", loom::reshape(loss.coverage, {1}), fixture.get<T>("coverage"));
    for (const auto& [name, parameter] : model.named_parameters())
        check_matches(name + "_grad", parameter.grad(), fixture.get<T>(name + "_grad"));
}

TEST_CASE("the seq2seq loss and gradients match the same model in PyTorch", "[seq2seq][fixture]") {
    using loom::Seq2SeqAttention;
    using loom::Seq2SeqCell;
    auto lstm = small_config(Seq2SeqCell::lstm, Seq2SeqAttention::bahdanau, true);
    auto gru = small_config(Seq2SeqCell::gru, Seq2SeqAttention::luong, true);
    gru.encoder_layers = 2;
    auto plain = small_config(Seq2SeqCell::lstm, Seq2SeqAttention::none, false);
    check_against_pytorch<double>("seq2seq_lstm_bahdanau_coverage.txt", lstm);
    check_against_pytorch<float>("seq2seq_lstm_bahdanau_coverage.txt", lstm);
    check_against_pytorch<double>("seq2seq_gru_luong_coverage.txt", gru);
    check_against_pytorch<float>("seq2seq_gru_luong_coverage.txt", gru);
    check_against_pytorch<double>("seq2seq_lstm_none.txt", plain);
    check_against_pytorch<float>("seq2seq_lstm_none.txt", plain);
}

TEST_CASE("the seq2seq loss passes finite differences for every cell and attention", "[seq2seq][gradcheck]") {
    using loom::Seq2SeqAttention;
    using loom::Seq2SeqCell;
    struct Case {
        Seq2SeqCell cell;
        Seq2SeqAttention attention;
        bool coverage, bidirectional;
        index_t layers;
    };
    const std::vector<Case> cases{{Seq2SeqCell::lstm, Seq2SeqAttention::none, false, true, 1},
                                  {Seq2SeqCell::lstm, Seq2SeqAttention::bahdanau, true, true, 1},
                                  {Seq2SeqCell::lstm, Seq2SeqAttention::luong, false, false, 2},
                                  {Seq2SeqCell::gru, Seq2SeqAttention::bahdanau, false, true, 2},
                                  {Seq2SeqCell::gru, Seq2SeqAttention::luong, true, true, 1}};
    const loom::Seq2SeqBatch batch = small_batch();
    for (const Case& c : cases) {
        loom::Seq2SeqConfig config = small_config(c.cell, c.attention, c.coverage);
        config.bidirectional_encoder = c.bidirectional;
        config.encoder_layers = c.layers;
        INFO(loom::to_string(c.cell) << " + " << loom::to_string(c.attention) << (c.coverage ? " + coverage" : "")
                                     << ", layers " << c.layers << (c.bidirectional ? ", bidirectional" : ""));
        loom::Generator generator(11);
        loom::Seq2Seq<double> model(config, generator);
        randomise(model, 100);
        const auto report = loom::gradcheck_parameters(
            [&] {
                const loom::Seq2SeqLoss<double> loss = model.loss(batch);
                return c.coverage ? loom::stack(std::vector<Tensor<double>>{loss.total, loss.coverage}, 0) : loss.total;
            },
            model.parameters());
        INFO(report.summary());
        CHECK(report.passed);
        CHECK(report.max_rel_error < 1e-6);
    }
}

TEST_CASE("the seq2seq loss never reads the padding", "[seq2seq]") {
    for (const auto attention : {loom::Seq2SeqAttention::none, loom::Seq2SeqAttention::bahdanau}) {
        loom::Generator generator(5);
        loom::Seq2Seq<double> model(small_config(loom::Seq2SeqCell::lstm, attention, attention != loom::Seq2SeqAttention::none),
                                    generator);
        randomise(model, 40);
        const loom::Seq2SeqBatch batch = small_batch();
        const double loss = model.loss(batch).total.item();
        SECTION(std::string("other ids in the padded positions: ") + loom::to_string(attention)) {
            loom::Seq2SeqBatch other = loom::make_seq2seq_batch({{1, 4, 2}, {5, 3, 3, 0, 2}, {4}},
                                                                {{2, 3}, {}, {4, 4, 2}}, 0, 1, 4);
            CHECK(other.source.values() != batch.source.values());
            CHECK(model.loss(other).total.item() == Approx(loss).epsilon(1e-14));
        }
        SECTION(std::string("the batch loss is the token-weighted mean of the rows' losses: ") +
                loom::to_string(attention)) {
            const std::vector<std::vector<index_t>> sources{{1, 4, 2}, {5, 3, 3, 0, 2}, {4}},
                targets{{2, 3}, {}, {4, 4, 2}};
            double total = 0.0;
            index_t tokens = 0;
            for (std::size_t b = 0; b < sources.size(); ++b) {
                const auto row = loom::make_seq2seq_batch({sources[b]}, {targets[b]}, 0, 1, 1);
                const auto n = static_cast<index_t>(targets[b].size()) + 1;
                total += model.loss(row).total.item() * static_cast<double>(n);
                tokens += n;
            }
            CHECK(loss == Approx(total / static_cast<double>(tokens)).epsilon(1e-12));
        }
    }
}

TEST_CASE("the seq2seq loss in float agrees with double", "[seq2seq]") {
    const auto config = small_config(loom::Seq2SeqCell::gru, loom::Seq2SeqAttention::bahdanau, true);
    loom::Generator g1(3), g2(3);
    loom::Seq2Seq<double> model64(config, g1);
    loom::Seq2Seq<float> model32(config, g2);
    randomise(model64, 7);
    randomise(model32, 7);
    const auto batch = small_batch();
    const auto loss64 = model64.loss(batch);
    const auto loss32 = model32.loss(batch);
    CHECK(std::isfinite(loss32.total.item()));
    CHECK(loss32.total.item() == Approx(loss64.total.item()).epsilon(1e-5));
    CHECK(loss32.coverage.item() == Approx(loss64.coverage.item()).epsilon(1e-5));
}

TEST_CASE("seq2seq parameters have the names of the torch.nn modules", "[seq2seq]") {
    loom::Generator generator(1);
    auto config = small_config(loom::Seq2SeqCell::lstm, loom::Seq2SeqAttention::bahdanau, true);
    loom::Seq2Seq<float> model(config, generator);
    std::vector<std::string> names;
    for (const auto& entry : model.named_parameters()) names.push_back(entry.first);
    const std::vector<std::string> expected{
        "source_embedding.weight", "encoder.weight_ih_l0", "encoder.weight_hh_l0", "encoder.bias_ih_l0",
        "encoder.bias_hh_l0", "encoder.weight_ih_l0_reverse", "encoder.weight_hh_l0_reverse",
        "encoder.bias_ih_l0_reverse", "encoder.bias_hh_l0_reverse", "bridge_h.weight", "bridge_h.bias",
        "bridge_c.weight", "bridge_c.bias", "target_embedding.weight", "decoder.weight_ih", "decoder.weight_hh",
        "decoder.bias_ih", "decoder.bias_hh", "attention.memory_layer.weight", "attention.memory_layer.bias",
        "attention.query_layer.weight", "attention.energy.weight", "attention.coverage_layer.weight",
        "output.weight", "output.bias"};
    CHECK(names == expected);
    CHECK(model.parameter("decoder.weight_ih").shape() == Shape{4 * 3, 3 + 2 * 3});
    CHECK(model.parameter("output.weight").shape() == Shape{5, 3 + 2 * 3});

    config.cell = loom::Seq2SeqCell::gru;
    config.attention = loom::Seq2SeqAttention::none;
    config.coverage = false;
    loom::Seq2Seq<float> plain(config, generator);
    CHECK_THROWS(plain.parameter("bridge_c.weight"));
    CHECK(plain.parameter("decoder.weight_ih").shape() == Shape{3 * 3, 3});
    CHECK(plain.parameter("output.weight").shape() == Shape{5, 3});
}

TEST_CASE("make_seq2seq_batch pads sources and wraps targets in begin and end", "[seq2seq]") {
    const auto batch = small_batch();
    CHECK(batch.source.shape() == Shape{3, 5});
    CHECK(batch.source.values() == std::vector<index_t>{1, 4, 2, 1, 1, 5, 3, 3, 0, 2, 4, 1, 1, 1, 1});
    CHECK(batch.source_lengths == std::vector<index_t>{3, 5, 1});
    CHECK(batch.target.shape() == Shape{3, 5});
    CHECK(batch.target.values() == std::vector<index_t>{0, 2, 3, 1, 1, 0, 1, 1, 1, 1, 0, 4, 4, 2, 1});
    CHECK(batch.target_lengths == std::vector<index_t>{4, 2, 5});
    CHECK(contains(error_message([] { loom::make_seq2seq_batch({{1}, {}}, {{1}, {2}}, 0, 1, 1); }),
                   "loom::make_seq2seq_batch: source 1 is empty"));
    CHECK(contains(error_message([] { loom::make_seq2seq_batch({{1}}, {{1}, {2}}, 0, 1, 1); }),
                   "1 sources but 2 targets"));
}

TEST_CASE("seq2seq rejects bad input with the op and the shapes", "[seq2seq][errors]") {
    loom::Generator generator(2);
    loom::Seq2Seq<float> model(small_config(loom::Seq2SeqCell::lstm, loom::Seq2SeqAttention::luong, false), generator);
    auto with = [](auto change) {
        loom::Seq2SeqBatch batch = small_batch();
        change(batch);
        return batch;
    };
    auto loss_error = [&](const loom::Seq2SeqBatch& batch) { return error_message([&] { model.loss(batch); }); };

    CHECK(contains(loss_error(with([](auto& b) { b.source_lengths[1] = 6; })),
                   "loom::Seq2Seq::encode: source length 6 of row 1 is outside [1, 5]"));
    CHECK(contains(loss_error(with([](auto& b) { b.source_lengths[2] = 0; })),
                   "source length 0 of row 2 is outside [1, 5]"));
    CHECK(contains(loss_error(with([](auto& b) { b.source_lengths.pop_back(); })), "2 source lengths for a batch of 3"));
    CHECK(contains(loss_error(with([](auto& b) { b.target_lengths[0] = 1; })),
                   "loom::Seq2Seq::loss: target length 1 of row 0 is outside [2, 5]"));
    CHECK(contains(loss_error(with([](auto& b) { b.target_lengths[0] = 9; })), "target length 9 of row 0"));
    CHECK(contains(loss_error(with([](auto& b) { b.target = loom::IndexTensor(std::vector<index_t>(10, 0), Shape{2, 5}); })),
                   "3 sources but 2 targets"));
    CHECK(contains(loss_error(with([](auto& b) { b.source = loom::IndexTensor(std::vector<index_t>(15, 6), Shape{3, 5}); })),
                   "source id 6 at position 0 is outside the vocabulary of 6 tokens"));
    CHECK(contains(loss_error(with([](auto& b) { b.target = loom::IndexTensor(std::vector<index_t>(15, 5), Shape{3, 5}); })),
                   "target id 5 at position 0 is outside the vocabulary of 5 tokens"));
    CHECK(contains(loss_error(with([](auto& b) { b.target = loom::IndexTensor(std::vector<index_t>(3, 0), Shape{3, 1}); })),
                   "targets need a begin and an end token"));
    CHECK(contains(error_message([&] { model.encode(loom::IndexTensor(std::vector<index_t>{}, Shape{2, 0})); }),
                   "loom::Seq2Seq::encode: source must be [batch, length] with length >= 1"));

    loom::Seq2SeqConfig config = small_config(loom::Seq2SeqCell::lstm, loom::Seq2SeqAttention::none, true);
    CHECK(contains(error_message([&] { loom::Seq2Seq<float> bad(config, generator); }),
                   "loom::Seq2Seq: coverage needs attention"));
    config.coverage = false;
    config.hidden_size = 0;
    CHECK(contains(error_message([&] { loom::Seq2Seq<float> bad(config, generator); }), "hidden_size 0"));
    CHECK(contains(error_message([] { loom::parse_seq2seq_attention("additive"); }),
                   "unknown attention 'additive' (expected none, bahdanau or luong)"));
    CHECK(contains(error_message([] { loom::parse_seq2seq_cell("rnn"); }), "unknown cell 'rnn'"));
}

}  // namespace nn_seq2seq_test
