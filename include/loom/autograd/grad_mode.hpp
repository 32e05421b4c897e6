// loom/autograd/grad_mode.hpp — switching graph recording on and off.
//
// While a NoGradGuard is alive, ops on this thread record nothing: results do
// not require grad and no graph nodes are allocated. Use it for inference,
// evaluation and parameter updates.
//
// The switch is one thread_local flag. It is the only mutable state loom keeps
// outside objects you own, and it is per thread on purpose: a guard on one
// thread must not stop another thread from training.
#pragma once

namespace loom {

namespace detail {
inline bool& grad_mode_flag() {
    thread_local bool enabled = true;
    return enabled;
}
}  // namespace detail

inline bool is_grad_enabled() { return detail::grad_mode_flag(); }

// RAII: disables recording for its lifetime, then restores the previous mode
// (so guards nest).
class NoGradGuard {
public:
    NoGradGuard() : previous_(detail::grad_mode_flag()) { detail::grad_mode_flag() = false; }
    ~NoGradGuard() { detail::grad_mode_flag() = previous_; }
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

private:
    bool previous_;
};

// RAII: the opposite, to record inside a NoGradGuard (rarely needed).
class EnableGradGuard {
public:
    EnableGradGuard() : previous_(detail::grad_mode_flag()) { detail::grad_mode_flag() = true; }
    ~EnableGradGuard() { detail::grad_mode_flag() = previous_; }
    EnableGradGuard(const EnableGradGuard&) = delete;
    EnableGradGuard& operator=(const EnableGradGuard&) = delete;

private:
    bool previous_;
};

}  // namespace loom
