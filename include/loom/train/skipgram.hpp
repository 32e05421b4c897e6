// loom/train/skipgram.hpp — word vectors by skip-gram with negative sampling
// (SGNS; Mikolov et al. 2013), trained as their word2vec program trains it: a
// hand-written SGD kernel over two float tables, not autograd (a graph per word
// pair would cost far more than the arithmetic). examples/word2vec.cpp is the
// command-line program; docs/word2vec.md has the derivation and measurements.
//
// The model: every vocabulary id w has an input vector v_w (the word vector
// that is exported) and an output vector u_w. For each word of the text (the
// centre c) and each word o within a few positions of it (the context), SGD
// lowers, with σ(x) = 1/(1 + e^−x) and K negatives n_k drawn from the unigram
// distribution raised to 3/4,
//
//   loss(c, o, n_1..n_K) = −log σ(u_o·v_c) − Σ_k log σ(−u_{n_k}·v_c)
//
//   ∂loss/∂v_c     = (σ(u_o·v_c) − 1) u_o + Σ_k σ(u_{n_k}·v_c) u_{n_k}
//   ∂loss/∂u_o     = (σ(u_o·v_c) − 1) v_c
//   ∂loss/∂u_{n_k} =  σ(u_{n_k}·v_c) v_c
//
// (sgns_step() has the per-target form and the order of the updates.) As in
// word2vec:
//   - frequent words are dropped at random each epoch, before the windows are
//     made (subsample_keep_probability());
//   - the window around each centre is 1..window words, uniformly;
//   - a negative that equals the true context is skipped;
//   - the learning rate falls linearly with the words read (before
//     subsampling) from learning_rate to learning_rate·1e-4 over the run;
//   - v starts uniform in ±0.5/dimension, u at zero.
//
//   loom::SkipGramOptions options;             // dimension 100, window 5, ...
//   loom::SkipGramModel model(vocab_size, options);
//   model.train(ids, {unknown_id});            // ids: the text; <unk> skipped
//   const loom::WordVectors vectors = model.input_vectors(words, 1);  // ids 1..
//
// Determinism: one thread, and the model's one loom::Generator, seeded by
// options.seed, makes every random choice in a fixed order (initialisation in
// the constructor; then per epoch the subsampling, and per centre its window
// and each pair's negatives), so the same ids, options and seed give the same
// tables bit for bit (word2vec's lock-free threads do not).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "loom/io/word_vectors.hpp"
#include "loom/tensor/error.hpp"
#include "loom/tensor/random.hpp"

namespace loom {

// Draws ids with probability proportional to `weights` in O(1) per draw
// (Walker's alias method, Vose's construction): column i of n equal columns is
// id i with probability keep[i] and alias[i] otherwise; the columns are filled
// so that every id gets exactly its share of the total area. Weights must be
// finite and non-negative with a positive sum; weight 0 is never drawn.
class AliasTable {
public:
    explicit AliasTable(const std::vector<double>& weights) : keep_(weights.size(), 1.0), alias_(weights.size()) {
        const char* const who = "loom::AliasTable";
        detail::check(!weights.empty(), who, ": no weights");
        for (std::size_t i = 0; i < weights.size(); ++i)
            detail::check(std::isfinite(weights[i]) && weights[i] >= 0.0, who, ": weight ", i, " is ", weights[i],
                          "; weights must be finite and non-negative");
        const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
        detail::check(total > 0.0 && std::isfinite(total), who, ": the weights sum to ", total,
                      "; it must be positive and finite");
        std::vector<double> scaled(weights.size());
        std::vector<index_t> small, large;  // columns below and at or above their share
        for (std::size_t i = 0; i < weights.size(); ++i) {
            scaled[i] = weights[i] * static_cast<double>(weights.size()) / total;
            alias_[i] = static_cast<index_t>(i);
            (scaled[i] < 1.0 ? small : large).push_back(static_cast<index_t>(i));
        }
        while (!small.empty() && !large.empty()) {
            const index_t low = small.back(), high = large.back();
            small.pop_back();
            keep_[low] = scaled[low];  // the rest of column `low` goes to `high`
            alias_[low] = high;
            scaled[high] -= 1.0 - scaled[low];
            if (scaled[high] < 1.0) {
                large.pop_back();
                small.push_back(high);
            }
        }
        // What is left is (up to rounding) exactly one column each: keep it whole.
    }

