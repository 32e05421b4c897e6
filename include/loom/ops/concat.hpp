// loom/ops/concat.hpp — join tensors along a dimension.
//
// concat({x_1, ..., x_n}, dim): sizes equal except along `dim`, where they add
// up. Backward hands each input its own range of the gradient:
//   dx_k = g[..., o_k : o_k + size_k, ...],   o_k = size_1 + ... + size_(k-1).
// stack({x_1, ..., x_n}, dim) inserts a new dimension of size n at `dim`: it is
// concat of the inputs each unsqueezed at `dim`, and is differentiated as such.
#pragma once

#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/ops/reshape.hpp"
#include "loom/ops/slice.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

template <typename T>
Tensor<T> concat(const std::vector<Tensor<T>>& tensors, int dim) {
    detail::check(!tensors.empty(), "loom::concat: no tensors given");
    const Shape& first = tensors.front().shape();
    const int d = first.normalize_dim(dim, "loom::concat");
    index_t total = 0;
    for (std::size_t k = 0; k < tensors.size(); ++k) {
        const Shape& shape = tensors[k].shape();
        detail::check(shape.rank() == first.rank() && shape.with(d, 0) == first.with(d, 0), "loom::concat: tensor ",
                      k, " has shape ", shape, " but tensor 0 has ", first, "; they may differ only in dimension ",
                      dim);
        total += shape[d];
    }
    Tensor<T> out = Tensor<T>::empty(first.with(d, total));
    const detail::AxisSplit split = detail::split_at(out.shape(), d);
    std::vector<index_t> sizes;
    index_t offset = 0;
    for (const Tensor<T>& x : tensors) {
        const index_t size = x.shape()[d];
        detail::copy_slabs(x.data(), size, index_t{0}, out.data(), total, offset, split.outer, size, split.inner);
        sizes.push_back(size);
        offset += size;
    }
    if (needs_grad(tensors)) {
        std::vector<bool> needs;
        for (const Tensor<T>& x : tensors) needs.push_back(x.requires_grad());
        record(out, "concat", tensors, [d, split, sizes, needs, total](const Tensor<T>& g) {
            std::vector<Tensor<T>> grads(sizes.size());
            index_t start = 0;
            for (std::size_t k = 0; k < sizes.size(); ++k) {
                if (needs[k]) {
                    grads[k] = Tensor<T>::empty(g.shape().with(d, sizes[k]));
                    detail::copy_slabs(g.data(), total, start, grads[k].data(), sizes[k], index_t{0}, split.outer,
                                       sizes[k], split.inner);
                }
                start += sizes[k];
            }
            return grads;
        });
    }
    return out;
}

template <typename T>
Tensor<T> stack(const std::vector<Tensor<T>>& tensors, int dim) {
    detail::check(!tensors.empty(), "loom::stack: no tensors given");
    const Shape& first = tensors.front().shape();
    const int at = dim < 0 ? dim + first.rank() + 1 : dim;
    detail::check(at >= 0 && at <= first.rank(), "loom::stack: dimension ", dim, " is out of range for tensors of shape ",
                  first);
    detail::check(first.rank() < Shape::max_rank, "loom::stack: tensors of shape ", first,
                  " already have the maximum rank ", Shape::max_rank);
    std::vector<Tensor<T>> expanded;
    expanded.reserve(tensors.size());
    for (std::size_t k = 0; k < tensors.size(); ++k) {
        detail::check(tensors[k].shape() == first, "loom::stack: tensor ", k, " has shape ", tensors[k].shape(),
                      " but tensor 0 has ", first, "; stack needs equal shapes");
        expanded.push_back(unsqueeze(tensors[k], at));
    }
    return concat(expanded, at);
}

}  // namespace loom
