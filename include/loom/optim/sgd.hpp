// loom/optim/sgd.hpp — stochastic gradient descent, as torch.optim.SGD.
//
// For each parameter p with gradient g (parameters without a gradient are
// skipped), with learning rate η, momentum μ, dampening τ, weight decay λ:
//   d = g + λ p
//   b = d                          on the first step,
//   b = μ b + (1 - τ) d            afterwards          (when μ > 0)
//   d = d + μ b  (Nesterov)   or   d = b               (when μ > 0)
//   p = p - η d
// The update runs on the raw data under NoGradGuard: it is not part of any graph.
#pragma once

#include <cstddef>
#include <vector>

#include "loom/autograd/grad_mode.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

template <typename T>
class SGD {
public:
    SGD(std::vector<Tensor<T>> parameters, double learning_rate, double momentum = 0.0, double weight_decay = 0.0,
        bool nesterov = false, double dampening = 0.0)
        : parameters_(std::move(parameters)),
          learning_rate_(learning_rate),
          momentum_(momentum),
          weight_decay_(weight_decay),
          dampening_(dampening),
          nesterov_(nesterov),
          momentum_buffers_(parameters_.size()) {
        detail::check(learning_rate >= 0.0, "loom::SGD: learning rate must be >= 0, got ", learning_rate);
        detail::check(momentum >= 0.0, "loom::SGD: momentum must be >= 0, got ", momentum);
        detail::check(weight_decay >= 0.0, "loom::SGD: weight_decay must be >= 0, got ", weight_decay);
        detail::check(!nesterov || (momentum > 0.0 && dampening == 0.0),
                      "loom::SGD: Nesterov momentum needs momentum > 0 and dampening 0, got momentum ", momentum,
                      " and dampening ", dampening);
        for (const Tensor<T>& p : parameters_)
            detail::check(p.defined() && p.is_leaf(), "loom::SGD: parameters must be defined leaf tensors");
    }

    void step() {
        NoGradGuard no_grad;
        const T lr = static_cast<T>(learning_rate_), mu = static_cast<T>(momentum_);
        const T decay = static_cast<T>(weight_decay_), damp = static_cast<T>(dampening_);
        for (std::size_t k = 0; k < parameters_.size(); ++k) {
            Tensor<T>& p = parameters_[k];
            const Tensor<T> g = p.grad();
            if (!g.defined()) continue;
            auto value = p.flat();
            Eigen::Array<T, Eigen::Dynamic, 1> d = g.flat();
            if (decay != T(0)) d += decay * value;
            if (mu != T(0)) {
                Tensor<T>& buffer = momentum_buffers_[k];
                if (!buffer.defined()) {
                    buffer = Tensor<T>::empty(p.shape());
                    buffer.flat() = d;
                } else {
                    buffer.flat() = mu * buffer.flat() + (T(1) - damp) * d;
                }
                if (nesterov_) d += mu * buffer.flat();
                else d = buffer.flat();
            }
            value -= lr * d;
        }
    }

    // Drops the gradients of all parameters.
    void zero_grad() {
        for (Tensor<T>& p : parameters_) p.zero_grad();
    }

    double learning_rate() const { return learning_rate_; }
    void set_learning_rate(double learning_rate) {
        detail::check(learning_rate >= 0.0, "loom::SGD: learning rate must be >= 0, got ", learning_rate);
        learning_rate_ = learning_rate;
    }
    const std::vector<Tensor<T>>& parameters() const { return parameters_; }

private:
    std::vector<Tensor<T>> parameters_;
    double learning_rate_, momentum_, weight_decay_, dampening_;
    bool nesterov_;
    std::vector<Tensor<T>> momentum_buffers_;
};

}  // namespace loom
