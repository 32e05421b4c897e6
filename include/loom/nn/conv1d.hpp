// loom/nn/conv1d.hpp — a 1-D convolution layer, PyTorch's nn.Conv1d (groups = 1),
// with an optional causal mode for generation.
//
//   y = conv1d(x, W, b, stride, padding, dilation)
//   x [B, C_in, T], W [C_out, C_in, K] ("weight"), b [C_out] ("bias"), y [B, C_out, T_out]
// causal = true pads (K−1)·dilation zeros on the left only (stride 1, padding 0),
// so y[.., t] sees x[.., t − (K−1)·dilation ..= t] and T_out = T.
// Initialisation as PyTorch: W and b uniform in (−1/√(C_in·K), 1/√(C_in·K))
// (kaiming_uniform with a = √5 gives exactly this bound for W).
// forward_sequence takes the [B, T, C] layout of recurrent and attention models
// and returns [B, T, C_out], through the channels-last ops (no transposes).
// The maths and the backward are in loom/ops/conv1d.hpp.
//
// Incremental (streaming) inference for a causal layer, one time step at a time:
//   y_t[n, o] = b[o] + Σ_k Σ_c W[o, c, k] · x_{t − (K−1−k)·d}[n, c]      (x_{<0} = 0)
// needs only the last S = (K−1)·d inputs. Conv1dStepState keeps them in a ring
// buffer history [B, S, C_in]: the input of time t' sits in slot t' mod S, so
// x_{t−j} (1 ≤ j ≤ S) is slot (t − j) mod S and x_t overwrites slot t mod S,
// which held x_{t−S}, the one input no later step reads. The buffer starts as
// zeros, which is exactly the causal left padding. step() gathers the K taps into
// window [B, C_in·K] (window[n, c·K + k] = x_{t−(K−1−k)·d}[n, c], the layout of
// W viewed as W_ [C_out, C_in·K]) and computes y_t = window · W_ᵀ + b: one
// product, O(C_out·C_in·K) per row, whatever t is. T calls of step() give the
// T columns of forward() on the whole sequence. prime() fills the buffer from a
// whole sequence at once (after forward() on a prompt), and reorder() gathers
// rows for beam search. Inference only: no graph is recorded.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "loom/autograd/grad_mode.hpp"
#include "loom/nn/module.hpp"
#include "loom/ops/conv1d.hpp"
#include "loom/ops/gemm.hpp"

namespace loom {

// The past inputs one causal Conv1d layer needs to compute its next output
// (see the header comment). Default-constructed: not started; the first
// Conv1d::step() (or prime()) makes a zero history for its batch.
template <typename T>
struct Conv1dStepState {
    Tensor<T> history;   // [batch, (K−1)·dilation, C_in]; undefined when K = 1 (nothing to remember)
    index_t batch = 0;   // rows; 0 before the first step
    index_t steps = 0;   // inputs seen so far (time of the next input)

    bool started() const { return batch > 0; }

