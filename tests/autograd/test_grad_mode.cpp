#include "test_util.hpp"

// Tests for loom/autograd/grad_mode.hpp: NoGradGuard and EnableGradGuard.

#include <stdexcept>
#include <thread>
#include <vector>

using loom::Shape;
using loom::Tensord;

namespace autograd_grad_mode_test {  // named, not anonymous: the test files are compiled together in unity batches

TEST_CASE("recording is on by default", "[autograd][grad_mode]") {
    CHECK(loom::is_grad_enabled());
    auto x = Tensord::ones(Shape{2}).requires_grad_();
    const auto y = x * 2.0;
    CHECK(y.requires_grad());
    CHECK(y.grad_fn() != nullptr);
}

TEST_CASE("NoGradGuard stops recording", "[autograd][grad_mode]") {
    auto x = Tensord::from_list({1, 2}, Shape{2}).requires_grad_();
    {
        const loom::NoGradGuard no_grad;
        CHECK_FALSE(loom::is_grad_enabled());
        const auto y = loom::sum(x * x + x);
        CHECK_FALSE(y.requires_grad());
        CHECK(y.grad_fn() == nullptr);
        CHECK(y.is_leaf());
        CHECK(y.item() == 8.0);  // the values are still computed
        CHECK(x.use_count() == 1);  // and no node holds x
        // The leaf itself still requires grad.
        CHECK(x.requires_grad());
    }
    CHECK(loom::is_grad_enabled());
    CHECK(loom::sum(x * x).requires_grad());
}

TEST_CASE("guards nest and restore the previous mode", "[autograd][grad_mode]") {
    auto x = Tensord::ones(Shape{2}).requires_grad_();
    {
        const loom::NoGradGuard outer;
        {
            const loom::NoGradGuard inner;
            CHECK_FALSE(loom::is_grad_enabled());
        }
        CHECK_FALSE(loom::is_grad_enabled());  // still inside outer
        {
            const loom::EnableGradGuard enable;
            CHECK(loom::is_grad_enabled());
            const auto y = x * 3.0;
            CHECK(y.requires_grad());
            REQUIRE(y.grad_fn() != nullptr);
            loom::sum(y).backward();
            CHECK(x.grad().to_vector() == std::vector<double>{3, 3});
            {
                const loom::NoGradGuard innermost;
                CHECK_FALSE((x * 3.0).requires_grad());
            }
            CHECK(loom::is_grad_enabled());
        }
        CHECK_FALSE(loom::is_grad_enabled());
        CHECK_FALSE((x * 3.0).requires_grad());
    }
    CHECK(loom::is_grad_enabled());
    {
        const loom::EnableGradGuard enable_when_enabled;
        CHECK(loom::is_grad_enabled());
    }
    CHECK(loom::is_grad_enabled());
}

TEST_CASE("a guard restores the mode when an exception leaves its scope", "[autograd][grad_mode]") {
    try {
        const loom::NoGradGuard no_grad;
        throw std::runtime_error("leaving the scope");
    } catch (const std::runtime_error&) {
    }
    CHECK(loom::is_grad_enabled());
}

TEST_CASE("backward works under NoGradGuard on a graph recorded before", "[autograd][grad_mode]") {
    auto x = Tensord::from_list({1, 2}, Shape{2}).requires_grad_();
    const auto y = loom::sum(x * x);
    const loom::NoGradGuard no_grad;
    y.backward();
    CHECK(x.grad().to_vector() == std::vector<double>{2, 4});
}

TEST_CASE("parameter updates under NoGradGuard are not recorded", "[autograd][grad_mode]") {
    auto w = Tensord::from_list({1, 1}, Shape{2}).requires_grad_();
    loom::sum(w * w).backward();
    {
        const loom::NoGradGuard no_grad;
        const auto step = w.grad() * 0.5;
        CHECK_FALSE(step.requires_grad());
        w.flat() -= step.flat();
    }
    CHECK(w.to_vector() == std::vector<double>{0, 0});
    CHECK(w.is_leaf());
    CHECK(w.requires_grad());
}

TEST_CASE("the grad mode is per thread", "[autograd][grad_mode]") {
    bool other_thread_enabled = false;
    bool other_thread_recorded = false;
    {
        const loom::NoGradGuard no_grad;
        std::thread worker([&] {
            other_thread_enabled = loom::is_grad_enabled();
            auto x = Tensord::ones(Shape{2}).requires_grad_();
            other_thread_recorded = (x * 2.0).requires_grad();
        });
        worker.join();
        CHECK_FALSE(loom::is_grad_enabled());
    }
    CHECK(other_thread_enabled);
    CHECK(other_thread_recorded);

    // A guard on another thread does not switch this one off.
    bool worker_disabled = false;
    std::thread worker([&] {
        const loom::NoGradGuard no_grad;
        worker_disabled = !loom::is_grad_enabled();
    });
    worker.join();
    CHECK(worker_disabled);
    CHECK(loom::is_grad_enabled());
}

}  // namespace autograd_grad_mode_test
