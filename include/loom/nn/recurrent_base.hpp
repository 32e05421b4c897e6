// loom/nn/recurrent_base.hpp — what RNN, LSTM and GRU share: PyTorch's
// parameter layout for a stack of layers, the state layout, and dropout between
// layers.
//
// Layer k (0-based) of a stack with G gate blocks and hidden size H has
//   weight_ih_l{k}  [G·H, in_k]   (in_0 = input_size, in_k = H above)
//   weight_hh_l{k}  [G·H, H]
//   bias_ih_l{k}    [G·H]         bias_hh_l{k} [G·H]    (unless bias = false)
// all initialised uniform in (-1/√H, 1/√H), as PyTorch does. States (h, and c
// for LSTM) are [num_layers, B, H]; layer k reads and writes row k. In training
// mode the output of every layer but the last passes through dropout.
//
// Bidirectional (bidirectional = true, D = 2 directions): every layer has a
// second set of weights, named with "_reverse" (weight_ih_l{k}_reverse, …),
// that reads the sequence from its last step to its first:
//   forward  h→_t = cell(x_t, h→_{t−1}),   reverse  h←_t = cell(x_t, h←_{t+1})
//   output_t = [h→_t ; h←_t]                [B, T, 2H], the next layer's input (in_k = 2H)
// The reverse direction is the same fused op run on flip(x) (ops/flip.hpp),
// its output flipped back so that both directions' step t line up; the
// gradient flows back through the two flips.
//
// Variable lengths (forward(x, state, lengths), like PyTorch's
// pack_padded_sequence): row b holds lengths[b] real steps, then padding.
// Every layer's output is zero on the padding and its final state is the one
// after step lengths[b] − 1 (ops/recurrent_common.hpp, PaddedSteps); the
// reverse direction reverses each row within its length, so it starts at the
// row's last real step and ends, with its final state, at step 0. States are then
// [num_layers · 2, B, H], row 2k + d for layer k, direction d (0 forward,
// 1 reverse) — PyTorch's layout, as are the names, so weights move between
// the two. A bidirectional layer needs the whole sequence, so it has no
// step() for generation.
//
// Quantized (loom::quantize, nn/quantize.hpp): weight_ih/weight_hh of every
// layer become bf16 or int8 matrices; step() then runs the quantized kernels
// (quant/quantized_recurrent.hpp) and forward() runs step() over the sequence,
// for inference only.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "loom/autograd/grad_mode.hpp"
#include "loom/nn/module.hpp"
#include "loom/ops/concat.hpp"
#include "loom/ops/dropout.hpp"
#include "loom/ops/flip.hpp"
#include "loom/ops/reshape.hpp"
#include "loom/ops/slice.hpp"
#include "loom/quant/quantized_recurrent.hpp"

namespace loom {

// What RNN and GRU return (LSTM adds the cell state, see lstm.hpp).
template <typename T>
struct RecurrentOutput {
    Tensor<T> output;  // [B, T, D·H]: the last layer's h_t for every step (both directions' when D = 2)
    Tensor<T> h_n;     // [num_layers·D, B, H]: every layer's (and direction's) last hidden state
};

template <typename T>
class RecurrentBase : public Module<T> {
public:
    struct LayerWeights {
        Tensor<T> w_ih, w_hh, b_ih, b_hh;
        std::string suffix;  // "_l{k}" ("_l{k}_reverse"), "" for a cell: the parameters' names end in it
    };

    const index_t input_size;
    const index_t hidden_size;
    const index_t num_layers;
    const double dropout;
    const bool has_bias;
    const bool bidirectional;
    std::vector<LayerWeights> layers;  // num_layers · D entries, layer k direction d at k·D + d

