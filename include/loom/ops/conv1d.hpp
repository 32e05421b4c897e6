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
// Computed as K shifted matrix products on the channels-last input
//   xt [B, T, C_in],   xt[n, j, c] = x[n, c, j]
// (x itself for the channels-last ops, a transposed copy otherwise). Output t of
// tap k reads row t·s + k·d − p_left of xt[n], so for one sequence n and one
// tap k the rows it reads form a plain strided matrix (row stride s·C_in):
//   A_nk [T_out, C_in],    A_nk[t, :] = xt[n, t·s + k·d − p_left, :]
// where rows that fall on padding are zero: the products simply skip those
// outputs for that tap (tap_rows), so padding costs neither memory nor time.
// and with W_k = W[:, :, k] [C_out, C_in] (a strided view of W):
//   Yt[n] = 1 bᵀ + Σ_k A_nk · W_kᵀ            Yt[n] [T_out, C_out],  y[n] = Yt[n]ᵀ
// Backward, with Gt[n] = g[n]ᵀ [T_out, C_out] (g = dL/dy):
//   dW_kᵀ = Σ_n A_nkᵀ · Gt[n]                [C_in, C_out]  (sums over batch and time)
//   db    = Σ_{n,t} Gt[n][t, :]
//   dxt[n] rows t·s + k·d − p_left += Gt[n] · W_k   (the rows A_nk was read from),
//   dx[n] = dxt[n], transposed back to [C_in, T] unless channels-last
// Compared with im2col (one GEMM on a [C_in·K, B·T_out] copy of the input with
// every tap written out), nothing is copied K times: the products read xt in
// place, W_k is packed once per call (packed_gemm.hpp), and the only copies are
// the transposes between [C, T] and channels-last (SIMD tiles), none at all
// for the channels-last ops.
// The sequences are independent, so threads take whole sequences (for dW,
// whole blocks of input channels, so the sums do not depend on the thread
// count). xt is kept for the backward only when the weight needs a gradient.
#pragma once

#include <algorithm>
#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/ops/gemm.hpp"
#include "loom/ops/packed_gemm.hpp"
#include "loom/tensor/parallel.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

