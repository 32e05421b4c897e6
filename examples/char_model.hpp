// examples/char_model.hpp — the character-level language model the examples
// and benchmarks train:
//
//   ids [B, T] → Embedding(V → E) → RNN | LSTM | GRU (H, L layers) → Linear(H → V) → logits [B, T, V]
//
// Parameter names follow PyTorch ("encoder.weight", "rnn.weight_ih_l0",
// "decoder.bias"), so bench/char_rnn_reference.py builds the same model.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include <loom/nn/embedding.hpp>
#include <loom/nn/gru.hpp>
#include <loom/nn/linear.hpp>
#include <loom/nn/lstm.hpp>
#include <loom/nn/rnn.hpp>

namespace char_model {

enum class CellKind { lstm, gru, rnn };

inline CellKind parse_cell(const std::string& name) {
    if (name == "lstm") return CellKind::lstm;
    if (name == "gru") return CellKind::gru;
    if (name == "rnn") return CellKind::rnn;
    throw loom::Error("unknown cell '" + name + "' (expected lstm, gru or rnn)");
}

inline const char* cell_name(CellKind cell) {
    return cell == CellKind::lstm ? "lstm" : cell == CellKind::gru ? "gru" : "rnn";
}

struct Config {
    loom::index_t vocabulary_size = 0;
    loom::index_t embedding_dim = 64;
    loom::index_t hidden_size = 256;
    loom::index_t num_layers = 2;
    CellKind cell = CellKind::lstm;
    double dropout = 0.0;
};

// The recurrent state carried between calls: h (and c for an LSTM), each
// [num_layers, B, H]; undefined means zeros.
template <typename T>
struct State {
    loom::Tensor<T> h, c;
    State detached() const { return {h.defined() ? h.detach() : h, c.defined() ? c.detach() : c}; }
};

template <typename T>
class CharModel : public loom::Module<T> {
public:
    CharModel(const Config& config, loom::Generator& generator)
        : config(config),
          encoder(config.vocabulary_size, config.embedding_dim, generator),
          decoder(config.hidden_size, config.vocabulary_size, generator) {
        this->register_module("encoder", encoder);
        switch (config.cell) {
            case CellKind::lstm:
                lstm = std::make_unique<loom::LSTM<T>>(config.embedding_dim, config.hidden_size, config.num_layers,
                                                       generator, config.dropout);
                this->register_module("rnn", *lstm);
                break;
            case CellKind::gru:
                gru = std::make_unique<loom::GRU<T>>(config.embedding_dim, config.hidden_size, config.num_layers,
                                                     generator, config.dropout);
                this->register_module("rnn", *gru);
                break;
            case CellKind::rnn:
                rnn = std::make_unique<loom::RNN<T>>(config.embedding_dim, config.hidden_size, config.num_layers,
                                                     generator, loom::RnnNonlinearity::tanh, config.dropout);
                this->register_module("rnn", *rnn);
                break;
        }
        this->register_module("decoder", decoder);
    }

    // ids [B, T] -> logits [B, T, V]; `state` is read and replaced by the new state.
    loom::Tensor<T> forward(const loom::IndexTensor& ids, State<T>& state) {
        const loom::Tensor<T> embedded = encoder(ids);
        loom::Tensor<T> hidden;
        if (lstm) {
            loom::LstmOutput<T> out = (*lstm)(embedded, {state.h, state.c});
            hidden = out.output;
            state = {out.state.h, out.state.c};
        } else {
            loom::RecurrentOutput<T> out = gru ? (*gru)(embedded, state.h) : (*rnn)(embedded, state.h);
            hidden = out.output;
            state = {out.h_n, loom::Tensor<T>()};
        }
        return decoder(hidden);
    }

    // Inference only (under NoGradGuard): one character per sequence, ids [B]
    // -> logits [B, V], advancing `state` by one step (the fast path for
    // generation, see LSTM::step).
    loom::Tensor<T> step(const loom::IndexTensor& ids, State<T>& state) const {
        const loom::index_t batch = ids.numel();
        const loom::Tensor<T> embedded = encoder(ids.reshaped(loom::Shape{batch}));
        if (lstm) {
            loom::LstmState<T> next = lstm->step(embedded, {state.h, state.c});
            state = {next.h, next.c};
        } else {
            state = {gru ? gru->step(embedded, state.h) : rnn->step(embedded, state.h), loom::Tensor<T>()};
        }
        const loom::index_t H = config.hidden_size;
        return decoder(state.h.share_storage(loom::Shape{batch, H}, (config.num_layers - 1) * batch * H));
    }

    const Config config;
    loom::Embedding<T> encoder;
    std::unique_ptr<loom::LSTM<T>> lstm;  // exactly one of the three is set
    std::unique_ptr<loom::GRU<T>> gru;
    std::unique_ptr<loom::RNN<T>> rnn;
    loom::Linear<T> decoder;
};

}  // namespace char_model
