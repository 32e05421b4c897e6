// loom/ops/pointwise.hpp — exp, log, sqrt, pow by a scalar.
//
//   exp   y = e^x        dx = g ⊙ y
//   log   y = ln x       dx = g / x
//   sqrt  y = √x         dx = g / (2y)
//   pow   y = x^p        dx = g ⊙ p x^(p-1)
// Outside a function's domain the result is NaN or ±inf as in IEEE arithmetic
// (and as in PyTorch): log(-1) is NaN, log(0) is -inf.
#pragma once

#include "loom/ops/unary.hpp"

namespace loom {

template <typename T>
Tensor<T> exp(const Tensor<T>& x) {
    Tensor<T> y = detail::map_elements(x, [](const auto& v) { return v.exp(); });
    detail::fix_exp_underflow(x, y);  // exp(-1000) = 0, not Eigen's 3e-39 (see unary.hpp)
    if (needs_grad(x)) detail::record_unary(y, "exp", x, y, [](const auto& g, const auto& yv) { return g * yv; });
    return y;
}

template <typename T>
Tensor<T> log(const Tensor<T>& x) {
    Tensor<T> y = detail::map_elements(x, [](const auto& v) { return v.log(); });
    if (needs_grad(x)) detail::record_unary(y, "log", x, x, [](const auto& g, const auto& xv) { return g / xv; });
    return y;
}

template <typename T>
Tensor<T> sqrt(const Tensor<T>& x) {
    Tensor<T> y = detail::map_elements(x, [](const auto& v) { return v.sqrt(); });
    if (needs_grad(x))
        detail::record_unary(y, "sqrt", x, y, [](const auto& g, const auto& yv) { return g / (T(2) * yv); });
    return y;
}

template <typename T>
Tensor<T> pow(const Tensor<T>& x, typename Tensor<T>::Scalar exponent) {
    Tensor<T> y = detail::map_elements(x, [exponent](const auto& v) { return v.pow(exponent); });
    if (needs_grad(x))
        detail::record_unary(y, "pow", x, x, [exponent](const auto& g, const auto& xv) {
            return g * exponent * xv.pow(exponent - T(1));
        });
    return y;
}

}  // namespace loom
