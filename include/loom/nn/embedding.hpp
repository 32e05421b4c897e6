// loom/nn/embedding.hpp — a table of learned vectors, PyTorch's nn.Embedding.
//
//   y[s] = W[ids[s]]       W [num_embeddings, embedding_dim] ("weight")
// Initialised N(0, 1) as in PyTorch. Backward is a scatter-add into the rows
// that were looked up (ops/embedding.hpp).
#pragma once

#include "loom/nn/module.hpp"
#include "loom/ops/embedding.hpp"
#include "loom/quant/quantized_linear.hpp"

namespace loom {

template <typename T>
class Embedding : public Module<T> {
public:
    Embedding(index_t num_embeddings, index_t embedding_dim, Generator& generator)
        : num_embeddings(num_embeddings), embedding_dim(embedding_dim) {
        detail::check(num_embeddings > 0 && embedding_dim > 0, "loom::Embedding: sizes must be positive, got ",
                      num_embeddings, " x ", embedding_dim);
        weight = this->register_parameter(
            "weight", Tensor<T>::normal(Shape{num_embeddings, embedding_dim}, T(0), T(1), generator));
        this->register_quantizable("weight", weight);
    }

    // ids of any shape S (rank below Shape::max_rank) -> [S..., embedding_dim].
    // Checked here too, so that an error names the layer, not only the op.
    Tensor<T> forward(const IndexTensor& ids) const {
        detail::check(ids.rank() < Shape::max_rank, "loom::Embedding: ids of shape ", ids.shape(),
                      " would make an output of rank above ", Shape::max_rank);
        for (index_t i = 0; i < ids.numel(); ++i)
            detail::check(ids[i] >= 0 && ids[i] < num_embeddings, "loom::Embedding: id ", ids[i], " at position ",
                          i, " is out of range for ", num_embeddings, " embeddings");
        if (const QuantizedMatrix* quantized = this->quantized_weight("weight"))
            return quantized_embedding<T>(*quantized, ids, "loom::Embedding");
        return embedding(weight, ids);
    }
    Tensor<T> operator()(const IndexTensor& ids) const { return forward(ids); }

    const index_t num_embeddings;
    const index_t embedding_dim;
    Tensor<T> weight;  // undefined once quantized
};

}  // namespace loom