    index_t num_directions() const { return bidirectional ? 2 : 1; }

protected:
    // name_suffix(k) gives "_l{k}" for stacked layers, "" for cells.
    RecurrentBase(const char* op, index_t gates, index_t input_size, index_t hidden_size, index_t num_layers,
                  double dropout, bool bias, Generator& generator, bool is_cell = false, bool bidirectional = false)
        : input_size(input_size),
          hidden_size(hidden_size),
          num_layers(num_layers),
          dropout(dropout),
          has_bias(bias),
          bidirectional(bidirectional),
          dropout_generator_(generator.next_u64()) {
        detail::check(input_size > 0 && hidden_size > 0 && num_layers > 0, op,
                      ": input_size, hidden_size and num_layers must be positive, got ", input_size, ", ",
                      hidden_size, ", ", num_layers);
        detail::check(dropout >= 0.0 && dropout < 1.0, op, ": dropout must be in [0, 1), got ", dropout);
        const T bound = T(1) / std::sqrt(static_cast<T>(hidden_size));
        auto init = [&](const Shape& shape) { return Tensor<T>::uniform(shape, -bound, bound, generator); };
        for (index_t k = 0; k < num_layers; ++k)
            for (index_t d = 0; d < num_directions(); ++d) {
                const std::string suffix = is_cell ? "" : "_l" + std::to_string(k) + (d == 1 ? "_reverse" : "");
                const index_t in = k == 0 ? input_size : num_directions() * hidden_size;
                LayerWeights w;
                w.w_ih = this->register_parameter("weight_ih" + suffix, init(Shape{gates * hidden_size, in}));
                w.w_hh = this->register_parameter("weight_hh" + suffix, init(Shape{gates * hidden_size, hidden_size}));
                if (bias) {
                    w.b_ih = this->register_parameter("bias_ih" + suffix, init(Shape{gates * hidden_size}));
                    w.b_hh = this->register_parameter("bias_hh" + suffix, init(Shape{gates * hidden_size}));
                }
                w.suffix = suffix;
                layers.push_back(w);
            }
        // (After the loop: the vector no longer moves its elements.)
        for (LayerWeights& w : layers) {
            this->register_quantizable("weight_ih" + w.suffix, w.w_ih);
            this->register_quantizable("weight_hh" + w.suffix, w.w_hh);
        }
        if (!is_cell) this->register_generator("dropout_generator", dropout_generator_);
    }

    // Layer `row`'s quantized matrices (loom::quantize, nn/quantize.hpp), or
    // nullptr matrices while the weights are fp32.
    QuantizedRecurrentWeights<T> quantized_layer(index_t row) const {
        const LayerWeights& w = layers[static_cast<std::size_t>(row)];
        return {this->quantized_weight("weight_ih" + w.suffix), this->quantized_weight("weight_hh" + w.suffix), w.b_ih,
                w.b_hh};
    }

    // Runs x [B, T, in] through step_fn(x_t [B, in]) -> last layer's h_t [B, H],
    // one step at a time, for the quantized layers (inference only; their
    // forward() has no fused sequence op). Returns [B, T, H].
    template <typename StepFn>
    Tensor<T> run_steps(const char* op, const Tensor<T>& x, const std::vector<index_t>& lengths,
                        StepFn&& step_fn) const {
        detail::check(!bidirectional, op, ": a bidirectional layer with quantized weights is not supported");
        detail::check(lengths.empty(), op, ": per-sequence lengths with quantized weights are not supported");
        const index_t batch = x.shape()[0], steps = x.shape()[1], in = x.shape()[2], H = hidden_size;
        Tensor<T> output = Tensor<T>::empty(Shape{batch, steps, H});
        Tensor<T> x_t = Tensor<T>::empty(Shape{batch, in});
        for (index_t t = 0; t < steps; ++t) {
            for (index_t b = 0; b < batch; ++b)
                std::copy(x.data() + (b * steps + t) * in, x.data() + (b * steps + t + 1) * in, x_t.data() + b * in);
            const Tensor<T> h_t = step_fn(x_t);
            for (index_t b = 0; b < batch; ++b)
                std::copy(h_t.data() + b * H, h_t.data() + (b + 1) * H, output.data() + (b * steps + t) * H);
        }
        return output;
    }

