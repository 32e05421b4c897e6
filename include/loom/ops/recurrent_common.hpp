// loom/ops/recurrent_common.hpp — what the recurrent sequence ops (rnn, lstm,
// gru) share: argument checks, the time-major layout and the big GEMMs.
//
// Layers take batch-first input x [B, T, I] like PyTorch's batch_first=True.
// Inside, the ops work time-major, [T, B, ·], so that the B rows of one time step
// are contiguous: step t's pre-activations are one [B, G·H] block and its
// recurrent product h_(t-1) · W_hhᵀ is one GEMM into that block.
//
// The work that does not depend on the recurrence is done for all T steps at
// once, as single GEMMs over T·B rows:
//   forward   A_x  = X · W_ihᵀ (+ biases)             [T·B, G·H]
//   backward  dW_ih = dAᵀ · X,   dX = dA · W_ih,   dW_hh = dAᵀ · H_prev
// leaving only one [B, H] × [H, G·H] product per step inside the time loop.
#pragma once

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "loom/ops/matmul.hpp"
#include "loom/ops/packed_gemm.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom::detail {

template <typename T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using MatrixView = Eigen::Map<RowMatrix<T>>;
template <typename T>
using ConstMatrixView = Eigen::Map<const RowMatrix<T>>;

template <typename T>
ConstMatrixView<T> as_matrix(const Tensor<T>& t, index_t rows, index_t cols) {
    return ConstMatrixView<T>(t.data(), rows, cols);
}
template <typename T>
MatrixView<T> as_matrix(Tensor<T>& t, index_t rows, index_t cols) {
    return MatrixView<T>(t.data(), rows, cols);
}

// A read-only view of the same block (Eigen does not convert the two Map types).
template <typename T>
ConstMatrixView<T> as_const(const MatrixView<T>& m) {
    return ConstMatrixView<T>(m.data(), m.rows(), m.cols());
}

// [A, B, X] -> [B, A, X]: swaps the first two axes (batch-first <-> time-major).
template <typename T>
void swap_leading_axes(const T* source, T* target, index_t a, index_t b, index_t width) {
    for (index_t i = 0; i < a; ++i)
        for (index_t j = 0; j < b; ++j) {
            const T* from = source + (i * b + j) * width;
            std::copy(from, from + width, target + (j * a + i) * width);
        }
}

template <typename T>
Tensor<T> to_time_major(const Tensor<T>& x) {  // [B, T, X] -> [T, B, X]
    Tensor<T> out = Tensor<T>::empty(Shape{x.shape()[1], x.shape()[0], x.shape()[2]});
    swap_leading_axes(x.data(), out.data(), x.shape()[0], x.shape()[1], x.shape()[2]);
    return out;
}
template <typename T>
Tensor<T> to_batch_major(const Tensor<T>& x) {  // [T, B, X] -> [B, T, X]
    return to_time_major(x);                    // the same swap
}

// Shapes of one recurrent layer: G gate blocks of H units each.
struct RecurrentDims {
    index_t batch, steps, input, hidden, gates;
};

template <typename T>
RecurrentDims check_recurrent_args(const char* op, index_t gates, const Tensor<T>& x, const Tensor<T>& w_ih,
                                   const Tensor<T>& w_hh, const Tensor<T>& b_ih, const Tensor<T>& b_hh,
                                   const Tensor<T>& h0, const Tensor<T>& c0) {
    check(x.rank() == 3, op, ": input must be [batch, steps, input_size], got shape ", x.shape());
    check(w_hh.rank() == 2 && w_hh.shape()[0] % gates == 0 && w_hh.shape()[1] * gates == w_hh.shape()[0], op,
          ": weight_hh must be [", gates, "·hidden, hidden], got shape ", w_hh.shape());
    RecurrentDims d{x.shape()[0], x.shape()[1], x.shape()[2], w_hh.shape()[1], gates};
    check(d.batch >= 1 && d.steps >= 1, op, ": input needs at least one sequence and one step, got shape ", x.shape());
    const Shape state{d.batch, d.hidden};
    check(w_ih.shape() == Shape{gates * d.hidden, d.input}, op, ": weight_ih must be [", gates * d.hidden, ", ",
          d.input, "] for input ", x.shape(), " and hidden size ", d.hidden, ", got ", w_ih.shape());
    // (The message arguments are evaluated even when the check passes, so an
    // undefined bias must not be asked for its shape there.)
    for (const Tensor<T>* bias : {&b_ih, &b_hh})
        if (bias->defined())
            check(bias->shape() == Shape{gates * d.hidden}, op, ": biases must be [", gates * d.hidden, "], got ",
                  bias->shape());
    check(!h0.defined() || h0.shape() == state, op, ": initial hidden state must be ", state, ", got ",
          h0.defined() ? h0.shape().to_string() : std::string());
    check(!c0.defined() || c0.shape() == state, op, ": initial cell state must be ", state, ", got ",
          c0.defined() ? c0.shape().to_string() : std::string());
    return d;
}

