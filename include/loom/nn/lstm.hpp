// loom/nn/lstm.hpp — LSTM (a stack of layers) and LSTMCell (one step), as PyTorch's.
//
// Each layer runs the fused whole-sequence op in ops/lstm.hpp (equations and
// BPTT there); layer k+1 reads layer k's output sequence. Input is batch-first
// [B, T, input_size]; the output is the last layer's h_t for every step
// [B, T, H], and the state holds h_T and c_T of every layer, [num_layers, B, H],
// ready to be passed to the next call (detach it first for truncated BPTT).
#pragma once

#include <vector>

#include "loom/nn/recurrent_base.hpp"
#include "loom/ops/lstm.hpp"

namespace loom {

template <typename T>
struct LstmState {
    Tensor<T> h;  // [num_layers, B, H] (or [B, H] for a cell)
    Tensor<T> c;
    // The same values without history: carry state across batches without
    // backpropagating into the previous batch.
    LstmState detached() const { return {h.defined() ? h.detach() : h, c.defined() ? c.detach() : c}; }
};

template <typename T>
struct LstmOutput {
    Tensor<T> output;  // [B, T, H]
    LstmState<T> state;
};

// Every layer's weights packed for step() at batch > 1 (see lstm_step_packed in
// ops/lstm.hpp). A snapshot: build it again after the weights change.
template <typename T>
struct LstmInferenceWeights {
    std::vector<LstmPackedLayer<T>> layers;
};

template <typename T>
class LSTM : public RecurrentBase<T> {
public:
    LSTM(index_t input_size, index_t hidden_size, index_t num_layers, Generator& generator, double dropout = 0.0,
         bool bias = true, bool bidirectional = false)
        : RecurrentBase<T>("loom::LSTM", 4, input_size, hidden_size, num_layers, dropout, bias, generator, false,
                           bidirectional) {}

    // state: zeros when undefined. Bidirectional: output [B, T, 2H], states
    // [2·num_layers, B, H]. lengths: each row's number of real steps for a
    // padded batch (empty: all T), as with pack_padded_sequence
    // (recurrent_base.hpp).
    LstmOutput<T> forward(const Tensor<T>& x, const LstmState<T>& state = {},
                          const std::vector<index_t>& lengths = {}) {
        this->check_input("loom::LSTM", x, this->input_size);
        const index_t batch = x.shape()[0];
        if (this->has_quantized_weights()) {  // inference: step by step through the quantized kernels
            LstmState<T> current = state;
            const Tensor<T> output = this->run_steps("loom::LSTM", x, lengths, [&](const Tensor<T>& x_t) {
                current = step(x_t, current);
                return this->state_row("", current.h, this->num_layers - 1, batch);
            });
            return {output, current};
        }
        std::vector<Tensor<T>> h_n, c_n;
        const Tensor<T> output =
            this->run_stack(x, lengths, [&](const Tensor<T>& input, const auto& w, index_t row) {
                LstmResult<T> layer = lstm(input, w.w_ih, w.w_hh, w.b_ih, w.b_hh,
                                           this->layer_state("loom::LSTM", state.h, row, batch),
                                           this->layer_state("loom::LSTM", state.c, row, batch), lengths);
                h_n.push_back(layer.h_n);
                c_n.push_back(layer.c_n);
                return layer.output;
            });
        return {output, {stack(h_n, 0), stack(c_n, 0)}};
    }
    LstmOutput<T> operator()(const Tensor<T>& x, const LstmState<T>& state = {},
                             const std::vector<index_t>& lengths = {}) {
        return forward(x, state, lengths);
    }

