// loom/quant/quantized_linear.hpp — the layers' inference paths over quantized
// weights: y = x Wᵀ + b (Linear, attention projections) and the embedding
// lookup y[s] = W[ids[s]], with W a QuantizedMatrix (quantized_matrix.hpp).
//
// Inference only: nothing is recorded for autograd, so these refuse inputs
// that require a gradient while grad mode is on (quantized weights have no
// gradient; train the fp32 model, then quantize). x and y are T (float or
// double); the products run in fp32 (quantized_gemm.hpp), so a double model
// rounds x to float on the way in.
#pragma once

#include <type_traits>
#include <vector>

#include "loom/autograd/grad_mode.hpp"
#include "loom/quant/quantized_gemm.hpp"
#include "loom/tensor/index_tensor.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

namespace detail {

template <typename T>
void check_quantized_inference(const char* op, const Tensor<T>& x) {
    check(!is_grad_enabled() || !x.requires_grad(), op,
          ": quantized weights are for inference and record no graph; run under NoGradGuard (or train the fp32 "
          "model)");
}

// y [rows, W.rows()] (+)= x [rows, W.cols()] · Wᵀ (+ bias), for T = float or double.
template <typename T>
void quantized_rows(const T* x, index_t rows, const QuantizedMatrix& w, const T* bias, T* y, bool accumulate) {
    if constexpr (std::is_same_v<T, float>) {
        quantized_gemm(x, rows, w, bias, y, accumulate);
    } else {
        const std::vector<float> x_float(x, x + rows * w.cols());
        std::vector<float> bias_float, y_float(static_cast<std::size_t>(rows * w.rows()));
        if (bias != nullptr) bias_float.assign(bias, bias + w.rows());
        quantized_gemm(x_float.data(), rows, w, bias == nullptr ? nullptr : bias_float.data(), y_float.data(), false);
        for (std::size_t i = 0; i < y_float.size(); ++i) y[i] = accumulate ? y[i] + y_float[i] : T(y_float[i]);
    }
}

}  // namespace detail

// y [..., out] = x [..., in] · Wᵀ + b, W [out, in] quantized, b [out] or undefined.
template <typename T>
Tensor<T> quantized_linear(const Tensor<T>& x, const QuantizedMatrix& weight, const Tensor<T>& bias = Tensor<T>(),
                           const char* op = "loom::quantized_linear") {
    detail::check(x.defined() && x.rank() >= 1 && x.shape().last() == weight.cols(), op, ": input ",
                  x.defined() ? x.shape() : Shape{}, " does not end in in_features = ", weight.cols(),
                  " of the quantized weight [", weight.rows(), ", ", weight.cols(), "]");
    if (bias.defined())
        detail::check(bias.shape() == Shape{weight.rows()}, op, ": bias must be [", weight.rows(), "], got ",
                      bias.shape());
    detail::check_quantized_inference(op, x);
    index_t rows = 1;
    for (int axis = 0; axis + 1 < x.rank(); ++axis) rows *= x.shape()[axis];
    Tensor<T> y = Tensor<T>::empty(x.shape().with(x.rank() - 1, weight.rows()));
    detail::quantized_rows(x.data(), rows, weight, bias.defined() ? bias.data() : nullptr, y.data(), false);
    return y;
}

// Rows of a quantized table: ids of any shape S -> [S..., embedding_dim].
template <typename T>
Tensor<T> quantized_embedding(const QuantizedMatrix& table, const IndexTensor& ids,
                              const char* op = "loom::quantized_embedding") {
    detail::check(ids.rank() < Shape::max_rank, op, ": ids of shape ", ids.shape(), " would make an output of rank above ",
                  Shape::max_rank);
    std::vector<index_t> dims = ids.shape().to_vector();
    dims.push_back(table.cols());
    Tensor<T> y = Tensor<T>::empty(Shape(dims));
    std::vector<float> row(static_cast<std::size_t>(table.cols()));
    for (index_t i = 0; i < ids.numel(); ++i) {
        detail::check(ids[i] >= 0 && ids[i] < table.rows(), op, ": id ", ids[i], " at position ", i,
                      " is out of range for ", table.rows(), " embeddings");
        table.dequantize_row(ids[i], row.data());
        std::copy(row.begin(), row.end(), y.data() + i * table.cols());
    }
    return y;
}

}  // namespace loom
