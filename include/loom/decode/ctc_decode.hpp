// loom/decode/ctc_decode.hpp — turning CTC outputs y [T, B, C] (log-probabilities,
// time-major, as ops/ctc.hpp takes them) into label sequences.
//
// Greedy (best path): take argmax_c y_t(c) at every t < T_b, merge repeats,
// drop blanks. It finds the most probable *path*, which is not always the
// most probable *labelling* (many paths collapse to one labelling).
//
// Prefix beam search (Hannun et al. 2014) looks for the best labelling. For
// every prefix ℓ it tracks, in log space, two probabilities of the input so
// far: p_b(ℓ), of the paths that collapse to ℓ and end in a blank, and
// p_nb(ℓ), of those ending in ℓ's last label. One time step with emissions y:
//   ℓ stays ℓ by a blank:            p_b'(ℓ)   += (p_b(ℓ) + p_nb(ℓ)) · y(blank)
//   ℓ stays ℓ by repeating its last: p_nb'(ℓ)  += p_nb(ℓ) · y(last(ℓ))
//   ℓ grows to ℓ+c:                  p_nb'(ℓ+c) += (p_b(ℓ) + p_nb(ℓ)) · y(c),  c ≠ last(ℓ)
//                                    p_nb'(ℓ+c) += p_b(ℓ) · y(c),              c = last(ℓ)
// (a repeated label needs a blank between its two copies). After each step
// the `beam_width` prefixes with the largest p_b + p_nb are kept. The result is
// the final beam, best first, with log p(ℓ | x) = log(p_b + p_nb) of each.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "loom/tensor/error.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

struct CtcHypothesis {
    std::vector<index_t> labels;
    double log_prob = 0.0;  // log p(labels | x), summed over all paths that collapse to labels
};

struct CtcBeamOptions {
    index_t beam_width = 10;
    index_t blank = 0;
    // Extend prefixes only by the `top_classes` most probable labels of each
    // step (0: all labels). Faster for large label sets; the probabilities it
    // reports then leave out the paths through the skipped labels.
    index_t top_classes = 0;
};

namespace detail {

inline void ctc_check_lengths(const char* op, const Shape& shape, const std::vector<index_t>& input_lengths,
                              index_t blank) {
    check(shape.rank() == 3, op, ": log_probs must be [T, B, C] (time-major), got shape ", shape);
    check(static_cast<index_t>(input_lengths.size()) == shape[1], op, ": log_probs ", shape, " has batch ", shape[1],
          " but there are ", input_lengths.size(), " input lengths");
    check(blank >= 0 && blank < shape[2], op, ": blank ", blank, " is out of range for ", shape[2], " classes");
    for (std::size_t b = 0; b < input_lengths.size(); ++b)
        check(input_lengths[b] >= 0 && input_lengths[b] <= shape[0], op, ": input length ", input_lengths[b],
              " of sequence ", b, " is outside [0, ", shape[0], "]");
}

inline double log_add(double a, double b) {
    if (a == -std::numeric_limits<double>::infinity()) return b;
    if (b == -std::numeric_limits<double>::infinity()) return a;
    const double peak = std::max(a, b);
    return peak + std::log1p(std::exp(-std::abs(a - b)));
}

// Every prefix ever reached, as a trie: node 0 is the empty prefix and node n
// is its parent's prefix plus label[n]. A beam entry is then a node id. The
// children of a node are made together, all `classes` of them in a row, the
// first time the node is extended, so finding a child is one addition instead
// of copying and hashing a label vector.
class PrefixTrie {
public:
    explicit PrefixTrie(index_t classes) : classes_(classes) { reset(); }

    // Back to the empty prefix alone, keeping the memory for the next sequence.
    void reset() {
        parent_.assign(1, -1);
        label_.assign(1, -1);
        first_child_.assign(1, -1);
    }

    index_t size() const { return static_cast<index_t>(parent_.size()); }
    index_t last_label(index_t node) const { return label_[static_cast<std::size_t>(node)]; }

    index_t child(index_t node, index_t label) {
        if (first_child_[static_cast<std::size_t>(node)] < 0) {
            first_child_[static_cast<std::size_t>(node)] = size();
            for (index_t c = 0; c < classes_; ++c) {
                parent_.push_back(node);
                label_.push_back(c);
                first_child_.push_back(-1);
            }
        }
        return first_child_[static_cast<std::size_t>(node)] + label;
    }

    std::vector<index_t> labels(index_t node) const {
        std::vector<index_t> result;
        for (; node > 0; node = parent_[static_cast<std::size_t>(node)]) result.push_back(label_[static_cast<std::size_t>(node)]);
        std::reverse(result.begin(), result.end());
        return result;
    }

private:
    index_t classes_;
    std::vector<index_t> parent_, label_, first_child_;
};

struct BeamEntry {
    index_t node = 0;
    double blank = -std::numeric_limits<double>::infinity();      // log p_b
    double non_blank = -std::numeric_limits<double>::infinity();  // log p_nb
    double total() const { return log_add(blank, non_blank); }
};

// The classes worth extending by at one step, most probable first.
template <typename T>
std::vector<index_t> ctc_candidate_classes(const T* emissions, index_t classes, index_t blank, index_t top_classes) {
    std::vector<index_t> candidates;
    for (index_t c = 0; c < classes; ++c)
        if (c != blank) candidates.push_back(c);
    if (top_classes > 0 && top_classes < static_cast<index_t>(candidates.size())) {
        std::partial_sort(candidates.begin(), candidates.begin() + top_classes, candidates.end(),
                          [&](index_t a, index_t b) { return emissions[a] > emissions[b]; });
        candidates.resize(static_cast<std::size_t>(top_classes));
    }
    return candidates;
}

// Sums the next step's probabilities per trie node. The entries are compact
// (one per node reached this step); position_ maps a node to its entry, and
// only the touched positions are cleared, so a step costs what it writes.
class NextBeam {
public:
    void add_blank(index_t node, double log_p) { entry(node).blank = log_add(entry(node).blank, log_p); }
    void add_non_blank(index_t node, double log_p) { entry(node).non_blank = log_add(entry(node).non_blank, log_p); }