    // Keeps rows `rows` (indices into the current batch, may repeat or drop
    // rows), in that order; the batch becomes rows.size(). For beam search.
    void reorder(const std::vector<index_t>& rows) {
        detail::check(started(), "loom::Conv1dStepState::reorder: the state has no rows yet (step() first)");
        detail::check(!rows.empty(), "loom::Conv1dStepState::reorder: no rows given (batch ", batch, ")");
        for (std::size_t i = 0; i < rows.size(); ++i)
            detail::check(rows[i] >= 0 && rows[i] < batch, "loom::Conv1dStepState::reorder: row ", rows[i],
                          " at position ", i, " is out of range for a batch of ", batch, " rows");
        const auto new_batch = static_cast<index_t>(rows.size());
        if (history.defined()) {
            const index_t row_size = history.numel() / batch;  // S·C_in
            Tensor<T> gathered = Tensor<T>::empty(Shape{new_batch, history.shape()[1], history.shape()[2]});
            for (index_t i = 0; i < new_batch; ++i)
                std::memcpy(gathered.data() + i * row_size,
                            history.data() + rows[static_cast<std::size_t>(i)] * row_size,
                            static_cast<std::size_t>(row_size) * sizeof(T));
            history = gathered;
        }
        batch = new_batch;
    }
};

template <typename T>
class Conv1d : public Module<T> {
public:
    Conv1d(index_t in_channels, index_t out_channels, index_t kernel_size, Generator& generator, index_t stride = 1,
           index_t padding = 0, index_t dilation = 1, bool bias = true, bool causal = false)
        : in_channels(in_channels),
          out_channels(out_channels),
          kernel_size(kernel_size),
          stride(stride),
          padding(padding),
          dilation(dilation),
          causal(causal) {
        detail::check(in_channels > 0 && out_channels > 0 && kernel_size > 0,
                      "loom::Conv1d: sizes must be positive, got in_channels ", in_channels, ", out_channels ",
                      out_channels, ", kernel_size ", kernel_size);
        detail::check(stride >= 1 && dilation >= 1 && padding >= 0,
                      "loom::Conv1d: need stride >= 1, dilation >= 1 and padding >= 0, got stride ", stride,
                      ", padding ", padding, ", dilation ", dilation);
        detail::check(!causal || (stride == 1 && padding == 0),
                      "loom::Conv1d: causal mode pads (kernel_size - 1) * dilation on the left itself and uses "
                      "stride 1; got stride ",
                      stride, " and padding ", padding);
        const T bound = T(1) / std::sqrt(static_cast<T>(in_channels * kernel_size));
        weight = this->register_parameter(
            "weight", Tensor<T>::uniform(Shape{out_channels, in_channels, kernel_size}, -bound, bound, generator));
        if (bias)
            this->bias =
                this->register_parameter("bias", Tensor<T>::uniform(Shape{out_channels}, -bound, bound, generator));
    }

    // x [B, C_in, T] -> [B, C_out, T_out].
    Tensor<T> forward(const Tensor<T>& x) const {
        detail::check(x.defined() && x.rank() == 3 && x.shape()[1] == in_channels,
                      "loom::Conv1d: expected input [batch, ", in_channels, ", length], got ",
                      x.defined() ? x.shape() : Shape{});
        return causal ? causal_conv1d(x, weight, bias, dilation) : conv1d(x, weight, bias, stride, padding, dilation);
    }
    Tensor<T> operator()(const Tensor<T>& x) const { return forward(x); }

    // x [B, T, C_in] -> [B, T_out, C_out].
    Tensor<T> forward_sequence(const Tensor<T>& x) const {
        detail::check(x.defined() && x.rank() == 3 && x.shape()[2] == in_channels,
                      "loom::Conv1d::forward_sequence: expected input [batch, length, ", in_channels, "], got ",
                      x.defined() ? x.shape() : Shape{});
        return causal ? causal_conv1d_channels_last(x, weight, bias, dilation)
                      : conv1d_channels_last(x, weight, bias, stride, padding, dilation);
    }

    // Inference only, causal layers only: one time step. x [B, C_in] is the
    // input at time t = state.steps; returns y_t [B, C_out], the column t of
    // forward() over the whole sequence, and advances the state by one step.
    Tensor<T> step(const Tensor<T>& x, Conv1dStepState<T>& state) const {
        const char* op = "loom::Conv1d::step";
        check_step(op, x);
        const index_t batch = x.shape()[0];
        start_state(op, state, batch);
        const index_t span = history_length();
        const index_t taps = in_channels * kernel_size;

        // window[n, c·K + k] = x_{t − (K−1−k)·d}[n, c]; the last tap is x itself.
        Tensor<T> window = Tensor<T>::empty(Shape{batch, taps});
        for (index_t n = 0; n < batch; ++n) {
            T* row = window.data() + n * taps;
            for (index_t k = 0; k < kernel_size; ++k) {
                const index_t back = (kernel_size - 1 - k) * dilation;
                const T* source = back == 0 ? x.data() + n * in_channels
                                            : state.history.data() +
                                                  (n * span + ring_slot(state.steps - back, span)) * in_channels;
                for (index_t c = 0; c < in_channels; ++c) row[c * kernel_size + k] = source[c];
            }
        }
        Tensor<T> y = Tensor<T>::empty(Shape{batch, out_channels});  // y = window · W_ᵀ (+ b)
        detail::bias_rows(bias.defined() ? bias.data() : nullptr, batch, out_channels, y.data());
        detail::gemm(batch, out_channels, taps, detail::row_major(window.data(), taps),
                     detail::row_major(weight.data(), taps, true), y.data(), out_channels, true);

        if (span > 0) {  // x_t replaces x_{t−S}, which no later step reads
            const index_t slot = ring_slot(state.steps, span);
            for (index_t n = 0; n < batch; ++n)
                std::memcpy(state.history.data() + (n * span + slot) * in_channels, x.data() + n * in_channels,
                            static_cast<std::size_t>(in_channels) * sizeof(T));
        }
        ++state.steps;
        return y;
    }

