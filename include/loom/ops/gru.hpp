// loom/ops/gru.hpp — one GRU layer over a whole sequence, with BPTT.
//
// PyTorch's GRU, gate order r, z, n (rows of W_ih and W_hh in that order):
//   x-part  p = W_ih x_t + b_ih          h-part  q = W_hh h_(t-1) + b_hh   [3H]
//   r = σ(p_r + q_r)      z = σ(p_z + q_z)
//   n = tanh(p_n + r ⊙ q_n)                  (the reset gate scales q_n only)
//   h_t = (1 - z) ⊙ n + z ⊙ h_(t-1)
// Because r multiplies q_n, the x-part and h-part stay separate: p for all
// steps is one GEMM, q is one GEMM per step. Backward, from t = T-1 down to 0:
//   dn = dh ⊙ (1 - z)          dz = dh ⊙ (h_(t-1) - n)
//   da_n = dn ⊙ (1 - n²)       (the gradient of p_n + r ⊙ q_n)
//   dp_n = da_n                dq_n = da_n ⊙ r          dr = da_n ⊙ q_n
//   dp_r = dq_r = dr ⊙ r (1 - r)
//   dp_z = dq_z = dz ⊙ z (1 - z)
//   dh_(t-1) = dh ⊙ z + W_hhᵀ dq          (one GEMM per step)
// then dW_ih = dPᵀ X, dW_hh = dQᵀ H_prev, db_ih = Σ dP, db_hh = Σ dQ, dX = dP W_ih.
#pragma once

#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/ops/recurrent_common.hpp"

