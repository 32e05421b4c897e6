// loom/ops/conv1d.hpp — 1-D convolution (cross-correlation), PyTorch's F.conv1d
// with groups = 1, and its causal variant for autoregressive models.
//
// Shapes: x [B, C_in, T], weight W [C_out, C_in, K], bias b [C_out] (optional),
// stride s >= 1, padding p >= 0 (zeros on both ends), dilation d >= 1:
//   T_out = ⌊(T + 2p − d·(K−1) − 1) / s⌋ + 1
//   y[n, o, t] = b[o] + Σ_c Σ_k W[o, c, k] · x_pad[n, c, t·s + k·d]
// where x_pad is x with p zeros on each side. causal_conv1d pads (K−1)·d zeros
// on the left only and uses s = 1, so T_out = T and y[.., t] reads x[.., ≤ t].
//
// im2col: the columns matrix of the whole batch, row-major [C_in·K, B·T_out],
//   col[c·K + k, n·T_out + t] = x_pad[n, c, t·s + k·d]
// turns the convolution into one GEMM with W viewed as W_ [C_out, C_in·K]:
//   Y = W_ · col                     Y [C_out, B·T_out]
//   y[n, o, t] = Y[o, n·T_out + t] + b[o]
// Backward, with G = dL/dy gathered into the same layout dY [C_out, B·T_out]:
//   dW_  = dY · colᵀ                 (one GEMM; sums over the batch and time)
//   db   = Σ_{n,t} dY[:, n·T_out + t]
//   dcol = W_ᵀ · dY                  (one GEMM)
//   dx   = col2im(dcol): each dcol[c·K + k, n·T_out + t] is added back to
//          x[n, c, t·s + k·d − p] when that index lies inside [0, T); entries
//          that fell on padding are dropped.
// The GEMMs are Eigen products on zero-copy maps (Eigen splits them over
// threads); im2col and col2im are split over the batch with parallel_for (each
// batch element owns its own columns and its own rows of dx, so no two threads
// write the same place, and the two levels never nest). The columns are kept
// for the backward only when the weight needs a gradient.
#pragma once

#include <algorithm>
#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/ops/matmul.hpp"
#include "loom/tensor/parallel.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

