// loom/nn/seq2seq.hpp — a recurrent encoder–decoder (Sutskever et al. 2014,
// Cho et al. 2014) with optional attention over the encoder's outputs
// (Bahdanau et al. 2015, Luong et al. 2015) and coverage (See et al. 2017).
//
// Source ids x [B, S] with lengths n_b, target ids y [B, T] that start with a
// begin token and end (at position m_b − 1) with an end token, m_b its length:
//
//   encoder    m = BiRNN(E_src x)         [B, S, D·H] (D = 2 directions), padded steps zero
//   bridge     s_0 = tanh(W_bh [h→ ; h←] + b_bh)   the top layer's final states, each at
//              c_0 = W_bc [c→ ; c←] + b_bc          its row's last real step (LSTM only)
//   step t = 1 .. T−1 (teacher forcing: the decoder reads the reference y_{t−1})
//     attention  (ctx_t, a_t) = Attn(s_{t−1}, m, cov_{t−1})        cov_0 = 0, cov_t = cov_{t−1} + a_t
//     cell       s_t = Cell([E_tgt y_{t−1} ; ctx_t], s_{t−1})
//     output     logits_t = W_o [s_t ; ctx_t] + b_o                  predicts y_t
//   loss = (1/N) Σ_b Σ_{t<m_b} −log softmax(logits_t)[y_t]
//        + λ (1/N) Σ_b Σ_{t<m_b} Σ_i min(a_t,i , cov_{t−1},i)        (coverage only)
//   N = Σ_b (m_b − 1), the real target tokens
//
// Without attention the cell reads E_tgt y_{t−1} alone and the output is
// W_o s_t: all the source reaches the decoder through s_0. The query of step
// t's attention is s_{t−1}, the state before the cell (Bahdanau's order), for
// both score functions; Luong uses the general score sᵀ W_a m_i, since s and
// m_i differ in size when the encoder is bidirectional.
//
// The backward is the autograd graph of these ops: the fused recurrent ops
// (ops/lstm.hpp, ops/gru.hpp, BPTT over the padded batch), the attention ops
// (ops/memory_attention.hpp) and cross-entropy with ignore_index for the
// padding (ops/cross_entropy.hpp). Parameter names, in this order:
//   source_embedding.weight, encoder.{weight,bias}_{ih,hh}_l{k}[_reverse],
//   bridge_h.*, bridge_c.* (LSTM), target_embedding.weight,
//   decoder.{weight,bias}_{ih,hh} (an LSTMCell / GRUCell), attention.*, output.*
// — the names of the same model written with torch.nn modules.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "loom/autograd/grad_mode.hpp"
#include "loom/data/seq2seq_batch.hpp"
#include "loom/nn/embedding.hpp"
#include "loom/nn/gru.hpp"
#include "loom/nn/linear.hpp"
#include "loom/nn/lstm.hpp"
#include "loom/nn/memory_attention.hpp"
#include "loom/nn/module.hpp"
#include "loom/ops/activation.hpp"
#include "loom/ops/concat.hpp"
#include "loom/ops/cross_entropy.hpp"
#include "loom/ops/reduce.hpp"
#include "loom/ops/slice.hpp"

