// loom/ops/slice.hpp — a contiguous range along one dimension.
//
// narrow(x, dim, start, length) = x[..., start:start+length, ...] along `dim`.
// When every dimension before `dim` has size 1 (always for dim 0) the range is
// one block of memory and the result is a view sharing x's storage; otherwise it
// is copied. Backward scatters g into zeros of x's shape:
//   dx[..., start:start+length, ...] = g,   0 elsewhere.
#pragma once

#include <algorithm>
#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

namespace detail {

// A tensor seen as [outer, size(dim), inner].
struct AxisSplit {
    index_t outer = 1, size = 1, inner = 1;
};
inline AxisSplit split_at(const Shape& shape, int dim) {
    AxisSplit split;
    for (int d = 0; d < dim; ++d) split.outer *= shape[d];
    split.size = shape[dim];
    for (int d = dim + 1; d < shape.rank(); ++d) split.inner *= shape[d];
    return split;
}

// Copies `length` slabs starting at slab `from_start` of `from` (split along a
// dimension into [outer, from_size, inner]) to slab `to_start` of `to`.
template <typename T>
void copy_slabs(const T* from, index_t from_size, index_t from_start, T* to, index_t to_size, index_t to_start,
                index_t outer, index_t length, index_t inner) {
    for (index_t o = 0; o < outer; ++o) {
        const T* source = from + (o * from_size + from_start) * inner;
        std::copy(source, source + length * inner, to + (o * to_size + to_start) * inner);
    }
}

}  // namespace detail

template <typename T>
Tensor<T> narrow(const Tensor<T>& x, int dim, index_t start, index_t length) {
    const int d = x.shape().normalize_dim(dim, "loom::narrow");
    const detail::AxisSplit split = detail::split_at(x.shape(), d);
    detail::check(start >= 0 && length >= 0 && start + length <= split.size, "loom::narrow: range [", start, ", ",
                  start + length, ") is out of bounds for dimension ", dim, " of size ", split.size, " (shape ",
                  x.shape(), ")");
    const Shape out_shape = x.shape().with(d, length);
    Tensor<T> out;
    if (split.outer == 1) {
        out = x.share_storage(out_shape, start * split.inner);
    } else {
        out = Tensor<T>::empty(out_shape);
        detail::copy_slabs(x.data(), split.size, start, out.data(), length, index_t{0}, split.outer, length,
                           split.inner);
    }
    if (needs_grad(x)) {
        record(out, "narrow", {x}, [from = x.shape(), split, start, length](const Tensor<T>& g) {
            Tensor<T> dx = Tensor<T>::zeros(from);
            detail::copy_slabs(g.data(), length, index_t{0}, dx.data(), split.size, start, split.outer, length,
                               split.inner);
            return std::vector<Tensor<T>>{dx};
        });
    }
    return out;
}

// Python-style x[start:end] along `dim` (end exclusive).
template <typename T>
Tensor<T> slice(const Tensor<T>& x, int dim, index_t start, index_t end) {
    detail::check(end >= start, "loom::slice: end ", end, " is before start ", start);
    return narrow(x, dim, start, end - start);
}

}  // namespace loom
