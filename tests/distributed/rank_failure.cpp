// A data-parallel job in which one process fails, for the test that the others
// then stop instead of waiting forever (check_rank_failure.cmake):
//   rank_failure kill    rank 1 is killed by SIGKILL at step 5
//   rank_failure throw   rank 1 throws at step 5; like the examples' main(), it
//                        reports the error and ends the job (Context::abort)
// The other processes sit in an allreduce every step, as a training loop does.
#include <chrono>
#include <csignal>
#include <iostream>
#include <string>
#include <thread>

#include "loom/distributed/collectives.hpp"
#include "loom/distributed/context.hpp"

int main(int argc, char** argv) {
    loom::distributed::Context context(&argc, &argv);
    const std::string mode = argc > 1 ? argv[1] : "kill";
    try {
        for (int step = 1; step <= 10000; ++step) {
            if (context.rank() == 1 && step == 5) {
                if (mode == "kill") std::raise(SIGKILL);
                throw loom::Error("rank_failure: a deliberate error at step 5");
            }
            loom::distributed::allreduce_mean(static_cast<double>(step), context);
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    } catch (const std::exception& error) {
        std::cerr << "rank " << context.rank() << ": " << error.what() << "; ending the job\n";
        context.abort(3);
    }
    std::cerr << "rank " << context.rank() << ": finished all steps, which a failing job must not\n";
    return 0;
}