namespace loom {

enum class Seq2SeqCell { lstm, gru };
enum class Seq2SeqAttention { none, bahdanau, luong };

inline Seq2SeqCell parse_seq2seq_cell(const std::string& name) {
    if (name == "lstm") return Seq2SeqCell::lstm;
    if (name == "gru") return Seq2SeqCell::gru;
    detail::fail("loom::Seq2Seq: unknown cell '", name, "' (expected lstm or gru)");
}
inline const char* to_string(Seq2SeqCell cell) { return cell == Seq2SeqCell::lstm ? "lstm" : "gru"; }

inline Seq2SeqAttention parse_seq2seq_attention(const std::string& name) {
    if (name == "none") return Seq2SeqAttention::none;
    if (name == "bahdanau") return Seq2SeqAttention::bahdanau;
    if (name == "luong") return Seq2SeqAttention::luong;
    detail::fail("loom::Seq2Seq: unknown attention '", name, "' (expected none, bahdanau or luong)");
}
inline const char* to_string(Seq2SeqAttention attention) {
    return attention == Seq2SeqAttention::none ? "none" : attention == Seq2SeqAttention::bahdanau ? "bahdanau" : "luong";
}

struct Seq2SeqConfig {
    index_t source_vocabulary = 0, target_vocabulary = 0;
    index_t embedding_dim = 64;
    index_t hidden_size = 128;        // H: per encoder direction, and the decoder's
    index_t encoder_layers = 1;
    bool bidirectional_encoder = true;
    Seq2SeqCell cell = Seq2SeqCell::lstm;
    Seq2SeqAttention attention = Seq2SeqAttention::bahdanau;
    bool coverage = false;            // coverage in the scores and the coverage loss
    double coverage_loss_weight = 1.0;  // λ
    index_t attention_size = 0;       // Bahdanau's A (0: hidden_size)
};

// The decoder's state between steps, one row per sequence.
template <typename T>
struct Seq2SeqState {
    Tensor<T> h;         // [B, H]
    Tensor<T> c;         // [B, H], LSTM only
    Tensor<T> coverage;  // [B, S], with coverage only
};

template <typename T>
struct EncodedSource {
    EncodedMemory<T> memory;  // empty without attention
    Seq2SeqState<T> initial;  // s_0 (and c_0, cov_0)
};

template <typename T>
struct Seq2SeqStep {
    Seq2SeqState<T> state;    // s_t
    Tensor<T> features;       // [s_t ; ctx_t] (or s_t), what the output layer reads
    Tensor<T> weights;        // a_t [B, S], with attention only
    Tensor<T> coverage_loss;  // Σ_b Σ_i min(a_t,i, cov_{t−1},i), with coverage only
};

template <typename T>
struct Seq2SeqLoss {
    Tensor<T> total;          // what to backpropagate
    Tensor<T> cross_entropy;  // mean over the real target tokens
    Tensor<T> coverage;       // mean coverage loss per real target token (undefined without coverage)
};

namespace detail {

inline Seq2SeqConfig checked_seq2seq_config(Seq2SeqConfig c) {
    check(c.source_vocabulary > 0 && c.target_vocabulary > 0, "loom::Seq2Seq: vocabularies must be non-empty, got ",
          c.source_vocabulary, " source and ", c.target_vocabulary, " target tokens");
    check(c.embedding_dim > 0 && c.hidden_size > 0 && c.encoder_layers > 0 && c.attention_size >= 0,
          "loom::Seq2Seq: embedding_dim ", c.embedding_dim, ", hidden_size ", c.hidden_size, " and encoder_layers ",
          c.encoder_layers, " must be positive, attention_size ", c.attention_size, " >= 0");
    check(!c.coverage || c.attention != Seq2SeqAttention::none,
          "loom::Seq2Seq: coverage needs attention (bahdanau or luong), got attention none");
    check(c.coverage_loss_weight >= 0.0, "loom::Seq2Seq: coverage_loss_weight must be >= 0, got ",
          c.coverage_loss_weight);
    if (c.attention_size == 0) c.attention_size = c.hidden_size;
    return c;
}

inline void check_ids(const char* op, const char* what, const IndexTensor& ids, index_t vocabulary) {
    for (index_t i = 0; i < ids.numel(); ++i)
        check(ids[i] >= 0 && ids[i] < vocabulary, op, ": ", what, " id ", ids[i], " at position ", i,
              " is outside the vocabulary of ", vocabulary, " tokens");
}

inline void check_lengths(const char* op, const char* what, const std::vector<index_t>& lengths, index_t batch,
                          index_t padded, index_t shortest) {
    check(static_cast<index_t>(lengths.size()) == batch, op, ": ", lengths.size(), " ", what, " lengths for a batch of ",
          batch, " rows");
    for (std::size_t b = 0; b < lengths.size(); ++b)
        check(lengths[b] >= shortest && lengths[b] <= padded, op, ": ", what, " length ", lengths[b], " of row ", b,
              " is outside [", shortest, ", ", padded, "] (the padded size is ", padded, ")");
}

}  // namespace detail

template <typename T>
class Seq2Seq : public Module<T> {
public:
    Seq2Seq(const Seq2SeqConfig& config, Generator& generator)
        : config(detail::checked_seq2seq_config(config)),
          directions(this->config.bidirectional_encoder ? 2 : 1),
          memory_size(directions * this->config.hidden_size),
          source_embedding(this->config.source_vocabulary, this->config.embedding_dim, generator),
          bridge_h(memory_size, this->config.hidden_size, generator),
          bridge_c(memory_size, this->config.hidden_size, generator),
          target_embedding(this->config.target_vocabulary, this->config.embedding_dim, generator),
          output(feature_size(), this->config.target_vocabulary, generator) {
        const Seq2SeqConfig& c = this->config;
        const bool lstm = c.cell == Seq2SeqCell::lstm;
        const index_t cell_input = c.embedding_dim + (has_attention() ? memory_size : 0);
        this->register_module("source_embedding", source_embedding);
        if (lstm) {
            encoder_lstm = std::make_unique<LSTM<T>>(c.embedding_dim, c.hidden_size, c.encoder_layers, generator, 0.0,
                                                     true, c.bidirectional_encoder);
            this->register_module("encoder", *encoder_lstm);
        } else {
            encoder_gru = std::make_unique<GRU<T>>(c.embedding_dim, c.hidden_size, c.encoder_layers, generator, 0.0,
                                                   true, c.bidirectional_encoder);
            this->register_module("encoder", *encoder_gru);
        }
        this->register_module("bridge_h", bridge_h);
        if (lstm) this->register_module("bridge_c", bridge_c);
        this->register_module("target_embedding", target_embedding);
        if (lstm) {
            decoder_lstm = std::make_unique<LSTMCell<T>>(cell_input, c.hidden_size, generator);
            this->register_module("decoder", *decoder_lstm);
        } else {
            decoder_gru = std::make_unique<GRUCell<T>>(cell_input, c.hidden_size, generator);
            this->register_module("decoder", *decoder_gru);
        }
        if (c.attention == Seq2SeqAttention::bahdanau) {
            bahdanau = std::make_unique<BahdanauAttention<T>>(c.hidden_size, memory_size, c.attention_size, generator,
                                                              c.coverage);
            this->register_module("attention", *bahdanau);
        } else if (c.attention == Seq2SeqAttention::luong) {
            luong = std::make_unique<LuongAttention<T>>(c.hidden_size, memory_size, LuongScore::general, generator,
                                                        c.coverage);
            this->register_module("attention", *luong);
        }
        this->register_module("output", output);
    }

