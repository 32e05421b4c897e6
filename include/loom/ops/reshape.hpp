// loom/ops/reshape.hpp — the same elements under another shape.
//
// y = reshape(x, shape) shares x's storage (no copy); one size may be -1 and is
// then inferred. Backward reshapes the gradient back: dx = reshape(g, x.shape).
// view() is the same operation under PyTorch's other name; unsqueeze/squeeze
// insert or remove a dimension of size 1.
#pragma once

#include <utility>
#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

namespace detail {
inline Shape infer_shape(const Shape& from, std::vector<index_t> sizes) {
    check(sizes.size() <= static_cast<std::size_t>(Shape::max_rank), "loom::reshape: cannot view ", from, " with ",
          sizes.size(), " dimensions (at most ", Shape::max_rank, ")");
    int inferred = -1;
    index_t known = 1;
    for (std::size_t d = 0; d < sizes.size(); ++d) {
        if (sizes[d] == -1) {
            check(inferred < 0, "loom::reshape: only one size may be -1 (reshaping ", from, ")");
            inferred = static_cast<int>(d);
        } else {
            check(sizes[d] >= 0, "loom::reshape: invalid size ", sizes[d], " in the requested shape");
            known *= sizes[d];
        }
    }
    if (inferred >= 0) {
        check(known != 0 && from.numel() % known == 0, "loom::reshape: cannot infer the -1 size to view ", from,
              " (", from.numel(), " elements) with the other sizes multiplying to ", known);
        sizes[static_cast<std::size_t>(inferred)] = from.numel() / known;
    }
    Shape to(sizes);
    check(to.numel() == from.numel(), "loom::reshape: cannot view shape ", from, " (", from.numel(),
          " elements) as ", to, " (", to.numel(), " elements)");
    return to;
}
}  // namespace detail

template <typename T>
Tensor<T> reshape(const Tensor<T>& x, std::vector<index_t> sizes) {
    const Shape shape = detail::infer_shape(x.shape(), std::move(sizes));
    Tensor<T> out = x.share_storage(shape);
    if (needs_grad(x))
        record(out, "reshape", {x}, [from = x.shape()](const Tensor<T>& g) {
            return std::vector<Tensor<T>>{g.share_storage(from)};
        });
    return out;
}
template <typename T>
Tensor<T> view(const Tensor<T>& x, std::vector<index_t> sizes) { return reshape(x, std::move(sizes)); }

// Inserts a dimension of size 1 at `dim` (0..rank).
template <typename T>
Tensor<T> unsqueeze(const Tensor<T>& x, int dim) {
    const int rank = x.rank();
    const int at = dim < 0 ? dim + rank + 1 : dim;
    detail::check(at >= 0 && at <= rank, "loom::unsqueeze: dimension ", dim, " is out of range for shape ", x.shape());
    detail::check(rank < Shape::max_rank, "loom::unsqueeze: shape ", x.shape(), " already has the maximum rank ",
                  Shape::max_rank);
    return reshape(x, x.shape().inserted(at, 1).to_vector());
}

// Removes dimension `dim`, which must have size 1.
template <typename T>
Tensor<T> squeeze(const Tensor<T>& x, int dim) {
    const int at = x.shape().normalize_dim(dim, "loom::squeeze");
    detail::check(x.shape()[at] == 1, "loom::squeeze: dimension ", dim, " of shape ", x.shape(), " is not 1");
    return reshape(x, x.shape().without(at).to_vector());
}

}  // namespace loom
