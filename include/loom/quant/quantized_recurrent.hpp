// loom/quant/quantized_recurrent.hpp — one inference step of an RNN, LSTM or
// GRU layer whose W_ih and W_hh are quantized (quantized_matrix.hpp); the
// biases and the state stay in T.
//
// The same equations as the fp32 steps (ops/lstm.hpp, gru.hpp, rnn.hpp), with
// the two products done by quantized_gemm:
//   p = x W_ihᵀ + b_ih,  q = h W_hhᵀ + b_hh            ([B, G·H])
//   LSTM  (i, f, g, o) = p + q;  c' = σ(f)⊙c + σ(i)⊙tanh(g);  h' = σ(o)⊙tanh(c')
//   GRU   r = σ(p_r + q_r), z = σ(p_z + q_z), n = tanh(p_n + r⊙q_n), h' = (1 − z)⊙n + z⊙h
//   RNN   h' = tanh(p + q) (or relu)
// x and h are quantized separately (int8 gives each row of each its own
// scale), since the embedding's range and the state's [−1, 1] differ.
#pragma once

#include "loom/ops/gru.hpp"
#include "loom/ops/lstm.hpp"
#include "loom/ops/rnn.hpp"
#include "loom/quant/quantized_linear.hpp"

namespace loom {

// A layer's two quantized matrices (and its fp32 biases, undefined without bias).
template <typename T>
struct QuantizedRecurrentWeights {
    const QuantizedMatrix* w_ih = nullptr;  // [G·H, I]
    const QuantizedMatrix* w_hh = nullptr;  // [G·H, H]
    Tensor<T> b_ih, b_hh;
};

namespace detail {
// out [B, G·H] = rows [B, ·] · Wᵀ + bias (+ out if accumulating).
template <typename T>
void quantized_part(const Tensor<T>& rows, const QuantizedMatrix& w, const Tensor<T>& bias, Tensor<T>& out,
                    bool accumulate) {
    quantized_rows(rows.data(), rows.shape()[0], w, bias.defined() ? bias.data() : nullptr, out.data(), accumulate);
}
}  // namespace detail

template <typename T>
void lstm_step_quantized(const Tensor<T>& x, const QuantizedRecurrentWeights<T>& w, const Tensor<T>& h,
                         const Tensor<T>& c, Tensor<T>& h_next, Tensor<T>& c_next) {
    const index_t B = h.shape()[0], H = h.shape()[1];
    Tensor<T> pre = Tensor<T>::empty(Shape{B, 4 * H});
    detail::quantized_part(x, *w.w_ih, w.b_ih, pre, false);
    detail::quantized_part(h, *w.w_hh, w.b_hh, pre, true);
    detail::lstm_step_cell(detail::as_matrix(pre, B, 4 * H), c, c_next, h_next, 0, H);
}

template <typename T>
void gru_step_quantized(const Tensor<T>& x, const QuantizedRecurrentWeights<T>& w, const Tensor<T>& h,
                        Tensor<T>& h_next) {
    const index_t B = h.shape()[0], H = h.shape()[1];
    Tensor<T> p = Tensor<T>::empty(Shape{B, 3 * H}), q = Tensor<T>::empty(Shape{B, 3 * H});
    detail::quantized_part(x, *w.w_ih, w.b_ih, p, false);
    detail::quantized_part(h, *w.w_hh, w.b_hh, q, false);
    detail::gru_step_cell(detail::as_matrix(p, B, 3 * H), detail::as_matrix(q, B, 3 * H), h, h_next, 0, H);
}

template <typename T>
void rnn_step_quantized(const Tensor<T>& x, const QuantizedRecurrentWeights<T>& w, const Tensor<T>& h,
                        Tensor<T>& h_next, RnnNonlinearity nonlinearity) {
    const index_t B = h.shape()[0], H = h.shape()[1];
    Tensor<T> pre = Tensor<T>::empty(Shape{B, H});
    detail::quantized_part(x, *w.w_ih, w.b_ih, pre, false);
    detail::quantized_part(h, *w.w_hh, w.b_hh, pre, true);
    detail::rnn_step_cell(detail::as_matrix(pre, B, H), h_next, nonlinearity, 0, H);
}

}  // namespace loom
