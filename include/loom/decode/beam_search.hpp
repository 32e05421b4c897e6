// loom/decode/beam_search.hpp — beam search for the most probable sequences.
//
// A hypothesis Y = y_1 .. y_L (generated tokens; the end token counts in L when
// it ends Y) has
//   log-probability    log P(Y)  = Σ_n log p(y_n | prompt, y_<n)            (raw, reported)
//   penalised sum      S(Y)      = Σ_n r_n · log p(y_n | ...),  r_n = θ if y_n already
//                                  occurs in y_<n, else 1                  (repetition penalty)
//   score              S(Y) / lp(Y),  lp(Y) = ((5 + L)^α) / ((5 + 1)^α)  (GNMT length normalisation,
//                                  Wu et al. 2016; α = 0 turns it off: lp = 1)
//   coverage penalty   cp(Y)     = β Σ_i log(min(max(c_i, ε), 1)),  c_i = Σ_t a_t,i the attention
//                                  the hypothesis paid to source position i (GNMT, Wu et al. 2016;
//                                  encoder–decoder models only, Decoder::source_coverage();
//                                  ε = 1e-10 keeps a never-read position finite; β = 0 turns it off)
//   finished score     S(Y) / lp(Y) + cp(Y)
// The repetition penalty is CTRL's (Keskar et al. 2019) applied to
// log-probabilities: a token the hypothesis has already generated (the prompt
// does not count) has its log-probability, which is <= 0, multiplied by θ, so
// θ > 1 makes repeating less likely and θ = 1 turns it off. The penalised
// values are not renormalised; they rank candidates and form the score, while
// log_probability stays the model's own Σ log p.
//
//   logp = decoder.start(prompt, 1); live = {empty hypothesis}; finished = {}
//   for step s = 1 .. max_new_tokens:
//       candidates = {(h + v, parent h) : h in live (row h of logp), v in vocabulary,
//                     logp[h, v] > -inf},  ranked by S (ties: lower parent, lower v)
//       walk the ranking, rank r = 0, 1, ...:
//           v == end_token: if r < k, finished += h + v (L = s); otherwise skip it
//           else:           next_live += h + v, until k live
//       if s == max_new_tokens: finished += next_live (unfinished, L = s); stop
//       if next_live is empty: stop
//       if |finished| >= n and no live hypothesis can beat the n-th best finished:
//           bound = max(S / lp(s + 1), S / lp(max_new_tokens)) for the best live S
//           (S can only fall, since every r·log p <= 0; lp is monotone in L,
//           so the best a continuation can do is at one of the two ends; cp <= 0,
//           so the bound holds with the coverage penalty too); stop
//           when bound <= n-th best finished score
//       decoder.reorder(parents of next_live)        // state rows follow their parents
//       logp = decoder.advance(last tokens of next_live)   // ONE call, batch = |next_live|
//       live = next_live
//   return the n best of finished by score (decreasing; ties keep finding order)
//
// All live hypotheses advance in one batched call per step; reorder() copies
// each parent's state into its children's rows, so the prompt is read once.
// With k = 1, α = 0 and θ = 1 the result is greedy's.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <vector>

#include "loom/decode/decoder.hpp"
#include "loom/decode/generation.hpp"
#include "loom/tensor/error.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

struct BeamSearchOptions {
    index_t beam_width = 4;            // k: live hypotheses kept per step
    index_t max_new_tokens = 50;       // longest hypothesis (end token included)
    std::optional<index_t> end_token;  // finishes a hypothesis; not included in Hypothesis::tokens
    double length_penalty = 0.0;       // α of lp(Y) = ((5 + L) / 6)^α; 0: off
    double repetition_penalty = 1.0;   // θ > 0 on the log-probabilities of repeated tokens; 1: off
    index_t num_results = 1;           // n: how many hypotheses to return (1 .. beam_width)
    double coverage_penalty = 0.0;     // β >= 0 of cp(Y); 0: off (needs Decoder::source_coverage())
};

