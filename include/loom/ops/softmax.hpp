// loom/ops/softmax.hpp — softmax and log-softmax along the last dimension.
//
// For one row x (the last dimension), with m = max_j x_j for stability:
//   softmax      y_i = e^(x_i - m) / Σ_j e^(x_j - m)
//   log_softmax  y_i = x_i - m - log Σ_j e^(x_j - m)       (log-sum-exp)
// Subtracting m changes nothing mathematically but keeps every exponent <= 0,
// so large logits cannot overflow and the sum is >= 1 (its log is finite).
// Backward, per row, with g = dL/dy:
//   softmax      dx_i = y_i (g_i - Σ_j g_j y_j)
//   log_softmax  dx_i = g_i - softmax(x)_i Σ_j g_j  = g_i - e^(y_i) Σ_j g_j
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/tensor/parallel.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

namespace detail {

// Calls fn(row_index) for every row of a [rows, cols] view, in parallel when large.
template <typename Fn>
void for_each_row(index_t rows, index_t cols, Fn fn) {
    parallel_for(rows, std::max<index_t>(1, parallel_grain / std::max<index_t>(cols, 1)),
                 [&](index_t begin, index_t end) {
                     for (index_t r = begin; r < end; ++r) fn(r);
                 });
}

// out[j] = e^(x[j] − shift) for one row of n values (shift = the row's max, so
// every exponent is <= 0). Eigen's vectorised exp clamps its argument (near
// -88.7 in float, -709.8 in double), so e^(-inf) would come out as a tiny
// positive number, not 0, and a position masked with -inf would keep a sliver
// of probability. Exponents below log(smallest normal number) are therefore set
// to exactly 0 in a second pass; the row's sum holds e^0 = 1 from the max, so
// this changes no result by more than rounding. (An Eigen select() would do
// both in one expression, but Eigen 3.4 does not vectorise select, and the
// exp would then run one scalar call per element.)
template <typename T>
void exp_shifted_row(const T* x, T shift, T* out, index_t n) {
    using Row = Eigen::Array<T, 1, Eigen::Dynamic>;
    Eigen::Map<Row>(out, n) = (Eigen::Map<const Row>(x, n) - shift).exp();
    const T underflow = std::log(std::numeric_limits<T>::min());
    for (index_t j = 0; j < n; ++j)
        if (x[j] - shift < underflow) out[j] = T(0);
}

template <typename T>
Tensor<T> softmax_rows(const Tensor<T>& x, bool log_space) {
    Tensor<T> out = Tensor<T>::empty(x.shape());
    auto in = x.matrix();
    auto result = out.matrix();
    if (x.numel() == 0) return out;
    const index_t cols = in.cols();
    for_each_row(in.rows(), cols, [&](index_t r) {
        const T row_max = in.row(r).maxCoeff();
        exp_shifted_row(x.data() + r * cols, row_max, out.data() + r * cols, cols);
        if (log_space) {  // the exponentials were only needed for their sum
            const T log_sum = std::log(result.row(r).sum());
            result.row(r).array() = in.row(r).array() - row_max - log_sum;
        } else {
            result.row(r) /= result.row(r).sum();
        }
    });
    return out;
}

}  // namespace detail

template <typename T>
Tensor<T> softmax(const Tensor<T>& x) {
    Tensor<T> y = detail::softmax_rows(x, false);
    if (needs_grad(x))
        record(y, "softmax", {x}, [y_saved = y.detach()](const Tensor<T>& g) {
            Tensor<T> dx = Tensor<T>::empty(g.shape());
            auto gm = g.matrix();
            auto ym = y_saved.matrix();
            auto dm = dx.matrix();
            detail::for_each_row(gm.rows(), gm.cols(), [&](index_t r) {
                const T dot = gm.row(r).dot(ym.row(r));
                dm.row(r).array() = ym.row(r).array() * (gm.row(r).array() - dot);
            });
            return std::vector<Tensor<T>>{dx};
        });
    return y;
}

template <typename T>
Tensor<T> log_softmax(const Tensor<T>& x) {
    Tensor<T> y = detail::softmax_rows(x, true);
    if (needs_grad(x))
        record(y, "log_softmax", {x}, [y_saved = y.detach()](const Tensor<T>& g) {
            Tensor<T> dx = Tensor<T>::empty(g.shape());
            auto gm = g.matrix();
            auto ym = y_saved.matrix();
            auto dm = dx.matrix();
            detail::for_each_row(gm.rows(), gm.cols(), [&](index_t r) {
                const T total = gm.row(r).sum();
                dm.row(r).array() = gm.row(r).array() - ym.row(r).array().exp() * total;
            });
            return std::vector<Tensor<T>>{dx};
        });
    return y;
}

}  // namespace loom