    // Two draws, in this order: a column (below()), then uniform() < keep[column].
    index_t sample(Generator& generator) const {
        const auto column = static_cast<std::size_t>(generator.below(keep_.size()));
        return generator.uniform() < keep_[column] ? static_cast<index_t>(column) : alias_[column];
    }

    index_t size() const { return static_cast<index_t>(keep_.size()); }

    // The probability that sample() returns each id, read back from the columns.
    std::vector<double> probabilities() const {
        std::vector<double> p(keep_.size(), 0.0);
        const double column = 1.0 / static_cast<double>(keep_.size());
        for (std::size_t i = 0; i < keep_.size(); ++i) {
            p[i] += keep_[i] * column;
            p[static_cast<std::size_t>(alias_[i])] += (1.0 - keep_[i]) * column;
        }
        return p;
    }

private:
    std::vector<double> keep_;
    std::vector<index_t> alias_;
};

struct SkipGramOptions {
    std::int64_t dimension = 100;  // vector length
    std::int64_t window = 5;       // largest distance between a centre and a context word
    std::int64_t negative = 5;     // negatives drawn per (centre, context) pair
    double sample = 1e-3;          // subsampling threshold t (0: keep every word)
    std::int64_t epochs = 5;       // passes over the text
    double learning_rate = 0.025;  // at the start; decays linearly to learning_rate·1e-4
    std::uint64_t seed = 1;        // of every random choice

    // Throws loom::Error naming the first option out of range.
    void check() const {
        const auto require = [](bool ok, const char* what, auto value) {
            if (!ok) detail::fail("loom::SkipGramOptions: ", what, ", got ", value);
        };
        require(dimension >= 1, "dimension must be at least 1", dimension);
        require(window >= 1, "window must be at least 1", window);
        require(negative >= 1, "negative must be at least 1", negative);
        require(epochs >= 1, "epochs must be at least 1", epochs);
        require(learning_rate > 0 && std::isfinite(learning_rate), "learning_rate must be positive", learning_rate);
        require(sample >= 0 && std::isfinite(sample), "sample must be 0 (off) or positive", sample);
    }
};

// The probability that subsampling keeps an occurrence of a word of frequency
// f = count/words: keep(f) = (sqrt(f/t) + 1)·t/f, at most 1 (word2vec's code;
// the paper's discard probability 1 − sqrt(t/f) is a simpler variant). It is
// 1 when f/t ≤ ((1 + √5)/2)² ≈ 2.62, and always when t = `sample` = 0.
inline double subsample_keep_probability(double frequency, double sample) {
    if (sample <= 0.0 || frequency <= 0.0) return 1.0;
    return std::min(1.0, (std::sqrt(frequency / sample) + 1.0) * sample / frequency);
}

// The noise distribution of the negatives, unnormalised: count^exponent per id
// (0.75: the unigram distribution flattened, which Mikolov et al. found better
// than the unigram or the uniform distribution). An id of count 0 gets 0.
inline std::vector<double> unigram_noise_weights(const std::vector<std::int64_t>& counts, double exponent = 0.75) {
    std::vector<double> weights(counts.size(), 0.0);
    for (std::size_t id = 0; id < counts.size(); ++id) {
        detail::check(counts[id] >= 0, "loom::unigram_noise_weights: id ", id, " has a negative count ", counts[id]);
        weights[id] = std::pow(static_cast<double>(counts[id]), exponent);
    }
    return weights;
}

// The two embedding tables, one row of `dimension` values per id, row-major:
// input holds the v's, output the u's.
template <typename Scalar>
struct SkipGramTables {
    using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

    index_t dimension = 0;
    std::vector<Scalar> input, output;  // [rows, dimension]

