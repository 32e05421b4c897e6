// loom/ops/lstm.hpp — one LSTM layer over a whole sequence, with BPTT.
//
// PyTorch's LSTM, gate order i, f, g, o (rows of W_ih and W_hh in that order):
//   a_t = W_ih x_t + b_ih + W_hh h_(t-1) + b_hh           [4H] = [a_i a_f a_g a_o]
//   i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)
//   c_t = f ⊙ c_(t-1) + i ⊙ g
//   h_t = o ⊙ tanh(c_t)
// Backward through time, from t = T-1 down to 0, carrying dh and dc
// (dh = dL/dh_t: the output's gradient at t plus what step t+1 sent back):
//   dc  += dh ⊙ o ⊙ (1 - tanh² c_t)         (c_t reaches L through h_t too)
//   da_o = dh ⊙ tanh c_t ⊙ o (1 - o)
//   da_i = dc ⊙ g ⊙ i (1 - i)
//   da_f = dc ⊙ c_(t-1) ⊙ f (1 - f)
//   da_g = dc ⊙ i ⊙ (1 - g²)
//   dc_(t-1) = dc ⊙ f,     dh_(t-1) = W_hhᵀ da_t   (one GEMM per step)
// and, once the loop is done, the weight, bias and input gradients as single
// GEMMs over all steps (recurrent_common.hpp).
// lstm_gates_forward / lstm_gates_backward below are the fused per-step
// kernels; tests check them against the same cell written with composed ops.
#pragma once

#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/ops/recurrent_common.hpp"

