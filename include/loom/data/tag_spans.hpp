// loom/data/tag_spans.hpp — spans from per-token BIO tags, and span-level
// precision, recall and F1 per type (the CoNLL evaluation of sequence
// labelling).
//
// A BIO scheme tags every token B-X (begins a span of type X), I-X (inside a
// span of type X) or O (outside every span). The spans of a tag sequence are
// the maximal runs B-X I-X … I-X; an I-X that does not continue a span of type
// X (after O, or after a span of another type) starts one, as conlleval reads
// it. A predicted span counts as correct only if a gold span has exactly the
// same type, first and last token. Per type X:
//   precision = correct / predicted,  recall = correct / gold,
//   F1 = 2 · precision · recall / (precision + recall)     (0 when both are 0)
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "loom/tensor/error.hpp"
#include "loom/tensor/shape.hpp"

namespace loom {

// What one tag id means: a span type (-1 for O) and whether it begins a span.
struct BioTag {
    index_t type = -1;
    bool begins = false;
};

struct TagSpan {
    index_t type = 0;
    index_t first = 0, last = 0;  // token positions, inclusive
    bool operator==(const TagSpan& other) const {
        return std::tie(type, first, last) == std::tie(other.type, other.first, other.last);
    }
    bool operator<(const TagSpan& other) const {
        return std::tie(first, last, type) < std::tie(other.first, other.last, other.type);
    }
};

// The spans of one tag sequence; scheme[id] says what tag id means.
inline std::vector<TagSpan> bio_spans(const std::vector<index_t>& tags, const std::vector<BioTag>& scheme) {
    std::vector<TagSpan> spans;
    bool open = false;
    for (std::size_t i = 0; i < tags.size(); ++i) {
        detail::check(tags[i] >= 0 && tags[i] < static_cast<index_t>(scheme.size()), "loom::bio_spans: tag ", tags[i],
                      " at position ", i, " is not in the scheme of ", scheme.size(), " tags");
        const BioTag& tag = scheme[static_cast<std::size_t>(tags[i])];
        const index_t position = static_cast<index_t>(i);
        if (tag.type < 0) {
            open = false;
        } else if (tag.begins || !open || spans.back().type != tag.type) {
            spans.push_back(TagSpan{tag.type, position, position});
            open = true;
        } else {
            spans.back().last = position;
        }
    }
    return spans;
}

// Counts over any number of sequences, per span type.
class SpanScores {
public:
    explicit SpanScores(std::vector<std::string> type_names)
        : names_(std::move(type_names)), correct_(names_.size()), predicted_(names_.size()), gold_(names_.size()) {}

    // Adds one sequence's spans (in any order; a prediction is correct when
    // the same span is among the gold ones).
    void add(const std::vector<TagSpan>& gold, const std::vector<TagSpan>& predicted) {
        const std::set<TagSpan> reference(gold.begin(), gold.end());
        for (const TagSpan& span : gold) ++count(gold_, span.type);
        for (const TagSpan& span : predicted) {
            ++count(predicted_, span.type);
            if (reference.count(span) == 1) ++count(correct_, span.type);
        }
    }

    std::size_t types() const { return names_.size(); }
    const std::string& name(std::size_t type) const { return names_[type]; }
    std::int64_t gold(std::size_t type) const { return gold_[type]; }
    double precision(std::size_t type) const { return ratio(correct_[type], predicted_[type]); }
    double recall(std::size_t type) const { return ratio(correct_[type], gold_[type]); }
    double f1(std::size_t type) const {
        const double p = precision(type), r = recall(type);
        return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
    }

private:
    std::int64_t& count(std::vector<std::int64_t>& counts, index_t type) {
        detail::check(type >= 0 && type < static_cast<index_t>(counts.size()), "loom::SpanScores: span type ", type,
                      " is not one of the ", counts.size(), " types");
        return counts[static_cast<std::size_t>(type)];
    }
    static double ratio(std::int64_t part, std::int64_t whole) {
        return whole > 0 ? static_cast<double>(part) / static_cast<double>(whole) : 0.0;
    }

    std::vector<std::string> names_;
    std::vector<std::int64_t> correct_, predicted_, gold_;
};

}  // namespace loom
