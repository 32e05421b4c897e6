// loom/ops/rnn.hpp — one vanilla (Elman) RNN layer over a whole sequence.
//
// PyTorch's RNN with nonlinearity tanh or relu:
//   h_t = act(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)
// Backward through time, from t = T-1 down to 0:
//   da_t = dh ⊙ act'(a_t),  written with the output: tanh' = 1 - h_t², relu' = [h_t > 0]
//   dh_(t-1) = W_hhᵀ da_t                   (one GEMM per step)
// then dW_ih = dAᵀ X, dW_hh = dAᵀ H_prev, db_ih = db_hh = Σ dA, dX = dA W_ih.
#pragma once

#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/ops/recurrent_common.hpp"

namespace loom {

enum class RnnNonlinearity { tanh, relu };

namespace detail {

// a: [B, H] pre-activation in; h = act(a) out.
template <typename T>
void rnn_step_forward(ConstMatrixView<T> a, MatrixView<T> h, RnnNonlinearity nonlinearity) {
    if (nonlinearity == RnnNonlinearity::tanh) h.array() = a.array().tanh();
    else h.array() = a.array().max(T(0));
}

// h: the step's output; dh: dL/dh_t; da = dL/da_t out.
template <typename T>
void rnn_step_backward(ConstMatrixView<T> h, ConstMatrixView<T> dh, MatrixView<T> da, RnnNonlinearity nonlinearity) {
    if (nonlinearity == RnnNonlinearity::tanh) da.array() = dh.array() * (T(1) - h.array().square());
    else da.array() = (h.array() > T(0)).select(dh.array(), T(0));
}

}  // namespace detail

template <typename T>
struct RnnResult {
    Tensor<T> output;  // [B, T, H]
    Tensor<T> h_n;     // [B, H]
};

// x [B, T, I]; w_ih [H, I]; w_hh [H, H]; b_ih, b_hh [H] or undefined;
// h0 [B, H] or undefined (zeros); lengths: each row's number of real steps, or
// empty for all T (padded steps: recurrent_common.hpp).
template <typename T>
RnnResult<T> rnn(const Tensor<T>& x, const Tensor<T>& w_ih, const Tensor<T>& w_hh, const Tensor<T>& b_ih,
                 const Tensor<T>& b_hh, const Tensor<T>& h0 = Tensor<T>(),
                 RnnNonlinearity nonlinearity = RnnNonlinearity::tanh, const std::vector<index_t>& lengths = {}) {
    const detail::RecurrentDims d =
        detail::check_recurrent_args("loom::rnn", 1, x, w_ih, w_hh, b_ih, b_hh, h0, Tensor<T>());
    const detail::PaddedSteps padded("loom::rnn", lengths, d.batch, d.steps);
    const index_t B = d.batch, H = d.hidden, state = d.batch * d.hidden;

    const Tensor<T> x_time_major = detail::to_time_major(x);
    Tensor<T> pre = detail::input_projection(x_time_major, w_ih, b_ih, b_hh, d);  // [T·B, H]
    Tensor<T> hs = Tensor<T>::empty(Shape{d.steps + 1, B, H});                     // h_0 .. h_T
    hs.share_storage(Shape{B, H}).copy_(detail::initial_state(h0, d));
    const detail::RecurrentProduct<T> recurrent(w_hh, d.steps, true);  // a_t += h_(t-1) · W_hhᵀ

    for (index_t t = 0; t < d.steps; ++t) {
        detail::MatrixView<T> a_t(pre.data() + t * state, B, H);
        recurrent.accumulate(hs.data() + t * state, B, a_t.data());
        detail::rnn_step_forward<T>(detail::as_const(a_t), detail::MatrixView<T>(hs.data() + (t + 1) * state, B, H), nonlinearity);
        padded.hold_finished(t, hs.data() + t * state, hs.data() + (t + 1) * state, H);
    }

    RnnResult<T> result{detail::to_batch_major(hs.share_storage(Shape{d.steps, B, H}, state)),
                        hs.share_storage(Shape{B, H}, d.steps * state).clone()};
    padded.zero_padding(result.output.data(), d.steps, H);
    if (!needs_grad(std::vector<Tensor<T>>{x, w_ih, w_hh, b_ih, b_hh, h0})) return result;

    const detail::RecurrentNeeds needs{x.requires_grad(),    w_ih.requires_grad(), w_hh.requires_grad(),
                                       b_ih.requires_grad(), b_hh.requires_grad(), h0.requires_grad(),
                                       false};
    record_multi<T>(
        {&result.output, &result.h_n}, "rnn", {x, w_ih, w_hh, b_ih, b_hh, h0},
        [d, needs, nonlinearity, padded, x_time_major, hs, w_ih = w_ih.detach(),
         w_hh = w_hh.detach()](const std::vector<Tensor<T>>& grad_outputs) {
            const index_t B = d.batch, H = d.hidden, state = d.batch * d.hidden;
            Tensor<T> dh = grad_outputs[1].defined() ? grad_outputs[1].clone() : Tensor<T>::zeros(Shape{B, H});
            Tensor<T> da = Tensor<T>::empty(Shape{d.steps * B, H});
            auto dh_m = detail::as_matrix(dh, B, H);
            const detail::RecurrentProduct<T> recurrent(w_hh, d.steps, false);  // dh_(t-1) = da_t · W_hh
            Tensor<T> dh_held;  // finished rows' state gradients, carried across a padded step
            for (index_t t = d.steps - 1; t >= 0; --t) {
                if (padded.any_finished(t)) dh_held = dh.clone();
                detail::add_output_grad(grad_outputs[0], t, d, dh_m);
                detail::MatrixView<T> da_t(da.data() + t * state, B, H);
                detail::rnn_step_backward<T>(detail::ConstMatrixView<T>(hs.data() + (t + 1) * state, B, H), detail::as_const(dh_m),
                                             da_t, nonlinearity);
                padded.zero_finished(t, da_t.data(), H);
                dh_m.setZero();
                recurrent.accumulate(da_t.data(), B, dh.data());
                if (padded.any_finished(t)) padded.hold_finished(t, dh_held.data(), dh.data(), H);
            }
            std::vector<Tensor<T>> grads(6);
            const index_t rows = d.steps * B;
            if (needs.x) grads[0] = detail::input_grad(da, w_ih, d);
            if (needs.w_ih) grads[1] = detail::weight_grad(da, x_time_major, rows, H, d.input);
            if (needs.w_hh) grads[2] = detail::weight_grad(da, hs, rows, H, H);
            if (needs.b_ih || needs.b_hh) {
                const Tensor<T> db = detail::bias_grad(da, rows, H);
                if (needs.b_ih) grads[3] = db;
                if (needs.b_hh) grads[4] = db.clone();
            }
            if (needs.h0) grads[5] = dh;
            return grads;
        });
    return result;
}

namespace detail {
// h' = tanh(a) or relu(a) for hidden units [u0, u1), a = x W_ihᵀ + h W_hhᵀ + b [B, H].
template <typename T, typename Pre>
void rnn_step_cell(const Pre& pre_m, Tensor<T>& h_next, RnnNonlinearity nonlinearity, index_t u0, index_t u1) {
    const index_t B = pre_m.rows(), H = pre_m.cols(), count = u1 - u0;
    auto a = pre_m.middleCols(u0, count).array();
    auto out = as_matrix(h_next, B, H).middleCols(u0, count).array();
    if (nonlinearity == RnnNonlinearity::tanh) out = a.tanh();
    else out = a.max(T(0));
}
}  // namespace detail

// One step without autograd (see lstm_step_inference): x [B, I], h [B, H] ->
// h_next [B, H], with the hidden units split over threads.
template <typename T>
void rnn_step_inference(const Tensor<T>& x, const Tensor<T>& w_ih, const Tensor<T>& w_hh, const Tensor<T>& b_ih,
                        const Tensor<T>& b_hh, const Tensor<T>& h, Tensor<T>& h_next, RnnNonlinearity nonlinearity) {
    const index_t B = h.shape()[0], H = h.shape()[1];
    Tensor<T> pre = Tensor<T>::empty(Shape{B, H});
    auto pre_m = detail::as_matrix(pre, B, H);
    detail::for_unit_ranges(H, B * (w_ih.shape()[1] + H), [&](index_t u0, index_t u1) {
        detail::step_preactivation(x, w_ih, b_ih, h, w_hh, b_hh, 0, u0, u1, H, pre_m);
        detail::rnn_step_cell(pre_m, h_next, nonlinearity, u0, u1);
    });
}

}  // namespace loom