    bool has_attention() const { return config.attention != Seq2SeqAttention::none; }

    // Runs the encoder over source [B, S] (lengths: each row's real length,
    // empty: all S) and returns the memory and the decoder's first state.
    EncodedSource<T> encode(const IndexTensor& source, const std::vector<index_t>& lengths = {});

    // One decoder step: the embedded previous tokens [B, embedding_dim].
    Seq2SeqStep<T> step(const Tensor<T>& embedded, const Seq2SeqState<T>& state, const EncodedMemory<T>& memory);

    // The logits [..., target_vocabulary] of step features [..., feature_size()].
    Tensor<T> logits(const Tensor<T>& features) const { return output(features); }

    // Teacher-forced loss of a padded batch (the equations above).
    Seq2SeqLoss<T> loss(const Seq2SeqBatch& batch);

    index_t feature_size() const { return config.hidden_size + (has_attention() ? memory_size : 0); }

    const Seq2SeqConfig config;
    const index_t directions, memory_size;
    Embedding<T> source_embedding;
    std::unique_ptr<LSTM<T>> encoder_lstm;  // exactly one encoder, one decoder cell
    std::unique_ptr<GRU<T>> encoder_gru;
    Linear<T> bridge_h, bridge_c;
    Embedding<T> target_embedding;
    std::unique_ptr<LSTMCell<T>> decoder_lstm;
    std::unique_ptr<GRUCell<T>> decoder_gru;
    std::unique_ptr<BahdanauAttention<T>> bahdanau;  // at most one attention
    std::unique_ptr<LuongAttention<T>> luong;
    Linear<T> output;

private:
    static constexpr index_t ignored = -100;

    // [h→ ; h←] of the top layer from a state [D·L, B, H] (PyTorch's row order:
    // layer k's forward direction at row D·k, its reverse at D·k + 1).
    Tensor<T> top_layer_state(const Tensor<T>& state, index_t batch) const;

