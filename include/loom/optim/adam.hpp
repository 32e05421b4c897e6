// loom/optim/adam.hpp — Adam and AdamW, as torch.optim.Adam and torch.optim.AdamW.
//
// For each parameter p with gradient g (parameters without a gradient are
// skipped and their step counter t does not move), with learning rate η and
// weight decay λ (of p's group), betas β₁, β₂ and ε:
//   t = t + 1
//   g = g + λ p                              (Adam: L2 penalty in the gradient)
//   p = p − η λ p                            (AdamW instead: decoupled decay)
//   m = β₁ m + (1 − β₁) g                    first moment,  m₀ = 0
//   v = β₂ v + (1 − β₂) g²                   second moment, v₀ = 0
//   v̂ = max(v̂, v)                            (amsgrad only;  v̂₀ = 0)
//   p = p − (η / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)     (√v̂ with amsgrad)
// The divisions by 1 − βᵗ undo the bias of moments that start at zero. The
// scalars (η / (1 − β₁ᵗ), √(1 − β₂ᵗ)) are computed in double, as PyTorch does
// in Python, then the array work runs in T.
// state() saves "<index>.exp_avg" (m), "<index>.exp_avg_sq" (v),
// "<index>.max_exp_avg_sq" (v̂, amsgrad only) and "<index>.step" (t).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "loom/autograd/grad_mode.hpp"
#include "loom/optim/optimizer.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

namespace detail {

// The shared machinery of Adam and AdamW; `decoupled` picks AdamW's decay.
template <typename T>
class AdamBase : public Optimizer<T> {
public:
    double beta1() const { return beta1_; }
    double beta2() const { return beta2_; }
    double eps() const { return eps_; }
    bool amsgrad() const { return amsgrad_; }

    void step() override {
        NoGradGuard no_grad;
        this->for_each_parameter_with_grad([&](std::size_t index, const ParamGroup<T>& group, Tensor<T>& parameter,
                                               const Tensor<T>& gradient) {
            const double learning_rate = *group.learning_rate, weight_decay = *group.weight_decay;
            auto value = parameter.flat();
            if (!this->has_state(index)) this->initialise_state(index);
            const std::int64_t t = ++this->parameter_steps(index);
            if (decoupled_) {
                if (weight_decay != 0.0) value *= static_cast<T>(1.0 - learning_rate * weight_decay);
                update(index, learning_rate, t, value, gradient.flat());
            } else if (weight_decay != 0.0) {
                update(index, learning_rate, t, value, gradient.flat() + static_cast<T>(weight_decay) * value);
            } else {
                update(index, learning_rate, t, value, gradient.flat());
            }
        });
        this->count_step();
    }

protected:
    AdamBase(const char* kind, std::vector<ParamGroup<T>> groups, double learning_rate, double beta1, double beta2,
             double eps, double weight_decay, bool amsgrad, bool decoupled)
        : Optimizer<T>(kind, std::move(groups), learning_rate, weight_decay),
          beta1_(beta1),
          beta2_(beta2),
          eps_(eps),
          amsgrad_(amsgrad),
          decoupled_(decoupled) {
        // Betas must be in [0, 1): β = 1 would never forget, and 1 − βᵗ = 0.
        detail::check(beta1 >= 0.0 && beta1 < 1.0, "loom::", kind, ": beta1 must be in [0, 1), got ", beta1);
        detail::check(beta2 >= 0.0 && beta2 < 1.0, "loom::", kind, ": beta2 must be in [0, 1), got ", beta2);
        detail::check(eps >= 0.0 && std::isfinite(eps), "loom::", kind, ": eps must be >= 0, got ", eps);
        exp_avg_ = this->add_buffer("exp_avg");
        exp_avg_sq_ = this->add_buffer("exp_avg_sq");
        if (amsgrad) max_exp_avg_sq_ = this->add_buffer("max_exp_avg_sq");
        this->count_parameter_steps();
    }

private:
    // The moment updates and the step, for the gradient expression `g` (which
    // may read `value`: every line is elementwise, and `value` changes last).
    template <typename Gradient>
    void update(std::size_t index, double learning_rate, std::int64_t t, typename Tensor<T>::ArrayMap value,
                const Gradient& g) {
        const double bias_correction1 = 1.0 - std::pow(beta1_, static_cast<double>(t));
        const double bias_correction2 = 1.0 - std::pow(beta2_, static_cast<double>(t));
        const T step_size = static_cast<T>(learning_rate / bias_correction1);
        const T bias_correction2_sqrt = static_cast<T>(std::sqrt(bias_correction2));
        const T beta1 = static_cast<T>(beta1_), beta2 = static_cast<T>(beta2_), eps = static_cast<T>(eps_);

        auto m = this->buffer(exp_avg_, index).flat();
        auto v = this->buffer(exp_avg_sq_, index).flat();
        m = beta1 * m + static_cast<T>(1.0 - beta1_) * g;
        v = beta2 * v + static_cast<T>(1.0 - beta2_) * g * g;
        if (amsgrad_) {
            auto v_max = this->buffer(max_exp_avg_sq_, index).flat();
            v_max = v_max.max(v);
            value -= step_size * m / (v_max.sqrt() / bias_correction2_sqrt + eps);
        } else {
            value -= step_size * m / (v.sqrt() / bias_correction2_sqrt + eps);
        }
    }

    double beta1_, beta2_, eps_;
    bool amsgrad_, decoupled_;
    std::size_t exp_avg_ = 0, exp_avg_sq_ = 0, max_exp_avg_sq_ = 0;
};

}  // namespace detail

// Adam: weight decay as an L2 term added to the gradient (torch defaults).
template <typename T>
class Adam : public detail::AdamBase<T> {
public:
    Adam(std::vector<Tensor<T>> parameters, double learning_rate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
         double eps = 1e-8, double weight_decay = 0.0, bool amsgrad = false)
        : Adam(Optimizer<T>::one_group(std::move(parameters)), learning_rate, beta1, beta2, eps, weight_decay,
               amsgrad) {}
    // Groups that leave learning_rate or weight_decay unset take these.
    Adam(std::vector<ParamGroup<T>> groups, double learning_rate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
         double eps = 1e-8, double weight_decay = 0.0, bool amsgrad = false)
        : detail::AdamBase<T>("Adam", std::move(groups), learning_rate, beta1, beta2, eps, weight_decay, amsgrad,
                              false) {}
};

// AdamW: decoupled weight decay p ← p − η λ p before the Adam step; the
// gradient is left alone. torch's default weight decay 1e-2.
template <typename T>
class AdamW : public detail::AdamBase<T> {
public:
    AdamW(std::vector<Tensor<T>> parameters, double learning_rate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
          double eps = 1e-8, double weight_decay = 1e-2, bool amsgrad = false)
        : AdamW(Optimizer<T>::one_group(std::move(parameters)), learning_rate, beta1, beta2, eps, weight_decay,
                amsgrad) {}
    // Groups that leave learning_rate or weight_decay unset take these.
    AdamW(std::vector<ParamGroup<T>> groups, double learning_rate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
          double eps = 1e-8, double weight_decay = 1e-2, bool amsgrad = false)
        : detail::AdamBase<T>("AdamW", std::move(groups), learning_rate, beta1, beta2, eps, weight_decay, amsgrad,
                              true) {}
};

}  // namespace loom
