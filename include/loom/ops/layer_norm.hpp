// loom/ops/layer_norm.hpp — layer normalisation over the last dimension, fused.
//
// For one row x of length D (the last dimension), weight γ [D], bias β [D]:
//   μ    = (1/D) Σ_j x_j
//   σ²   = (1/D) Σ_j (x_j - μ)²                (biased, as PyTorch)
//   rstd = 1 / √(σ² + ε)
//   x̂_i  = (x_i - μ) · rstd
//   y_i  = x̂_i · γ_i + β_i                     (γ = 1, β = 0 when undefined)
// This is torch.nn.functional.layer_norm(x, [D], γ, β, ε).
//
// Backward, per row, with dy = dL/dy and g = dy ⊙ γ (so g = dL/dx̂):
//   ∂x̂_j/∂x_i = rstd (δ_ij - 1/D - x̂_i x̂_j / D)
// because ∂μ/∂x_i = 1/D and ∂rstd/∂x_i = -rstd³ (x_i - μ) / D = -rstd² x̂_i / D.
// Hence
//   dx_i = Σ_j g_j ∂x̂_j/∂x_i = rstd · (g_i - mean_j(g_j) - x̂_i · mean_j(g_j x̂_j))
//   dγ   = Σ_rows dy ⊙ x̂
//   dβ   = Σ_rows dy
// The forward saves μ and rstd per row (and x, detached); the backward rebuilds
// x̂ from them instead of keeping a second [rows, D] tensor alive.
//
// Numerics. The variance is computed from centred values, never as
// E[x²] - E[x]² (which cancels catastrophically for x = 10⁶ + noise and can
// go negative). The mean gets one correction step (the corrected two-pass
// algorithm): with m₀ = fl(Σ x)/D and d = x - m₀,
//   μ = m₀ + mean(d),   σ² = mean(d²) - mean(d)²
// so rounding in the first sum does not shift every x̂ of the row. A row of
// equal values has σ² = 0 and rstd = 1/√ε: x̂ = 0 and y = β, finite.
// Statistics are kept in T; in float, x near 10⁶ is itself only known to
// ±0.03 (half a float ulp), and μ rounded to float carries the same error.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/ops/softmax.hpp"  // detail::for_each_row
#include "loom/tensor/error.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

namespace detail {

template <typename T>
void check_layer_norm_args(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias, double eps) {
    check(x.defined(), "loom::layer_norm: x is undefined");
    check(x.rank() >= 1, "loom::layer_norm: x must have at least one dimension, got shape ", x.shape());
    const index_t dim = x.shape().last();
    // weight.shape() / bias.shape() are only evaluated when the tensor is defined.
    if (weight.defined())
        check(weight.shape() == Shape{dim}, "loom::layer_norm: x has shape ", x.shape(), ", so weight must be [",
              dim, "], got ", weight.shape());
    if (bias.defined())
        check(bias.shape() == Shape{dim}, "loom::layer_norm: x has shape ", x.shape(), ", so bias must be [", dim,
              "], got ", bias.shape());
    check(eps >= 0 && std::isfinite(eps), "loom::layer_norm: eps must be finite and >= 0, got ", eps,
          " (x has shape ", x.shape(), ")");
}

}  // namespace detail