// A = X · W_ihᵀ + bias_a + bias_b  ([T·B, G·H]); undefined biases are skipped.
template <typename T>
Tensor<T> input_projection(const Tensor<T>& x_time_major, const Tensor<T>& w_ih, const Tensor<T>& bias_a,
                           const Tensor<T>& bias_b, const RecurrentDims& d) {
    const index_t rows = d.steps * d.batch;
    const index_t width = d.gates * d.hidden;
    Tensor<T> projected = Tensor<T>::empty(Shape{rows, width});
    gemm(rows, width, d.input, row_major(x_time_major.data(), d.input), row_major(w_ih.data(), d.input, true),
         projected.data(), width, false);
    auto out = as_matrix(projected, rows, width);
    for (const Tensor<T>* bias : {&bias_a, &bias_b})
        if (bias->defined()) out.rowwise() += as_matrix(*bias, 1, width).row(0);
    return projected;
}

// The initial state, or zeros when none was given.
template <typename T>
Tensor<T> initial_state(const Tensor<T>& given, const RecurrentDims& d) {
    return given.defined() ? given.clone() : Tensor<T>::zeros(Shape{d.batch, d.hidden});
}

// Gradients of the weights and input from the stacked pre-activation grads:
//   dW_ih = dA_xᵀ · X     dX = dA_x · W_ih     db = Σ_rows dA
//   dW_hh = dA_hᵀ · H_prev (H_prev = [h_0, ..., h_(T-1)] stacked, [T·B, H])
struct RecurrentNeeds {
    bool x, w_ih, w_hh, b_ih, b_hh, h0, c0;
};

template <typename T>
Tensor<T> weight_grad(const Tensor<T>& d_pre, const Tensor<T>& inputs, index_t rows, index_t width, index_t cols) {
    Tensor<T> grad = Tensor<T>::empty(Shape{width, cols});
    gemm(width, cols, rows, row_major(d_pre.data(), width, true), row_major(inputs.data(), cols), grad.data(), cols,
         false);
    return grad;
}
template <typename T>
Tensor<T> bias_grad(const Tensor<T>& d_pre, index_t rows, index_t width) {
    Tensor<T> grad = Tensor<T>::zeros(Shape{width});
    add_column_sums(d_pre.data(), rows, width, grad.data());
    return grad;
}
template <typename T>
Tensor<T> input_grad(const Tensor<T>& d_pre, const Tensor<T>& w_ih, const RecurrentDims& d) {
    const index_t rows = d.steps * d.batch;
    Tensor<T> dx_time_major = Tensor<T>::empty(Shape{d.steps, d.batch, d.input});
    gemm(rows, d.input, d.gates * d.hidden, row_major(d_pre.data(), d.gates * d.hidden), row_major(w_ih.data(), d.input),
         dx_time_major.data(), d.input, false);
    return to_batch_major(dx_time_major);
}

// The product with W_hh inside the time loop, out[B, ·] += rows[B, ·] · op(W_hh):
//   forward   op(W_hh) = W_hhᵀ  ([H, G·H]: h_(t-1) → pre-activations)
//   backward  op(W_hh) = W_hh   ([G·H, H]: da_t → dh_(t-1))
// Over several steps the weight is packed once (packed_gemm.hpp); for a single
// step (generation) packing would cost more than it saves, so Eigen multiplies.
template <typename T>
class RecurrentProduct {
public:
    RecurrentProduct(const Tensor<T>& w_hh, index_t steps, bool transposed)
        : w_hh_(w_hh), transposed_(transposed), packed_(steps > 1) {
        const index_t rows = w_hh.shape()[0], cols = w_hh.shape()[1];
        if (packed_)
            matrix_ = transposed ? PackedMatrix<T>::transposed(w_hh.data(), rows, cols)
                                 : PackedMatrix<T>::plain(w_hh.data(), rows, cols);
    }

    void accumulate(const T* rows, index_t batch, T* out) const {
        const index_t n = w_hh_.shape()[0], k = w_hh_.shape()[1];  // W_hh is [n, k]
        const index_t depth = transposed_ ? k : n, width = transposed_ ? n : k;
        if (packed_) {
            gemm_packed_accumulate(rows, batch, depth, matrix_, out, width);
            return;
        }
        ConstMatrixView<T> lhs(rows, batch, depth);
        MatrixView<T> result(out, batch, width);
        if (transposed_) result.noalias() += lhs * as_matrix(w_hh_, n, k).transpose();
        else result.noalias() += lhs * as_matrix(w_hh_, n, k);
    }

private:
    Tensor<T> w_hh_;
    bool transposed_, packed_;
    PackedMatrix<T> matrix_ = PackedMatrix<T>::empty();
};

