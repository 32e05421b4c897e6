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
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "loom/autograd/grad_mode.hpp"
#include "loom/nn/module.hpp"
#include "loom/ops/concat.hpp"
#include "loom/ops/dropout.hpp"
#include "loom/ops/reshape.hpp"
#include "loom/ops/slice.hpp"

namespace loom {

// What RNN and GRU return (LSTM adds the cell state, see lstm.hpp).
template <typename T>
struct RecurrentOutput {
    Tensor<T> output;  // [B, T, H]: the last layer's h_t for every step
    Tensor<T> h_n;     // [num_layers, B, H]: every layer's last hidden state
};

template <typename T>
class RecurrentBase : public Module<T> {
public:
    struct LayerWeights {
        Tensor<T> w_ih, w_hh, b_ih, b_hh;
    };

    const index_t input_size;
    const index_t hidden_size;
    const index_t num_layers;
    const double dropout;
    const bool has_bias;
    std::vector<LayerWeights> layers;

protected:
    // name_suffix(k) gives "_l{k}" for stacked layers, "" for cells.
    RecurrentBase(const char* op, index_t gates, index_t input_size, index_t hidden_size, index_t num_layers,
                  double dropout, bool bias, Generator& generator, bool is_cell = false)
        : input_size(input_size),
          hidden_size(hidden_size),
          num_layers(num_layers),
          dropout(dropout),
          has_bias(bias),
          dropout_generator_(generator.next_u64()) {
        detail::check(input_size > 0 && hidden_size > 0 && num_layers > 0, op,
                      ": input_size, hidden_size and num_layers must be positive, got ", input_size, ", ",
                      hidden_size, ", ", num_layers);
        detail::check(dropout >= 0.0 && dropout < 1.0, op, ": dropout must be in [0, 1), got ", dropout);
        const T bound = T(1) / std::sqrt(static_cast<T>(hidden_size));
        auto init = [&](const Shape& shape) { return Tensor<T>::uniform(shape, -bound, bound, generator); };
        for (index_t k = 0; k < num_layers; ++k) {
            const std::string suffix = is_cell ? "" : "_l" + std::to_string(k);
            const index_t in = k == 0 ? input_size : hidden_size;
            LayerWeights w;
            w.w_ih = this->register_parameter("weight_ih" + suffix, init(Shape{gates * hidden_size, in}));
            w.w_hh = this->register_parameter("weight_hh" + suffix, init(Shape{gates * hidden_size, hidden_size}));
            if (bias) {
                w.b_ih = this->register_parameter("bias_ih" + suffix, init(Shape{gates * hidden_size}));
                w.b_hh = this->register_parameter("bias_hh" + suffix, init(Shape{gates * hidden_size}));
            }
            layers.push_back(w);
        }
        if (!is_cell) this->register_generator("dropout_generator", dropout_generator_);
    }

    // Row `layer` of a [num_layers, B, H] state as [B, H] (undefined stays undefined).
    Tensor<T> layer_state(const char* op, const Tensor<T>& state, index_t layer, index_t batch) const {
        if (!state.defined()) return state;
        detail::check(state.shape() == Shape{num_layers, batch, hidden_size}, op, ": state must be [num_layers=",
                      num_layers, ", batch=", batch, ", hidden=", hidden_size, "], got ", state.shape());
        return reshape(narrow(state, 0, layer, 1), {batch, hidden_size});
    }

    Tensor<T> between_layers(const Tensor<T>& output, index_t layer) {
        if (layer + 1 == num_layers || dropout == 0.0 || !this->is_training()) return output;
        return loom::dropout(output, dropout, true, dropout_generator_);
    }

    // step() runs the inference kernels, which record nothing: refuse to run
    // where a gradient is expected.
    void check_step(const char* op, const Tensor<T>& x) const {
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