    // The `width` best entries, best first (ties: the smaller node, i.e. the
    // prefix reached first); the next step starts empty.
    std::vector<BeamEntry> take_best(index_t width) {
        for (const BeamEntry& entry : entries_) position_[static_cast<std::size_t>(entry.node)] = -1;
        const auto better = [](const BeamEntry& a, const BeamEntry& b) {
            const double ta = a.total(), tb = b.total();
            return ta != tb ? ta > tb : a.node < b.node;
        };
        const std::size_t kept = std::min<std::size_t>(entries_.size(), static_cast<std::size_t>(width));
        std::partial_sort(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(kept), entries_.end(), better);
        std::vector<BeamEntry> best(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(kept));
        entries_.clear();
        return best;
    }

private:
    BeamEntry& entry(index_t node) {
        const std::size_t k = static_cast<std::size_t>(node);
        if (k >= position_.size()) position_.resize(2 * k + 16, -1);
        if (position_[k] < 0) {
            position_[k] = static_cast<index_t>(entries_.size());
            entries_.push_back(BeamEntry{node});
        }
        return entries_[static_cast<std::size_t>(position_[k])];
    }

    std::vector<BeamEntry> entries_;
    std::vector<index_t> position_;  // node → index into entries_, −1 if not reached this step
};

// One time step of prefix beam search (the update rules in the header comment).
template <typename T>
void ctc_beam_step(const std::vector<BeamEntry>& beam, const T* emissions, const std::vector<index_t>& candidates,
                   index_t blank, PrefixTrie& trie, NextBeam& next) {
    const double blank_log_prob = static_cast<double>(emissions[blank]);
    for (const BeamEntry& entry : beam) {
        const double total = entry.total();
        const index_t last = entry.node == 0 ? -1 : trie.last_label(entry.node);
        next.add_blank(entry.node, total + blank_log_prob);
        if (last >= 0) next.add_non_blank(entry.node, entry.non_blank + static_cast<double>(emissions[last]));
        for (index_t label : candidates) {
            const double reach = label == last ? entry.blank : total;
            next.add_non_blank(trie.child(entry.node, label), reach + static_cast<double>(emissions[label]));
        }
    }
}

}  // namespace detail

// Best-path decoding of each sequence of log_probs [T, B, C].
template <typename T>
std::vector<std::vector<index_t>> ctc_greedy_decode(const Tensor<T>& log_probs, const std::vector<index_t>& input_lengths,
                                                    index_t blank = 0) {
    detail::ctc_check_lengths("loom::ctc_greedy_decode", log_probs.shape(), input_lengths, blank);
    const index_t batch = log_probs.shape()[1], classes = log_probs.shape()[2];
    std::vector<std::vector<index_t>> decoded(static_cast<std::size_t>(batch));
    for (index_t b = 0; b < batch; ++b) {
        index_t previous = blank;
        for (index_t t = 0; t < input_lengths[static_cast<std::size_t>(b)]; ++t) {
            const T* row = log_probs.data() + (t * batch + b) * classes;
            const index_t best = static_cast<index_t>(std::max_element(row, row + classes) - row);
            if (best != blank && best != previous) decoded[static_cast<std::size_t>(b)].push_back(best);
            previous = best;
        }
    }
    return decoded;
}

// Prefix beam search over each sequence of log_probs [T, B, C]: per sequence,
// up to beam_width labellings, best first.
template <typename T>
std::vector<std::vector<CtcHypothesis>> ctc_prefix_beam_search(const Tensor<T>& log_probs,
                                                               const std::vector<index_t>& input_lengths,
                                                               const CtcBeamOptions& options = CtcBeamOptions{}) {
    detail::ctc_check_lengths("loom::ctc_prefix_beam_search", log_probs.shape(), input_lengths, options.blank);
    detail::check(options.beam_width >= 1, "loom::ctc_prefix_beam_search: beam_width must be at least 1, got ",
                  options.beam_width);
    detail::check(options.top_classes >= 0, "loom::ctc_prefix_beam_search: top_classes must be >= 0 (0: all), got ",
                  options.top_classes);
    const index_t batch = log_probs.shape()[1], classes = log_probs.shape()[2];
    std::vector<std::vector<CtcHypothesis>> results(static_cast<std::size_t>(batch));
    detail::PrefixTrie trie(classes);
    detail::NextBeam next;
    for (index_t b = 0; b < batch; ++b) {
        trie.reset();
        detail::BeamEntry empty;
        empty.blank = 0.0;  // before any input: the empty prefix, with probability 1
        std::vector<detail::BeamEntry> beam{empty};
        for (index_t t = 0; t < input_lengths[static_cast<std::size_t>(b)]; ++t) {
            const T* emissions = log_probs.data() + (t * batch + b) * classes;
            detail::ctc_beam_step(beam, emissions,
                                  detail::ctc_candidate_classes(emissions, classes, options.blank, options.top_classes),
                                  options.blank, trie, next);
            beam = next.take_best(options.beam_width);
        }
        for (const detail::BeamEntry& entry : beam)
            results[static_cast<std::size_t>(b)].push_back(CtcHypothesis{trie.labels(entry.node), entry.total()});
    }
    return results;
}

}  // namespace loom
