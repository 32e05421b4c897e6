#include "test_util.hpp"

#include <algorithm>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "loom/data/batcher.hpp"
#include "loom/data/vocabulary.hpp"

using loom::index_t;
using loom_test::contains;
using loom_test::error_message;

namespace data_batcher_test {  // named, not anonymous: the test files are compiled together in unity batches

// A corpus whose id at position p is p, so every id tells where it came from.
std::vector<index_t> positions(index_t count) {
    std::vector<index_t> ids(static_cast<std::size_t>(count));
    std::iota(ids.begin(), ids.end(), index_t{0});
    return ids;
}

// A real text corpus, where ids repeat.
std::vector<index_t> text_corpus() {
    std::string text;
    for (int i = 0; i < 20; ++i) text += "To be, or not to be: that is the question. 床前明月光，疑是地上霜。\n";
    return loom::Vocabulary::from_text(text).encode(text);
}

index_t at(const loom::IndexTensor& tensor, index_t row, index_t column) {
    return tensor[row * tensor.shape()[1] + column];
}

index_t corpus_at(const std::vector<index_t>& corpus, index_t position) {
    return corpus[static_cast<std::size_t>(position)];
}

// Checks that row b of `batch` is the window of the corpus starting at starts[b].
void check_windows(const loom::Batch& batch, const std::vector<index_t>& corpus, const std::vector<index_t>& starts) {
    const auto batch_size = static_cast<index_t>(starts.size());
    const index_t sequence_length = batch.inputs.shape()[1];
    REQUIRE(batch.inputs.shape() == loom::Shape{batch_size, sequence_length});
    REQUIRE(batch.targets.shape() == batch.inputs.shape());
    for (index_t b = 0; b < batch_size; ++b)
        for (index_t t = 0; t < sequence_length; ++t) {
            const index_t start = starts[static_cast<std::size_t>(b)];
            REQUIRE(at(batch.inputs, b, t) == corpus_at(corpus, start + t));
            REQUIRE(at(batch.targets, b, t) == corpus_at(corpus, start + t + 1));
        }
}

bool same(const loom::Batch& a, const loom::Batch& b) {
    return a.inputs.values() == b.inputs.values() && a.targets.values() == b.targets.values();
}

TEST_CASE("batch_from_windows builds inputs and next-id targets", "[data][batcher]") {
    const std::vector<index_t> corpus = text_corpus();
    const std::vector<index_t> starts{0, 7, static_cast<index_t>(corpus.size()) - 6};
    const loom::Batch batch = loom::batch_from_windows(corpus, starts, 5);
    check_windows(batch, corpus, starts);

    REQUIRE_THROWS_AS(loom::batch_from_windows(corpus, {static_cast<index_t>(corpus.size()) - 5}, 5), loom::Error);
    CHECK(contains(error_message([] { loom::batch_from_windows(positions(10), {0, -1}, 3); }),
                   "window 1 starts at -1"));
    REQUIRE_THROWS_AS(loom::batch_from_windows(corpus, {}, 5), loom::Error);
}

TEST_CASE("RandomWindowBatcher draws uniformly random windows", "[data][batcher]") {
    SECTION("targets are the inputs shifted by one, checked against the corpus") {
        const std::vector<index_t> corpus = text_corpus();
        loom::RandomWindowBatcher batcher(corpus, 4, 16, 7);
        for (int step = 0; step < 10; ++step) {
            const loom::Batch batch = batcher.next();
            REQUIRE(batch.inputs.shape() == loom::Shape{4, 16});
            for (index_t b = 0; b < 4; ++b)
                for (index_t t = 0; t + 1 < 16; ++t) CHECK(at(batch.targets, b, t) == at(batch.inputs, b, t + 1));
        }
    }
    SECTION("every start lies in [0, N - T - 1] and all of them occur") {
        const index_t corpus_size = 12;
        const index_t sequence_length = 4;
        const std::vector<index_t> corpus = positions(corpus_size);
        loom::RandomWindowBatcher batcher(corpus, 3, sequence_length, 1);
        CHECK(batcher.start_count() == corpus_size - sequence_length);
        std::set<index_t> seen;
        for (int step = 0; step < 200; ++step) {
            const loom::Batch batch = batcher.next();
            std::vector<index_t> starts;
            for (index_t b = 0; b < 3; ++b) starts.push_back(at(batch.inputs, b, 0));  // ids are positions
            for (const index_t start : starts) {
                REQUIRE(start >= 0);
                REQUIRE(start <= corpus_size - sequence_length - 1);
                seen.insert(start);
            }
            check_windows(batch, corpus, starts);
        }
        CHECK(seen.size() == static_cast<std::size_t>(corpus_size - sequence_length));
    }
    SECTION("the same seed gives the same batches, another seed others") {
        const std::vector<index_t> corpus = text_corpus();
        loom::RandomWindowBatcher first(corpus, 8, 10, 42);
        loom::RandomWindowBatcher second(corpus, 8, 10, 42);
        loom::RandomWindowBatcher other(corpus, 8, 10, 43);
        bool all_differ_from_other = true;
        for (int step = 0; step < 5; ++step) {
            const loom::Batch a = first.next();
            CHECK(same(a, second.next()));
            all_differ_from_other = all_differ_from_other && !same(a, other.next());
        }
        CHECK(all_differ_from_other);
    }
    SECTION("the smallest corpus has one window") {
        loom::RandomWindowBatcher batcher(positions(6), 2, 5, 3);
        const loom::Batch batch = batcher.next();
        CHECK(batch.inputs.values() == std::vector<index_t>{0, 1, 2, 3, 4, 0, 1, 2, 3, 4});
        CHECK(batch.targets.values() == std::vector<index_t>{1, 2, 3, 4, 5, 1, 2, 3, 4, 5});
    }
    SECTION("the batcher keeps its own copy of the corpus") {
        std::vector<index_t> corpus = positions(30);
        loom::RandomWindowBatcher batcher(corpus, 2, 4, 5);
        corpus.assign(corpus.size(), -1);
        const loom::Batch batch = batcher.next();
        for (const index_t id : batch.inputs.values()) CHECK(id >= 0);
    }
}

TEST_CASE("RandomWindowBatcher rejects a corpus too short or bad sizes", "[data][batcher]") {
    REQUIRE_THROWS_AS(loom::RandomWindowBatcher(positions(8), 4, 8, 0), loom::Error);
    const std::string message = error_message([] { loom::RandomWindowBatcher(positions(8), 4, 8, 0); });
    CHECK(contains(message, "corpus of 8 ids"));
    CHECK(contains(message, "batch_size 4"));
    CHECK(contains(message, "sequence_length 8"));
    CHECK_NOTHROW(loom::RandomWindowBatcher(positions(9), 4, 8, 0));

    CHECK(contains(error_message([] { loom::RandomWindowBatcher(positions(9), 0, 8, 0); }),
                   "batch_size must be at least 1, got 0"));
    CHECK(contains(error_message([] { loom::RandomWindowBatcher(positions(9), 4, -2, 0); }),
                   "sequence_length must be at least 1, got -2"));
    REQUIRE_THROWS_AS(loom::RandomWindowBatcher({}, 1, 1, 0), loom::Error);
}

TEST_CASE("StreamBatcher reads B contiguous streams T ids at a time", "[data][batcher]") {
    SECTION("layout: batch k, row b starts at b * L + k * T") {
        // N = 101, B = 4: L = 100 / 4 = 25; T = 5: 5 batches per epoch.
        const std::vector<index_t> corpus = positions(101);
        loom::StreamBatcher batcher(corpus, 4, 5);
        CHECK(batcher.stream_length() == 25);
        REQUIRE(batcher.batches_per_epoch() == 5);
        for (index_t k = 0; k < 5; ++k) {
            CHECK(batcher.batch_in_epoch() == k);
            check_windows(batcher.next(), corpus, {k * 5, 25 + k * 5, 50 + k * 5, 75 + k * 5});
        }
    }
    SECTION("row b of batch k + 1 continues row b of batch k") {
        const std::vector<index_t> corpus = text_corpus();
        loom::StreamBatcher batcher(corpus, 3, 7);
        const index_t stream_length = batcher.stream_length();
        REQUIRE(batcher.batches_per_epoch() >= 3);
        loom::Batch previous = batcher.next();
        for (index_t k = 1; k < batcher.batches_per_epoch(); ++k) {
            const loom::Batch current = batcher.next();
            for (index_t b = 0; b < 3; ++b) {
                // The id after the last input of row b is the first input of row b in the next batch ...
                CHECK(at(previous.targets, b, 6) == at(current.inputs, b, 0));
                // ... and both sit at consecutive corpus positions of stream b.
                const index_t last_input = b * stream_length + (k - 1) * 7 + 6;
                CHECK(at(previous.inputs, b, 6) == corpus_at(corpus, last_input));
                CHECK(at(current.inputs, b, 0) == corpus_at(corpus, last_input + 1));
            }
            previous = current;
        }
    }
    SECTION("a partial batch is dropped") {
        // N = 101, B = 4, T = 6: L = 25, 4 full batches use 24 ids of each stream.
        const std::vector<index_t> corpus = positions(101);
        loom::StreamBatcher batcher(corpus, 4, 6);
        CHECK(batcher.batches_per_epoch() == 4);
        index_t largest_target = 0;
        for (index_t k = 0; k < 4; ++k) {
            const loom::Batch batch = batcher.next();
            for (const index_t id : batch.targets.values()) largest_target = std::max(largest_target, id);
        }
        CHECK(largest_target == 3 * 25 + 24);
    }
    SECTION("the epoch wraps around to the first batch") {
        const std::vector<index_t> corpus = positions(50);
        loom::StreamBatcher batcher(corpus, 2, 4);  // L = 24, 6 batches per epoch
        REQUIRE(batcher.batches_per_epoch() == 6);
        const loom::Batch first = batcher.next();
        for (int k = 1; k < 6; ++k) batcher.next();
        CHECK(batcher.epoch() == 1);
        CHECK(batcher.batch_in_epoch() == 0);
        CHECK(same(batcher.next(), first));
        CHECK(batcher.batch_in_epoch() == 1);

        batcher.reset();
        CHECK(batcher.epoch() == 0);
        CHECK(batcher.batch_in_epoch() == 0);
        CHECK(same(batcher.next(), first));
    }
    SECTION("the smallest corpus gives one batch per epoch") {
        loom::StreamBatcher batcher(positions(3 * 4 + 1), 3, 4);
        CHECK(batcher.batches_per_epoch() == 1);
        check_windows(batcher.next(), positions(13), {0, 4, 8});
        CHECK(batcher.epoch() == 1);
    }
}

TEST_CASE("StreamBatcher rejects a corpus too short or bad sizes", "[data][batcher]") {
    // N = 12, B = 3: L = 11 / 3 = 3 < T = 4.
    REQUIRE_THROWS_AS(loom::StreamBatcher(positions(12), 3, 4), loom::Error);
    const std::string message = error_message([] { loom::StreamBatcher(positions(12), 3, 4); });
    CHECK(contains(message, "corpus of 12 ids"));
    CHECK(contains(message, "batch_size 3"));
    CHECK(contains(message, "sequence_length 4"));
    CHECK(contains(message, "at least 13 ids"));

    CHECK(contains(error_message([] { loom::StreamBatcher(positions(100), 0, 4); }),
                   "batch_size must be at least 1, got 0"));
    CHECK(contains(error_message([] { loom::StreamBatcher(positions(100), 2, 0); }),
                   "sequence_length must be at least 1, got 0"));
    REQUIRE_THROWS_AS(loom::StreamBatcher({}, 1, 1), loom::Error);
    CHECK(contains(error_message([] { loom::StreamBatcher({}, 1, 1); }), "corpus of 0 ids"));
}

TEST_CASE("Batchers resume where they were: StreamBatcher::seek and the window generator's state", "[data][batcher]") {
    const std::vector<index_t> corpus = positions(200);
    loom::StreamBatcher stream(corpus, 3, 5);
    for (int k = 0; k < 17; ++k) stream.next();  // past an epoch boundary (13 batches per epoch)
    loom::StreamBatcher resumed(corpus, 3, 5);
    resumed.seek(stream.epoch(), stream.batch_in_epoch());
    CHECK(resumed.epoch() == 1);
    for (int k = 0; k < 20; ++k) {
        const loom::Batch a = stream.next(), b = resumed.next();
        REQUIRE(a.inputs.values() == b.inputs.values());
        REQUIRE(a.targets.values() == b.targets.values());
    }
    CHECK(contains(error_message([&] { resumed.seek(0, stream.batches_per_epoch()); }), "out of range"));
    CHECK(contains(error_message([&] { resumed.seek(-1, 0); }), "out of range"));

    loom::RandomWindowBatcher windows(corpus, 4, 6, 11);
    windows.next();
    loom::RandomWindowBatcher windows_resumed(corpus, 4, 6, 999);
    windows_resumed.generator().set_state_string(windows.generator().state_string());
    for (int k = 0; k < 5; ++k) REQUIRE(windows.next().inputs.values() == windows_resumed.next().inputs.values());
}

}  // namespace data_batcher_test