    index_t rows() const { return dimension > 0 ? static_cast<index_t>(input.size()) / dimension : 0; }
    Eigen::Map<Vector> v(index_t id) { return {input.data() + id * dimension, dimension}; }
    Eigen::Map<Vector> u(index_t id) { return {output.data() + id * dimension, dimension}; }
    Eigen::Map<const Vector> v(index_t id) const { return {input.data() + id * dimension, dimension}; }
    Eigen::Map<const Vector> u(index_t id) const { return {output.data() + id * dimension, dimension}; }
};

namespace detail {

// σ(s) and the loss −log σ(s), from e = exp(−|s|) so that nothing overflows:
//   σ(s) = 1/(1+e) for s ≥ 0, e/(1+e) for s < 0;   −log σ(s) = max(−s, 0) + log(1+e)
template <typename Scalar>
Scalar sgns_sigmoid(Scalar s) {
    const Scalar e = std::exp(-std::abs(s));
    return s >= Scalar(0) ? Scalar(1) / (Scalar(1) + e) : e / (Scalar(1) + e);
}
template <typename Scalar>
Scalar sgns_minus_log_sigmoid(Scalar s) { return std::max(-s, Scalar(0)) + std::log1p(std::exp(-std::abs(s))); }

}  // namespace detail

// One SGD step of skip-gram with negative sampling, for a centre word c, a
// context word o and negatives n_1..n_K. With v = v_c (c's input vector), u_w
// the output vector of word w and σ(x) = 1/(1 + e^−x):
//
//   loss = −log σ(u_o·v) − Σ_k log σ(−u_{n_k}·v)
//
// Since d/dx[−log σ(x)] = σ(x) − 1 and d/dx[−log σ(−x)] = σ(x):
//
//   ∂loss/∂v       = (σ(u_o·v) − 1) u_o + Σ_k σ(u_{n_k}·v) u_{n_k}
//   ∂loss/∂u_o     = (σ(u_o·v) − 1) v
//   ∂loss/∂u_{n_k} = σ(u_{n_k}·v) v
//
// i.e. for each target t (o with label 1, each n_k with label 0) the score
// s = u_t·v gives g = σ(s) − label, ∂/∂v gets g·u_t and ∂/∂u_t = g·v. Every
// gradient is taken at the same point: u_t moves right after its term of ∂/∂v
// is added, v moves once at the end (word2vec's order; a negative drawn twice
// sees its own first update). With distinct targets the step is therefore
// exactly −learning_rate·∇loss. Returns the loss before the step (each term
// at the point its target's gradient was taken). `centre_gradient` is scratch
// space, resized to the dimension; the ids are not checked (they must be
// rows of the tables).
template <typename Scalar>
Scalar sgns_step(SkipGramTables<Scalar>& tables, index_t centre, index_t context, const std::vector<index_t>& negatives,
                 Scalar learning_rate, Eigen::Matrix<Scalar, Eigen::Dynamic, 1>& centre_gradient) {
    auto v = tables.v(centre);  // an Eigen::Map of the row
    centre_gradient.setZero(tables.dimension);
    Scalar loss(0);
    for (std::size_t k = 0; k <= negatives.size(); ++k) {
        const bool positive = k == 0;
        auto u = tables.u(positive ? context : negatives[k - 1]);
        const Scalar score = u.dot(v);
        const Scalar g = detail::sgns_sigmoid(score) - (positive ? Scalar(1) : Scalar(0));
        loss += detail::sgns_minus_log_sigmoid(positive ? score : -score);
        centre_gradient += g * u;      // ∂loss/∂v, this target's term
        u -= (learning_rate * g) * v;  // u_t -= lr · ∂loss/∂u_t
    }
    v -= learning_rate * centre_gradient;
    return loss;
}

// The loss of one (centre, context, negatives) at the tables' current values,
// without a step: what sgns_step() returns when the targets are distinct.
template <typename Scalar>
Scalar sgns_loss(const SkipGramTables<Scalar>& tables, index_t centre, index_t context,
                 const std::vector<index_t>& negatives) {
    const auto v = tables.v(centre);
    Scalar loss = detail::sgns_minus_log_sigmoid(tables.u(context).dot(v));
    for (const index_t negative : negatives) loss += detail::sgns_minus_log_sigmoid(-tables.u(negative).dot(v));
    return loss;
}

// What SkipGramModel::train() reports every `report_every` words read, and
// after the last word of the run.
struct SkipGramProgress {
    std::int64_t epoch = 0;    // 0-based
    std::int64_t epochs = 0;
    double words_read = 0.0;   // before subsampling, since the start of train()
    double total_words = 0.0;  // epochs × the words of the text (skipped ids left out)
    double loss = 0.0;         // mean loss of the pairs since the previous report, each just before its step
    double pairs = 0.0;        // how many pairs that mean is over
    double learning_rate = 0.0;
};
using SkipGramCallback = std::function<void(const SkipGramProgress&)>;

// The two tables of a vocabulary of `vocab_size` ids, their generator, and
// the training loop.
class SkipGramModel {
public:
    // v uniform in ±0.5/dimension (vocab_size·dimension draws, row by row), u zero.
    SkipGramModel(index_t vocab_size, const SkipGramOptions& options) : options_(options), generator_(options.seed) {
        options_.check();
        detail::check(vocab_size >= 1, "loom::SkipGramModel: vocab_size must be at least 1, got ", vocab_size);
        tables_.dimension = options_.dimension;
        tables_.input.resize(static_cast<std::size_t>(vocab_size * options_.dimension));
        tables_.output.assign(tables_.input.size(), 0.f);
        const double half_width = 0.5 / static_cast<double>(options_.dimension);
        for (float& value : tables_.input) value = static_cast<float>(generator_.uniform(-half_width, half_width));
    }