namespace loom {

namespace detail {

// gates [B, 4H]: pre-activations in, activations (i, f, g, o) out.
// Computes c = f ⊙ c_prev + i ⊙ g, tanh_c = tanh(c), h = o ⊙ tanh_c.
template <typename T>
void lstm_gates_forward(MatrixView<T> gates, ConstMatrixView<T> c_prev, MatrixView<T> c, MatrixView<T> tanh_c,
                        MatrixView<T> h) {
    const index_t H = c.cols();
    auto i = gates.middleCols(0, H).array();
    auto f = gates.middleCols(H, H).array();
    auto g = gates.middleCols(2 * H, H).array();
    auto o = gates.middleCols(3 * H, H).array();
    i = i.logistic();
    f = f.logistic();
    g = g.tanh();
    o = o.logistic();
    c.array() = f * c_prev.array() + i * g;
    tanh_c.array() = c.array().tanh();
    h.array() = o * tanh_c.array();
}

// gates: the activations saved by the forward step. dh = dL/dh_t (read),
// dc = dL/dc_t (read, then overwritten with dL/dc_(t-1)), d_pre = dL/da_t.
template <typename T>
void lstm_gates_backward(ConstMatrixView<T> gates, ConstMatrixView<T> c_prev, ConstMatrixView<T> tanh_c,
                         ConstMatrixView<T> dh, MatrixView<T> dc, MatrixView<T> d_pre) {
    const index_t H = dc.cols();
    const auto i = gates.middleCols(0, H).array();
    const auto f = gates.middleCols(H, H).array();
    const auto g = gates.middleCols(2 * H, H).array();
    const auto o = gates.middleCols(3 * H, H).array();
    const auto tc = tanh_c.array();
    dc.array() += dh.array() * o * (T(1) - tc.square());
    d_pre.middleCols(0, H).array() = dc.array() * g * i * (T(1) - i);
    d_pre.middleCols(H, H).array() = dc.array() * c_prev.array() * f * (T(1) - f);
    d_pre.middleCols(2 * H, H).array() = dc.array() * i * (T(1) - g.square());
    d_pre.middleCols(3 * H, H).array() = dh.array() * tc * o * (T(1) - o);
    dc.array() *= f;
}

}  // namespace detail

template <typename T>
struct LstmResult {
    Tensor<T> output;  // [B, T, H]: h_t for every step
    Tensor<T> h_n;     // [B, H]: the last hidden state
    Tensor<T> c_n;     // [B, H]: the last cell state
};

// x [B, T, I]; w_ih [4H, I]; w_hh [4H, H]; b_ih, b_hh [4H] or undefined (no
// bias); h0, c0 [B, H] or undefined (zeros). lengths: each row's number of
// real steps, or empty for all T (padded steps: recurrent_common.hpp).
template <typename T>
LstmResult<T> lstm(const Tensor<T>& x, const Tensor<T>& w_ih, const Tensor<T>& w_hh, const Tensor<T>& b_ih,
                   const Tensor<T>& b_hh, const Tensor<T>& h0 = Tensor<T>(), const Tensor<T>& c0 = Tensor<T>(),
                   const std::vector<index_t>& lengths = {}) {
    const detail::RecurrentDims d = detail::check_recurrent_args("loom::lstm", 4, x, w_ih, w_hh, b_ih, b_hh, h0, c0);
    const detail::PaddedSteps padded("loom::lstm", lengths, d.batch, d.steps);
    const index_t B = d.batch, H = d.hidden, G = 4 * d.hidden, state = d.batch * d.hidden;

    const Tensor<T> x_time_major = detail::to_time_major(x);
    Tensor<T> gates = detail::input_projection(x_time_major, w_ih, b_ih, b_hh, d);  // [T·B, 4H]
    Tensor<T> hs = Tensor<T>::empty(Shape{d.steps + 1, B, H});             // h_0 .. h_T
    Tensor<T> cs = Tensor<T>::empty(Shape{d.steps + 1, B, H});             // c_0 .. c_T
    Tensor<T> tanh_cs = Tensor<T>::empty(Shape{d.steps, B, H});
    hs.share_storage(Shape{B, H}).copy_(detail::initial_state(h0, d));
    cs.share_storage(Shape{B, H}).copy_(detail::initial_state(c0, d));
    const detail::RecurrentProduct<T> recurrent(w_hh, d.steps, true);  // a_t += h_(t-1) · W_hhᵀ

    for (index_t t = 0; t < d.steps; ++t) {
        detail::MatrixView<T> gate_t(gates.data() + t * B * G, B, G);
        recurrent.accumulate(hs.data() + t * state, B, gate_t.data());
        detail::lstm_gates_forward<T>(gate_t, detail::ConstMatrixView<T>(cs.data() + t * state, B, H),
                              detail::MatrixView<T>(cs.data() + (t + 1) * state, B, H),
                              detail::MatrixView<T>(tanh_cs.data() + t * state, B, H),
                              detail::MatrixView<T>(hs.data() + (t + 1) * state, B, H));
        padded.hold_finished(t, hs.data() + t * state, hs.data() + (t + 1) * state, H);
        padded.hold_finished(t, cs.data() + t * state, cs.data() + (t + 1) * state, H);
    }

    LstmResult<T> result{detail::to_batch_major(hs.share_storage(Shape{d.steps, B, H}, state)),
                         hs.share_storage(Shape{B, H}, d.steps * state).clone(),
                         cs.share_storage(Shape{B, H}, d.steps * state).clone()};
    padded.zero_padding(result.output.data(), d.steps, H);
    if (!needs_grad(std::vector<Tensor<T>>{x, w_ih, w_hh, b_ih, b_hh, h0, c0})) return result;

    const detail::RecurrentNeeds needs{x.requires_grad(),    w_ih.requires_grad(), w_hh.requires_grad(), b_ih.requires_grad(),
                               b_hh.requires_grad(), h0.requires_grad(),   c0.requires_grad()};
    record_multi<T>(
        {&result.output, &result.h_n, &result.c_n}, "lstm", {x, w_ih, w_hh, b_ih, b_hh, h0, c0},
        [d, needs, padded, x_time_major, gates, hs, cs, tanh_cs, w_ih = w_ih.detach(),
         w_hh = w_hh.detach()](const std::vector<Tensor<T>>& grad_outputs) {
            const index_t B = d.batch, H = d.hidden, G = 4 * d.hidden, state = d.batch * d.hidden;
            Tensor<T> dh = grad_outputs[1].defined() ? grad_outputs[1].clone() : Tensor<T>::zeros(Shape{B, H});
            Tensor<T> dc = grad_outputs[2].defined() ? grad_outputs[2].clone() : Tensor<T>::zeros(Shape{B, H});
            Tensor<T> d_pre = Tensor<T>::empty(Shape{d.steps * B, G});
            auto dh_m = detail::as_matrix(dh, B, H);
            auto dc_m = detail::as_matrix(dc, B, H);
            const detail::RecurrentProduct<T> recurrent(w_hh, d.steps, false);  // dh_(t-1) = da_t · W_hh
            Tensor<T> dh_held, dc_held;  // finished rows' state gradients, carried across a padded step
            for (index_t t = d.steps - 1; t >= 0; --t) {
                if (padded.any_finished(t)) dh_held = dh.clone(), dc_held = dc.clone();
                detail::add_output_grad(grad_outputs[0], t, d, dh_m);
                detail::MatrixView<T> d_pre_t(d_pre.data() + t * B * G, B, G);
                detail::lstm_gates_backward<T>(detail::ConstMatrixView<T>(gates.data() + t * B * G, B, G),
                                       detail::ConstMatrixView<T>(cs.data() + t * state, B, H),
                                       detail::ConstMatrixView<T>(tanh_cs.data() + t * state, B, H), detail::as_const(dh_m), dc_m, d_pre_t);
                padded.zero_finished(t, d_pre_t.data(), G);
                dh_m.setZero();
                recurrent.accumulate(d_pre_t.data(), B, dh.data());  // dh_(t-1) = W_hhᵀ da_t, for all B rows
                if (padded.any_finished(t)) {
                    padded.hold_finished(t, dh_held.data(), dh.data(), H);
                    padded.hold_finished(t, dc_held.data(), dc.data(), H);
                }
            }
            std::vector<Tensor<T>> grads(7);
            const index_t rows = d.steps * B;
            if (needs.x) grads[0] = detail::input_grad(d_pre, w_ih, d);
            if (needs.w_ih) grads[1] = detail::weight_grad(d_pre, x_time_major, rows, G, d.input);
            if (needs.w_hh) grads[2] = detail::weight_grad(d_pre, hs, rows, G, H);  // hs rows 0..T-1 = h_(t-1)
            if (needs.b_ih || needs.b_hh) {
                const Tensor<T> db = detail::bias_grad(d_pre, rows, G);
                if (needs.b_ih) grads[3] = db;
                if (needs.b_hh) grads[4] = db.clone();
            }
            if (needs.h0) grads[5] = dh;
            if (needs.c0) grads[6] = dc;
            return grads;
        });
    return result;
}

namespace detail {
// The cell update of one step for hidden units [u0, u1), from the gate
// pre-activations pre [B, 4H] (i, f, g, o blocks): c' = σ(f)⊙c + σ(i)⊙tanh(g),
// h' = σ(o)⊙tanh(c').
template <typename T, typename Pre>
void lstm_step_cell(const Pre& pre, const Tensor<T>& c, Tensor<T>& c_next, Tensor<T>& h_next, index_t u0, index_t u1) {
    const index_t B = pre.rows(), H = pre.cols() / 4, count = u1 - u0;
    auto i = pre.middleCols(u0, count).array().logistic();
    auto f = pre.middleCols(H + u0, count).array().logistic();
    auto g = pre.middleCols(2 * H + u0, count).array().tanh();
    auto o = pre.middleCols(3 * H + u0, count).array().logistic();
    auto c_new = as_matrix(c_next, B, H).middleCols(u0, count).array();
    c_new = f * as_matrix(c, B, H).middleCols(u0, count).array() + i * g;
    as_matrix(h_next, B, H).middleCols(u0, count).array() = o * c_new.tanh();
}
}  // namespace detail

// One step without autograd, for generation and other inference: the
// arithmetic of lstm() with T = 1, reading x [B, I], h and c [B, H] and writing
// the new states to h_next and c_next. The hidden units are split over threads;
// each computes the four gate pre-activations of its units (its slices of W_ih
// and W_hh, which then stay in its core's cache from step to step), then its
// part of c and h.
template <typename T>
void lstm_step_inference(const Tensor<T>& x, const Tensor<T>& w_ih, const Tensor<T>& w_hh, const Tensor<T>& b_ih,
                         const Tensor<T>& b_hh, const Tensor<T>& h, const Tensor<T>& c, Tensor<T>& h_next,
                         Tensor<T>& c_next) {
    const index_t B = h.shape()[0], H = h.shape()[1], G = 4 * H;
    Tensor<T> pre = Tensor<T>::empty(Shape{B, G});
    auto pre_m = detail::as_matrix(pre, B, G);
    detail::for_unit_ranges(H, 4 * B * (w_ih.shape()[1] + H), [&](index_t u0, index_t u1) {
        for (index_t block = 0; block < 4; ++block)
            detail::step_preactivation(x, w_ih, b_ih, h, w_hh, b_hh, block, u0, u1, H, pre_m);
        detail::lstm_step_cell(pre_m, c, c_next, h_next, u0, u1);
    });
}

// The weights of one layer packed once for lstm_step_packed (a copy: it does
// not follow later changes to the layer's tensors).
template <typename T>
struct LstmPackedLayer {
    detail::PackedMatrix<T> w_ih_t = detail::PackedMatrix<T>::empty();  // W_ihᵀ [I, 4H]
    detail::PackedMatrix<T> w_hh_t = detail::PackedMatrix<T>::empty();  // W_hhᵀ [H, 4H]
    std::vector<T> bias;                                                // b_ih + b_hh [4H], or empty
};

template <typename T>
LstmPackedLayer<T> pack_lstm_layer(const Tensor<T>& w_ih, const Tensor<T>& w_hh, const Tensor<T>& b_ih,
                                   const Tensor<T>& b_hh) {
    const index_t G = w_hh.shape()[0], H = w_hh.shape()[1], I = w_ih.shape()[1];
    LstmPackedLayer<T> packed;
    packed.w_ih_t = detail::PackedMatrix<T>::transposed(w_ih.data(), G, I);
    packed.w_hh_t = detail::PackedMatrix<T>::transposed(w_hh.data(), G, H);
    if (b_ih.defined() || b_hh.defined()) {
        packed.bias.assign(static_cast<std::size_t>(G), T(0));
        for (const Tensor<T>* b : {&b_ih, &b_hh})
            if (b->defined())
                for (index_t j = 0; j < G; ++j) packed.bias[static_cast<std::size_t>(j)] += b->data()[j];
    }
    return packed;
}

// lstm_step_inference with pre-packed weights, for a batch of several rows (beam
// search, batched sampling): Eigen's GEMM would re-pack the weight matrices at
// every step, reading them twice and writing them once; here every step reads
// the packed panels once and the register-blocked kernel of packed_gemm.hpp
// reuses each panel row for all rows of the batch. The panels are split over
// threads; the gates then run over the hidden units.
template <typename T>
void lstm_step_packed(const Tensor<T>& x, const LstmPackedLayer<T>& packed, const Tensor<T>& h, const Tensor<T>& c,
                      Tensor<T>& h_next, Tensor<T>& c_next) {
    const index_t B = h.shape()[0], H = h.shape()[1], G = 4 * H, I = x.shape()[1];
    Tensor<T> pre = Tensor<T>::empty(Shape{B, G});
    auto pre_m = detail::as_matrix(pre, B, G);
    if (packed.bias.empty()) pre_m.setZero();
    else pre_m.rowwise() = detail::ConstMatrixView<T>(packed.bias.data(), 1, G).row(0);
    // A step streams the weights from memory: split even one row's product
    // over threads (each keeps reading the same panels, from its own cache).
    constexpr index_t min_work_per_thread = index_t{1} << 13;
    detail::gemm_packed_accumulate(x.data(), B, I, packed.w_ih_t, pre.data(), G, min_work_per_thread);
    detail::gemm_packed_accumulate(h.data(), B, H, packed.w_hh_t, pre.data(), G, min_work_per_thread);
    detail::lstm_step_cell(pre_m, c, c_next, h_next, 0, H);
}

}  // namespace loom