    // Inference only, causal layers only: advances the state over a whole
    // sequence x [B, T, C_in] (the layer's input for times state.steps … +T−1)
    // without computing outputs, as T calls of step() would leave it. Use it
    // after forward() has run the prompt, then step() on from there.
    void prime(const Tensor<T>& x, Conv1dStepState<T>& state) const {
        const char* op = "loom::Conv1d::prime";
        check_inference(op, x);
        detail::check(x.rank() == 3 && x.shape()[2] == in_channels, op, ": input must be [batch, length, ",
                      in_channels, "], got shape ", x.shape());
        const index_t batch = x.shape()[0], length = x.shape()[1];
        start_state(op, state, batch);
        const index_t span = history_length();
        // Only the last S inputs matter; earlier ones would be overwritten.
        for (index_t t = std::max<index_t>(0, length - span); t < length && span > 0; ++t) {
            const index_t slot = ring_slot(state.steps + t, span);
            for (index_t n = 0; n < batch; ++n)
                std::memcpy(state.history.data() + (n * span + slot) * in_channels,
                            x.data() + (n * length + t) * in_channels,
                            static_cast<std::size_t>(in_channels) * sizeof(T));
        }
        state.steps += length;
    }

    // S = (K−1)·dilation, the past inputs a causal step reads.
    index_t history_length() const { return (kernel_size - 1) * dilation; }

    const index_t in_channels;
    const index_t out_channels;
    const index_t kernel_size;
    const index_t stride;
    const index_t padding;
    const index_t dilation;
    const bool causal;
    Tensor<T> weight;  // [out_channels, in_channels, kernel_size]
    Tensor<T> bias;    // [out_channels], undefined without bias

private:
    // Slot of time `time` in a ring of `span` slots; times before 0 (the zero
    // padding) map to slots no input has been written to yet.
    static index_t ring_slot(index_t time, index_t span) { return ((time % span) + span) % span; }

    void check_inference(const char* op, const Tensor<T>& x) const {
        detail::check(causal, op, ": only a causal Conv1d can run step by step (output t of this layer reads "
                                  "inputs after t); construct it with causal = true");
        detail::check(x.defined(), op, ": input is undefined");
        detail::check(!is_grad_enabled() || (!x.requires_grad() && !weight.requires_grad() &&
                                             (!bias.defined() || !bias.requires_grad())),
                      op, ": step() and prime() are for inference and record no graph; call them under "
                          "NoGradGuard, or use forward()");
    }

    void check_step(const char* op, const Tensor<T>& x) const {
        check_inference(op, x);
        detail::check(x.rank() == 2 && x.shape()[1] == in_channels, op, ": input must be [batch, ", in_channels,
                      "], got shape ", x.shape());
    }

    // A state that has not started gets a zero history for `batch` rows; a
    // started one must have `batch` rows and this layer's history shape.
    void start_state(const char* op, Conv1dStepState<T>& state, index_t batch) const {
        detail::check(batch > 0, op, ": batch must be positive, got ", batch);
        const index_t span = history_length();
        if (!state.started()) {
            state.history = span > 0 ? Tensor<T>::zeros(Shape{batch, span, in_channels}) : Tensor<T>();
            state.batch = batch;
            state.steps = 0;
            return;
        }
        detail::check(state.batch == batch, op, ": the state has ", state.batch, " rows but the input has ", batch);
        detail::check(span == 0 || (state.history.defined() && state.history.shape() == Shape{batch, span, in_channels}),
                      op, ": the state's history must be [", batch, ", ", span, ", ", in_channels, "] for this layer, got ",
                      state.history.defined() ? state.history.shape() : Shape{});
    }
};

}  // namespace loom
