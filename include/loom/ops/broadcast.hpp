// loom/ops/broadcast.hpp — broadcasting rules and the kernels behind them.
//
// Two shapes broadcast as in NumPy/PyTorch: align them on the right; in every
// dimension the sizes must be equal or one of them 1 (a missing dimension counts
// as 1); the result takes the larger size. A bias [C] against activations
// [B, T, C], a scalar against anything, and a column [N, 1] against [N, C] are
// the everyday cases.
//
// Backward of a broadcast is a sum: if a was repeated along a dimension, every
// copy received a gradient, and dL/da is their sum — sum_to(grad, a.shape).
// These kernels are not recorded; ops call them in forward and backward.
#pragma once

#include <algorithm>
#include <array>
#include <vector>

#include "loom/tensor/parallel.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom::detail {

using Dims4 = std::array<index_t, 4>;

// Shape padded on the left with 1s to rank 4.
inline Dims4 padded_sizes(const Shape& shape) {
    Dims4 sizes{1, 1, 1, 1};
    for (int d = 0; d < shape.rank(); ++d) sizes[static_cast<std::size_t>(4 - shape.rank() + d)] = shape[d];
    return sizes;
}

// Strides of `shape` inside a broadcast to `out` (rank 4): 0 where it repeats.
inline Dims4 broadcast_strides(const Shape& shape, const Dims4& out) {
    const Dims4 sizes = padded_sizes(shape);
    Dims4 strides{};
    index_t stride = 1;
    for (int d = 3; d >= 0; --d) {
        const auto i = static_cast<std::size_t>(d);
        strides[i] = (sizes[i] == 1 && out[i] != 1) ? 0 : stride;
        stride *= sizes[i];
    }
    return strides;
}

inline Shape broadcast_shape(const Shape& a, const Shape& b, const char* op) {
    const int rank = std::max(a.rank(), b.rank());
    std::vector<index_t> sizes(static_cast<std::size_t>(rank));
    for (int d = 0; d < rank; ++d) {
        const int da = a.rank() - rank + d;
        const int db = b.rank() - rank + d;
        const index_t sa = da >= 0 ? a[da] : 1;
        const index_t sb = db >= 0 ? b[db] : 1;
        check(sa == sb || sa == 1 || sb == 1, op, ": shapes ", a, " and ", b,
              " cannot be broadcast (dimension ", d, " of the result: ", sa, " vs ", sb, ")");
        sizes[static_cast<std::size_t>(d)] = sa == 1 ? sb : sa;
    }
    return Shape(sizes);
}

// out = fn(a, b) element by element, with a and b broadcast to out's shape.
// The innermost loop gets the three layouts that matter for speed (both
// contiguous, one repeated scalar) as separate loops the compiler vectorises.
template <typename T, typename Fn>
void broadcast_binary(const Tensor<T>& a, const Tensor<T>& b, Tensor<T>& out, Fn fn) {
    const T* __restrict pa = a.data();
    const T* __restrict pb = b.data();
    T* __restrict po = out.data();
    if (a.shape() == b.shape()) {
        parallel_for(out.numel(), parallel_grain, [&](index_t begin, index_t end) {
            for (index_t i = begin; i < end; ++i) po[i] = fn(pa[i], pb[i]);
        });
        return;
    }
    const Dims4 size = padded_sizes(out.shape());
    const Dims4 sa = broadcast_strides(a.shape(), size);
    const Dims4 sb = broadcast_strides(b.shape(), size);
    const index_t inner = size[3];
    const index_t outer = size[0] * size[1] * size[2];
    parallel_for(outer, std::max<index_t>(1, parallel_grain / std::max<index_t>(inner, 1)), [&](index_t begin, index_t end) {
        for (index_t row = begin; row < end; ++row) {
            const index_t i0 = row / (size[1] * size[2]);
            const index_t i1 = (row / size[2]) % size[1];
            const index_t i2 = row % size[2];
            const T* ra = pa + i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
            const T* rb = pb + i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
            T* ro = po + row * inner;
            if (sa[3] == 1 && sb[3] == 1) {
                for (index_t i = 0; i < inner; ++i) ro[i] = fn(ra[i], rb[i]);
            } else if (sa[3] == 1) {
                const T vb = rb[0];
                for (index_t i = 0; i < inner; ++i) ro[i] = fn(ra[i], vb);
            } else if (sb[3] == 1) {
                const T va = ra[0];
                for (index_t i = 0; i < inner; ++i) ro[i] = fn(va, rb[i]);
            } else {
                const T value = fn(ra[0], rb[0]);
                for (index_t i = 0; i < inner; ++i) ro[i] = value;
            }
        }
    });
}

// Sums `grad` (shape of a broadcast result) down to `shape`, undoing the
// broadcast: every element of the result adds into the element it was copied from.
template <typename T>
Tensor<T> sum_to(const Tensor<T>& grad, const Shape& shape) {
    if (grad.shape() == shape) return grad;
    Tensor<T> result = Tensor<T>::zeros(shape);
    if (shape.numel() == 1) {
        result.data()[0] = grad.flat().sum();
        return result;
    }
    const Dims4 size = padded_sizes(grad.shape());
    const Dims4 stride = broadcast_strides(shape, size);
    const T* g = grad.data();
    T* r = result.data();
    // Sequential on purpose: several result rows may receive from one thread's rows.
    index_t flat = 0;
    for (index_t i0 = 0; i0 < size[0]; ++i0)
        for (index_t i1 = 0; i1 < size[1]; ++i1)
            for (index_t i2 = 0; i2 < size[2]; ++i2) {
                T* row = r + i0 * stride[0] + i1 * stride[1] + i2 * stride[2];
                if (stride[3] == 1) {
                    for (index_t i3 = 0; i3 < size[3]; ++i3) row[i3] += g[flat + i3];
                } else {
                    T sum = 0;
                    for (index_t i3 = 0; i3 < size[3]; ++i3) sum += g[flat + i3];
                    row[0] += sum;
                }
                flat += size[3];
            }
    return result;
}

}  // namespace loom::detail