    // Inference only (under NoGradGuard): one time step for x [B, input_size],
    // returning the new state. Same values as forward() on a length-1 sequence,
    // without its copies and graph, with each layer's units split over threads.
    // With `packed` (from pack_for_inference() of this layer), the packed
    // kernels run instead; the values agree to rounding. With quantized
    // weights (loom::quantize) the quantized kernels run.
    LstmState<T> step(const Tensor<T>& x, const LstmState<T>& state = {},
                      const LstmInferenceWeights<T>* packed = nullptr) const {
        this->check_step("loom::LSTM::step", x);
        detail::check(packed == nullptr || packed->layers.size() == static_cast<std::size_t>(this->num_layers),
                      "loom::LSTM::step: the packed weights are for another LSTM (",
                      packed == nullptr ? 0 : packed->layers.size(), " layers, this one has ", this->num_layers, ")");
        const index_t batch = x.shape()[0], H = this->hidden_size;
        LstmState<T> next{Tensor<T>::empty(Shape{this->num_layers, batch, H}),
                          Tensor<T>::empty(Shape{this->num_layers, batch, H})};
        Tensor<T> input = x;
        for (index_t k = 0; k < this->num_layers; ++k) {
            const auto& w = this->layers[static_cast<std::size_t>(k)];
            Tensor<T> h = this->state_row("loom::LSTM::step", state.h, k, batch);
            Tensor<T> c = this->state_row("loom::LSTM::step", state.c, k, batch);
            if (!h.defined()) h = Tensor<T>::zeros(Shape{batch, H});
            if (!c.defined()) c = Tensor<T>::zeros(Shape{batch, H});
            Tensor<T> h_next = this->state_row("", next.h, k, batch), c_next = this->state_row("", next.c, k, batch);
            if (packed != nullptr) {
                const LstmPackedLayer<T>& layer = packed->layers[static_cast<std::size_t>(k)];
                detail::check(layer.w_ih_t.rows() == input.shape()[1] && layer.w_hh_t.rows() == H &&
                                  layer.w_hh_t.cols() == 4 * H,
                              "loom::LSTM::step: the packed weights of layer ", k, " do not fit this LSTM");
            }
            const QuantizedRecurrentWeights<T> quantized = this->quantized_layer(k);
            if (quantized.w_ih != nullptr) lstm_step_quantized(input, quantized, h, c, h_next, c_next);
            else if (packed != nullptr) lstm_step_packed(input, packed->layers[static_cast<std::size_t>(k)], h, c, h_next, c_next);
            else lstm_step_inference(input, w.w_ih, w.w_hh, w.b_ih, w.b_hh, h, c, h_next, c_next);
            input = h_next;
        }
        return next;
    }

    // The weights packed once for many step() calls with several rows per
    // batch (beam search): each step then reads every weight once, instead of
    // the three passes of a general GEMM that packs them itself.
    LstmInferenceWeights<T> pack_for_inference() const {
        detail::check(!this->bidirectional, "loom::LSTM::pack_for_inference: a bidirectional LSTM cannot step");
        if (this->has_quantized_weights())
            detail::fail("loom::LSTM::pack_for_inference: the weights are quantized (",
                         to_string(this->quantized_layer(0).w_ih->format()), "); step() uses them directly");
        LstmInferenceWeights<T> packed;
        for (const auto& w : this->layers) packed.layers.push_back(pack_lstm_layer(w.w_ih, w.w_hh, w.b_ih, w.b_hh));
        return packed;
    }
};

// One time step: x [B, input_size], state h, c [B, H] -> new h, c [B, H].
template <typename T>
class LSTMCell : public RecurrentBase<T> {
public:
    LSTMCell(index_t input_size, index_t hidden_size, Generator& generator, bool bias = true)
        : RecurrentBase<T>("loom::LSTMCell", 4, input_size, hidden_size, 1, 0.0, bias, generator, true) {}

    LstmState<T> forward(const Tensor<T>& x, const LstmState<T>& state = {}) {
        detail::check(x.rank() == 2 && x.shape()[1] == this->input_size, "loom::LSTMCell: input must be [batch, ",
                      this->input_size, "], got shape ", x.shape());
        const auto& w = this->layers[0];
        LstmResult<T> step = lstm(reshape(x, {x.shape()[0], 1, this->input_size}), w.w_ih, w.w_hh, w.b_ih, w.b_hh,
                                  state.h, state.c);
        return {step.h_n, step.c_n};
    }
    LstmState<T> operator()(const Tensor<T>& x, const LstmState<T>& state = {}) { return forward(x, state); }

    // Inference only (under NoGradGuard): forward()'s values without its graph
    // and sequence bookkeeping, through the one-step kernel (lstm_step_inference)
    // with the hidden units split over threads — a decoding step.
    LstmState<T> step(const Tensor<T>& x, const LstmState<T>& state = {}) const {
        this->check_step("loom::LSTMCell::step", x);
        const index_t batch = x.shape()[0], H = this->hidden_size;
        const auto& w = this->layers[0];
        const Tensor<T> h = state.h.defined() ? state.h : Tensor<T>::zeros(Shape{batch, H});
        const Tensor<T> c = state.c.defined() ? state.c : Tensor<T>::zeros(Shape{batch, H});
        detail::check(h.shape() == Shape{batch, H} && c.shape() == Shape{batch, H}, "loom::LSTMCell::step: h and c must be [",
                      batch, ", ", H, "], got ", h.shape(), " and ", c.shape());
        LstmState<T> next{Tensor<T>::empty(Shape{batch, H}), Tensor<T>::empty(Shape{batch, H})};
        const QuantizedRecurrentWeights<T> quantized = this->quantized_layer(0);
        if (quantized.w_ih != nullptr) lstm_step_quantized(x, quantized, h, c, next.h, next.c);
        else lstm_step_inference(x, w.w_ih, w.w_hh, w.b_ih, w.b_hh, h, c, next.h, next.c);
        return next;
    }
};

}  // namespace loom