    // The step's coverage loss over the rows whose target is still running
    // (t < m_b − 1): min(0, cov) = 0, so zeroing a_t in the other rows drops them.
    Tensor<T> masked_coverage_loss(const Seq2SeqStep<T>& next, const Seq2SeqState<T>& before,
                                   const std::vector<index_t>& target_lengths, index_t t) const;

    // Checks the batch and returns its number of rows.
    index_t checked_rows(const char* op, const Seq2SeqBatch& batch) const {
        detail::check(batch.source.rank() == 2 && batch.target.rank() == 2, op,
                      ": source and target must be [batch, length], got shapes ", batch.source.shape(), " and ",
                      batch.target.shape());
        const index_t rows = batch.target.shape()[0];
        detail::check(rows == batch.source.shape()[0], op, ": ", batch.source.shape()[0], " sources but ", rows,
                      " targets (shapes ", batch.source.shape(), " and ", batch.target.shape(), ")");
        detail::check(batch.target.shape()[1] >= 2, op, ": targets need a begin and an end token, got shape ",
                      batch.target.shape());
        detail::check_lengths(op, "target", batch.target_lengths, rows, batch.target.shape()[1], 2);
        detail::check_ids(op, "target", batch.target, config.target_vocabulary);
        return rows;
    }
};

// The member functions that run the layers are defined here, outside the
// class, so that a program can compile them once (extern template; see
// examples/seq2seq_model.hpp).

template <typename T>
EncodedSource<T> Seq2Seq<T>::encode(const IndexTensor& source, const std::vector<index_t>& lengths) {
    const char* op = "loom::Seq2Seq::encode";
    detail::check(source.rank() == 2 && source.shape()[1] > 0, op, ": source must be [batch, length] with length "
                  ">= 1, got shape ", source.shape());
    const index_t batch = source.shape()[0], length = source.shape()[1];
    detail::check(batch > 0, op, ": the batch is empty");
    if (!lengths.empty()) detail::check_lengths(op, "source", lengths, batch, length, 1);
    detail::check_ids(op, "source", source, config.source_vocabulary);

    const Tensor<T> embedded = source_embedding(source);
    Tensor<T> outputs, h_n, c_n;
    if (encoder_lstm) {
        LstmOutput<T> encoded = (*encoder_lstm)(embedded, {}, lengths);
        outputs = encoded.output;
        h_n = encoded.state.h;
        c_n = encoded.state.c;
    } else {
        RecurrentOutput<T> encoded = (*encoder_gru)(embedded, Tensor<T>(), lengths);
        outputs = encoded.output;
        h_n = encoded.h_n;
    }
    EncodedSource<T> encoded;
    encoded.initial.h = tanh(bridge_h(top_layer_state(h_n, batch)));
    if (encoder_lstm) encoded.initial.c = bridge_c(top_layer_state(c_n, batch));
    if (bahdanau) encoded.memory = bahdanau->prepare(outputs, lengths);
    if (luong) encoded.memory = luong->prepare(outputs, lengths);
    if (config.coverage) encoded.initial.coverage = Tensor<T>::zeros(Shape{batch, length});
    return encoded;
}

template <typename T>
Seq2SeqStep<T> Seq2Seq<T>::step(const Tensor<T>& embedded, const Seq2SeqState<T>& state, const EncodedMemory<T>& memory) {
    Seq2SeqStep<T> result;
    Tensor<T> input = embedded, context;
    if (has_attention()) {
        const AttentionStep<T> read =
            bahdanau ? (*bahdanau)(state.h, memory, state.coverage) : (*luong)(state.h, memory, state.coverage);
        context = read.context;
        result.weights = read.weights;
        result.coverage_loss = read.coverage_loss;
        result.state.coverage = read.coverage;
        input = concat(std::vector<Tensor<T>>{embedded, context}, 1);
    }
    // Without a graph (decoding) the cell runs its one-step inference kernel:
    // the sequence op on a length-1 sequence re-packs the weights every step,
    // which made beam search ~30 % slower on two threads (docs/performance.md).
    // gradcheck_parameters evaluates its differences this way, so it checks
    // the graph's gradient against these kernels' values (they agree to rounding).
    const bool graph = is_grad_enabled();
    if (decoder_lstm) {
        const LstmState<T> next =
            graph ? (*decoder_lstm)(input, {state.h, state.c}) : decoder_lstm->step(input, {state.h, state.c});
        result.state.h = next.h;
        result.state.c = next.c;
    } else {
        result.state.h = graph ? (*decoder_gru)(input, state.h) : decoder_gru->step(input, state.h);
    }
    result.features = context.defined() ? concat(std::vector<Tensor<T>>{result.state.h, context}, 1) : result.state.h;
    return result;
}

template <typename T>
Seq2SeqLoss<T> Seq2Seq<T>::loss(const Seq2SeqBatch& batch) {
    const char* op = "loom::Seq2Seq::loss";
    const index_t rows = checked_rows(op, batch);
    const index_t steps = batch.target.shape()[1] - 1;
    const EncodedSource<T> encoded = encode(batch.source, batch.source_lengths);

    std::vector<index_t> inputs, targets;  // y_{t−1} and y_t (ignore_index past each row's end)
    for (index_t b = 0; b < rows; ++b)
        for (index_t t = 0; t < steps; ++t) {
            inputs.push_back(batch.target[b * (steps + 1) + t]);
            targets.push_back(t + 1 < batch.target_lengths[static_cast<std::size_t>(b)]
                                  ? batch.target[b * (steps + 1) + t + 1] : ignored);
        }
    const Tensor<T> embedded = target_embedding(IndexTensor(inputs, Shape{rows, steps}));
    std::vector<Tensor<T>> features;
    Tensor<T> coverage_sum;
    Seq2SeqState<T> state = encoded.initial;
    for (index_t t = 0; t < steps; ++t) {
        Seq2SeqStep<T> next =
            step(reshape(narrow(embedded, 1, t, 1), {rows, config.embedding_dim}), state, encoded.memory);
        features.push_back(next.features);
        if (config.coverage) {
            const Tensor<T> step_loss = masked_coverage_loss(next, state, batch.target_lengths, t);
            coverage_sum = coverage_sum.defined() ? add(coverage_sum, step_loss) : step_loss;
        }
        state = next.state;
    }
    const Tensor<T> logits = output(stack(features, 1));  // [B, T−1, V]
    Seq2SeqLoss<T> result;
    result.cross_entropy = cross_entropy(reshape(logits, {rows * steps, config.target_vocabulary}),
                                         IndexTensor(targets, Shape{rows * steps}), ignored);
    result.total = result.cross_entropy;
    if (config.coverage) {
        index_t tokens = 0;
        for (index_t m : batch.target_lengths) tokens += m - 1;
        result.coverage = mul(coverage_sum, T(1) / static_cast<T>(tokens));
        result.total = add(result.total, mul(result.coverage, static_cast<T>(config.coverage_loss_weight)));
    }
    return result;
}

template <typename T>
Tensor<T> Seq2Seq<T>::top_layer_state(const Tensor<T>& state, index_t batch) const {
    const index_t H = config.hidden_size, top = (config.encoder_layers - 1) * directions;
    std::vector<Tensor<T>> parts;
    for (index_t d = 0; d < directions; ++d) parts.push_back(reshape(narrow(state, 0, top + d, 1), {batch, H}));
    return directions == 1 ? parts[0] : concat(parts, 1);
}

template <typename T>
Tensor<T> Seq2Seq<T>::masked_coverage_loss(const Seq2SeqStep<T>& next, const Seq2SeqState<T>& before,
                                             const std::vector<index_t>& target_lengths, index_t t) const {
    const auto rows = static_cast<index_t>(target_lengths.size());
    std::vector<T> running(target_lengths.size());
    bool all_running = true;
    for (std::size_t b = 0; b < target_lengths.size(); ++b) {
        running[b] = t + 1 < target_lengths[b] ? T(1) : T(0);
        all_running = all_running && running[b] == T(1);
    }
    if (all_running) return next.coverage_loss;
    return coverage_loss(mul(next.weights, Tensor<T>::from_vector(running, Shape{rows, 1})), before.coverage);
}

}  // namespace loom