namespace loom {

namespace detail {

// p: [B, 3H] x-part (read); q: [B, 3H] h-part (read);
// gates: [B, 3H] out (r, z, n); h = (1 - z) ⊙ n + z ⊙ h_prev.
template <typename T>
void gru_gates_forward(ConstMatrixView<T> p, ConstMatrixView<T> q, ConstMatrixView<T> h_prev, MatrixView<T> gates,
                       MatrixView<T> h) {
    const index_t H = h.cols();
    auto r = gates.middleCols(0, H).array();
    auto z = gates.middleCols(H, H).array();
    auto n = gates.middleCols(2 * H, H).array();
    r = (p.middleCols(0, H).array() + q.middleCols(0, H).array()).logistic();
    z = (p.middleCols(H, H).array() + q.middleCols(H, H).array()).logistic();
    n = (p.middleCols(2 * H, H).array() + r * q.middleCols(2 * H, H).array()).tanh();
    h.array() = (T(1) - z) * n + z * h_prev.array();
}

// dh: dL/dh_t in, dL/dh_(t-1) out except the W_hhᵀ dq term (added by the caller).
// dp, dq: [B, 3H] out.
template <typename T>
void gru_gates_backward(ConstMatrixView<T> gates, ConstMatrixView<T> q, ConstMatrixView<T> h_prev, MatrixView<T> dh,
                        MatrixView<T> dp, MatrixView<T> dq) {
    const index_t H = dh.cols();
    const auto r = gates.middleCols(0, H).array();
    const auto z = gates.middleCols(H, H).array();
    const auto n = gates.middleCols(2 * H, H).array();
    const auto q_n = q.middleCols(2 * H, H).array();
    auto da_n = dp.middleCols(2 * H, H).array();
    da_n = dh.array() * (T(1) - z) * (T(1) - n.square());
    dq.middleCols(2 * H, H).array() = da_n * r;
    dp.middleCols(0, H).array() = da_n * q_n * r * (T(1) - r);
    dp.middleCols(H, H).array() = dh.array() * (h_prev.array() - n) * z * (T(1) - z);
    dq.middleCols(0, 2 * H) = dp.middleCols(0, 2 * H);
    dh.array() *= z;
}

}  // namespace detail

template <typename T>
struct GruResult {
    Tensor<T> output;  // [B, T, H]
    Tensor<T> h_n;     // [B, H]
};

// x [B, T, I]; w_ih [3H, I]; w_hh [3H, H]; b_ih, b_hh [3H] or undefined;
// h0 [B, H] or undefined (zeros); lengths: each row's number of real steps, or
// empty for all T (padded steps: recurrent_common.hpp).
template <typename T>
GruResult<T> gru(const Tensor<T>& x, const Tensor<T>& w_ih, const Tensor<T>& w_hh, const Tensor<T>& b_ih,
                 const Tensor<T>& b_hh, const Tensor<T>& h0 = Tensor<T>(), const std::vector<index_t>& lengths = {}) {
    const detail::RecurrentDims d =
        detail::check_recurrent_args("loom::gru", 3, x, w_ih, w_hh, b_ih, b_hh, h0, Tensor<T>());
    const detail::PaddedSteps padded("loom::gru", lengths, d.batch, d.steps);
    const index_t B = d.batch, H = d.hidden, G = 3 * d.hidden, state = d.batch * d.hidden;

    const Tensor<T> x_time_major = detail::to_time_major(x);
    const Tensor<T> p = detail::input_projection(x_time_major, w_ih, b_ih, Tensor<T>(), d);  // [T·B, 3H]
    Tensor<T> q = Tensor<T>::empty(Shape{d.steps * B, G});                                   // h-parts
    Tensor<T> gates = Tensor<T>::empty(Shape{d.steps * B, G});                               // r, z, n
    Tensor<T> hs = Tensor<T>::empty(Shape{d.steps + 1, B, H});                                // h_0 .. h_T
    hs.share_storage(Shape{B, H}).copy_(detail::initial_state(h0, d));
    const detail::RecurrentProduct<T> recurrent(w_hh, d.steps, true);  // q_t = h_(t-1) · W_hhᵀ + b_hh

    for (index_t t = 0; t < d.steps; ++t) {
        detail::MatrixView<T> q_t(q.data() + t * B * G, B, G);
        const detail::ConstMatrixView<T> h_prev(hs.data() + t * state, B, H);
        // Each row starts as b_hh (a copy per row: Eigen's replicate() computes a
        // modulo per element, which cost a tenth of the whole training step).
        detail::bias_rows(b_hh.defined() ? b_hh.data() : nullptr, B, G, q_t.data());
        recurrent.accumulate(h_prev.data(), B, q_t.data());
        detail::gru_gates_forward<T>(detail::ConstMatrixView<T>(p.data() + t * B * G, B, G), detail::as_const(q_t), h_prev,
                                     detail::MatrixView<T>(gates.data() + t * B * G, B, G),
                                     detail::MatrixView<T>(hs.data() + (t + 1) * state, B, H));
        padded.hold_finished(t, hs.data() + t * state, hs.data() + (t + 1) * state, H);
    }

    GruResult<T> result{detail::to_batch_major(hs.share_storage(Shape{d.steps, B, H}, state)),
                        hs.share_storage(Shape{B, H}, d.steps * state).clone()};
    padded.zero_padding(result.output.data(), d.steps, H);
    if (!needs_grad(std::vector<Tensor<T>>{x, w_ih, w_hh, b_ih, b_hh, h0})) return result;

    const detail::RecurrentNeeds needs{x.requires_grad(),    w_ih.requires_grad(), w_hh.requires_grad(),
                                       b_ih.requires_grad(), b_hh.requires_grad(), h0.requires_grad(),
                                       false};
    record_multi<T>(
        {&result.output, &result.h_n}, "gru", {x, w_ih, w_hh, b_ih, b_hh, h0},
        [d, needs, padded, x_time_major, q, gates, hs, w_ih = w_ih.detach(),
         w_hh = w_hh.detach()](const std::vector<Tensor<T>>& grad_outputs) {
            const index_t B = d.batch, H = d.hidden, G = 3 * d.hidden, state = d.batch * d.hidden;
            Tensor<T> dh = grad_outputs[1].defined() ? grad_outputs[1].clone() : Tensor<T>::zeros(Shape{B, H});
            Tensor<T> dp = Tensor<T>::empty(Shape{d.steps * B, G});
            Tensor<T> dq = Tensor<T>::empty(Shape{d.steps * B, G});
            auto dh_m = detail::as_matrix(dh, B, H);
            const detail::RecurrentProduct<T> recurrent(w_hh, d.steps, false);  // dh_(t-1) += dq_t · W_hh
            Tensor<T> dh_held;  // finished rows' state gradients, carried across a padded step
            for (index_t t = d.steps - 1; t >= 0; --t) {
                if (padded.any_finished(t)) dh_held = dh.clone();
                detail::add_output_grad(grad_outputs[0], t, d, dh_m);
                detail::MatrixView<T> dq_t(dq.data() + t * B * G, B, G);
                detail::gru_gates_backward<T>(detail::ConstMatrixView<T>(gates.data() + t * B * G, B, G),
                                              detail::ConstMatrixView<T>(q.data() + t * B * G, B, G),
                                              detail::ConstMatrixView<T>(hs.data() + t * state, B, H), dh_m,
                                              detail::MatrixView<T>(dp.data() + t * B * G, B, G), dq_t);
                padded.zero_finished(t, dp.data() + t * B * G, G);
                padded.zero_finished(t, dq_t.data(), G);
                recurrent.accumulate(dq_t.data(), B, dh.data());
                if (padded.any_finished(t)) padded.hold_finished(t, dh_held.data(), dh.data(), H);
            }
            std::vector<Tensor<T>> grads(6);
            const index_t rows = d.steps * B;
            if (needs.x) grads[0] = detail::input_grad(dp, w_ih, d);
            if (needs.w_ih) grads[1] = detail::weight_grad(dp, x_time_major, rows, G, d.input);
            if (needs.w_hh) grads[2] = detail::weight_grad(dq, hs, rows, G, H);
            if (needs.b_ih) grads[3] = detail::bias_grad(dp, rows, G);
            if (needs.b_hh) grads[4] = detail::bias_grad(dq, rows, G);
            if (needs.h0) grads[5] = dh;
            return grads;
        });
    return result;
}

namespace detail {
// The state update of one step for hidden units [u0, u1), from the input part
// p = x W_ihᵀ + b_ih and the recurrent part q = h W_hhᵀ + b_hh [B, 3H] (r, z, n):
// r = σ(p_r + q_r), z = σ(p_z + q_z), n = tanh(p_n + r⊙q_n), h' = (1 − z)⊙n + z⊙h.
template <typename T, typename Pre>
void gru_step_cell(const Pre& p_m, const Pre& q_m, const Tensor<T>& h, Tensor<T>& h_next, index_t u0, index_t u1) {
    const index_t B = p_m.rows(), H = p_m.cols() / 3, count = u1 - u0;
    auto r = (p_m.middleCols(u0, count).array() + q_m.middleCols(u0, count).array()).logistic();
    auto z = (p_m.middleCols(H + u0, count).array() + q_m.middleCols(H + u0, count).array()).logistic().eval();
    auto n = (p_m.middleCols(2 * H + u0, count).array() + r * q_m.middleCols(2 * H + u0, count).array()).tanh();
    as_matrix(h_next, B, H).middleCols(u0, count).array() =
        (T(1) - z) * n + z * as_matrix(h, B, H).middleCols(u0, count).array();
}
}  // namespace detail

// One step without autograd (see lstm_step_inference): x [B, I], h [B, H] ->
// h_next [B, H], with the hidden units split over threads.
template <typename T>
void gru_step_inference(const Tensor<T>& x, const Tensor<T>& w_ih, const Tensor<T>& w_hh, const Tensor<T>& b_ih,
                        const Tensor<T>& b_hh, const Tensor<T>& h, Tensor<T>& h_next) {
    const index_t B = h.shape()[0], H = h.shape()[1], G = 3 * H;
    Tensor<T> p = Tensor<T>::empty(Shape{B, G}), q = Tensor<T>::empty(Shape{B, G});
    auto p_m = detail::as_matrix(p, B, G);
    auto q_m = detail::as_matrix(q, B, G);
    detail::for_unit_ranges(H, 3 * B * (w_ih.shape()[1] + H), [&](index_t u0, index_t u1) {
        for (index_t block = 0; block < 3; ++block) {
            detail::step_preactivation(x, w_ih, b_ih, Tensor<T>(), w_hh, Tensor<T>(), block, u0, u1, H, p_m);
            detail::step_preactivation(Tensor<T>(), w_ih, Tensor<T>(), h, w_hh, b_hh, block, u0, u1, H, q_m);
        }
        detail::gru_step_cell(p_m, q_m, h, h_next, u0, u1);
    });
}

}  // namespace loom
