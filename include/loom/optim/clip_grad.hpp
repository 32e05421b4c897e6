// loom/optim/clip_grad.hpp — gradient clipping, as torch.nn.utils.clip_grad_norm_
// and clip_grad_value_. Both change the gradients in place (the tensors that
// p.grad() returns) and skip parameters without a gradient.
//
// clip_grad_norm_(parameters, max_norm): by global norm
//   total = sqrt(Σ_p Σ_i g_pi²)       over all parameters' gradients
//   if total > max_norm: every g ← g · max_norm / (total + 1e-6)
// Returns total (before clipping). Recurrent nets need this: BPTT multiplies
// by W_hh once per step, and the gradient can explode.
// A non-finite total (a NaN or infinite gradient, or squares overflowing a
// double) is returned as it is and the gradients are left untouched. PyTorch
// (error_if_nonfinite=False) would multiply every gradient by NaN or 0, which
// spreads the damage to all parameters or silently zeroes the step; returning
// the total unchanged lets the caller see it and skip the step:
//   if (!std::isfinite(loom::clip_grad_norm_(params, 1.0))) { optimizer.zero_grad(); continue; }
//
// clip_grad_value_(parameters, clip_value): elementwise
//   every g_i ← min(max(g_i, −clip_value), clip_value)
// A NaN gradient element stays NaN, as in PyTorch.
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
    if (!std::isfinite(total)) return total;  // see above: report, do not scale by NaN or 0
    const double scale = max_norm / (total + 1e-6);
    if (scale < 1.0) {
        for (const Tensor<T>& p : parameters) {
            Tensor<T> g = p.grad();
            if (g.defined()) g.flat() *= static_cast<T>(scale);
        }
    }
    return total;
}

template <typename T>
void clip_grad_value_(const std::vector<Tensor<T>>& parameters, double clip_value) {
    detail::check(clip_value >= 0.0, "loom::clip_grad_value_: clip_value must be >= 0, got ", clip_value);
    const T limit = static_cast<T>(clip_value);
    for (const Tensor<T>& p : parameters) {
        Tensor<T> g = p.grad();
        if (!g.defined()) continue;
        // Comparisons with NaN are false, so NaN passes through unchanged.
        g.flat() = g.flat().unaryExpr([limit](T x) { return x < -limit ? -limit : (x > limit ? limit : x); });
    }
}

}  // namespace loom
