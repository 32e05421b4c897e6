#include "test_util.hpp"

// Tests for loom/optim/schedule.hpp: StepLR against
// torch.optim.lr_scheduler.StepLR and WarmupCosineLR against nanoGPT's get_lr
// (tests/data/optim_schedule.txt, made by tests/fixtures/make_optim_fixtures.py)
// to 1e-12 relative; ConstantLR and LambdaLR; holding any schedule through the
// base class; driving an optimizer's learning rate; argument checks.

#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include <loom/optim/schedule.hpp>
#include <loom/optim/sgd.hpp>

#include "fixture_reader.hpp"

using loom::LearningRateSchedule;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace optim_schedule_test {  // named, not anonymous: the test files are compiled together in unity batches

void check_schedule(const LearningRateSchedule& schedule, const Tensor<double>& want) {
    for (std::int64_t step = 0; step < want.numel(); ++step) {
        INFO("step " << step);
        const double expected = want.data()[step];
        const double got = schedule.learning_rate(step);
        CHECK(std::abs(got - expected) <= 1e-12 * std::abs(expected));
    }
}

TEST_CASE("StepLR matches torch.optim.lr_scheduler.StepLR", "[schedule][fixture]") {
    const auto fixture = loom_test::load_fixture("optim_schedule.txt");
    const loom::StepLR schedule(0.1, 3, 0.5);
    check_schedule(schedule, fixture.get<double>("step_lr"));
    CHECK(schedule.learning_rate(0) == 0.1);
    CHECK(schedule.learning_rate(2) == 0.1);
    CHECK(schedule.learning_rate(3) == 0.05);
    CHECK(loom::StepLR(1.0, 10).learning_rate(25) == std::pow(0.1, 2));  // gamma defaults to 0.1
}

TEST_CASE("WarmupCosineLR matches nanoGPT's get_lr", "[schedule][fixture]") {
    const auto fixture = loom_test::load_fixture("optim_schedule.txt");
    const double max_lr = 6e-4, min_lr = 6e-5;
    const loom::WarmupCosineLR schedule(max_lr, 10, 50, min_lr);
    check_schedule(schedule, fixture.get<double>("warmup_cosine"));

    // The shape, spelled out: warmup lr·(s+1)/(w+1), max_lr at s = w, the
    // midpoint of the decay halfway between, min_lr from d on.
    CHECK(schedule.learning_rate(0) == max_lr * 1.0 / 11.0);
    CHECK(schedule.learning_rate(9) == max_lr * 10.0 / 11.0);
    CHECK(schedule.learning_rate(10) == max_lr);
    CHECK(std::abs(schedule.learning_rate(30) - (max_lr + min_lr) / 2) < 1e-18);
    CHECK(std::abs(schedule.learning_rate(50) - min_lr) < 1e-18);
    CHECK(schedule.learning_rate(51) == min_lr);
    CHECK(schedule.learning_rate(1000000) == min_lr);
    // Monotone: up through the warmup, down through the decay.
    for (std::int64_t s = 1; s <= 60; ++s) {
        INFO("step " << s);
        if (s <= 10) CHECK(schedule.learning_rate(s) > schedule.learning_rate(s - 1));
        else CHECK(schedule.learning_rate(s) <= schedule.learning_rate(s - 1));
    }
    // No warmup: max_lr at step 0.
    CHECK(loom::WarmupCosineLR(1.0, 0, 10, 0.0).learning_rate(0) == 1.0);
}

TEST_CASE("ConstantLR and LambdaLR", "[schedule]") {
    const loom::ConstantLR constant(0.25);
    CHECK(constant.learning_rate(0) == 0.25);
    CHECK(constant.learning_rate(123456789) == 0.25);
    const loom::LambdaLR halving([](std::int64_t step) { return 1.0 / static_cast<double>(step + 1); });
    CHECK(halving.learning_rate(0) == 1.0);
    CHECK(halving.learning_rate(3) == 0.25);
    CHECK(halving(1) == 0.5);  // operator() is learning_rate()
}

TEST_CASE("A training loop can hold any schedule and drive an optimizer with it", "[schedule]") {
    std::vector<std::unique_ptr<LearningRateSchedule>> schedules;
    schedules.push_back(std::make_unique<loom::ConstantLR>(0.5));
    schedules.push_back(std::make_unique<loom::StepLR>(0.5, 2, 0.5));
    schedules.push_back(std::make_unique<loom::WarmupCosineLR>(0.5, 2, 6, 0.05));
    for (const auto& schedule : schedules) {
        Tensor<double> w = Tensor<double>::zeros(Shape{1});
        w.requires_grad_();
        loom::SGD<double> optimizer({w}, 1.0);
        double expected = 0.0;
        for (int step = 0; step < 8; ++step) {
            const double rate = schedule->learning_rate(optimizer.step_count());
            optimizer.set_learning_rate(rate);
            w.set_grad(Tensor<double>::ones(Shape{1}));
            optimizer.step();
            expected -= rate;  // gradient 1: w moves by −lr
            CHECK(w.item() == expected);
        }
        CHECK(optimizer.learning_rate() == schedule->learning_rate(7));
    }
}

TEST_CASE("Schedules reject invalid arguments", "[schedule]") {
    const double nan = std::nan("");
    CHECK(contains(error_message([] { loom::ConstantLR(-1.0); }),
                   "loom::ConstantLR: learning rate must be >= 0, got -1"));
    CHECK(contains(error_message([&] { loom::ConstantLR{nan}; }), "loom::ConstantLR: learning rate must be >= 0"));
    CHECK(contains(error_message([] { loom::StepLR(0.1, 0, 0.5); }), "loom::StepLR: step_size must be > 0, got 0"));
    CHECK(contains(error_message([] { loom::StepLR(0.1, 3, -0.5); }), "loom::StepLR: gamma must be >= 0, got -0.5"));
    CHECK(contains(error_message([] { loom::StepLR(-0.1, 3, 0.5); }), "loom::StepLR: learning rate must be >= 0"));
    CHECK(contains(error_message([] { loom::WarmupCosineLR(1e-3, 10, 10, 1e-4); }),
                   "loom::WarmupCosineLR: decay_steps (10) must be greater than warmup_steps (10)"));
    CHECK(contains(error_message([] { loom::WarmupCosineLR(1e-3, -1, 10, 1e-4); }),
                   "loom::WarmupCosineLR: warmup_steps must be >= 0, got -1"));
    CHECK(contains(error_message([] { loom::WarmupCosineLR(1e-3, 1, 10, 1e-2); }),
                   "loom::WarmupCosineLR: min_lr 0.01 is above max_lr 0.001"));
    CHECK(contains(error_message([] { loom::WarmupCosineLR(-1e-3, 1, 10, 0.0); }),
                   "loom::WarmupCosineLR: max_lr must be >= 0"));
    CHECK(contains(error_message([] { loom::WarmupCosineLR(1e-3, 1, 10, -1.0); }),
                   "loom::WarmupCosineLR: min_lr must be >= 0"));
    CHECK(contains(error_message([] { loom::LambdaLR(nullptr); }), "loom::LambdaLR: the function is empty"));

    // Steps count from 0.
    const loom::StepLR step_lr(0.1, 3, 0.5);
    CHECK(contains(error_message([&] { step_lr.learning_rate(-1); }), "loom::StepLR: step must be >= 0, got -1"));
    const loom::WarmupCosineLR cosine(1e-3, 1, 10, 0.0);
    CHECK(contains(error_message([&] { cosine.learning_rate(-2); }), "loom::WarmupCosineLR: step must be >= 0"));
    const loom::LambdaLR negative([](std::int64_t) { return -1.0; });
    CHECK(contains(error_message([&] { negative.learning_rate(4); }),
                   "loom::LambdaLR: the function returned -1 for step 4; a learning rate must be >= 0"));
}

}  // namespace optim_schedule_test