    const SkipGramOptions& options() const { return options_; }
    index_t vocab_size() const { return tables_.rows(); }
    index_t dimension() const { return tables_.dimension; }
    SkipGramTables<float>& tables() { return tables_; }
    const SkipGramTables<float>& tables() const { return tables_; }
    Generator& generator() { return generator_; }

    // Trains options().epochs passes over `corpus`, a text as ids below
    // vocab_size(). The ids in `skip` (such as <unk>) are removed from the text
    // first, so windows reach across them, and are never negatives. Word counts
    // (for subsampling and the noise distribution) are those of the remaining
    // text. `on_progress`, if set, is called every `report_every` words read and
    // after the last one. Returns each epoch's mean pair loss (each pair's loss
    // just before its step). Calling train() again continues from the current
    // tables and generator, with the learning rate decaying afresh.
    std::vector<double> train(const std::vector<index_t>& corpus, const std::vector<index_t>& skip = {},
                              const SkipGramCallback& on_progress = {}, double report_every = 100000) {
        const char* const who = "loom::SkipGramModel::train";
        detail::check(report_every > 0 && std::isfinite(report_every), who, ": report_every must be positive, got ",
                      report_every);
        const index_t vocab = vocab_size();
        std::vector<char> skipped(static_cast<std::size_t>(vocab), 0);
        for (const index_t id : skip) {
            detail::check(id >= 0 && id < vocab, who, ": skip id ", id, " is not below the vocabulary size ", vocab);
            skipped[static_cast<std::size_t>(id)] = 1;
        }
        std::vector<index_t> stream;
        stream.reserve(corpus.size());
        for (std::size_t position = 0; position < corpus.size(); ++position) {
            const index_t id = corpus[position];
            detail::check(id >= 0 && id < vocab, who, ": id ", id, " at position ", position,
                          " is not below the vocabulary size ", vocab);
            if (!skipped[static_cast<std::size_t>(id)]) stream.push_back(id);
        }
        detail::check(!stream.empty(), who, ": no words to train on: ",
                      corpus.empty() ? std::string("the corpus is empty")
                                     : "all " + std::to_string(corpus.size()) + " ids of the corpus are skipped");

        std::vector<std::int64_t> counts(static_cast<std::size_t>(vocab), 0);
        for (const index_t id : stream) ++counts[static_cast<std::size_t>(id)];
        const auto words_per_epoch = static_cast<double>(stream.size());
        std::vector<double> keep(counts.size(), 1.0);
        for (std::size_t id = 0; id < counts.size(); ++id)
            keep[id] = subsample_keep_probability(static_cast<double>(counts[id]) / words_per_epoch, options_.sample);
        const AliasTable noise(unigram_noise_weights(counts));

        const double total_words = words_per_epoch * static_cast<double>(options_.epochs);
        double next_report = report_every, report_loss = 0.0, report_pairs = 0.0;
        std::vector<double> epoch_losses;
        std::vector<std::size_t> kept;  // the positions in `stream` that survive subsampling this epoch
        std::vector<index_t> negatives;
        Eigen::VectorXf centre_gradient(options_.dimension);
        for (std::int64_t epoch = 0; epoch < options_.epochs; ++epoch) {
            kept.clear();
            for (std::size_t position = 0; position < stream.size(); ++position) {
                const double p = keep[static_cast<std::size_t>(stream[position])];
                if (p >= 1.0 || generator_.uniform() < p) kept.push_back(position);
            }
            double epoch_loss = 0.0, epoch_pairs = 0.0;
            for (std::size_t i = 0; i < kept.size(); ++i) {
                const double words_read = static_cast<double>(epoch) * words_per_epoch + static_cast<double>(kept[i]);
                const auto lr =
                    static_cast<float>(options_.learning_rate * std::max(1e-4, 1.0 - words_read / total_words));
                const index_t centre = stream[kept[i]];
                const auto reach = static_cast<std::size_t>(1 + generator_.below(static_cast<std::uint64_t>(options_.window)));
                for (std::size_t j = i > reach ? i - reach : 0; j <= std::min(i + reach, kept.size() - 1); ++j) {
                    if (j == i) continue;
                    const index_t context = stream[kept[j]];
                    negatives.clear();
                    for (std::int64_t k = 0; k < options_.negative; ++k) {
                        const index_t drawn = noise.sample(generator_);
                        if (drawn != context) negatives.push_back(drawn);  // the true context is no negative
                    }
                    const double loss = sgns_step(tables_, centre, context, negatives, lr, centre_gradient);
                    report_loss += loss, epoch_loss += loss;
                    report_pairs += 1.0, epoch_pairs += 1.0;
                }
                const bool epoch_end = i + 1 == kept.size();
                const double read =
                    epoch_end ? (static_cast<double>(epoch) + 1.0) * words_per_epoch : words_read + 1.0;
                if (read >= next_report || read >= total_words) {
                    while (next_report <= read) next_report += report_every;
                    if (on_progress)
                        on_progress({epoch, options_.epochs, read, total_words,
                                     report_loss / std::max(report_pairs, 1.0), report_pairs, lr});
                    report_loss = report_pairs = 0.0;
                }
            }
            epoch_losses.push_back(epoch_loss / std::max(epoch_pairs, 1.0));
        }
        return epoch_losses;
    }

