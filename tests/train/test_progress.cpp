#include "test_util.hpp"

// Tests for loom/train/progress.hpp (the progress line, format_duration) and
// loom/train/interrupt.hpp (Ctrl-C as a flag while an InterruptGuard lives).

#include <csignal>
#include <sstream>
#include <string>

#include "loom/train/interrupt.hpp"
#include "loom/train/progress.hpp"

namespace train_progress_test {  // named, not anonymous: the test files are compiled together in unity batches

TEST_CASE("format_duration rounds to whole seconds and shows h/m/s", "[train][progress]") {
    CHECK(loom::format_duration(0.0) == "0s");
    CHECK(loom::format_duration(41.6) == "42s");
    CHECK(loom::format_duration(59.4) == "59s");
    CHECK(loom::format_duration(60.0) == "1m0s");
    CHECK(loom::format_duration(161.0) == "2m41s");
    CHECK(loom::format_duration(3600.0) == "1h0m0s");
    CHECK(loom::format_duration(3725.2) == "1h2m5s");
}

TEST_CASE("ProgressLine prints a plain line every print_every steps when not on a terminal", "[train][progress]") {
    std::ostringstream out;
    loom::ProgressLine line(2, out, /*on_terminal=*/false);
    line.update(1, 5, 1.23456, 81300.0, 161.0);  // not a multiple of 2: nothing
    line.update(2, 5, 1.5, 2000.0, 3.0);
    line.update(3, 5, 1.4, 2000.0, 2.0);
    line.update(5, 5, 1.25, 2000.0, 0.0);  // the last step is always shown
    line.message("step 5: validation loss 1.3");
    CHECK(out.str() ==
          "step 2/5 | loss 1.5000 | 2.0k tok/s | ETA 3s\n"
          "step 5/5 | loss 1.2500 | 2.0k tok/s | ETA 0s\n"
          "step 5: validation loss 1.3\n");
}

TEST_CASE("ProgressLine rewrites one line in place on a terminal and ends it before a message", "[train][progress]") {
    std::ostringstream out;
    loom::ProgressLine line(50, out, /*on_terminal=*/true);
    line.update(1, 100, 2.0, 81300.0, 161.0);
    line.update(2, 100, 1.9, 81300.0, 160.0);
    line.message("sample");
    line.message("another");  // the progress line is already ended: no blank line
    CHECK(out.str() ==
          "\rstep 1/100 | loss 2.0000 | 81.3k tok/s | ETA 2m41s\033[K"
          "\rstep 2/100 | loss 1.9000 | 81.3k tok/s | ETA 2m40s\033[K"
          "\nsample\nanother\n");
}

TEST_CASE("InterruptGuard turns SIGINT into a flag and restores the previous handler", "[train][interrupt]") {
    using Handler = void (*)(int);
    const Handler before = std::signal(SIGINT, SIG_IGN);  // a known previous handler
    {
        loom::InterruptGuard guard;
        CHECK_FALSE(guard.requested());
        std::raise(SIGINT);  // handled: sets the flag instead of ending the test run
        CHECK(guard.requested());
        // The handler put the default action back, so a second Ctrl-C would end the program.
        const Handler now = std::signal(SIGINT, SIG_IGN);
        CHECK(now == SIG_DFL);
    }
    // The guard's destructor put back what was there before it.
    CHECK(std::signal(SIGINT, before) == SIG_IGN);
    loom::InterruptGuard fresh;
    CHECK_FALSE(fresh.requested());  // a new guard starts with the flag cleared
}

}  // namespace train_progress_test