struct Hypothesis {
    std::vector<index_t> tokens;  // generated ids, without the prompt and the end token
    double score = 0.0;           // penalised sum / lp(L) + cp
    double log_probability = 0.0; // Σ log p of the tokens (and of the end token, when finished)
    bool finished = false;        // ended with the end token (otherwise it reached max_new_tokens)
    // L in lp(Y): the number of generated tokens, end token included.
    index_t length() const { return static_cast<index_t>(tokens.size()) + (finished ? 1 : 0); }
};

namespace detail {

// β Σ_i log(min(max(c_i, ε), 1)) for every row of the decoder's attention sums.
template <typename T>
void coverage_penalties(const char* op, const Decoder<T>& decoder, double beta, std::vector<double>& penalties) {
    const Tensor<T> coverage = decoder.source_coverage();
    const auto rows = static_cast<index_t>(penalties.size());
    if (!coverage.defined())
        fail(op, ": coverage_penalty needs a decoder that attends to a source (Decoder::source_coverage()); ",
             readable_type_name(typeid(decoder)), " reports none");
    if (coverage.rank() != 2 || coverage.shape()[0] != rows)
        fail(op, ": source_coverage() must be [", rows, " rows, source], got ", coverage.shape());
    const index_t source = coverage.shape()[1];
    for (index_t row = 0; row < rows; ++row) {
        double sum = 0.0;
        for (index_t i = 0; i < source; ++i) {
            const double c = static_cast<double>(coverage.data()[row * source + i]);
            sum += std::log(std::min(std::max(c, 1e-10), 1.0));
        }
        penalties[static_cast<std::size_t>(row)] = beta * sum;
    }
}

}  // namespace detail

// GNMT length normalisation: ((5 + L)^α) / ((5 + 1)^α).
inline double length_normalisation(index_t length, double alpha) {
    return alpha == 0.0 ? 1.0 : std::pow((5.0 + static_cast<double>(length)) / 6.0, alpha);
}

