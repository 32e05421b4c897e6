// tests/decode/fake_decoders.hpp — small Decoders for the decoding tests.
//
// MarkovDecoder: log-probabilities that depend on the last `order` tokens of
// each row (prompt included) through a table, with a tiny vocabulary, so that
// every sequence's probability can be computed directly (exhaustive search).
// It records every call: start, start_rows, advance (with its batch size) and
// reorder.
// ScriptedDecoder: puts almost all probability on script[n] at step n.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <loom/decode/decoder.hpp>
#include <loom/tensor/random.hpp>

#include "loom_catch.hpp"

namespace decode_fake_decoders {

using loom::index_t;

template <typename T>
class MarkovDecoder : public loom::Decoder<T> {
public:
    // table(context) gives the log-probabilities of the next token after the
    // last `order` tokens `context` (oldest first).
    using Table = std::function<std::vector<double>(const std::vector<index_t>& context)>;

    MarkovDecoder(index_t vocabulary, int order, Table table)
        : vocabulary_(vocabulary), order_(order), table_(std::move(table)) {}

    // Random log-probabilities: log_softmax(scale · N(0, 1)), one row per context.
    static MarkovDecoder random(index_t vocabulary, int order, std::uint64_t seed, double scale = 1.5) {
        auto cache = std::make_shared<std::map<std::vector<index_t>, std::vector<double>>>();
        return MarkovDecoder(vocabulary, order, [=](const std::vector<index_t>& context) {
            auto found = cache->find(context);
            if (found != cache->end()) return found->second;
            std::uint64_t mix = seed * 1000003u;
            for (index_t token : context) mix = mix * 31u + static_cast<std::uint64_t>(token) + 7u;
            loom::Generator generator(mix);
            std::vector<double> logits(static_cast<std::size_t>(vocabulary));
            double top = -1e300;
            for (double& z : logits) top = std::max(top, z = scale * generator.normal());
            double total = 0.0;
            for (double z : logits) total += std::exp(z - top);
            for (double& z : logits) z = z - top - std::log(total);
            (*cache)[context] = logits;
            return logits;
        });
    }

    index_t vocabulary_size() const override { return vocabulary_; }

    loom::Tensor<T> start(const std::vector<index_t>& prompt, index_t batch) override {
        ++start_calls;
        start_batches.push_back(batch);
        REQUIRE(!prompt.empty());
        histories_.assign(static_cast<std::size_t>(batch), prompt);
        return rows();
    }

    // One row per prompt (batched generation): row i has read prompts[i].
    loom::Tensor<T> start_rows(const std::vector<std::vector<index_t>>& prompts) override {
        ++start_rows_calls;
        start_batches.push_back(static_cast<index_t>(prompts.size()));
        for (const auto& prompt : prompts) REQUIRE(!prompt.empty());
        histories_ = prompts;
        return rows();
    }

    loom::Tensor<T> advance(const std::vector<index_t>& tokens) override {
        REQUIRE(tokens.size() == histories_.size());
        advance_batches.push_back(static_cast<index_t>(tokens.size()));
        for (std::size_t r = 0; r < tokens.size(); ++r) histories_[r].push_back(tokens[r]);
        return rows();
    }

    void reorder(const std::vector<index_t>& rows) override {
        reorders.push_back(rows);
        std::vector<std::vector<index_t>> kept;
        for (index_t row : rows) {
            REQUIRE(row >= 0);
            REQUIRE(row < static_cast<index_t>(histories_.size()));
            kept.push_back(histories_[static_cast<std::size_t>(row)]);
        }
        histories_ = std::move(kept);
    }

    // log p(next | history) straight from the table.
    std::vector<double> log_probs_after(const std::vector<index_t>& history) const {
        const std::size_t take = std::min(history.size(), static_cast<std::size_t>(order_));
        return table_(std::vector<index_t>(history.end() - static_cast<std::ptrdiff_t>(take), history.end()));
    }

    // Σ log p of `generated` after `prompt`.
    double sequence_log_prob(const std::vector<index_t>& prompt, const std::vector<index_t>& generated) const {
        std::vector<index_t> history = prompt;
        double total = 0.0;
        for (index_t token : generated) {
            total += log_probs_after(history)[static_cast<std::size_t>(token)];
            history.push_back(token);
        }
        return total;
    }

    const std::vector<std::vector<index_t>>& histories() const { return histories_; }

    int start_calls = 0;
    int start_rows_calls = 0;
    std::vector<index_t> start_batches;  // rows of each start() and start_rows()
    std::vector<index_t> advance_batches;
    std::vector<std::vector<index_t>> reorders;

private:
    loom::Tensor<T> rows() const {
        auto out = loom::Tensor<T>::zeros(loom::Shape{static_cast<index_t>(histories_.size()), vocabulary_});
        for (std::size_t r = 0; r < histories_.size(); ++r) {
            const std::vector<double> row = log_probs_after(histories_[r]);
            REQUIRE(static_cast<index_t>(row.size()) == vocabulary_);
            for (index_t v = 0; v < vocabulary_; ++v)
                out.data()[static_cast<index_t>(r) * vocabulary_ + v] = static_cast<T>(row[static_cast<std::size_t>(v)]);
        }
        return out;
    }

    index_t vocabulary_;
    int order_;
    Table table_;
    std::vector<std::vector<index_t>> histories_;
};

// A one-row decoder that, at step n, gives log-probability ~0 to script[n] (and
// to `fallback` after the script) and -30 to every other token.
template <typename T>
class ScriptedDecoder : public loom::Decoder<T> {
public:
    ScriptedDecoder(index_t vocabulary, std::vector<index_t> script, index_t fallback = 0)
        : vocabulary_(vocabulary), script_(std::move(script)), fallback_(fallback) {}

    index_t vocabulary_size() const override { return vocabulary_; }
    loom::Tensor<T> start(const std::vector<index_t>&, index_t batch) override {
        REQUIRE(batch == 1);
        step_ = 0;
        return row();
    }
    loom::Tensor<T> advance(const std::vector<index_t>& tokens) override {
        REQUIRE(tokens.size() == 1);
        ++advance_calls;
        ++step_;
        return row();
    }
    void reorder(const std::vector<index_t>& rows) override { REQUIRE(rows == std::vector<index_t>{0}); }

    int advance_calls = 0;

private:
    loom::Tensor<T> row() const {
        const index_t wanted = step_ < script_.size() ? script_[step_] : fallback_;
        auto out = loom::Tensor<T>::full(loom::Shape{1, vocabulary_}, static_cast<T>(-30));
        out.data()[wanted] = static_cast<T>(-1e-9);
        return out;
    }

    index_t vocabulary_;
    std::vector<index_t> script_;
    index_t fallback_;
    std::size_t step_ = 0;
};

// Byte tokens: token b is the one-byte string with value b.
inline std::string byte_text(index_t token) { return std::string(1, static_cast<char>(static_cast<unsigned char>(token))); }

inline std::vector<index_t> bytes_of(const std::string& text) {
    std::vector<index_t> ids;
    for (char c : text) ids.push_back(static_cast<index_t>(static_cast<unsigned char>(c)));
    return ids;
}

}  // namespace decode_fake_decoders
