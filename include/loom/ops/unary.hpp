// loom/ops/unary.hpp — the shared shape of element-wise unary ops.
//
// y = f(x) element by element; backward is dx = g ⊙ f'(x), where f' is written
// with whichever of x and y is cheaper (tanh' = 1 - y², exp' = y, log' = 1/x).
// map_elements runs an Eigen array expression over the flat data, split over
// threads for large tensors (see parallel.hpp).
#pragma once

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

// Records a unary op whose backward is dx = grad_expr(g, saved) for one saved
// tensor (x or y, chosen by the op).
template <typename T, typename GradExpr>
void record_unary(Tensor<T>& out, const char* name, const Tensor<T>& x, const Tensor<T>& saved, GradExpr grad_expr) {
    record(out, name, {x}, [saved = saved.detach(), grad_expr](const Tensor<T>& g) {
        return std::vector<Tensor<T>>{map_elements(g, saved, grad_expr)};
    });
}

}  // namespace loom::detail
