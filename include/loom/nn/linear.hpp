// loom/nn/linear.hpp — a fully connected layer, PyTorch's nn.Linear.
//
//   y = x Wᵀ + b        x [..., in], W [out, in] ("weight"), b [out] ("bias")
// Initialisation as PyTorch: W and b uniform in (-1/√in, 1/√in).
// Forward and backward are the fused op loom::linear (ops/linear.hpp).
#pragma once

#include <cmath>

#include "loom/nn/module.hpp"
#include "loom/ops/linear.hpp"

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
    }

    Tensor<T> forward(const Tensor<T>& x) const {
        detail::check(x.rank() >= 1 && x.shape().last() == in_features, "loom::Linear: expected input [..., ",
                      in_features, "], got shape ", x.shape());
        return linear(x, weight, bias);
    }
    Tensor<T> operator()(const Tensor<T>& x) const { return forward(x); }

    const index_t in_features;
    const index_t out_features;
    Tensor<T> weight;  // [out_features, in_features]
    Tensor<T> bias;    // [out_features], undefined without bias
};

}  // namespace loom
