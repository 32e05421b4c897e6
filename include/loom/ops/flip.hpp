// loom/ops/flip.hpp — reverse the order along one dimension, torch.flip(x, [dim]).
//
//   y[..., i, ...] = x[..., n−1−i, ...]      (n = size of `dim`)
// A bidirectional RNN reads its input back to front this way and flips its
// output back, so that position t of both directions lines up. Flipping is a
// permutation that is its own inverse, so the backward is the same flip:
//   dx[..., i, ...] = g[..., n−1−i, ...]
#pragma once

#include <algorithm>
#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/ops/slice.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

namespace detail {

// Copies from [outer, size, inner] with the middle index reversed.
template <typename T>
void flip_slabs(const T* from, T* to, const AxisSplit& split) {
    for (index_t o = 0; o < split.outer; ++o)
        for (index_t i = 0; i < split.size; ++i) {
            const T* source = from + (o * split.size + (split.size - 1 - i)) * split.inner;
            std::copy(source, source + split.inner, to + (o * split.size + i) * split.inner);
        }
}

}  // namespace detail

template <typename T>
Tensor<T> flip(const Tensor<T>& x, int dim) {
    detail::check(x.defined(), "loom::flip: the input is undefined");
    const int d = x.shape().normalize_dim(dim, "loom::flip");
    const detail::AxisSplit split = detail::split_at(x.shape(), d);
    Tensor<T> out = Tensor<T>::empty(x.shape());
    detail::flip_slabs(x.data(), out.data(), split);
    if (needs_grad(x)) {
        record(out, "flip", {x}, [split](const Tensor<T>& g) {
            Tensor<T> dx = Tensor<T>::empty(g.shape());
            detail::flip_slabs(g.data(), dx.data(), split);
            return std::vector<Tensor<T>>{dx};
        });
    }
    return out;
}

}  // namespace loom