// For the single-step inference kernels: pre[:, block·H + u0 : block·H + u1] =
// x · W_ih[rows]ᵀ + h · W_hh[rows]ᵀ (+ b_ih + b_hh), rows = block·H + [u0, u1);
// pass an undefined x or h to leave that term out. The hidden units [u0, u1) are
// one thread's share, so a thread reads only its own slices of the weights.
template <typename T>
void step_preactivation(const Tensor<T>& x, const Tensor<T>& w_ih, const Tensor<T>& b_ih, const Tensor<T>& h,
                        const Tensor<T>& w_hh, const Tensor<T>& b_hh, index_t block, index_t u0, index_t u1,
                        index_t hidden, MatrixView<T> pre) {
    const index_t batch = pre.rows(), first = block * hidden + u0, count = u1 - u0;
    auto out = pre.middleCols(first, count);
    out.setZero();
    if (x.defined()) {
        const index_t in = w_ih.shape()[1];
        out.noalias() += as_matrix(x, batch, in) * ConstMatrixView<T>(w_ih.data() + first * in, count, in).transpose();
    }
    if (h.defined())
        out.noalias() += as_matrix(h, batch, hidden) *
                         ConstMatrixView<T>(w_hh.data() + first * hidden, count, hidden).transpose();
    for (const Tensor<T>* bias : {&b_ih, &b_hh})
        if (bias->defined()) out.rowwise() += ConstMatrixView<T>(bias->data() + first, 1, count).row(0);
}

// Splits the hidden units over threads for a single step (see parallel.hpp).
template <typename Fn>
void for_unit_ranges(index_t hidden, index_t work_per_unit, Fn fn) {
    parallel_for(hidden, std::max<index_t>(1, parallel_grain / std::max<index_t>(work_per_unit, 1)), fn);
}

// Variable-length batches (PyTorch's packed sequences). Row b of a padded
// batch holds a sequence of lengths[b] real steps followed by padding. Steps
// t ≥ lengths[b] leave that row's state as it was and output zeros:
//   h_t = h_(t-1) (and c_t = c_(t-1))     y_t = 0          for t ≥ lengths[b]
// so the final state is the state after the last real step. Such a step is the
// identity on the state, so backward passes the state gradient through it
// unchanged and the step's pre-activation gradient is zero:
//   dh_(t-1) = dh_t (dc_(t-1) = dc_t),  da_t = 0,  and dy_t is dropped (y_t is constant).
// An empty `lengths` means every row is T steps long, and costs nothing.
class PaddedSteps {
public:
    PaddedSteps() = default;
    PaddedSteps(const char* op, const std::vector<index_t>& lengths, index_t batch, index_t steps)
        : lengths_(lengths), shortest_(steps) {
        if (lengths.empty()) return;
        check(static_cast<index_t>(lengths.size()) == batch, op, ": lengths has ", lengths.size(),
              " entries for a batch of ", batch, " sequences");
        for (std::size_t b = 0; b < lengths.size(); ++b) {
            check(lengths[b] >= 1, op, ": sequence ", b, " has length ", lengths[b],
                  " (an all-padding row); every sequence needs at least one step");
            check(lengths[b] <= steps, op, ": sequence ", b, " has length ", lengths[b],
                  ", more than the padded size of ", steps, " steps");
            shortest_ = std::min(shortest_, lengths[b]);
        }
    }

    // Does any row end before step t (so that step t needs the masking below)?
    bool any_finished(index_t t) const { return t >= shortest_; }

    // For the rows whose sequence ended before step t: row b of `to` [B, width]
    // becomes row b of `from` (the state carried through a padded step).
    template <typename T>
    void hold_finished(index_t t, const T* from, T* to, index_t width) const {
        if (!any_finished(t)) return;
        for (std::size_t b = 0; b < lengths_.size(); ++b)
            if (t >= lengths_[b]) std::copy(from + b * width, from + (b + 1) * width, to + b * width);
    }

    // Zeroes the finished rows of a step's [B, width] block.
    template <typename T>
    void zero_finished(index_t t, T* rows, index_t width) const {
        if (!any_finished(t)) return;
        for (std::size_t b = 0; b < lengths_.size(); ++b)
            if (t >= lengths_[b]) std::fill(rows + b * width, rows + (b + 1) * width, T(0));
    }

    // Zeroes the padded steps of a batch-first output [B, T, width].
    template <typename T>
    void zero_padding(T* output, index_t steps, index_t width) const {
        for (std::size_t b = 0; b < lengths_.size(); ++b)
            std::fill(output + (b * steps + lengths_[b]) * width, output + (b + 1) * steps * width, T(0));
    }

private:
    std::vector<index_t> lengths_;
    index_t shortest_ = std::numeric_limits<index_t>::max();
};

// Adds dY[:, t, :] (batch-first [B, T, H]) into dh [B, H].
template <typename T>
void add_output_grad(const Tensor<T>& d_output, index_t t, const RecurrentDims& d, MatrixView<T> dh) {
    if (!d_output.defined()) return;
    dh += Eigen::Map<const RowMatrix<T>, 0, Eigen::OuterStride<>>(d_output.data() + t * d.hidden, d.batch, d.hidden,
                                                                   Eigen::OuterStride<>(d.steps * d.hidden));
}

}  // namespace loom::detail
