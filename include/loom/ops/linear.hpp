// loom/ops/linear.hpp — the affine map of a fully connected layer, fused:
// PyTorch's torch.nn.functional.linear.
//
//   y = x Wᵀ + b        x [..., in], W [out, in], b [out] (optional) -> y [..., out]
//
// x's leading dimensions are flattened into R rows: X [R, in], Y [R, out].
// Forward: each row of Y starts as b and one GEMM adds X Wᵀ to it, so Y is
// written once (matmul followed by a broadcast add would pass over Y twice).
// Backward, with G = dL/dY [R, out] (from dL = tr(Gᵀ dY), dY = dX Wᵀ + X dWᵀ + 1 dbᵀ):
//   dX = G W        [R, in]
//   dW = Gᵀ X       [out, in]
//   db = Σ_r G_r    [out]   (the column sums of G)
#pragma once

#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/ops/gemm.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

template <typename T>
Tensor<T> linear(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias = Tensor<T>()) {
    detail::check(weight.defined() && weight.rank() == 2, "loom::linear: weight must be [out_features, in_features],",
                  " got ", weight.defined() ? weight.shape() : Shape{});
    const index_t out_features = weight.shape()[0], in_features = weight.shape()[1];
    detail::check(x.defined() && x.rank() >= 1 && x.shape().last() == in_features, "loom::linear: input ",
                  x.defined() ? x.shape() : Shape{}, " does not end in in_features = ", in_features, " of weight ",
                  weight.shape());
    if (bias.defined())
        detail::check(bias.shape() == Shape{out_features}, "loom::linear: bias must be [", out_features,
                      "] for weight ", weight.shape(), ", got ", bias.shape());
    index_t rows = 1;  // the product of x's leading dimensions (not numel / in, which fails for in = 0)
    for (int axis = 0; axis + 1 < x.rank(); ++axis) rows *= x.shape()[axis];
    const Shape out_shape = x.shape().with(x.rank() - 1, out_features);

    Tensor<T> y = Tensor<T>::empty(out_shape);
    if (bias.defined()) detail::bias_rows(bias.data(), rows, out_features, y.data());
    detail::gemm(rows, out_features, in_features, detail::row_major(x.data(), in_features),
                 detail::row_major(weight.data(), in_features, true), y.data(), out_features, bias.defined());
    if (!needs_grad(x, weight, bias)) return y;

    const bool x_needs = x.requires_grad(), w_needs = weight.requires_grad(), b_needs = bias.requires_grad();
    record(y, "linear", {x, weight, bias},
           [x_saved = w_needs ? x.detach() : Tensor<T>(), w_saved = x_needs ? weight.detach() : Tensor<T>(),
            x_shape = x.shape(), w_shape = weight.shape(), rows, in_features, out_features, x_needs, w_needs,
            b_needs](const Tensor<T>& g) {
               Tensor<T> dx, dw, db;
               const auto g_rows = detail::row_major(g.data(), out_features);
               if (x_needs) {  // dX = G W
                   dx = Tensor<T>::empty(x_shape);
                   detail::gemm(rows, in_features, out_features, g_rows, detail::row_major(w_saved.data(), in_features),
                                dx.data(), in_features, false);
               }
               if (w_needs) {  // dW = Gᵀ X
                   dw = Tensor<T>::empty(w_shape);
                   detail::gemm(out_features, in_features, rows, detail::row_major(g.data(), out_features, true),
                                detail::row_major(x_saved.data(), in_features), dw.data(), in_features, false);
               }
               if (b_needs) {  // db = column sums of G
                   db = Tensor<T>::zeros(Shape{out_features});
                   detail::add_column_sums(g.data(), rows, out_features, db.data());
               }
               return std::vector<Tensor<T>>{dx, dw, db};
           });
    return y;
}

}  // namespace loom
