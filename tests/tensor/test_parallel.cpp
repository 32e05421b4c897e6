#include "test_util.hpp"

// Tests for loom/tensor/parallel.hpp: the thread-count knob and parallel_for.

#include <atomic>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

using loom::index_t;
using loom_test::contains;
using loom_test::error_message;

namespace tensor_parallel_test {  // named, not anonymous: the test files are compiled together in unity batches

// Restores the thread count a test changed, also when it fails.
class ThreadCountRestorer {
public:
    ThreadCountRestorer() : saved_(loom::get_num_threads()) {}
    ~ThreadCountRestorer() { loom::set_num_threads(saved_); }
    ThreadCountRestorer(const ThreadCountRestorer&) = delete;
    ThreadCountRestorer& operator=(const ThreadCountRestorer&) = delete;

private:
    int saved_;
};

// Runs parallel_for and returns how often each index was visited and the
// pieces it was split into.
struct Coverage {
    std::vector<int> visits;
    std::vector<std::pair<index_t, index_t>> pieces;
};

Coverage run_parallel_for(index_t count, index_t grain) {
    Coverage result;
    result.visits.assign(static_cast<std::size_t>(count), 0);
    std::mutex pieces_mutex;
    loom::parallel_for(count, grain, [&](index_t begin, index_t end) {
        {
            const std::lock_guard<std::mutex> lock(pieces_mutex);
            result.pieces.emplace_back(begin, end);
        }
        // Pieces are disjoint, so plain increments do not race.
        for (index_t i = begin; i < end; ++i) ++result.visits[static_cast<std::size_t>(i)];
    });
    return result;
}

bool each_visited_once(const Coverage& coverage) {
    for (int visits : coverage.visits)
        if (visits != 1) return false;
    return true;
}

TEST_CASE("set_num_threads and get_num_threads", "[parallel]") {
    const ThreadCountRestorer restore;
    loom::set_num_threads(1);
    CHECK(loom::get_num_threads() == 1);
    CHECK(Eigen::nbThreads() == 1);
#if defined(_OPENMP)
    loom::set_num_threads(2);
    CHECK(loom::get_num_threads() == 2);
    CHECK(Eigen::nbThreads() == 2);
#else
    loom::set_num_threads(2);
    CHECK(loom::get_num_threads() == 1);  // without OpenMP everything runs on one thread
#endif
}

TEST_CASE("set_num_threads rejects counts below 1", "[parallel]") {
    const ThreadCountRestorer restore;
    loom::set_num_threads(1);
    CHECK(contains(error_message([] { loom::set_num_threads(0); }),
                   "loom::set_num_threads: thread count must be at least 1, got 0"));
    CHECK(contains(error_message([] { loom::set_num_threads(-4); }), "got -4"));
    // The failed calls changed nothing.
    CHECK(loom::get_num_threads() == 1);
}

TEST_CASE("parallel_for visits every index below count exactly once", "[parallel]") {
    const ThreadCountRestorer restore;
    SECTION("200000 elements, grain 1000, two threads") {
        loom::set_num_threads(2);
        const Coverage coverage = run_parallel_for(200000, 1000);
        CHECK(each_visited_once(coverage));
#if defined(_OPENMP)
        CHECK(coverage.pieces.size() == 2);
#endif
    }
    SECTION("a count that does not divide evenly") {
        loom::set_num_threads(2);
        const Coverage coverage = run_parallel_for(200001, 1000);
        CHECK(each_visited_once(coverage));
        index_t covered = 0;
        for (const auto& piece : coverage.pieces) covered += piece.second - piece.first;
        CHECK(covered == 200001);
    }
    SECTION("never more pieces than count / grain") {
        loom::set_num_threads(2);
        const Coverage coverage = run_parallel_for(2500, 1000);
        CHECK(each_visited_once(coverage));
        CHECK(coverage.pieces.size() <= 2);
    }
    SECTION("one thread: one call over everything") {
        loom::set_num_threads(1);
        const Coverage coverage = run_parallel_for(200000, 1000);
        REQUIRE(coverage.pieces.size() == 1);
        CHECK(coverage.pieces[0] == std::make_pair(index_t{0}, index_t{200000}));
        CHECK(each_visited_once(coverage));
    }
}

TEST_CASE("parallel_for runs small counts serially on the calling thread", "[parallel]") {
    const ThreadCountRestorer restore;
    loom::set_num_threads(2);
    for (index_t count : {index_t{0}, index_t{1}, index_t{1999}}) {
        INFO("count " << count);
        int calls = 0;
        index_t seen_begin = -1, seen_end = -1;
        std::thread::id caller = std::this_thread::get_id(), runner;
        loom::parallel_for(count, 1000, [&](index_t begin, index_t end) {
            ++calls;
            seen_begin = begin;
            seen_end = end;
            runner = std::this_thread::get_id();
        });
        CHECK(calls == 1);
        CHECK(seen_begin == 0);
        CHECK(seen_end == count);
        CHECK(runner == caller);
    }
}

#if defined(_OPENMP)
TEST_CASE("parallel_for inside a parallel region does not nest", "[parallel]") {
    const ThreadCountRestorer restore;
    loom::set_num_threads(2);
    CHECK_FALSE(loom::in_parallel_region());
    std::atomic<int> calls{0};
    std::atomic<int> inside{0};
    std::atomic<int> threads_seen{0};
#pragma omp parallel num_threads(2)
    {
        if (loom::in_parallel_region()) ++inside;
        ++threads_seen;
        loom::parallel_for(200000, 1000, [&](index_t begin, index_t end) {
            // Each outer thread runs the whole range itself, in one call.
            if (begin == 0 && end == 200000) ++calls;
        });
    }
    CHECK(inside == threads_seen.load());
    CHECK(calls == threads_seen.load());
}
#endif

}  // namespace tensor_parallel_test
