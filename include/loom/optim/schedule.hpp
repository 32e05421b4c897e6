// loom/optim/schedule.hpp — learning-rate schedules: the learning rate as a
// function of the step number s = 0, 1, 2, ... (the number of optimizer steps
// already taken, so s = optimizer.step_count() before the step).
//
//   ConstantLR(η)                   η
//   StepLR(η, n, γ)                 η · γ^⌊s / n⌋         (torch.optim.lr_scheduler.StepLR)
//   WarmupCosineLR(η, w, d, η_min)  nanoGPT's get_lr:
//       s < w:        η · (s + 1) / (w + 1)                          linear warmup
//       w ≤ s ≤ d:    η_min + ½ (1 + cos(π (s − w) / (d − w))) (η − η_min)   cosine decay
//       s > d:        η_min
//   LambdaLR(f)                     f(s), any function
//
// The warmup is nanoGPT's current one, (s + 1) / (w + 1): it never uses a
// learning rate of 0 and reaches η·w/(w+1) on the last warmup step, then η at
// s = w. Note that torch's own ConstantLR is a different thing (a factor for
// the first few steps); loom's ConstantLR is just a constant.
//
// A schedule returns an absolute learning rate; the training loop applies it:
//   optimizer.set_learning_rate(schedule.learning_rate(optimizer.step_count()));
// All schedules derive from LearningRateSchedule, so a loop can hold any of
// them as `const LearningRateSchedule&` or std::unique_ptr<LearningRateSchedule>.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <utility>

#include "loom/tensor/error.hpp"

namespace loom {

class LearningRateSchedule {
public:
    virtual ~LearningRateSchedule() = default;
    // The learning rate for step `step` (>= 0).
    virtual double learning_rate(std::int64_t step) const = 0;
    double operator()(std::int64_t step) const { return learning_rate(step); }

protected:
    static void check_step(std::int64_t step, const char* kind) {
        detail::check(step >= 0, "loom::", kind, ": step must be >= 0, got ", step);
    }
    static void check_rate(double rate, const char* kind, const char* what) {
        detail::check(rate >= 0.0 && std::isfinite(rate), "loom::", kind, ": ", what, " must be >= 0, got ", rate);
    }
};

class ConstantLR : public LearningRateSchedule {
public:
    explicit ConstantLR(double learning_rate) : learning_rate_(learning_rate) {
        check_rate(learning_rate, "ConstantLR", "learning rate");
    }
    double learning_rate(std::int64_t step) const override {
        check_step(step, "ConstantLR");
        return learning_rate_;
    }

private:
    double learning_rate_;
};

// Multiplies the learning rate by gamma every step_size steps.
class StepLR : public LearningRateSchedule {
public:
    StepLR(double learning_rate, std::int64_t step_size, double gamma = 0.1)
        : learning_rate_(learning_rate), step_size_(step_size), gamma_(gamma) {
        check_rate(learning_rate, "StepLR", "learning rate");
        detail::check(step_size > 0, "loom::StepLR: step_size must be > 0, got ", step_size);
        check_rate(gamma, "StepLR", "gamma");
    }
    double learning_rate(std::int64_t step) const override {
        check_step(step, "StepLR");
        // The closed form; torch multiplies by gamma at each boundary instead,
        // which can differ from it in the last bit.
        return learning_rate_ * std::pow(gamma_, static_cast<double>(step / step_size_));
    }

private:
    double learning_rate_;
    std::int64_t step_size_;
    double gamma_;
};

// nanoGPT's schedule: linear warmup to max_lr, cosine decay to min_lr.
class WarmupCosineLR : public LearningRateSchedule {
public:
    WarmupCosineLR(double max_lr, std::int64_t warmup_steps, std::int64_t decay_steps, double min_lr)
        : max_lr_(max_lr), min_lr_(min_lr), warmup_steps_(warmup_steps), decay_steps_(decay_steps) {
        check_rate(max_lr, "WarmupCosineLR", "max_lr");
        check_rate(min_lr, "WarmupCosineLR", "min_lr");
        detail::check(min_lr <= max_lr, "loom::WarmupCosineLR: min_lr ", min_lr, " is above max_lr ", max_lr);
        detail::check(warmup_steps >= 0, "loom::WarmupCosineLR: warmup_steps must be >= 0, got ", warmup_steps);
        // decay_steps is where the cosine ends; the decay needs at least one step.
        detail::check(decay_steps > warmup_steps, "loom::WarmupCosineLR: decay_steps (", decay_steps,
                      ") must be greater than warmup_steps (", warmup_steps, ")");
    }
    double learning_rate(std::int64_t step) const override {
        check_step(step, "WarmupCosineLR");
        if (step < warmup_steps_)
            return max_lr_ * static_cast<double>(step + 1) / static_cast<double>(warmup_steps_ + 1);
        if (step > decay_steps_) return min_lr_;
        const double decay_ratio =
            static_cast<double>(step - warmup_steps_) / static_cast<double>(decay_steps_ - warmup_steps_);
        const double pi = std::acos(-1.0);
        const double coefficient = 0.5 * (1.0 + std::cos(pi * decay_ratio));  // 1 → 0
        return min_lr_ + coefficient * (max_lr_ - min_lr_);
    }

private:
    double max_lr_, min_lr_;
    std::int64_t warmup_steps_, decay_steps_;
};

// Any function of the step; the result is checked to be a valid learning rate.
class LambdaLR : public LearningRateSchedule {
public:
    explicit LambdaLR(std::function<double(std::int64_t)> function) : function_(std::move(function)) {
        detail::check(static_cast<bool>(function_), "loom::LambdaLR: the function is empty");
    }
    double learning_rate(std::int64_t step) const override {
        check_step(step, "LambdaLR");
        const double rate = function_(step);
        detail::check(rate >= 0.0 && std::isfinite(rate), "loom::LambdaLR: the function returned ", rate,
                      " for step ", step, "; a learning rate must be >= 0");
        return rate;
    }

private:
    std::function<double(std::int64_t)> function_;
};

}  // namespace loom
