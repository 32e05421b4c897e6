#include "test_util.hpp"

// Tests for loom/train/skipgram.hpp: the alias table's draws, sgns_step()
// against finite differences of the loss (in double), word2vec's subsampling
// and noise formulas, and training: the loss falls, a seed fixes the result,
// skipped ids stay untouched, progress reports, errors that name the problem.

#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "loom/train/skipgram.hpp"

namespace train_skipgram_test {  // named, not anonymous: the test files are compiled together in unity batches

using loom::index_t;
using loom_test::contains;
using loom_test::error_message;

// Checks an alias table against weights/total: its column probabilities to
// rounding, and the frequencies of `draws` draws by Pearson's χ² (degrees of
// freedom: nonzero weights − 1; bound: mean + 6 standard deviations; a fixed
// seed, so the same result every run). An id of weight 0 is never drawn.
void check_alias_table(const std::vector<double>& weights, std::int64_t draws, std::uint64_t seed) {
    const loom::AliasTable table(weights);
    REQUIRE(table.size() == static_cast<index_t>(weights.size()));
    const std::vector<double> columns = table.probabilities();
    loom::Generator generator(seed);
    std::vector<double> counts(weights.size() + 1, 0.0);  // the last one: ids outside the table
    for (std::int64_t n = 0; n < draws; ++n) {
        const index_t id = table.sample(generator);
        ++counts[id >= 0 && id < table.size() ? static_cast<std::size_t>(id) : weights.size()];
    }
    CHECK(counts.back() == 0.0);
    const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
    double chi2 = 0.0, degrees = -1.0;
    for (std::size_t i = 0; i < weights.size(); ++i) {
        const double p = weights[i] / total, expected = p * static_cast<double>(draws);
        CHECK(columns[i] == Approx(p).margin(1e-12));
        if (p == 0.0) {
            CHECK(counts[i] == 0.0);
            continue;
        }
        chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
        degrees += 1.0;
    }
    INFO("chi-square " << chi2 << " with " << degrees << " degrees of freedom");
    CHECK(chi2 <= degrees + 6.0 * std::sqrt(2.0 * degrees));
}

TEST_CASE("AliasTable draws ids in proportion to their weights", "[skipgram]") {
    check_alias_table({3.0, 0.0, 1.0, 6.0, 0.5, 2.5}, 200000, 11);
    check_alias_table({1.0, 1.0, 1.0, 1.0}, 40000, 12);
    check_alias_table({0.0, 0.0, 7.0}, 1000, 13);  // one possible id
    std::vector<double> many(300);
    loom::Generator generator(14);
    for (double& w : many) w = generator.uniform() < 0.2 ? 0.0 : std::pow(generator.uniform(), 4.0) * 1e3;
    check_alias_table(many, 400000, 15);
    // The unigram^0.75 weights of a Zipf-like vocabulary, like the ones word2vec draws from.
    std::vector<std::int64_t> counts(1000);
    for (std::size_t i = 0; i < counts.size(); ++i) counts[i] = static_cast<std::int64_t>(100000 / (i + 1));
    check_alias_table(loom::unigram_noise_weights(counts), 400000, 16);
}

TEST_CASE("AliasTable refuses empty, negative, non-finite and all-zero weights", "[skipgram]") {
    const auto build = [](std::vector<double> weights) { return [weights] { loom::AliasTable table(weights); }; };
    CHECK(contains(error_message(build({})), "loom::AliasTable: no weights"));
    CHECK(contains(error_message(build({1.0, -0.5, 2.0})), "loom::AliasTable: weight 1 is -0.5"));
    CHECK(contains(error_message(build({1.0, std::nan("")})), "weight 1 is nan"));
    CHECK(contains(error_message(build({INFINITY})), "weight 0 is inf"));
    CHECK(contains(error_message(build({0.0, 0.0, 0.0})), "loom::AliasTable: the weights sum to 0"));
    CHECK(contains(error_message(build({1e308, 1e308})), "the weights sum to inf"));
    CHECK(error_message(build({0.0, 1e-300})).empty());
}

// Tables of `rows` ids with every input and output value uniform in ±0.8.
template <typename Scalar>
loom::SkipGramTables<Scalar> random_tables(index_t rows, index_t dimension, std::uint64_t seed) {
    loom::Generator generator(seed);
    loom::SkipGramTables<Scalar> tables;
    tables.dimension = dimension;
    tables.input.resize(static_cast<std::size_t>(rows * dimension));
    tables.output.resize(tables.input.size());
    for (Scalar& value : tables.input) value = static_cast<Scalar>(generator.uniform(-0.8, 0.8));
    for (Scalar& value : tables.output) value = static_cast<Scalar>(generator.uniform(-0.8, 0.8));
    return tables;
}

TEST_CASE("sgns_step moves every value by lr times the gradient of the loss (central differences, double)",
          "[skipgram]") {
    const index_t rows = 7, dimension = 5, centre = 2, context = 4;
    const std::vector<index_t> negatives{0, 5, 6, 2};  // distinct; the centre's own u is a negative too
    const double lr = 0.1, h = 1e-5;
    const loom::SkipGramTables<double> before = random_tables<double>(rows, dimension, 3);

    loom::SkipGramTables<double> after = before;
    Eigen::VectorXd scratch;
    const double loss = loom::sgns_step(after, centre, context, negatives, lr, scratch);
    CHECK(loss == Approx(loom::sgns_loss(before, centre, context, negatives)).epsilon(1e-14));
    CHECK(loss > 0.0);

    // The numerical gradient of every value of both tables.
    for (const bool input : {true, false}) {
        std::vector<double> step, want;  // before − after, and lr · ∂loss/∂value
        for (std::size_t i = 0; i < before.input.size(); ++i) {
            loom::SkipGramTables<double> plus = before, minus = before;
            (input ? plus.input : plus.output)[i] += h;
            (input ? minus.input : minus.output)[i] -= h;
            const double gradient = (loom::sgns_loss(plus, centre, context, negatives) -
                                     loom::sgns_loss(minus, centre, context, negatives)) /
                                    (2.0 * h);
            want.push_back(lr * gradient);
            step.push_back((input ? before.input : before.output)[i] - (input ? after.input : after.output)[i]);
        }
        double scale = 0.0, worst = 0.0;
        for (const double w : want) scale = std::max(scale, std::abs(w));
        for (std::size_t i = 0; i < want.size(); ++i) {
            const auto row = static_cast<index_t>(i) / dimension;
            const bool involved = input ? row == centre
                                        : row == context || std::count(negatives.begin(), negatives.end(), row) > 0;
            if (!involved) {
                CHECK(step[i] == 0.0);  // rows outside the step do not move at all
                continue;
            }
            worst = std::max(worst, std::abs(step[i] - want[i]) / std::max(std::abs(want[i]), 1e-3 * scale));
        }
        INFO((input ? "input" : "output") << " table: largest relative error " << worst << ", gradient scale "
                                           << scale);
        CHECK(scale > 1e-3);
        CHECK(worst < 1e-6);
    }
}

TEST_CASE("sgns_step: a negative drawn twice sees its own first update (word2vec's order)", "[skipgram]") {
    const loom::SkipGramTables<double> before = random_tables<double>(4, 3, 5);
    loom::SkipGramTables<double> after = before;
    Eigen::VectorXd scratch;
    const double lr = 0.2;
    loom::sgns_step(after, 0, 1, {3, 3}, lr, scratch);

    const Eigen::VectorXd v = before.v(0), uo = before.u(1), u3 = before.u(3);
    const auto sigmoid = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
    const double go = sigmoid(uo.dot(v)) - 1.0, g1 = sigmoid(u3.dot(v));
    const Eigen::VectorXd u3_once = u3 - lr * g1 * v;
    const double g2 = sigmoid(u3_once.dot(v));
    const Eigen::VectorXd v_want = v - lr * (go * uo + g1 * u3 + g2 * u3_once);
    const Eigen::VectorXd u3_want = u3_once - lr * g2 * v;
    CHECK((after.v(0) - v_want).cwiseAbs().maxCoeff() < 1e-14);
    CHECK((after.u(1) - (uo - lr * go * v)).cwiseAbs().maxCoeff() < 1e-14);
    CHECK((after.u(3) - u3_want).cwiseAbs().maxCoeff() < 1e-14);
}

TEST_CASE("sgns_step in float follows the double computation, and huge scores stay finite", "[skipgram]") {
    const loom::SkipGramTables<double> d = random_tables<double>(6, 8, 7);
    loom::SkipGramTables<float> f;
    f.dimension = d.dimension;
    f.input.assign(d.input.begin(), d.input.end());
    f.output.assign(d.output.begin(), d.output.end());
    loom::SkipGramTables<double> d_after = d;
    Eigen::VectorXd scratch_d;
    Eigen::VectorXf scratch_f(3);  // resized by the step
    const double loss_d = loom::sgns_step(d_after, 1, 2, {0, 3, 5}, 0.05, scratch_d);
    const float loss_f = loom::sgns_step(f, index_t{1}, index_t{2}, {0, 3, 5}, 0.05f, scratch_f);
    CHECK(loss_f == Approx(loss_d).epsilon(1e-6));
    for (std::size_t i = 0; i < f.input.size(); ++i) {
        CHECK(f.input[i] == Approx(d_after.input[i]).margin(1e-6));
        CHECK(f.output[i] == Approx(d_after.output[i]).margin(1e-6));
    }

    // Scores of ±200: −log σ(−200) = 200 and −log σ(200) ≈ 0, not inf or NaN.
    loom::SkipGramTables<float> big;
    big.dimension = 1;
    big.input = {20.f, 0.f};
    big.output = {-10.f, 10.f};
    CHECK(loom::sgns_loss(big, 0, 0, {}) == Approx(200.0));
    CHECK(loom::sgns_loss(big, 0, 1, {}) == Approx(0.0).margin(1e-30));
    CHECK(loom::sgns_loss(big, 0, 1, {0}) == Approx(0.0).margin(1e-30));
    Eigen::VectorXf scratch;
    CHECK(std::isfinite(loom::sgns_step(big, 0, 0, {1}, 0.1f, scratch)));
    CHECK(std::isfinite(big.input[0]));
}

TEST_CASE("subsampling keeps (sqrt(f/t) + 1)·t/f of a word; negatives follow count^0.75", "[skipgram]") {
    CHECK(loom::subsample_keep_probability(0.1, 1e-3) == Approx((std::sqrt(100.0) + 1.0) * 0.01));
    CHECK(loom::subsample_keep_probability(0.5, 1e-4) == Approx((std::sqrt(5000.0) + 1.0) * 2e-4));
    CHECK(loom::subsample_keep_probability(2.6e-3, 1e-3) == 1.0);  // f/t below ((1 + √5)/2)² ≈ 2.618
    CHECK(loom::subsample_keep_probability(2.7e-3, 1e-3) < 1.0);
    CHECK(loom::subsample_keep_probability(0.9, 0.0) == 1.0);  // t = 0: keep every word
    CHECK(loom::subsample_keep_probability(0.0, 1e-3) == 1.0);

    const std::vector<double> weights = loom::unigram_noise_weights({0, 16, 1, 81}), want{0.0, 8.0, 1.0, 27.0};
    REQUIRE(weights.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) CHECK(weights[i] == Approx(want[i]));
    CHECK(loom::unigram_noise_weights({4}, 0.5)[0] == Approx(2.0));
    CHECK(contains(error_message([] { loom::unigram_noise_weights({3, -1}); }), "id 1 has a negative count -1"));
}

// A tiny text over ids 1..8 in two topics ("1 2 3 4" and "5 6 7 8" in varying
// orders, each sentence ended by 0) with 9, the <unk> to skip, scattered in it.
std::vector<index_t> tiny_corpus() {
    std::vector<index_t> ids;
    loom::Generator generator(21);
    for (int sentence = 0; sentence < 60; ++sentence) {
        const index_t first = sentence % 2 == 0 ? 1 : 5;
        for (int word = 0; word < 4; ++word) {
            ids.push_back(first + static_cast<index_t>(generator.below(4)));
            if (generator.uniform() < 0.1) ids.push_back(9);
        }
        ids.push_back(0);
    }
    return ids;
}

loom::SkipGramOptions tiny_options() {
    loom::SkipGramOptions options;
    options.dimension = 8;
    options.window = 2;
    options.negative = 3;
    options.sample = 0.0;
    options.epochs = 20;
    options.learning_rate = 0.05;
    options.seed = 4;
    return options;
}

// The mean loss of every (centre, next word) pair of the text with three fixed
// negatives each: the same pairs and negatives for every model.
double fixed_pair_loss(const loom::SkipGramModel& model, const std::vector<index_t>& text) {
    loom::Generator generator(99);
    double total = 0.0;
    for (std::size_t i = 0; i + 1 < text.size(); ++i) {
        const std::vector<index_t> negatives{static_cast<index_t>(generator.below(9)),
                                             static_cast<index_t>(generator.below(9)),
                                             static_cast<index_t>(generator.below(9))};
        total += loom::sgns_loss(model.tables(), text[i], text[i + 1], negatives);
    }
    return total / static_cast<double>(text.size() - 1);
}

TEST_CASE("training lowers the loss of a tiny corpus, and leaves skipped ids alone", "[skipgram]") {
    const std::vector<index_t> corpus = tiny_corpus();
    std::vector<index_t> text;  // what the model trains on: the corpus without 9
    for (const index_t id : corpus)
        if (id != 9) text.push_back(id);

    // Untrained, u = 0: every score is 0, so each pair costs (1 + K)·log 2.
    const loom::SkipGramModel untrained(10, tiny_options());
    CHECK(fixed_pair_loss(untrained, text) == Approx(4.0 * std::log(2.0)).epsilon(1e-6));

    double previous = fixed_pair_loss(untrained, text);
    for (const std::int64_t epochs : {1, 3, 10}) {
        loom::SkipGramOptions options = tiny_options();
        options.epochs = epochs;
        loom::SkipGramModel model(10, options);
        const std::vector<float> initial_input = model.tables().input;
        const std::vector<double> losses = model.train(corpus, {9});
        REQUIRE(losses.size() == static_cast<std::size_t>(epochs));
        const double loss = fixed_pair_loss(model, text);
        INFO(epochs << " epochs: loss on fixed pairs " << loss << ", before " << previous << "; running loss "
                    << losses.front() << " in the first epoch, " << losses.back() << " in the last");
        CHECK(loss < previous);
        if (epochs >= 3) {  // the running loss falls over the first epochs (later it levels off)
            CHECK(losses[1] < losses[0]);
            CHECK(losses[2] < losses[1]);
        }
        previous = loss;
        // Id 9 is never a centre (v unchanged), a context or a negative (u still 0).
        for (index_t k = 0; k < options.dimension; ++k) {
            CHECK(model.tables().v(9)[k] == initial_input[static_cast<std::size_t>(9 * options.dimension + k)]);
            CHECK(model.tables().u(9)[k] == 0.f);
        }
    }
    CHECK(previous < 0.75 * 4.0 * std::log(2.0));  // ≈ 0.70 after 10 epochs
}

TEST_CASE("training is deterministic for a seed; another seed gives other tables", "[skipgram]") {
    const std::vector<index_t> corpus = tiny_corpus();
    loom::SkipGramOptions options = tiny_options();
    options.epochs = 3;
    options.sample = 0.05;  // subsampling draws too
    const auto run = [&](std::uint64_t seed, std::vector<double>& reports) {
        options.seed = seed;
        loom::SkipGramModel model(10, options);
        const std::vector<double> losses =
            model.train(corpus, {9}, [&](const loom::SkipGramProgress& p) { reports.push_back(p.loss); }, 50);
        reports.insert(reports.end(), losses.begin(), losses.end());
        return model;
    };
    std::vector<double> reports_a, reports_b, reports_c;
    loom::SkipGramModel a = run(4, reports_a), b = run(4, reports_b), c = run(5, reports_c);
    CHECK(a.tables().input == b.tables().input);
    CHECK(a.tables().output == b.tables().output);
    CHECK(reports_a == reports_b);
    CHECK(a.generator().state_string() == b.generator().state_string());
    CHECK(a.tables().input != c.tables().input);
    CHECK(a.tables().output != c.tables().output);
}

TEST_CASE("train() reports its progress every report_every words and after the last one", "[skipgram]") {
    const std::vector<index_t> corpus = tiny_corpus();
    const auto words = static_cast<double>(corpus.size() - std::count(corpus.begin(), corpus.end(), 9));
    loom::SkipGramOptions options = tiny_options();
    options.epochs = 2;
    loom::SkipGramModel model(10, options);
    std::vector<loom::SkipGramProgress> reports;
    model.train(corpus, {9}, [&](const loom::SkipGramProgress& p) { reports.push_back(p); }, 70);

    // sample = 0 keeps every word, so the reports fall on 70, 140, ... and the end.
    const double total = 2.0 * words;
    REQUIRE(std::fmod(total, 70.0) != 0.0);
    std::vector<double> want;
    for (double at = 70; at < total; at += 70) want.push_back(at);
    want.push_back(total);
    REQUIRE(reports.size() == want.size());
    for (std::size_t i = 0; i < reports.size(); ++i) {
        CHECK(reports[i].words_read == want[i]);
        CHECK(reports[i].total_words == total);
        CHECK(reports[i].epochs == 2);
        CHECK(reports[i].epoch == (want[i] <= words ? 0 : 1));
        CHECK(reports[i].pairs > 0.0);
        CHECK(reports[i].loss > 0.0);
        CHECK(reports[i].learning_rate <= options.learning_rate);
    }
    // The last centre is word total − 1 of the run: lr · (1 − (total − 1)/total).
    CHECK(reports.back().learning_rate ==
          static_cast<float>(options.learning_rate * std::max(1e-4, 1.0 - (total - 1.0) / total)));
}

TEST_CASE("a negative that equals the context is skipped", "[skipgram]") {
    // One word only: every negative drawn is the context itself, so each pair
    // costs −log σ(u·v) alone, log 2 at the start (u = 0) instead of 4·log 2.
    loom::SkipGramOptions options = tiny_options();
    options.epochs = 1;
    options.learning_rate = 1e-9;  // the tables barely move
    loom::SkipGramModel model(3, options);
    std::vector<double> losses;
    model.train(std::vector<index_t>(50, 1), {}, [&](const loom::SkipGramProgress& p) { losses.push_back(p.loss); },
                10);
    REQUIRE(losses.size() == 5);
    for (const double loss : losses) CHECK(loss == Approx(std::log(2.0)).epsilon(1e-6));
}

TEST_CASE("SkipGramModel exports and imports rows as WordVectors", "[skipgram]") {
    loom::SkipGramModel model(10, tiny_options());
    model.train(tiny_corpus(), {9});
    const std::vector<std::string> words{"a", "b", "c"};
    const loom::WordVectors input = model.input_vectors(words, 2), output = model.output_vectors(words, 2);
    using Rows = Eigen::Map<const loom::WordVectors::Matrix>;  // rows 2..4 of a table
    CHECK(input.words() == words);
    CHECK(input.matrix() == Rows(model.tables().input.data() + 2 * 8, 3, 8));
    CHECK(output.matrix() == Rows(model.tables().output.data() + 2 * 8, 3, 8));
    loom::SkipGramModel fresh(10, tiny_options());
    fresh.set_input_vectors(input, 2);
    fresh.set_output_vectors(output, 2);
    CHECK(fresh.input_vectors(words, 2).matrix() == input.matrix());
    CHECK(fresh.output_vectors(words, 2).matrix() == output.matrix());
    CHECK(fresh.tables().u(5)[0] == 0.f);  // other rows untouched

    CHECK(contains(error_message([&] { model.input_vectors(words, 8); }),
                   "loom::SkipGramModel::input_vectors: rows 8 to 10 are not all in the vocabulary of 10"));
    loom::SkipGramOptions other = tiny_options();
    other.dimension = 4;
    const loom::WordVectors narrow = loom::SkipGramModel(10, other).input_vectors(words);
    CHECK(contains(error_message([&] { fresh.set_output_vectors(narrow); }),
                   "loom::SkipGramModel::set_output_vectors: the vectors have dimension 4, the model 8"));
}

TEST_CASE("bad options and corpora are errors that name them", "[skipgram]") {
    const auto message = [](void (*change)(loom::SkipGramOptions&)) {
        loom::SkipGramOptions options;
        change(options);
        return error_message([&] { options.check(); });
    };
    CHECK(error_message([] { loom::SkipGramOptions().check(); }).empty());
    CHECK(message([](auto& o) { o.dimension = 0; }) == "loom::SkipGramOptions: dimension must be at least 1, got 0");
    CHECK(message([](auto& o) { o.window = -2; }) == "loom::SkipGramOptions: window must be at least 1, got -2");
    CHECK(message([](auto& o) { o.negative = 0; }) == "loom::SkipGramOptions: negative must be at least 1, got 0");
    CHECK(message([](auto& o) { o.epochs = 0; }) == "loom::SkipGramOptions: epochs must be at least 1, got 0");
    CHECK(message([](auto& o) { o.learning_rate = 0; }) ==
          "loom::SkipGramOptions: learning_rate must be positive, got 0");
    CHECK(contains(message([](auto& o) { o.learning_rate = INFINITY; }), "learning_rate must be positive, got inf"));
    CHECK(message([](auto& o) { o.sample = -1e-3; }) ==
          "loom::SkipGramOptions: sample must be 0 (off) or positive, got -0.001");
    CHECK(contains(message([](auto& o) { o.sample = std::nan(""); }), "sample must be 0 (off) or positive, got nan"));
    CHECK(message([](auto& o) { o.sample = 0; }).empty());

    loom::SkipGramOptions bad;
    bad.window = 0;
    CHECK(contains(error_message([&] { loom::SkipGramModel(10, bad); }), "window must be at least 1"));
    CHECK(contains(error_message([] { loom::SkipGramModel(0, loom::SkipGramOptions()); }),
                   "loom::SkipGramModel: vocab_size must be at least 1, got 0"));

    loom::SkipGramModel model(10, tiny_options());
    const auto train = [&](std::vector<index_t> corpus, std::vector<index_t> skip, double every = 1000) {
        return error_message([&] { model.train(corpus, skip, {}, every); });
    };
    CHECK(train({1, 2, 12, 3}, {}) ==
          "loom::SkipGramModel::train: id 12 at position 2 is not below the vocabulary size 10");
    CHECK(contains(train({1, -1}, {}), "id -1 at position 1 is not below the vocabulary size 10"));
    CHECK(contains(train({1, 2}, {10}), "skip id 10 is not below the vocabulary size 10"));
    CHECK(contains(train({9, 9, 9}, {9}), "no words to train on: all 3 ids of the corpus are skipped"));
    CHECK(contains(train({}, {}), "no words to train on: the corpus is empty"));
    CHECK(contains(train({1, 2}, {}, 0), "report_every must be positive, got 0"));
    CHECK(train({1, 2, 3}, {}).empty());
}

}  // namespace train_skipgram_test
