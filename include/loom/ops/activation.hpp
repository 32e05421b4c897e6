// loom/ops/activation.hpp — tanh, sigmoid, relu, gelu.
//
//   tanh     y = tanh x                 dx = g ⊙ (1 - y²)
//   sigmoid  y = 1 / (1 + e^-x)         dx = g ⊙ y ⊙ (1 - y)
//   relu     y = max(x, 0)              dx = g ⊙ [x > 0]
//   gelu     y = ½ x (1 + tanh u),  u = √(2/π) (x + 0.044715 x³)   (GPT-2's
//            tanh approximation, PyTorch's approximate='tanh')
//            dx = g ⊙ (½ (1 + tanh u) + ½ x (1 - tanh² u) √(2/π) (1 + 3·0.044715 x²))
#pragma once

#include <algorithm>
#include <vector>

#include "loom/ops/unary.hpp"

namespace loom {

template <typename T>
Tensor<T> tanh(const Tensor<T>& x) {
    Tensor<T> y = detail::map_elements(x, [](const auto& v) { return v.tanh(); });
    if (needs_grad(x))
        detail::record_unary(y, "tanh", x, y, [](const auto& g, const auto& yv) { return g * (T(1) - yv.square()); });
    return y;
}

template <typename T>
Tensor<T> sigmoid(const Tensor<T>& x) {
    // Eigen's logistic() is the vectorised, overflow-safe 1 / (1 + e^-x).
    Tensor<T> y = detail::map_elements(x, [](const auto& v) { return v.logistic(); });
    detail::fix_exp_underflow(x, y);  // sigmoid(-1000) = 0, not Eigen's 3e-39 (see unary.hpp)
    if (needs_grad(x))
        detail::record_unary(y, "sigmoid", x, y, [](const auto& g, const auto& yv) { return g * yv * (T(1) - yv); });
    return y;
}

template <typename T>
Tensor<T> relu(const Tensor<T>& x) {
    Tensor<T> y = detail::map_elements(x, [](const auto& v) { return v.max(T(0)); });
    if (needs_grad(x))
        detail::record_unary(y, "relu", x, x, [](const auto& g, const auto& xv) {
            return (xv > T(0)).select(g, T(0));
        });
    return y;
}

namespace detail {
template <typename T>
constexpr T gelu_c = T(0.7978845608028654);  // √(2/π)
template <typename T>
constexpr T gelu_k = T(0.044715);

// dx = g ⊙ (½ (1 + t) + ½ x (1 − t²) √(2/π) (1 + 3·0.044715 x²)), t = tanh u.
// t is needed twice, so it is computed once into a small buffer on the stack,
// a block at a time: a temporary the size of x would be a fresh heap
// allocation (and fresh pages from the kernel) on every backward.
template <typename T>
Tensor<T> gelu_backward(const Tensor<T>& x, const Tensor<T>& g) {
    Tensor<T> dx = Tensor<T>::empty(x.shape());
    const T* x_data = x.data();
    const T* g_data = g.data();
    T* dx_data = dx.data();
    using ConstArray = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
    using Array = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
    parallel_for(x.numel(), parallel_grain, [&](index_t begin, index_t end) {
        constexpr index_t block = 512;
        Eigen::Array<T, block, 1> tanh_buffer;
        for (index_t first = begin; first < end; first += block) {
            const index_t length = std::min(block, end - first);
            const ConstArray xv(x_data + first, length);
            const ConstArray gv(g_data + first, length);
            auto t = tanh_buffer.head(length);
            t = (gelu_c<T> * (xv + gelu_k<T> * xv.cube())).tanh();
            Array(dx_data + first, length) =
                gv * (T(0.5) * (T(1) + t) +
                      T(0.5) * xv * (T(1) - t.square()) * gelu_c<T> * (T(1) + T(3) * gelu_k<T> * xv.square()));
        }
    });
    return dx;
}
}  // namespace detail

template <typename T>
Tensor<T> gelu(const Tensor<T>& x) {
    using detail::gelu_c;
    using detail::gelu_k;
    Tensor<T> y = detail::map_elements(x, [](const auto& v) {
        return T(0.5) * v * (T(1) + (gelu_c<T> * (v + gelu_k<T> * v.cube())).tanh());
    });
    if (needs_grad(x))
        record(y, "gelu", {x}, [x_saved = x.detach()](const Tensor<T>& g) {
            return std::vector<Tensor<T>>{detail::gelu_backward(x_saved, g)};
        });
    return y;
}

}  // namespace loom
