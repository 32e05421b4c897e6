// loom/optim/clip_grad.hpp — gradient clipping by global norm, as
// torch.nn.utils.clip_grad_norm_.
//
//   total = sqrt(Σ_p Σ_i g_pi²)       over all parameters' gradients
//   if total > max_norm: every g ← g · max_norm / (total + 1e-6)
// Returns total (before clipping). Recurrent nets need this: BPTT multiplies
// by W_hh once per step, and the gradient can explode.
#pragma once

#include <cmath>
#include <vector>

#include "loom/tensor/tensor.hpp"

namespace loom {

template <typename T>
double clip_grad_norm_(const std::vector<Tensor<T>>& parameters, double max_norm) {
    detail::check(max_norm > 0.0, "loom::clip_grad_norm_: max_norm must be positive, got ", max_norm);
    double sum_of_squares = 0.0;
    for (const Tensor<T>& p : parameters) {
        const Tensor<T> g = p.grad();
        if (g.defined()) sum_of_squares += g.flat().template cast<double>().square().sum();
    }
    const double total = std::sqrt(sum_of_squares);
    const double scale = max_norm / (total + 1e-6);
    if (scale < 1.0) {
        for (const Tensor<T>& p : parameters) {
            Tensor<T> g = p.grad();
            if (g.defined()) g.flat() *= static_cast<T>(scale);
        }
    }
    return total;
}

}  // namespace loom