    // Rows first_id .. first_id + words.size() − 1 of the input (v, the word
    // vectors) or output (u) table, words[i] naming row first_id + i.
    WordVectors input_vectors(std::vector<std::string> words, index_t first_id = 0) const {
        return export_rows("input_vectors", tables_.input, std::move(words), first_id);
    }
    WordVectors output_vectors(std::vector<std::string> words, index_t first_id = 0) const {
        return export_rows("output_vectors", tables_.output, std::move(words), first_id);
    }

    // Overwrites rows first_id .. first_id + vectors.size() − 1 of a table with
    // vectors of the same dimension (to continue a run); the words are ignored.
    void set_input_vectors(const WordVectors& vectors, index_t first_id = 0) {
        import_rows("set_input_vectors", tables_.input, vectors, first_id);
    }
    void set_output_vectors(const WordVectors& vectors, index_t first_id = 0) {
        import_rows("set_output_vectors", tables_.output, vectors, first_id);
    }

private:
    void check_rows(const char* who, index_t first_id, index_t rows, index_t dimension) const {
        detail::check(dimension == tables_.dimension, "loom::SkipGramModel::", who, ": the vectors have dimension ",
                      dimension, ", the model ", tables_.dimension);
        detail::check(first_id >= 0 && first_id + rows <= vocab_size(), "loom::SkipGramModel::", who, ": rows ",
                      first_id, " to ", first_id + rows - 1, " are not all in the vocabulary of ", vocab_size());
    }
    WordVectors export_rows(const char* who, const std::vector<float>& table, std::vector<std::string> words,
                            index_t first_id) const {
        const auto rows = static_cast<index_t>(words.size()), dim = tables_.dimension;
        check_rows(who, first_id, rows, dim);
        return {std::move(words), Eigen::Map<const WordVectors::Matrix>(table.data() + first_id * dim, rows, dim)};
    }
    void import_rows(const char* who, std::vector<float>& table, const WordVectors& vectors, index_t first_id) {
        check_rows(who, first_id, vectors.size(), vectors.dimension());
        const WordVectors::Matrix& m = vectors.matrix();
        std::copy(m.data(), m.data() + m.size(), table.begin() + first_id * tables_.dimension);
    }

    SkipGramOptions options_;
    Generator generator_;
    SkipGramTables<float> tables_;
};

}  // namespace loom