// y = layer_norm(x) over the last dimension D. weight and bias are [D] or
// undefined (Tensor<T>()); an undefined one means γ = 1 / β = 0.
template <typename T>
Tensor<T> layer_norm(const Tensor<T>& x, const Tensor<T>& weight = Tensor<T>(), const Tensor<T>& bias = Tensor<T>(),
                     double eps = 1e-5) {
    detail::check_layer_norm_args(x, weight, bias, eps);
    const index_t dim = x.shape().last();
    const index_t rows = dim == 0 ? 0 : x.numel() / dim;  // 0 when x is empty (including D = 0)
    const bool has_weight = weight.defined();
    const bool has_bias = bias.defined();

    Tensor<T> y = Tensor<T>::empty(x.shape());
    Tensor<T> mean = Tensor<T>::empty(Shape{rows});
    Tensor<T> rstd = Tensor<T>::empty(Shape{rows});
    if (rows > 0) {
        auto xm = x.matrix();
        auto ym = y.matrix();
        T* mean_data = mean.data();
        T* rstd_data = rstd.data();
        const T inv_dim = T(1) / static_cast<T>(dim);
        const T eps_t = static_cast<T>(eps);
        const T* gamma = has_weight ? weight.data() : nullptr;
        const T* beta = has_bias ? bias.data() : nullptr;
        using RowMap = Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>>;
        detail::for_each_row(rows, dim, [&](index_t r) {
            const T m0 = xm.row(r).sum() * inv_dim;
            const auto d = xm.row(r).array() - m0;
            const T correction = d.sum() * inv_dim;
            const T variance = std::max(T(0), d.square().sum() * inv_dim - correction * correction);
            const T mu = m0 + correction;
            const T inv_std = T(1) / std::sqrt(variance + eps_t);
            mean_data[r] = mu;
            rstd_data[r] = inv_std;
            auto out = ym.row(r).array();
            out = (xm.row(r).array() - mu) * inv_std;  // x̂
            if (gamma) out *= RowMap(gamma, dim);
            if (beta) out += RowMap(beta, dim);
        });
    }

    if (needs_grad(x, weight, bias)) {
        const bool want_dx = x.requires_grad();
        const bool want_dweight = weight.requires_grad();
        const bool want_dbias = bias.requires_grad();
        record(y, "layer_norm", {x, weight, bias},
               [x_saved = x.detach(), weight_saved = has_weight ? weight.detach() : Tensor<T>(), mean, rstd, rows,
                dim, want_dx, want_dweight, want_dbias](const Tensor<T>& dy) {
                   Tensor<T> dx = want_dx ? Tensor<T>::empty(x_saved.shape()) : Tensor<T>();
                   Tensor<T> dweight = want_dweight ? Tensor<T>::zeros(Shape{dim}) : Tensor<T>();
                   Tensor<T> dbias = want_dbias ? Tensor<T>::zeros(Shape{dim}) : Tensor<T>();
                   if (rows == 0) return std::vector<Tensor<T>>{dx, dweight, dbias};

                   auto xm = x_saved.matrix();
                   auto gm = dy.matrix();
                   const T* mean_data = mean.data();
                   const T* rstd_data = rstd.data();
                   const T inv_dim = T(1) / static_cast<T>(dim);
                   using RowMap = Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>>;
                   using Row = Eigen::Array<T, 1, Eigen::Dynamic>;

                   // dx, row by row: dx = rstd · (g - mean(g) - x̂ · mean(g ⊙ x̂)), g = dy ⊙ γ.
                   if (want_dx) {
                       auto dm = dx.matrix();
                       const T* gamma = weight_saved.defined() ? weight_saved.data() : nullptr;
                       detail::for_each_row(rows, dim, [&](index_t r) {
                           const T inv_std = rstd_data[r];
                           const Row xhat = (xm.row(r).array() - mean_data[r]) * inv_std;
                           Row g = gm.row(r).array();
                           if (gamma) g *= RowMap(gamma, dim);
                           const T mean_g = g.sum() * inv_dim;
                           const T mean_gx = (g * xhat).sum() * inv_dim;
                           dm.row(r).array() = inv_std * (g - mean_g - xhat * mean_gx);
                       });
                   }
                   // dγ = Σ_rows dy ⊙ x̂ and dβ = Σ_rows dy: sums over rows, done in one
                   // serial pass (each row adds into the same [D] accumulators).
                   if (want_dweight || want_dbias) {
                       auto dw = want_dweight ? dweight.data() : nullptr;
                       auto db = want_dbias ? dbias.data() : nullptr;
                       using RowMut = Eigen::Map<Eigen::Array<T, 1, Eigen::Dynamic>>;
                       for (index_t r = 0; r < rows; ++r) {
                           if (dw)
                               RowMut(dw, dim) +=
                                   gm.row(r).array() * ((xm.row(r).array() - mean_data[r]) * rstd_data[r]);
                           if (db) RowMut(db, dim) += gm.row(r).array();
                       }
                   }
                   return std::vector<Tensor<T>>{dx, dweight, dbias};
               });
    }
    return y;
}

}  // namespace loom
