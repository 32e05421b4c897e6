// loom/nn/layer_norm.hpp — layer normalisation, PyTorch's nn.LayerNorm(dim).
//
//   y = (x - μ) / √(σ² + ε) · γ + β     over the last dimension of x [..., dim]
// γ ("weight", [dim]) starts at ones and β ("bias", [dim]) at zeros, as in
// PyTorch. With elementwise_affine = false there are no parameters (γ = 1,
// β = 0). The fused forward and backward are in ops/layer_norm.hpp.
#pragma once

#include <cmath>

#include "loom/nn/module.hpp"
#include "loom/ops/layer_norm.hpp"

namespace loom {

template <typename T>
class LayerNorm : public Module<T> {
public:
    explicit LayerNorm(index_t dim, double eps = 1e-5, bool elementwise_affine = true)
        : dim(dim), eps(eps), elementwise_affine(elementwise_affine) {
        detail::check(dim > 0, "loom::LayerNorm: dim must be positive, got ", dim);
        detail::check(eps >= 0 && std::isfinite(eps), "loom::LayerNorm: eps must be finite and >= 0, got ", eps);
        if (elementwise_affine) {
            weight = this->register_parameter("weight", Tensor<T>::ones(Shape{dim}));
            bias = this->register_parameter("bias", Tensor<T>::zeros(Shape{dim}));
        }
    }

    // x [..., dim] -> y of the same shape. Checked here too, so that an error
    // names the layer, not only the op.
    Tensor<T> forward(const Tensor<T>& x) const {
        detail::check(x.defined(), "loom::LayerNorm: input is undefined");
        detail::check(x.rank() >= 1 && x.shape().last() == dim, "loom::LayerNorm: expected input [..., ", dim,
                      "], got shape ", x.shape());
        return layer_norm(x, weight, bias, eps);
    }
    Tensor<T> operator()(const Tensor<T>& x) const { return forward(x); }

    const index_t dim;
    const double eps;
    const bool elementwise_affine;
    Tensor<T> weight;  // [dim], ones; undefined without elementwise_affine
    Tensor<T> bias;    // [dim], zeros; undefined without elementwise_affine
};

}  // namespace loom
