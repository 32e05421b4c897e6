// loom/ops/unary.hpp — the shared shape of element-wise unary ops.
//
// y = f(x) element by element; backward is dx = g ⊙ f'(x), where f' is written
// with whichever of x and y is cheaper (tanh' = 1 - y², exp' = y, log' = 1/x).
// map_elements runs an Eigen array expression over the flat data, split over
// threads for large tensors (see parallel.hpp).
#pragma once

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/tensor/parallel.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom::detail {

// out[i] = expr(x[i]) on Eigen arrays: expr maps a segment of x to an expression.
template <typename T, typename Expr>
Tensor<T> map_elements(const Tensor<T>& x, Expr expr) {
    Tensor<T> out = Tensor<T>::empty(x.shape());
    auto in = x.flat();
    auto result = out.flat();
    parallel_for(x.numel(), parallel_grain, [&](index_t begin, index_t end) {
        result.segment(begin, end - begin) = expr(in.segment(begin, end - begin));
    });
    return out;
}

// out[i] = expr(a[i], b[i]) for two same-shape tensors.
template <typename T, typename Expr>
Tensor<T> map_elements(const Tensor<T>& a, const Tensor<T>& b, Expr expr) {
    Tensor<T> out = Tensor<T>::empty(a.shape());
    auto in_a = a.flat();
    auto in_b = b.flat();
    auto result = out.flat();
    parallel_for(a.numel(), parallel_grain, [&](index_t begin, index_t end) {
        result.segment(begin, end - begin) = expr(in_a.segment(begin, end - begin), in_b.segment(begin, end - begin));
    });
    return out;
}

// Eigen 3.4's vectorised exp (behind Array::exp() and, for float, logistic())
// clamps x at -88.72 (float) / -709.78 (double) and returns e^clamp ≈ 3e-39 /
// 6e-309 for any lower x, but only for elements inside a full SIMD packet: the
// scalar tail gets std::exp. So exp(-1000) came out as 3e-39 or 0 depending on
// where the element sat. For x < ln(smallest normal number) e^x is subnormal or
// 0, and there exp(x) = sigmoid(x) = e^x / (1 + e^x) to within rounding; this
// recomputes y = e^x with std::exp for exactly those elements.
template <typename T>
void fix_exp_underflow(const Tensor<T>& x, Tensor<T>& y) {
    const T threshold = std::log(std::numeric_limits<T>::min());
    // Usually nothing is that small: one vectorised min (ignoring NaNs) skips the
    // element-by-element pass.
    if (x.numel() == 0 || !(x.flat().template minCoeff<Eigen::PropagateNumbers>() < threshold)) return;
    const T* in = x.data();
    T* out = y.data();
    parallel_for(x.numel(), parallel_grain, [&](index_t begin, index_t end) {
        for (index_t i = begin; i < end; ++i)
            if (in[i] < threshold) out[i] = std::exp(in[i]);
    });
}

// Records a unary op whose backward is dx = grad_expr(g, saved) for one saved
// tensor (x or y, chosen by the op).
template <typename T, typename GradExpr>
void record_unary(Tensor<T>& out, const char* name, const Tensor<T>& x, const Tensor<T>& saved, GradExpr grad_expr) {
    record(out, name, {x}, [saved = saved.detach(), grad_expr](const Tensor<T>& g) {
        return std::vector<Tensor<T>>{map_elements(g, saved, grad_expr)};
    });
}

}  // namespace loom::detail
