#include "test_util.hpp"

// Tests for loom/data/tag_spans.hpp: reading spans from BIO tags and scoring
// them as conlleval does.

#include <string>
#include <vector>

#include <loom/data/tag_spans.hpp>

using loom::index_t;
using loom_test::contains;
using loom_test::error_message;

namespace data_tag_spans_test {

// Tags 0 O, 1 B-PER, 2 I-PER, 3 B-LOC, 4 I-LOC.
const std::vector<loom::BioTag> kScheme{{-1, false}, {0, true}, {0, false}, {1, true}, {1, false}};

TEST_CASE("bio_spans reads maximal B I I runs, and a stray I starts a span", "[tag_spans]") {
    using Span = loom::TagSpan;
    CHECK(loom::bio_spans({1, 2, 0, 3, 4, 4, 1, 1}, kScheme) ==
          std::vector<Span>{{0, 0, 1}, {1, 3, 5}, {0, 6, 6}, {0, 7, 7}});
    CHECK(loom::bio_spans({2, 2, 4, 0, 4}, kScheme) == std::vector<Span>{{0, 0, 1}, {1, 2, 2}, {1, 4, 4}});
    CHECK(loom::bio_spans({0, 0}, kScheme).empty());
    CHECK(loom::bio_spans({}, kScheme).empty());
    CHECK(contains(error_message([] { loom::bio_spans({0, 5}, kScheme); }),
                   "loom::bio_spans: tag 5 at position 1 is not in the scheme of 5 tags"));
}

TEST_CASE("SpanScores: exact-match precision, recall and F1 per type", "[tag_spans]") {
    loom::SpanScores scores({"PER", "LOC"});
    // gold: PER[0,1], LOC[3,5], PER[7,7]; predicted: PER[0,1] (right), LOC[3,4] (wrong end), LOC[7,7] (wrong type)
    scores.add(loom::bio_spans({1, 2, 0, 3, 4, 4, 0, 1}, kScheme), loom::bio_spans({1, 2, 0, 3, 4, 0, 0, 3}, kScheme));
    CHECK(scores.gold(0) == 2);
    CHECK(scores.precision(0) == Approx(1.0));
    CHECK(scores.recall(0) == Approx(0.5));
    CHECK(scores.f1(0) == Approx(2.0 / 3.0));
    CHECK(scores.precision(1) == 0.0);
    CHECK(scores.f1(1) == 0.0);
    // A second sequence adds to the counts.
    scores.add(loom::bio_spans({3, 4}, kScheme), loom::bio_spans({3, 4}, kScheme));
    CHECK(scores.precision(1) == Approx(1.0 / 3.0));
    CHECK(scores.recall(1) == Approx(0.5));
    CHECK(scores.name(1) == "LOC");
    CHECK(contains(error_message([&] { scores.add({{2, 0, 0}}, {}); }), "loom::SpanScores: span type 2 is not one of the 2"));
}

}  // namespace data_tag_spans_test