namespace detail {

struct Conv1dPlan {
    index_t batch, in_channels, length, out_channels, kernel, out_length;
    index_t stride, pad_left, dilation;
    bool channels_last;  // x [B, T, C_in] and y [B, T_out, C_out] instead of [B, C, T]
};

// Sequences per parallel piece: enough that a piece has ~parallel_grain elements.
inline index_t conv1d_grain(const Conv1dPlan& p) {
    const index_t per_item = std::max<index_t>(1, p.in_channels * p.kernel * p.out_length);
    return std::max<index_t>(1, parallel_grain / per_item);
}

// The rows of tap k that read the input rather than padding: outputs t in
// [begin, end), those with 0 <= t·s + k·d − pad_left < T. The other outputs
// of this tap would multiply zeros, so the products skip them.
struct TapRows {
    index_t begin, end;
    index_t first_source;  // t·s + k·d − pad_left at t = begin
};

inline TapRows tap_rows(const Conv1dPlan& p, index_t k) {
    const index_t offset = k * p.dilation - p.pad_left;  // source row at t = 0
    index_t begin = offset >= 0 ? 0 : (-offset + p.stride - 1) / p.stride;
    const index_t room = p.length - offset;               // need t·s < room
    index_t end = room <= 0 ? 0 : std::min(p.out_length, (room + p.stride - 1) / p.stride);
    begin = std::min(begin, end);
    return {begin, end, begin * p.stride + offset};
}

template <typename T>
Tensor<T> conv1d_impl(const char* op, const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias,
                      index_t stride, index_t pad_left, index_t pad_right, index_t dilation, bool channels_last) {
    check(x.defined() && weight.defined(), op, ": input and weight must be defined tensors");
    check(x.rank() == 3, op, ": input must be ",
          channels_last ? "[batch, length, in_channels]" : "[batch, in_channels, length]", ", got shape ", x.shape());
    check(weight.rank() == 3, op, ": weight must be [out_channels, in_channels, kernel_size], got shape ",
          weight.shape());
    const Shape& xs = x.shape();
    const Shape& ws = weight.shape();
    const index_t in_channels = channels_last ? xs[2] : xs[1], length = channels_last ? xs[1] : xs[2];
    check(in_channels == ws[1], op, ": input has ", in_channels, " channels but weight expects ", ws[1], " (input ",
          xs, ", weight ", ws, ")");
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
    const index_t padded = length + pad_left + pad_right;
    check(padded >= span, op, ": input ", xs, " padded to length ", padded, " is shorter than the kernel's span ",
          span, " (weight ", ws, ", dilation ", dilation, ")");

    Conv1dPlan p{};
    p.batch = xs[0];
    p.in_channels = in_channels;
    p.length = length;
    p.channels_last = channels_last;
    p.out_channels = ws[0];
    p.kernel = ws[2];
    p.out_length = (padded - span) / stride + 1;
    p.stride = stride;
    p.pad_left = pad_left;
    p.dilation = dilation;

    const index_t C_in = p.in_channels, C_out = p.out_channels, K = p.kernel, T_out = p.out_length;
    const index_t tap_stride = p.stride * C_in;  // between rows of A_nk

    // xt: the input channels-last, [B, T, C_in].
    Tensor<T> xt = channels_last ? x.detach() : Tensor<T>::empty(Shape{p.batch, p.length, C_in});
    std::vector<PackedMatrix<T>> w_taps_t;  // W_kᵀ [C_in, C_out], W_kᵀ(c, o) = W[o, c, k]
    for (index_t k = 0; k < K; ++k) w_taps_t.push_back(PackedMatrix<T>::from({weight.data() + k, K, C_in * K}, C_in, C_out));
    Tensor<T> out = Tensor<T>::empty(channels_last ? Shape{p.batch, T_out, C_out} : Shape{p.batch, C_out, T_out});
    parallel_for(p.batch, conv1d_grain(p), [&](index_t first, index_t last) {
        std::vector<T> buffer(channels_last ? 0 : static_cast<std::size_t>(T_out * C_out));
        for (index_t n = first; n < last; ++n) {
            T* x_n = xt.data() + n * p.length * C_in;
            if (!channels_last) transpose_into(x.data() + n * C_in * p.length, C_in, p.length, p.length, x_n, C_in);
            // Yt[n]: the output itself when it is channels-last, else a buffer transposed at the end.
            T* yt = channels_last ? out.data() + n * T_out * C_out : buffer.data();
            bias_rows(bias.defined() ? bias.data() : nullptr, T_out, C_out, yt);
            for (index_t k = 0; k < K; ++k) {
                const TapRows rows = tap_rows(p, k);
                if (rows.end > rows.begin)
                    gemm_packed_accumulate(x_n + rows.first_source * C_in, rows.end - rows.begin, tap_stride, w_taps_t[k],
                                           yt + rows.begin * C_out, C_out);
            }
            if (!channels_last) transpose_into(yt, T_out, C_out, C_out, out.data() + n * C_out * T_out, T_out);
        }
    });

    if (!needs_grad(x, weight, bias)) return out;
    const bool x_needs = x.requires_grad();
    const bool w_needs = weight.requires_grad();
    const bool b_needs = bias.requires_grad();
    record(out, "conv1d", {x, weight, bias},
           [p, x_needs, w_needs, b_needs, xt_saved = w_needs ? xt : Tensor<T>(),
            w_saved = x_needs ? weight.detach() : Tensor<T>()](const Tensor<T>& g) {
               const index_t C_in = p.in_channels, C_out = p.out_channels, K = p.kernel, T_out = p.out_length;
               const index_t tap_stride = p.stride * C_in;
               // Gt[n] [T_out, C_out]: g itself when channels-last, else g[n]ᵀ.
               Tensor<T> gt = g;
               if (!p.channels_last) {
                   gt = Tensor<T>::empty(Shape{p.batch, T_out, C_out});
                   parallel_for(p.batch, conv1d_grain(p), [&](index_t first, index_t last) {
                       for (index_t n = first; n < last; ++n)
                           transpose_into(g.data() + n * C_out * T_out, C_out, T_out, T_out,
                                          gt.data() + n * T_out * C_out, C_out);
                   });
               }
               Tensor<T> dx, dw, db;
               if (w_needs) {  // dW_kᵀ = Σ_n A_nkᵀ Gt[n], threads split the input channels
                   Tensor<T> dw_t = Tensor<T>::zeros(Shape{K, C_in, C_out});
                   constexpr index_t P = PacketInfo<T>::panel_width;
                   const index_t panels = (C_out + P - 1) / P;
                   parallel_for(C_in, 8, [&](index_t c0, index_t c1) {
                       // Gt[n] is packed once and serves all K taps.
                       std::vector<T, Eigen::aligned_allocator<T>> packed(static_cast<std::size_t>(panels * T_out * P));
                       for (index_t n = 0; n < p.batch; ++n) {
                           pack_panels(row_major(gt.data() + n * T_out * C_out, C_out), 0, T_out, C_out, packed.data());
                           const T* x_n = xt_saved.data() + n * p.length * C_in;
                           for (index_t k = 0; k < K; ++k) {
                               const TapRows rows = tap_rows(p, k);  // the sum over t runs over these only
                               if (rows.end == rows.begin) continue;
                               const StridedMatrix<T> a_t{x_n + rows.first_source * C_in, 1, tap_stride};  // A_nkᵀ
                               for (index_t j = 0; j < panels; ++j)
                                   panel_rows_product(a_t, c0, c1, packed.data() + (j * T_out + rows.begin) * P,
                                                      rows.end - rows.begin, dw_t.data() + k * C_in * C_out + j * P,
                                                      C_out, std::min(P, C_out - j * P), true);
                           }
                       }
                   });
                   dw = Tensor<T>::empty(Shape{C_out, C_in, K});
                   for (index_t k = 0; k < K; ++k)
                       for (index_t c = 0; c < C_in; ++c)
                           for (index_t o = 0; o < C_out; ++o)
                               dw.data()[(o * C_in + c) * K + k] = dw_t.data()[(k * C_in + c) * C_out + o];
               }
               if (b_needs) {  // db = Σ_{n,t} Gt[n][t, :]
                   db = Tensor<T>::zeros(Shape{C_out});
                   add_column_sums(gt.data(), p.batch * T_out, C_out, db.data());
               }
               if (x_needs) {  // dxt[n] rows t·s + k·d − p_left += Gt[n] W_k, then dx[n] = dxt[n] (ᵀ)
                   std::vector<PackedMatrix<T>> w_taps;  // W_k [C_out, C_in], W_k(o, c) = W[o, c, k]
                   for (index_t k = 0; k < K; ++k)
                       w_taps.push_back(PackedMatrix<T>::from({w_saved.data() + k, C_in * K, K}, C_out, C_in));
                   dx = p.channels_last ? Tensor<T>::zeros(Shape{p.batch, p.length, C_in})
                                        : Tensor<T>::empty(Shape{p.batch, C_in, p.length});
                   parallel_for(p.batch, conv1d_grain(p), [&](index_t first, index_t last) {
                       std::vector<T> buffer(p.channels_last ? 0 : static_cast<std::size_t>(p.length * C_in));
                       for (index_t n = first; n < last; ++n) {
                           T* dxt = p.channels_last ? dx.data() + n * p.length * C_in : buffer.data();
                           if (!p.channels_last) std::fill(buffer.begin(), buffer.end(), T(0));
                           for (index_t k = 0; k < K; ++k) {
                               const TapRows rows = tap_rows(p, k);
                               if (rows.end == rows.begin) continue;
                               gemm_packed_accumulate(gt.data() + (n * T_out + rows.begin) * C_out, rows.end - rows.begin,
                                                      C_out, w_taps[k], dxt + rows.first_source * C_in, tap_stride);
                           }
                           if (!p.channels_last)
                               transpose_into(dxt, p.length, C_in, C_in, dx.data() + n * C_in * p.length, p.length);
                       }
                   });
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
    return detail::conv1d_impl("loom::conv1d", x, weight, bias, stride, padding, padding, dilation, false);
}

namespace detail {
// (K−1)·dilation, formed only once the shapes and dilation are known to be valid
// (the op's checks then report what is wrong).
template <typename T>
index_t causal_padding(const Tensor<T>& weight, index_t dilation) {
    const bool shapes_ok = weight.defined() && weight.rank() == 3 && weight.shape()[2] >= 1 && dilation >= 1;
    return shapes_ok ? (weight.shape()[2] - 1) * dilation : 0;
}
}  // namespace detail

// Causal convolution: (K−1)·dilation zeros on the left, none on the right,
// stride 1, so y has the input's length T and y[.., t] depends on x[.., ≤ t].
template <typename T>
Tensor<T> causal_conv1d(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias = Tensor<T>(),
                        index_t dilation = 1) {
    return detail::conv1d_impl("loom::causal_conv1d", x, weight, bias, 1, detail::causal_padding(weight, dilation), 0,
                               dilation, false);
}

// The same two ops on the channels-last layout of sequence models: x [B, T, C_in]
// -> [B, T_out, C_out], the same weight [C_out, C_in, K]. Equal to
// transpose(conv1d(transpose(x), ...)) without the two transposes (the
// computation is channels-last inside either way; see the top of the file).
template <typename T>
Tensor<T> conv1d_channels_last(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias = Tensor<T>(),
                               index_t stride = 1, index_t padding = 0, index_t dilation = 1) {
    return detail::conv1d_impl("loom::conv1d_channels_last", x, weight, bias, stride, padding, padding, dilation, true);
}

template <typename T>
Tensor<T> causal_conv1d_channels_last(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias = Tensor<T>(),
                                      index_t dilation = 1) {
    return detail::conv1d_impl("loom::causal_conv1d_channels_last", x, weight, bias, 1,
                               detail::causal_padding(weight, dilation), 0, dilation, true);
}

}  // namespace loom
