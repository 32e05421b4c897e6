// loom/ops/embedding.hpp — row lookup in a table (index_select on rows).
//
// For a table W [V, D] and integer ids of any shape S:
//   y[s, :] = W[ids[s], :]            y has shape S + [D]
// Backward is a scatter-add: every occurrence of an id sends its gradient row
// back to that row of the table (repeated ids add up):
//   dW[v, :] = Σ_{s : ids[s] = v} g[s, :]
#pragma once

#include <algorithm>
#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/tensor/index_tensor.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

template <typename T>
Tensor<T> embedding(const Tensor<T>& weight, const IndexTensor& ids) {
    detail::check(weight.rank() == 2, "loom::embedding: weight must be [num_embeddings, dim], got shape ",
                  weight.shape());
    detail::check(ids.rank() < Shape::max_rank, "loom::embedding: ids of shape ", ids.shape(),
                  " would make an output of rank above ", Shape::max_rank);
    const index_t rows = weight.shape()[0];
    const index_t dim = weight.shape()[1];
    for (index_t i = 0; i < ids.numel(); ++i)
        detail::check(ids[i] >= 0 && ids[i] < rows, "loom::embedding: id ", ids[i], " at position ", i,
                      " is out of range for a table of ", rows, " rows (weight shape ", weight.shape(), ")");

    Tensor<T> out = Tensor<T>::empty(ids.shape().inserted(ids.rank(), dim));
    for (index_t i = 0; i < ids.numel(); ++i)
        std::copy_n(weight.data() + ids[i] * dim, dim, out.data() + i * dim);

    if (needs_grad(weight))
        record(out, "embedding", {weight}, [ids, table_shape = weight.shape()](const Tensor<T>& g) {
            Tensor<T> dw = Tensor<T>::zeros(table_shape);
            const index_t width = table_shape[1];
            for (index_t i = 0; i < ids.numel(); ++i) {
                T* row = dw.data() + ids[i] * width;
                const T* grad_row = g.data() + i * width;
                for (index_t j = 0; j < width; ++j) row[j] += grad_row[j];
            }
            return std::vector<Tensor<T>>{dw};
        });
    return out;
}

}  // namespace loom
