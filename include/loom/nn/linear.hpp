// loom/nn/linear.hpp — a fully connected layer, PyTorch's nn.Linear.
//
//   y = x Wᵀ + b        x [..., in], W [out, in] ("weight"), b [out] ("bias")
// Initialisation as PyTorch: W and b uniform in (-1/√in, 1/√in).
// Forward and backward are the fused op loom::linear (ops/linear.hpp).
// loom::quantize (nn/quantize.hpp) may store W in bf16 or int8 for inference;
// forward then runs quant/quantized_linear.hpp and `weight` is undefined.
#pragma once

#include <cmath>

#include "loom/nn/module.hpp"
#include "loom/ops/linear.hpp"
#include "loom/quant/quantized_linear.hpp"

namespace loom {

template <typename T>
class Linear : public Module<T> {
public:
    Linear(index_t in_features, index_t out_features, Generator& generator, bool bias = true)
        : in_features(in_features), out_features(out_features) {
        detail::check(in_features > 0 && out_features > 0, "loom::Linear: sizes must be positive, got in_features ",
                      in_features, " and out_features ", out_features);
        const T bound = T(1) / std::sqrt(static_cast<T>(in_features));
        weight = this->register_parameter(
            "weight", Tensor<T>::uniform(Shape{out_features, in_features}, -bound, bound, generator));
        if (bias) this->bias = this->register_parameter("bias", Tensor<T>::uniform(Shape{out_features}, -bound, bound, generator));
        this->register_quantizable("weight", weight);
    }

    Tensor<T> forward(const Tensor<T>& x) const {
        detail::check(x.rank() >= 1 && x.shape().last() == in_features, "loom::Linear: expected input [..., ",
                      in_features, "], got shape ", x.shape());
        if (const QuantizedMatrix* quantized = this->quantized_weight("weight"))
            return quantized_linear(x, *quantized, bias, "loom::Linear");
        return linear(x, weight, bias);
    }
    Tensor<T> operator()(const Tensor<T>& x) const { return forward(x); }

    const index_t in_features;
    const index_t out_features;
    Tensor<T> weight;  // [out_features, in_features]; undefined once quantized
    Tensor<T> bias;    // [out_features], undefined without bias
};

}  // namespace loom
