// loom/optim/rmsprop.hpp — RMSprop, as torch.optim.RMSprop.
//
// For each parameter p with gradient g (parameters without a gradient are
// skipped), with learning rate η and weight decay λ (of p's group), smoothing
// constant α, ε, momentum μ:
//   g = g + λ p
//   s = α s + (1 − α) g²                      running mean of g², s₀ = 0
//   ḡ = α ḡ + (1 − α) g                       (centered only; ḡ₀ = 0)
//   r = √(s − ḡ²) + ε   (centered)   or   r = √s + ε
//   b = μ b + g / r,  p = p − η b             (μ > 0; b₀ = 0)
//   p = p − η g / r                           (μ = 0)
// Centering divides by an estimate of the gradient's standard deviation
// instead of its root mean square.
// state() saves "<index>.square_avg" (s), "<index>.momentum_buffer" (b, μ > 0
// only) and "<index>.grad_avg" (ḡ, centered only). PyTorch also counts steps
// per parameter but never uses the count; loom does not keep it.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "loom/autograd/grad_mode.hpp"
#include "loom/optim/optimizer.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

template <typename T>
class RMSprop : public Optimizer<T> {
public:
    RMSprop(std::vector<Tensor<T>> parameters, double learning_rate = 1e-2, double alpha = 0.99, double eps = 1e-8,
            double weight_decay = 0.0, double momentum = 0.0, bool centered = false)
        : RMSprop(Optimizer<T>::one_group(std::move(parameters)), learning_rate, alpha, eps, weight_decay, momentum,
                  centered) {}

    // Groups that leave learning_rate or weight_decay unset take these.
    RMSprop(std::vector<ParamGroup<T>> groups, double learning_rate = 1e-2, double alpha = 0.99, double eps = 1e-8,
            double weight_decay = 0.0, double momentum = 0.0, bool centered = false)
        : Optimizer<T>("RMSprop", std::move(groups), learning_rate, weight_decay),
          alpha_(alpha),
          eps_(eps),
          momentum_(momentum),
          centered_(centered) {
        detail::check(alpha >= 0.0 && alpha <= 1.0, "loom::RMSprop: alpha must be in [0, 1], got ", alpha);
        detail::check(eps >= 0.0 && std::isfinite(eps), "loom::RMSprop: eps must be >= 0, got ", eps);
        detail::check(momentum >= 0.0 && std::isfinite(momentum), "loom::RMSprop: momentum must be >= 0, got ",
                      momentum);
        square_avg_ = this->add_buffer("square_avg");
        if (momentum > 0.0) momentum_buffer_ = this->add_buffer("momentum_buffer");
        if (centered) grad_avg_ = this->add_buffer("grad_avg");
    }

    double alpha() const { return alpha_; }
    double eps() const { return eps_; }
    double momentum() const { return momentum_; }
    bool centered() const { return centered_; }

    void step() override {
        NoGradGuard no_grad;
        this->for_each_parameter_with_grad([&](std::size_t index, const ParamGroup<T>& group, Tensor<T>& parameter,
                                               const Tensor<T>& gradient) {
            if (!this->has_state(index)) this->initialise_state(index);
            const double weight_decay = *group.weight_decay;
            auto value = parameter.flat();
            if (weight_decay != 0.0)
                update(index, *group.learning_rate, value, gradient.flat() + static_cast<T>(weight_decay) * value);
            else
                update(index, *group.learning_rate, value, gradient.flat());
        });
        this->count_step();
    }

private:
    // `g` may read `value`: every line is elementwise, and `value` changes last.
    template <typename Gradient>
    void update(std::size_t index, double learning_rate, typename Tensor<T>::ArrayMap value, const Gradient& g) {
        const T lr = static_cast<T>(learning_rate), alpha = static_cast<T>(alpha_);
        const T one_minus_alpha = static_cast<T>(1.0 - alpha_), eps = static_cast<T>(eps_);
        auto square_avg = this->buffer(square_avg_, index).flat();
        square_avg = alpha * square_avg + one_minus_alpha * g * g;
        if (centered_) {
            auto grad_avg = this->buffer(grad_avg_, index).flat();
            grad_avg = alpha * grad_avg + one_minus_alpha * g;
            step_with(index, lr, value, g, (square_avg - grad_avg * grad_avg).sqrt() + eps);
        } else {
            step_with(index, lr, value, g, square_avg.sqrt() + eps);
        }
    }

    template <typename Gradient, typename Denominator>
    void step_with(std::size_t index, T lr, typename Tensor<T>::ArrayMap value, const Gradient& g,
                   const Denominator& r) {
        if (momentum_ > 0.0) {
            auto buffer = this->buffer(momentum_buffer_, index).flat();
            buffer = static_cast<T>(momentum_) * buffer + g / r;
            value -= lr * buffer;
        } else {
            value -= lr * g / r;
        }
    }

    double alpha_, eps_, momentum_;
    bool centered_;
    std::size_t square_avg_ = 0, momentum_buffer_ = 0, grad_avg_ = 0;
};

}  // namespace loom
