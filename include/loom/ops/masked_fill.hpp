// loom/ops/masked_fill.hpp — replace masked elements by a constant.
//
// y_i = value where mask_i is nonzero, x_i elsewhere. The mask has x's shape or
// a suffix of it (a [T, T] causal mask applies to every [B, heads, T, T] score
// matrix). Masked outputs do not depend on x, so
//   dx_i = 0 where mask_i is nonzero, g_i elsewhere.
// causal_mask(T) marks the future: mask[i, j] = 1 for j > i, so that
// masked_fill(scores, causal_mask(T), -inf) followed by softmax lets position i
// attend only to positions <= i.
#pragma once

#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/tensor/index_tensor.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

namespace detail {
// Copies x to out, or fills with `value` where the (repeating) mask is set.
template <typename T>
void apply_mask(const T* x, T* out, index_t count, const IndexTensor& mask, T value) {
    const index_t period = mask.numel();
    for (index_t i = 0; i < count; ++i) out[i] = mask[i % period] != 0 ? value : x[i];
}

inline bool is_suffix(const Shape& small, const Shape& large) {
    if (small.rank() > large.rank()) return false;
    for (int d = 0; d < small.rank(); ++d)
        if (small[d] != large[large.rank() - small.rank() + d]) return false;
    return true;
}
}  // namespace detail

template <typename T>
Tensor<T> masked_fill(const Tensor<T>& x, const IndexTensor& mask, typename Tensor<T>::Scalar value) {
    detail::check(detail::is_suffix(mask.shape(), x.shape()),
                  "loom::masked_fill: mask shape ", mask.shape(), " must equal tensor shape ", x.shape(),
                  " or its trailing dimensions");
    Tensor<T> out = Tensor<T>::empty(x.shape());
    if (x.numel() > 0) detail::apply_mask(x.data(), out.data(), x.numel(), mask, value);
    if (needs_grad(x))
        record(out, "masked_fill", {x}, [mask](const Tensor<T>& g) {
            Tensor<T> dx = Tensor<T>::empty(g.shape());
            if (g.numel() > 0) detail::apply_mask(g.data(), dx.data(), g.numel(), mask, T(0));
            return std::vector<Tensor<T>>{dx};
        });
    return out;
}

// [size, size] mask with ones strictly above the diagonal (the future).
inline IndexTensor causal_mask(index_t size) {
    IndexTensor mask = IndexTensor::zeros(Shape{size, size});
    for (index_t i = 0; i < size; ++i)
        for (index_t j = i + 1; j < size; ++j) mask[i * size + j] = 1;
    return mask;
}

}  // namespace loom
