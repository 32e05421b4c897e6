// loom/tensor/error.hpp — the one exception type loom throws on bad input.
//
// Every check on user input throws loom::Error with a message that names the
// operation and the shapes or values involved, e.g.
//   "loom::matmul: inner dimensions differ: a is [2, 3], b is [4, 5]"
// so that a failing call can be fixed from the message alone.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace loom {

class Error : public std::invalid_argument {
public:
    explicit Error(const std::string& message) : std::invalid_argument(message) {}
};

namespace detail {

// Builds a message from any streamable pieces: fail("loom::add: ", shape_a, ...).
template <typename... Parts>
[[noreturn]] inline void fail(Parts&&... parts) {
    std::ostringstream message;
    (message << ... << std::forward<Parts>(parts));
    throw Error(message.str());
}

template <typename... Parts>
inline void check(bool condition, Parts&&... parts) {
    if (!condition) fail(std::forward<Parts>(parts)...);
}

}  // namespace detail
}  // namespace loom