namespace detail {

struct Conv1dPlan {
    index_t batch, in_channels, length, out_channels, kernel, out_length;
    index_t stride, pad_left, dilation;
    index_t rows() const { return in_channels * kernel; }    // C_in·K
    index_t cols() const { return batch * out_length; }     // B·T_out
};

// The output positions t in [begin, end) for which t·s + k·d − pad_left lies in
// [0, length); all other t of tap k read padding.
inline void conv1d_valid_range(const Conv1dPlan& p, index_t k, index_t& begin, index_t& end) {
    const index_t offset = k * p.dilation - p.pad_left;  // source index at t = 0
    begin = offset >= 0 ? 0 : (-offset + p.stride - 1) / p.stride;
    const index_t room = p.length - offset;               // need t·s < room
    end = room <= 0 ? 0 : (room + p.stride - 1) / p.stride;
    end = std::min(end, p.out_length);
    begin = std::min(begin, end);
}

// Batch elements per parallel piece: enough that a piece has ~parallel_grain elements.
inline index_t conv1d_grain(const Conv1dPlan& p) {
    const index_t per_item = std::max<index_t>(1, p.rows() * p.out_length);
    return std::max<index_t>(1, parallel_grain / per_item);
}

template <typename T>
void im2col_1d(const T* x, T* col, const Conv1dPlan& p) {
    const index_t ld = p.cols();
    parallel_for(p.batch, conv1d_grain(p), [&](index_t first, index_t last) {
        for (index_t n = first; n < last; ++n)
            for (index_t c = 0; c < p.in_channels; ++c) {
                const T* src = x + (n * p.in_channels + c) * p.length;
                for (index_t k = 0; k < p.kernel; ++k) {
                    T* dst = col + (c * p.kernel + k) * ld + n * p.out_length;
                    index_t begin, end;
                    conv1d_valid_range(p, k, begin, end);
                    const index_t offset = k * p.dilation - p.pad_left;
                    std::fill(dst, dst + begin, T(0));
                    if (p.stride == 1) std::copy(src + begin + offset, src + end + offset, dst + begin);
                    else
                        for (index_t t = begin; t < end; ++t) dst[t] = src[t * p.stride + offset];
                    std::fill(dst + end, dst + p.out_length, T(0));
                }
            }
    });
}

// dx (zeroed by the caller) += col2im(dcol).
template <typename T>
void col2im_1d(const T* dcol, T* dx, const Conv1dPlan& p) {
    const index_t ld = p.cols();
    parallel_for(p.batch, conv1d_grain(p), [&](index_t first, index_t last) {
        for (index_t n = first; n < last; ++n)
            for (index_t c = 0; c < p.in_channels; ++c) {
                T* dst = dx + (n * p.in_channels + c) * p.length;
                for (index_t k = 0; k < p.kernel; ++k) {
                    const T* src = dcol + (c * p.kernel + k) * ld + n * p.out_length;
                    index_t begin, end;
                    conv1d_valid_range(p, k, begin, end);
                    const index_t offset = k * p.dilation - p.pad_left;
                    if (p.stride == 1) {  // one contiguous run: a vectorised add
                        using Row = Eigen::Array<T, Eigen::Dynamic, 1>;
                        Eigen::Map<Row>(dst + begin + offset, end - begin) +=
                            Eigen::Map<const Row>(src + begin, end - begin);
                    } else {
                        for (index_t t = begin; t < end; ++t) dst[t * p.stride + offset] += src[t];
                    }
                }
            }
    });
}

template <typename T>
Tensor<T> conv1d_impl(const char* op, const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias,
                      index_t stride, index_t pad_left, index_t pad_right, index_t dilation) {
    check(x.defined() && weight.defined(), op, ": input and weight must be defined tensors");
    check(x.rank() == 3, op, ": input must be [batch, in_channels, length], got shape ", x.shape());
    check(weight.rank() == 3, op, ": weight must be [out_channels, in_channels, kernel_size], got shape ",
          weight.shape());
    const Shape& xs = x.shape();
    const Shape& ws = weight.shape();
    check(xs[1] == ws[1], op, ": input has ", xs[1], " channels but weight expects ", ws[1], " (input ", xs,
          ", weight ", ws, ")");
    check(ws[2] >= 1, op, ": kernel_size must be at least 1, got weight ", ws);
    if (bias.defined())
        check(bias.rank() == 1 && bias.shape()[0] == ws[0], op, ": bias must be [", ws[0],
              "] (out_channels of weight ", ws, "), got shape ", bias.shape());
    check(stride >= 1, op, ": stride must be at least 1, got ", stride, " (input ", xs, ", weight ", ws, ")");
    check(dilation >= 1, op, ": dilation must be at least 1, got ", dilation, " (input ", xs, ", weight ", ws,
          ")");
    check(pad_left >= 0 && pad_right >= 0, op, ": padding must be non-negative, got ", pad_left, " left and ",
          pad_right, " right (input ", xs, ", weight ", ws, ")");
    const index_t span = dilation * (ws[2] - 1) + 1;  // receptive field of one output
    const index_t padded = xs[2] + pad_left + pad_right;
    check(padded >= span, op, ": input ", xs, " padded to length ", padded, " is shorter than the kernel's span ",
          span, " (weight ", ws, ", dilation ", dilation, ")");

    Conv1dPlan p{};
    p.batch = xs[0];
    p.in_channels = xs[1];
    p.length = xs[2];
    p.out_channels = ws[0];
    p.kernel = ws[2];
    p.out_length = (padded - span) / stride + 1;
    p.stride = stride;
    p.pad_left = pad_left;
    p.dilation = dilation;

    // Columns [C_in·K, B·T_out], then Y = W_ · col [C_out, B·T_out].
    Tensor<T> col = Tensor<T>::empty(Shape{p.rows(), p.cols()});
    im2col_1d(x.data(), col.data(), p);
    Tensor<T> y_all = Tensor<T>::empty(Shape{p.out_channels, p.cols()});
    gemm(p.out_channels, p.cols(), p.rows(), row_major(weight.data(), p.rows()), row_major(col.data(), p.cols()),
         y_all.data(), p.cols(), false);

    // Scatter to [B, C_out, T_out] and add the bias.
    Tensor<T> out = Tensor<T>::empty(Shape{p.batch, p.out_channels, p.out_length});
    for (index_t n = 0; n < p.batch; ++n)
        for (index_t o = 0; o < p.out_channels; ++o) {
            const T* src = y_all.data() + o * p.cols() + n * p.out_length;
            T* dst = out.data() + (n * p.out_channels + o) * p.out_length;
            const T b = bias.defined() ? bias.data()[o] : T(0);
            for (index_t t = 0; t < p.out_length; ++t) dst[t] = src[t] + b;
        }

    if (!needs_grad(x, weight, bias)) return out;
    const bool x_needs = x.requires_grad();
    const bool w_needs = weight.requires_grad();
    const bool b_needs = bias.requires_grad();
    record(out, "conv1d", {x, weight, bias},
           [p, x_needs, w_needs, b_needs, col_saved = w_needs ? col : Tensor<T>(),
            w_saved = x_needs ? weight.detach() : Tensor<T>()](const Tensor<T>& g) {
               // dY [C_out, B·T_out] from g [B, C_out, T_out].
               Tensor<T> dy = Tensor<T>::empty(Shape{p.out_channels, p.cols()});
               for (index_t n = 0; n < p.batch; ++n)
                   for (index_t o = 0; o < p.out_channels; ++o)
                       std::copy_n(g.data() + (n * p.out_channels + o) * p.out_length, p.out_length,
                                   dy.data() + o * p.cols() + n * p.out_length);
               ConstMatrix<T> dy_map(dy.data(), p.out_channels, p.cols());
               Tensor<T> dx, dw, db;
               if (w_needs) {
                   dw = Tensor<T>::empty(Shape{p.out_channels, p.in_channels, p.kernel});
                   gemm(p.out_channels, p.rows(), p.cols(), row_major(dy.data(), p.cols()),  // dW = dY colᵀ
                        row_major(col_saved.data(), p.cols(), true), dw.data(), p.rows(), false);
               }
               if (b_needs) {
                   db = Tensor<T>::empty(Shape{p.out_channels});
                   for (index_t o = 0; o < p.out_channels; ++o) db.data()[o] = dy_map.row(o).sum();
               }
               if (x_needs) {
                   Tensor<T> dcol = Tensor<T>::empty(Shape{p.rows(), p.cols()});
                   gemm(p.rows(), p.cols(), p.out_channels, row_major(w_saved.data(), p.rows(), true),  // dcol = Wᵀ dY
                        row_major(dy.data(), p.cols()), dcol.data(), p.cols(), false);
                   dx = Tensor<T>::zeros(Shape{p.batch, p.in_channels, p.length});
                   col2im_1d(dcol.data(), dx.data(), p);
               }
               return std::vector<Tensor<T>>{dx, dw, db};
           });
    return out;
}

}  // namespace detail

// y = conv1d(x, weight, bias) as torch.nn.functional.conv1d with groups = 1.
// x [B, C_in, T], weight [C_out, C_in, K], bias [C_out] or an undefined tensor
// for none; returns [B, C_out, T_out].
template <typename T>
Tensor<T> conv1d(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias = Tensor<T>(),
                 index_t stride = 1, index_t padding = 0, index_t dilation = 1) {
    return detail::conv1d_impl("loom::conv1d", x, weight, bias, stride, padding, padding, dilation);
}

// Causal convolution: (K−1)·dilation zeros on the left, none on the right,
// stride 1, so y has the input's length T and y[.., t] depends on x[.., ≤ t].
template <typename T>
Tensor<T> causal_conv1d(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias = Tensor<T>(),
                        index_t dilation = 1) {
    // (K−1)·dilation is only formed once the shapes and dilation are known to be valid.
    const bool shapes_ok = weight.defined() && weight.rank() == 3 && weight.shape()[2] >= 1 && dilation >= 1;
    const index_t pad = shapes_ok ? (weight.shape()[2] - 1) * dilation : 0;
    return detail::conv1d_impl("loom::causal_conv1d", x, weight, bias, 1, pad, 0, dilation);
}

}  // namespace loom
