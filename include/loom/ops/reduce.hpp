// loom/ops/reduce.hpp — sum, mean and max over all elements or along one dimension.
//
// With x seen as [outer, n, inner] around the reduced dimension:
//   sum   y[o, i] = Σ_k x[o, k, i]            dx[o, k, i] = g[o, i]
//   mean  y[o, i] = (1/n) Σ_k x[o, k, i]      dx[o, k, i] = g[o, i] / n
//   max   y[o, i] = x[o, k*, i], k* = argmax  dx[o, k, i] = g[o, i] if k = k*, else 0
// keepdim keeps the reduced dimension with size 1 (handy for broadcasting back).
// max returns the argmax indices too; on ties the first index wins, and only it
// receives the gradient. A NaN is treated as the maximum, as in PyTorch.
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/ops/slice.hpp"
#include "loom/tensor/index_tensor.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

namespace detail {

inline Shape reduced_shape(const Shape& shape, int dim, bool keepdim) {
    return keepdim ? shape.with(dim, 1) : shape.without(dim);
}

// y[o, i] = scale · Σ_k x[o, k, i]
template <typename T>
void sum_axis(const T* x, T* y, const AxisSplit& s, T scale) {
    for (index_t o = 0; o < s.outer; ++o) {
        Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> row(y + o * s.inner, s.inner);
        row.setZero();
        for (index_t k = 0; k < s.size; ++k)
            row += Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(x + (o * s.size + k) * s.inner, s.inner);
        row *= scale;
    }
}

// dx[o, k, i] = scale · g[o, i]
template <typename T>
Tensor<T> spread_axis(const Tensor<T>& g, const Shape& x_shape, const AxisSplit& s, T scale) {
    Tensor<T> dx = Tensor<T>::empty(x_shape);
    for (index_t o = 0; o < s.outer; ++o)
        for (index_t k = 0; k < s.size; ++k)
            Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(dx.data() + (o * s.size + k) * s.inner, s.inner) =
                Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(g.data() + o * s.inner, s.inner) * scale;
    return dx;
}

template <typename T>
Tensor<T> reduce_all(const Tensor<T>& x, T scale, const char* name) {
    Tensor<T> out = Tensor<T>::scalar(x.flat().sum() * scale);
    if (needs_grad(x))
        record(out, name, {x}, [shape = x.shape(), scale](const Tensor<T>& g) {
            return std::vector<Tensor<T>>{Tensor<T>::full(shape, g.item() * scale)};
        });
    return out;
}

template <typename T>
Tensor<T> reduce_axis(const Tensor<T>& x, int dim, bool keepdim, bool average, const char* op, const char* name) {
    const int d = x.shape().normalize_dim(dim, op);
    const AxisSplit split = split_at(x.shape(), d);
    const T scale = average ? (split.size == 0 ? std::numeric_limits<T>::quiet_NaN() : T(1) / T(split.size)) : T(1);
    Tensor<T> out = Tensor<T>::empty(reduced_shape(x.shape(), d, keepdim));
    sum_axis(x.data(), out.data(), split, scale);
    if (needs_grad(x))
        record(out, name, {x}, [shape = x.shape(), split, scale](const Tensor<T>& g) {
            return std::vector<Tensor<T>>{spread_axis(g, shape, split, scale)};
        });
    return out;
}

}  // namespace detail

template <typename T>
Tensor<T> sum(const Tensor<T>& x) { return detail::reduce_all(x, T(1), "sum"); }

template <typename T>
Tensor<T> sum(const Tensor<T>& x, int dim, bool keepdim = false) {
    return detail::reduce_axis(x, dim, keepdim, false, "loom::sum", "sum_dim");
}

// The mean of an empty tensor is NaN, as in PyTorch.
template <typename T>
Tensor<T> mean(const Tensor<T>& x) {
    const T scale = x.numel() == 0 ? std::numeric_limits<T>::quiet_NaN() : T(1) / static_cast<T>(x.numel());
    return detail::reduce_all(x, scale, "mean");
}

template <typename T>
Tensor<T> mean(const Tensor<T>& x, int dim, bool keepdim = false) {
    return detail::reduce_axis(x, dim, keepdim, true, "loom::mean", "mean_dim");
}

template <typename T>
struct MaxResult {
    Tensor<T> values;
    IndexTensor indices;
};

template <typename T>
MaxResult<T> max(const Tensor<T>& x, int dim, bool keepdim = false) {
    const int d = x.shape().normalize_dim(dim, "loom::max");
    const detail::AxisSplit s = detail::split_at(x.shape(), d);
    detail::check(s.size > 0, "loom::max: cannot take the max over dimension ", dim, " of size 0 (shape ",
                  x.shape(), ")");
    const Shape out_shape = detail::reduced_shape(x.shape(), d, keepdim);
    MaxResult<T> result{Tensor<T>::empty(out_shape), IndexTensor::zeros(out_shape)};
    const T* in = x.data();
    T* values = result.values.data();
    index_t* indices = result.indices.data();
    for (index_t o = 0; o < s.outer; ++o)
        for (index_t i = 0; i < s.inner; ++i) {
            index_t best = 0;
            T best_value = in[o * s.size * s.inner + i];
            for (index_t k = 1; k < s.size && !std::isnan(best_value); ++k) {
                const T value = in[(o * s.size + k) * s.inner + i];
                if (value > best_value || std::isnan(value)) {
                    best = k;
                    best_value = value;
                }
            }
            values[o * s.inner + i] = best_value;
            indices[o * s.inner + i] = best;
        }
    if (needs_grad(x))
        record(result.values, "max", {x}, [shape = x.shape(), s, indices = result.indices](const Tensor<T>& g) {
            Tensor<T> dx = Tensor<T>::zeros(shape);
            for (index_t o = 0; o < s.outer; ++o)
                for (index_t i = 0; i < s.inner; ++i)
                    dx.data()[(o * s.size + indices[o * s.inner + i]) * s.inner + i] = g.data()[o * s.inner + i];
            return std::vector<Tensor<T>>{dx};
        });
    return result;
}

}  // namespace loom
