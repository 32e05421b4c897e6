// loom/ops/transpose.hpp — swap the last two dimensions.
//
// y[..., i, j] = x[..., j, i] for x of shape [..., M, N] (rank >= 2); y is a
// new contiguous tensor [..., N, M]. Backward is the same swap: dx = gᵀ.
// (matmul takes transpose flags, so products never need this copy.)
#pragma once

#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/ops/gemm.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

namespace detail {
template <typename T>
Tensor<T> transposed_copy(const Tensor<T>& x) {
    const Shape& s = x.shape();
    const index_t rows = s[s.rank() - 2];
    const index_t cols = s[s.rank() - 1];
    Shape out_shape = s.with(s.rank() - 2, cols).with(s.rank() - 1, rows);
    Tensor<T> out = Tensor<T>::empty(out_shape);
    const index_t batch = rows * cols == 0 ? 0 : x.numel() / (rows * cols);
    for (index_t b = 0; b < batch; ++b)
        transpose_into(x.data() + b * rows * cols, rows, cols, cols, out.data() + b * rows * cols, rows);
    return out;
}
}  // namespace detail

template <typename T>
Tensor<T> transpose(const Tensor<T>& x) {
    detail::check(x.rank() >= 2, "loom::transpose: needs rank >= 2 to swap the last two dimensions, got shape ",
                  x.shape());
    Tensor<T> out = detail::transposed_copy(x);
    if (needs_grad(x))
        record(out, "transpose", {x}, [](const Tensor<T>& g) { return std::vector<Tensor<T>>{detail::transposed_copy(g)}; });
    return out;
}

}  // namespace loom
