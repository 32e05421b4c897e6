// loom/optim/sgd.hpp — stochastic gradient descent, as torch.optim.SGD.
//
// For each parameter p with gradient g (parameters without a gradient are
// skipped), with learning rate η and weight decay λ (of p's group), momentum μ,
// dampening τ:
//   d = g + λ p
//   b = d                          on p's first step,
//   b = μ b + (1 − τ) d            afterwards          (only when μ > 0)
//   d = d + μ b  (Nesterov)   or   d = b               (only when μ > 0)
//   p = p − η d
// The momentum buffer b is saved by state() as "<index>.momentum_buffer".
// The update runs on the raw data under NoGradGuard: it is not part of any graph.
#pragma once

#include <cstddef>
#include <limits>
#include <vector>

#include "loom/autograd/grad_mode.hpp"
#include "loom/optim/optimizer.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

template <typename T>
class SGD : public Optimizer<T> {
public:
    SGD(std::vector<Tensor<T>> parameters, double learning_rate, double momentum = 0.0, double weight_decay = 0.0,
        bool nesterov = false, double dampening = 0.0)
        : SGD(Optimizer<T>::one_group(std::move(parameters)), learning_rate, momentum, weight_decay, nesterov,
              dampening) {}

    // Groups that leave learning_rate or weight_decay unset take these.
    SGD(std::vector<ParamGroup<T>> groups, double learning_rate, double momentum = 0.0, double weight_decay = 0.0,
        bool nesterov = false, double dampening = 0.0)
        : Optimizer<T>("SGD", std::move(groups), learning_rate, weight_decay),
          momentum_(momentum),
          dampening_(dampening),
          nesterov_(nesterov) {
        detail::check(momentum >= 0.0 && momentum < std::numeric_limits<double>::infinity(),
                      "loom::SGD: momentum must be >= 0, got ", momentum);
        detail::check(dampening == dampening, "loom::SGD: dampening must be a number, got ", dampening);
        detail::check(!nesterov || (momentum > 0.0 && dampening == 0.0),
                      "loom::SGD: Nesterov momentum needs momentum > 0 and dampening 0, got momentum ", momentum,
                      " and dampening ", dampening);
        // Plain SGD keeps no state at all.
        if (momentum_ != 0.0) momentum_slot_ = this->add_buffer("momentum_buffer");
    }

    double momentum() const { return momentum_; }
    double dampening() const { return dampening_; }
    bool nesterov() const { return nesterov_; }

    void step() override {
        NoGradGuard no_grad;
        this->for_each_parameter_with_grad([&](std::size_t index, const ParamGroup<T>& group, Tensor<T>& parameter,
                                               const Tensor<T>& gradient) {
            const double weight_decay = *group.weight_decay;
            // d = g + λ p, as an expression (no temporary array).
            if (weight_decay != 0.0)
                update(index, *group.learning_rate, parameter.flat(),
                       gradient.flat() + static_cast<T>(weight_decay) * parameter.flat());
            else
                update(index, *group.learning_rate, parameter.flat(), gradient.flat());
        });
        this->count_step();
    }

private:
    // p ← p − η d, through the momentum buffer when there is one. `direction`
    // may read `value`: every line below is elementwise, so element i of the
    // result only reads element i, before it is written.
    template <typename Direction>
    void update(std::size_t index, double learning_rate, typename Tensor<T>::ArrayMap value,
                const Direction& direction) {
        const T lr = static_cast<T>(learning_rate);
        if (momentum_ == 0.0) {
            value -= lr * direction;
            return;
        }
        const T mu = static_cast<T>(momentum_);
        const bool first_step = !this->has_state(index);
        if (first_step) this->initialise_state(index);
        auto buffer = this->buffer(momentum_slot_, index).flat();
        if (first_step) buffer = direction;
        else buffer = mu * buffer + static_cast<T>(1.0 - dampening_) * direction;
        if (nesterov_) value -= lr * (direction + mu * buffer);
        else value -= lr * buffer;
    }

    double momentum_, dampening_;
    bool nesterov_;
    std::size_t momentum_slot_ = 0;
};

}  // namespace loom