// The n best hypotheses, best first. Fewer than n only when the model gives
// every continuation probability 0 (-inf) or max_new_tokens is 0 (then one
// empty, unfinished hypothesis with score 0).
template <typename T>
std::vector<Hypothesis> beam_search(Decoder<T>& decoder, const std::vector<index_t>& prompt,
                                    const BeamSearchOptions& options = {}) {
    const char* op = "loom::beam_search";
    const index_t vocabulary = decoder.vocabulary_size();
    const index_t width = options.beam_width;
    if (prompt.empty()) detail::fail(op, ": the prompt is empty (a decoder needs at least one token to start from)");
    if (width < 1) detail::fail(op, ": beam_width must be >= 1, got ", width);
    if (options.max_new_tokens < 0) detail::fail(op, ": max_new_tokens must be >= 0, got ", options.max_new_tokens);
    if (options.num_results < 1 || options.num_results > width)
        detail::fail(op, ": num_results must be in [1, beam_width = ", width, "], got ", options.num_results);
    if (!std::isfinite(options.length_penalty))
        detail::fail(op, ": length_penalty must be finite, got ", options.length_penalty);
    if (!(options.repetition_penalty > 0.0 && std::isfinite(options.repetition_penalty)))
        detail::fail(op, ": repetition_penalty must be finite and > 0, got ", options.repetition_penalty);
    if (!(options.coverage_penalty >= 0.0 && std::isfinite(options.coverage_penalty)))
        detail::fail(op, ": coverage_penalty must be finite and >= 0, got ", options.coverage_penalty);
    if (options.end_token && (*options.end_token < 0 || *options.end_token >= vocabulary))
        detail::fail(op, ": end_token ", *options.end_token, " is not in the vocabulary of size ", vocabulary);

    const double alpha = options.length_penalty;
    const auto n_results = static_cast<std::size_t>(options.num_results);
    const auto k = static_cast<std::size_t>(width);
    if (options.max_new_tokens == 0) return {Hypothesis{}};

    struct Live {
        std::vector<index_t> tokens;
        double penalised = 0.0;  // S
        double raw = 0.0;        // Σ log p
    };
    struct Candidate {
        double penalised, raw;
        index_t parent, token;
    };
    std::vector<Hypothesis> finished;  // the n best so far, best first
    const auto add_finished = [&](Hypothesis hypothesis) {
        auto at = std::upper_bound(finished.begin(), finished.end(), hypothesis.score,
                                   [](double score, const Hypothesis& h) { return score > h.score; });
        finished.insert(at, std::move(hypothesis));
        if (finished.size() > n_results) finished.pop_back();
    };

    std::vector<Live> live(1);
    Tensor<T> log_probs = decoder.start(prompt, 1);
    std::vector<Candidate> candidates;
    std::vector<double> row_coverage_penalty;  // cp of each live row, what a hypothesis finishing from it gets
    for (index_t step = 1;; ++step) {
        const auto rows = static_cast<index_t>(live.size());
        detail::check_log_prob_shape(op, step == 1 ? "start" : "advance", log_probs, rows, vocabulary);
        row_coverage_penalty.assign(static_cast<std::size_t>(rows), 0.0);
        if (options.coverage_penalty != 0.0) detail::coverage_penalties(op, decoder, options.coverage_penalty, row_coverage_penalty);
        candidates.clear();
        for (index_t row = 0; row < rows; ++row) {
            const T* values = log_probs.data() + row * vocabulary;
            const Live& parent = live[static_cast<std::size_t>(row)];
            for (index_t token = 0; token < vocabulary; ++token) {
                const double value = static_cast<double>(values[token]);
                if (std::isnan(value)) detail::fail(op, ": log-probability of token ", token, " in row ", row, " is NaN");
                if (value == -std::numeric_limits<double>::infinity()) continue;
                const bool repeated =
                    options.repetition_penalty != 1.0 &&
                    std::find(parent.tokens.begin(), parent.tokens.end(), token) != parent.tokens.end();
                const double penalised = repeated ? value * options.repetition_penalty : value;
                candidates.push_back({parent.penalised + penalised, parent.raw + value, row, token});
            }
        }
        // At most one end-token candidate per row (<= k), so the first 2k ranks hold k others if they exist.
        const std::size_t ranked = std::min(candidates.size(), 2 * k);
        std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(ranked),
                          candidates.end(), [](const Candidate& a, const Candidate& b) {
                              if (a.penalised != b.penalised) return a.penalised > b.penalised;
                              if (a.parent != b.parent) return a.parent < b.parent;
                              return a.token < b.token;
                          });
        std::vector<Live> next;
        std::vector<index_t> parents, tokens;
        for (std::size_t rank = 0; rank < ranked && next.size() < k; ++rank) {
            const Candidate& c = candidates[rank];
            const Live& parent = live[static_cast<std::size_t>(c.parent)];
            if (options.end_token && c.token == *options.end_token) {
                if (rank < k)
                    add_finished(Hypothesis{parent.tokens,
                                            c.penalised / length_normalisation(step, alpha) +
                                                row_coverage_penalty[static_cast<std::size_t>(c.parent)],
                                            c.raw, true});
                continue;
            }
            Live child{parent.tokens, c.penalised, c.raw};
            child.tokens.push_back(c.token);
            next.push_back(std::move(child));
            parents.push_back(c.parent);
            tokens.push_back(c.token);
        }
        if (step == options.max_new_tokens) {
            for (std::size_t i = 0; i < next.size(); ++i)
                add_finished(Hypothesis{std::move(next[i].tokens),
                                        next[i].penalised / length_normalisation(step, alpha) +
                                            row_coverage_penalty[static_cast<std::size_t>(parents[i])],
                                        next[i].raw, false});
            break;
        }
        if (next.empty()) break;
        if (finished.size() >= n_results) {
            const double best = next.front().penalised;  // next is in ranking order
            const double bound = std::max(best / length_normalisation(step + 1, alpha),
                                          best / length_normalisation(options.max_new_tokens, alpha));
            if (bound <= finished.back().score) break;
        }
        decoder.reorder(parents);
        log_probs = decoder.advance(tokens);
        live = std::move(next);
    }
    return finished;
}

}  // namespace loom
