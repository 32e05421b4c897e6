// loom/train/interrupt.hpp — Ctrl-C as a request to stop training cleanly.
//
// While an InterruptGuard lives, SIGINT does not kill the program: it sets a
// flag, which the Trainer reads after every step; the Trainer then saves a
// checkpoint and returns. A second Ctrl-C while the first is being handled
// stops the program at once (the handler puts the default action back).
//
// This is the one piece of global mutable state in loom, and it has to be: a
// signal handler takes no arguments, so the flag it sets must be reachable
// without any, and the C++ standard allows a handler to write only a
// `volatile std::sig_atomic_t`.
#pragma once

#include <csignal>

namespace loom {
namespace detail {
inline volatile std::sig_atomic_t interrupt_requested = 0;

extern "C" inline void on_interrupt(int) {
    interrupt_requested = 1;
    std::signal(SIGINT, SIG_DFL);
}
}  // namespace detail

class InterruptGuard {
public:
    InterruptGuard() {
        detail::interrupt_requested = 0;
        previous_ = std::signal(SIGINT, detail::on_interrupt);
    }
    ~InterruptGuard() { std::signal(SIGINT, previous_); }
    InterruptGuard(const InterruptGuard&) = delete;
    InterruptGuard& operator=(const InterruptGuard&) = delete;

    bool requested() const { return detail::interrupt_requested != 0; }

private:
    void (*previous_)(int) = SIG_DFL;
};

}  // namespace loom