    // Row `row` (layer k, direction d: row k·D + d) of a [num_layers·D, B, H]
    // state as [B, H] (undefined stays undefined).
    Tensor<T> layer_state(const char* op, const Tensor<T>& state, index_t row, index_t batch) const {
        if (!state.defined()) return state;
        detail::check(state.shape() == Shape{num_layers * num_directions(), batch, hidden_size}, op,
                      ": state must be [num_layers", bidirectional ? " * 2 directions=" : "=",
                      num_layers * num_directions(), ", batch=", batch, ", hidden=", hidden_size, "], got ",
                      state.shape());
        return reshape(narrow(state, 0, row, 1), {batch, hidden_size});
    }

    // The whole stack over x [B, T, in]: run_layer(input, weights, row) runs
    // one layer in one direction (the fused op of RNN, LSTM or GRU, given the
    // same lengths), keeps its final states, and returns its output [B, T, H].
    // The reverse direction gets each sequence reversed within its length and
    // its output reversed back (ops/flip.hpp); the two directions are
    // concatenated into the next layer's input.
    template <typename RunLayer>
    Tensor<T> run_stack(const Tensor<T>& x, const std::vector<index_t>& lengths, RunLayer&& run_layer) {
        Tensor<T> sequence = x;
        for (index_t k = 0; k < num_layers; ++k) {
            std::vector<Tensor<T>> outputs;
            for (index_t d = 0; d < num_directions(); ++d) {
                const index_t row = k * num_directions() + d;
                const LayerWeights& w = layers[static_cast<std::size_t>(row)];
                outputs.push_back(d == 0 ? run_layer(sequence, w, row)
                                         : reverse_padded(run_layer(reverse_padded(sequence, lengths), w, row), lengths));
            }
            sequence = between_layers(outputs.size() == 1 ? outputs[0] : concat(outputs, 2), k);
        }
        return sequence;
    }

    Tensor<T> between_layers(const Tensor<T>& output, index_t layer) {
        if (layer + 1 == num_layers || dropout == 0.0 || !this->is_training()) return output;
        return loom::dropout(output, dropout, true, dropout_generator_);
    }

    // step() runs the inference kernels, which record nothing: refuse to run
    // where a gradient is expected.
    void check_step(const char* op, const Tensor<T>& x) const {
        detail::check(!bidirectional, op,
                      ": a bidirectional layer reads the whole sequence (its reverse direction starts at the end),"
                      " so it cannot step; use forward()");
        detail::check(!is_grad_enabled() || !x.requires_grad(), op,
                      ": step() is for inference and records no graph; call it under NoGradGuard, or use forward()");
        for (const Tensor<T>& p : this->parameters())
            detail::check(!is_grad_enabled() || !p.requires_grad(), op,
                          ": step() is for inference and records no graph; call it under NoGradGuard, or use forward()");
        detail::check(x.rank() == 2 && x.shape()[1] == input_size, op, ": step input must be [batch, ", input_size,
                      "], got shape ", x.shape());
    }

    // Row `layer` of a [num_layers, B, H] state tensor as a [B, H] tensor over the
    // same memory (no autograd: for step()). Undefined stays undefined.
    Tensor<T> state_row(const char* op, const Tensor<T>& state, index_t layer, index_t batch) const {
        if (!state.defined()) return state;
        detail::check(state.shape() == Shape{num_layers, batch, hidden_size}, op, ": state must be [num_layers=",
                      num_layers, ", batch=", batch, ", hidden=", hidden_size, "], got ", state.shape());
        return state.share_storage(Shape{batch, hidden_size}, layer * batch * hidden_size);
    }

    static void check_input(const char* op, const Tensor<T>& x, index_t input_size) {
        detail::check(x.rank() == 3 && x.shape()[2] == input_size, op, ": input must be [batch, steps, ",
                      input_size, "], got shape ", x.shape());
    }

private:
    Generator dropout_generator_;  // seeded from the construction generator
};

}  // namespace loom
