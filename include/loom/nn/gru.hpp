// loom/nn/gru.hpp — GRU (a stack of layers) and GRUCell (one step), as PyTorch's.
//
// Each layer runs the fused whole-sequence op in ops/gru.hpp (equations and
// BPTT there). Input is batch-first [B, T, input_size]; the output is the last
// layer's h_t for every step [B, T, H]; h_n holds every layer's last state,
// [num_layers, B, H].
#pragma once

#include <vector>

#include "loom/nn/recurrent_base.hpp"
#include "loom/ops/gru.hpp"

namespace loom {

template <typename T>
class GRU : public RecurrentBase<T> {
public:
    GRU(index_t input_size, index_t hidden_size, index_t num_layers, Generator& generator, double dropout = 0.0,
        bool bias = true, bool bidirectional = false)
        : RecurrentBase<T>("loom::GRU", 3, input_size, hidden_size, num_layers, dropout, bias, generator, false,
                           bidirectional) {}

    // h0: zeros when undefined. Bidirectional: output [B, T, 2H], h_n
    // [2·num_layers, B, H]. lengths: each row's number of real steps for a
    // padded batch (empty: all T), as with pack_padded_sequence
    // (recurrent_base.hpp).
    RecurrentOutput<T> forward(const Tensor<T>& x, const Tensor<T>& h0 = Tensor<T>(),
                               const std::vector<index_t>& lengths = {}) {
        this->check_input("loom::GRU", x, this->input_size);
        const index_t batch = x.shape()[0];
        if (this->has_quantized_weights()) {  // inference: step by step through the quantized kernels
            Tensor<T> current = h0;
            const Tensor<T> output = this->run_steps("loom::GRU", x, lengths, [&](const Tensor<T>& x_t) {
                current = step(x_t, current);
                return this->state_row("", current, this->num_layers - 1, batch);
            });
            return {output, current};
        }
        std::vector<Tensor<T>> h_n;
        const Tensor<T> output =
            this->run_stack(x, lengths, [&](const Tensor<T>& input, const auto& w, index_t row) {
                GruResult<T> layer =
                    gru(input, w.w_ih, w.w_hh, w.b_ih, w.b_hh, this->layer_state("loom::GRU", h0, row, batch), lengths);
                h_n.push_back(layer.h_n);
                return layer.output;
            });
        return {output, stack(h_n, 0)};
    }
    RecurrentOutput<T> operator()(const Tensor<T>& x, const Tensor<T>& h0 = Tensor<T>(),
                                  const std::vector<index_t>& lengths = {}) {
        return forward(x, h0, lengths);
    }

    // Inference only (under NoGradGuard): one time step for x [B, input_size]
    // from state h [num_layers, B, H] (undefined: zeros), returning the new state.
    Tensor<T> step(const Tensor<T>& x, const Tensor<T>& h = Tensor<T>()) const {
        this->check_step("loom::GRU::step", x);
        const index_t batch = x.shape()[0], H = this->hidden_size;
        Tensor<T> next = Tensor<T>::empty(Shape{this->num_layers, batch, H});
        Tensor<T> input = x;
        for (index_t k = 0; k < this->num_layers; ++k) {
            const auto& w = this->layers[static_cast<std::size_t>(k)];
            Tensor<T> h_k = this->state_row("loom::GRU::step", h, k, batch);
            if (!h_k.defined()) h_k = Tensor<T>::zeros(Shape{batch, H});
            Tensor<T> h_next = this->state_row("", next, k, batch);
            const QuantizedRecurrentWeights<T> quantized = this->quantized_layer(k);
            if (quantized.w_ih != nullptr) gru_step_quantized(input, quantized, h_k, h_next);
            else gru_step_inference(input, w.w_ih, w.w_hh, w.b_ih, w.b_hh, h_k, h_next);
            input = h_next;
        }
        return next;
    }
};

// One time step: x [B, input_size], h [B, H] -> new h [B, H].
template <typename T>
class GRUCell : public RecurrentBase<T> {
public:
    GRUCell(index_t input_size, index_t hidden_size, Generator& generator, bool bias = true)
        : RecurrentBase<T>("loom::GRUCell", 3, input_size, hidden_size, 1, 0.0, bias, generator, true) {}

    Tensor<T> forward(const Tensor<T>& x, const Tensor<T>& h = Tensor<T>()) {
        detail::check(x.rank() == 2 && x.shape()[1] == this->input_size, "loom::GRUCell: input must be [batch, ",
                      this->input_size, "], got shape ", x.shape());
        const auto& w = this->layers[0];
        return gru(reshape(x, {x.shape()[0], 1, this->input_size}), w.w_ih, w.w_hh, w.b_ih, w.b_hh, h).h_n;
    }
    Tensor<T> operator()(const Tensor<T>& x, const Tensor<T>& h = Tensor<T>()) { return forward(x, h); }

    // Inference only (under NoGradGuard): forward()'s values through the
    // one-step kernel (gru_step_inference) — a decoding step.
    Tensor<T> step(const Tensor<T>& x, const Tensor<T>& h = Tensor<T>()) const {
        this->check_step("loom::GRUCell::step", x);
        const index_t batch = x.shape()[0], H = this->hidden_size;
        const Tensor<T> h0 = h.defined() ? h : Tensor<T>::zeros(Shape{batch, H});
        detail::check(h0.shape() == Shape{batch, H}, "loom::GRUCell::step: h must be [", batch, ", ", H, "], got ",
                      h0.shape());
        const auto& w = this->layers[0];
        Tensor<T> next = Tensor<T>::empty(Shape{batch, H});
        const QuantizedRecurrentWeights<T> quantized = this->quantized_layer(0);
        if (quantized.w_ih != nullptr) gru_step_quantized(x, quantized, h0, next);
        else gru_step_inference(x, w.w_ih, w.w_hh, w.b_ih, w.b_hh, h0, next);
        return next;
    }
};

}  // namespace loom
