// examples/char_model.hpp — the character-level language model the examples
// and benchmarks train:
//
//   ids [B, T] → Embedding(V → E) → RNN | LSTM | GRU (H, L layers) → Linear(H → V) → logits [B, T, V]
//
// Parameter names follow PyTorch ("encoder.weight", "rnn.weight_ih_l0",
// "decoder.bias"), so bench/char_rnn_reference.py builds the same model.
//
// CharDecoder adapts a CharModel to loom::Decoder (loom/decode/decoder.hpp), so
// the decoding library (greedy, beam search, sampling, streaming) drives it;
// load_char_model() rebuilds a model and its vocabulary from a char_rnn
// checkpoint (examples/generate.cpp uses both).
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <loom/autograd/grad_mode.hpp>
#include <loom/data/vocabulary.hpp>
#include <loom/decode/decoder.hpp>
#include <loom/nn/embedding.hpp>
#include <loom/nn/gru.hpp>
#include <loom/nn/linear.hpp>
#include <loom/nn/lstm.hpp>
#include <loom/nn/rnn.hpp>
#include <loom/ops/softmax.hpp>
#include <loom/train/checkpoint.hpp>

#include "model_metadata.hpp"

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
    // `packed`, if given, holds the LSTM's weights packed for several rows per
    // batch (LSTM::pack_for_inference; see CharDecoder).
    loom::Tensor<T> step(const loom::IndexTensor& ids, State<T>& state,
                         const loom::LstmInferenceWeights<T>* packed = nullptr) const {
        const loom::index_t batch = ids.numel();
        const loom::Tensor<T> embedded = encoder(ids.reshaped(loom::Shape{batch}));
        if (lstm) {
            loom::LstmState<T> next = lstm->step(embedded, {state.h, state.c}, packed);
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

// A CharModel as a loom::Decoder: the decoding library's view of "a model that
// reads one token per row and says what comes next". Inference only: every call
// runs under NoGradGuard, and the constructor puts the model in eval mode (no
// dropout). The state is one row per hypothesis, h (and c) [L, batch, H].
//
//   char_model::CharDecoder<float> decoder(model);
//   loom::Tensor<float> log_probs = decoder.start(prompt_ids, 5);   // [5, V]
//   log_probs = decoder.advance({3, 3, 7, 1, 0});                   // one token per row
//   decoder.reorder({0, 0, 2, 1, 4});                               // keep / copy rows
//   log_probs = decoder.start_rows({{4, 2}, {7, 7, 1}});            // [2, V]: a row per prompt
template <typename T>
class CharDecoder : public loom::Decoder<T> {
public:
    explicit CharDecoder(CharModel<T>& model) : model_(model) { model_.eval(); }

    loom::index_t vocabulary_size() const override { return model_.config.vocabulary_size; }
    loom::index_t batch_size() const { return batch_; }
    const State<T>& state() const { return state_; }

    // Runs the prompt once (batch 1, the whole sequence in one forward call) and
    // copies the resulting state to `batch` rows. Returns log-probs [batch, V].
    loom::Tensor<T> start(const std::vector<loom::index_t>& prompt, loom::index_t batch) override {
        loom::detail::check(!prompt.empty(), "char_model::CharDecoder::start: the prompt is empty (the model needs at "
                                             "least one character to predict the next one)");
        loom::detail::check(batch >= 1, "char_model::CharDecoder::start: batch must be >= 1, got ", batch);
        check_ids("start", prompt);
        loom::NoGradGuard no_grad;
        model_.eval();
        const auto length = static_cast<loom::index_t>(prompt.size());
        const loom::index_t V = vocabulary_size();
        state_ = State<T>();
        packed_.reset();
        const loom::Tensor<T> logits = model_.forward(loom::IndexTensor(prompt, loom::Shape{1, length}), state_);
        const loom::Tensor<T> last = logits.share_storage(loom::Shape{1, V}, (length - 1) * V);
        batch_ = 1;
        const loom::Tensor<T> log_probs = loom::log_softmax(last);
        if (batch == 1) return log_probs;
        const std::vector<loom::index_t> copies(static_cast<std::size_t>(batch), 0);
        reorder(copies);
        return gather_rows(log_probs.share_storage(loom::Shape{1, 1, V}), copies).share_storage(loom::Shape{batch, V});
    }

    // One row per prompt (batched generation, loom/decode/batched_generation.hpp).
    // The prompts are read together, in time chunks, like PyTorch's packed
    // sequences: sorted longest first, the prompts still being read are
    // always the first rows. Each chunk runs from the current position to the
    // end of the shortest prompt still being read, in one whole-sequence
    // forward() over those rows (the kernels start() uses); the prompts that
    // end there copy their state and last log-probs out to their own row and
    // drop off the end of the batch. So 64 prompts of up to n characters cost
    // one forward() per distinct length, n positions in all, instead of 64
    // forward() calls at batch 1. Returns log-probs [prompts.size(), V], row i
    // for prompts[i]; they agree with start(prompts[i], 1)'s to rounding.
    loom::Tensor<T> start_rows(const std::vector<std::vector<loom::index_t>>& prompts) override {
        loom::detail::check(!prompts.empty(), "char_model::CharDecoder::start_rows: no prompts given");
        for (std::size_t i = 0; i < prompts.size(); ++i) {
            loom::detail::check(!prompts[i].empty(), "char_model::CharDecoder::start_rows: prompt ", i, " is empty");
            check_ids("start_rows: prompt " + std::to_string(i), prompts[i]);
        }
        loom::NoGradGuard no_grad;
        model_.eval();
        const auto count = static_cast<loom::index_t>(prompts.size());
        const loom::index_t V = vocabulary_size(), L = model_.config.num_layers, H = model_.config.hidden_size;
        state_ = State<T>();
        packed_.reset();
        batch_ = 0;

        std::vector<std::size_t> order(prompts.size());  // prompt of reading row r, longest first
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::stable_sort(order.begin(), order.end(),
                         [&prompts](std::size_t a, std::size_t b) { return prompts[a].size() > prompts[b].size(); });

        State<T> final_state{loom::Tensor<T>::empty(loom::Shape{L, count, H}),
                             model_.lstm ? loom::Tensor<T>::empty(loom::Shape{L, count, H}) : loom::Tensor<T>()};
        loom::Tensor<T> log_probs = loom::Tensor<T>::empty(loom::Shape{count, V});
        State<T> reading;  // the rows still reading, [L, rows, H]; undefined (zeros) at first
        std::size_t rows = order.size();
        for (std::size_t from = 0; rows > 0;) {
            const std::size_t to = prompts[order[rows - 1]].size();  // the shortest prompt still reading ends here
            const auto span = static_cast<loom::index_t>(to - from);
            std::vector<loom::index_t> ids;
            for (std::size_t r = 0; r < rows; ++r)
                ids.insert(ids.end(), prompts[order[r]].begin() + static_cast<std::ptrdiff_t>(from),
                           prompts[order[r]].begin() + static_cast<std::ptrdiff_t>(to));
            const auto batch = static_cast<loom::index_t>(rows);
            const loom::Tensor<T> logits = model_.forward(loom::IndexTensor(ids, loom::Shape{batch, span}), reading);
            std::size_t still_reading = rows;
            while (still_reading > 0 && prompts[order[still_reading - 1]].size() == to) --still_reading;
            for (std::size_t r = still_reading; r < rows; ++r) {  // these prompts end at `to`
                const auto row = static_cast<loom::index_t>(r), prompt = static_cast<loom::index_t>(order[r]);
                const loom::Tensor<T> last = logits.share_storage(loom::Shape{1, V}, (row * span + span - 1) * V);
                copy_row(loom::log_softmax(last).data(), log_probs.data() + prompt * V, V);
                for (loom::index_t l = 0; l < L; ++l) {
                    const loom::index_t from_row = (l * batch + row) * H, to_row = (l * count + prompt) * H;
                    copy_row(reading.h.data() + from_row, final_state.h.data() + to_row, H);
                    if (reading.c.defined()) copy_row(reading.c.data() + from_row, final_state.c.data() + to_row, H);
                }
            }
            if (still_reading > 0) {  // the others read on, in the first rows
                std::vector<loom::index_t> first_rows(still_reading);
                for (std::size_t r = 0; r < still_reading; ++r) first_rows[r] = static_cast<loom::index_t>(r);
                reading.h = gather_rows(reading.h, first_rows);
                if (reading.c.defined()) reading.c = gather_rows(reading.c, first_rows);
            }
            rows = still_reading;
            from = to;
        }
        state_ = final_state;
        batch_ = count;
        return log_probs;
    }

    // One step with one token per row (the fast inference path, CharModel::step).
    loom::Tensor<T> advance(const std::vector<loom::index_t>& tokens) override {
        loom::detail::check(batch_ > 0, "char_model::CharDecoder::advance: call start() first");
        loom::detail::check(static_cast<loom::index_t>(tokens.size()) == batch_, "char_model::CharDecoder::advance: ",
                            tokens.size(), " tokens for a batch of ", batch_, " rows");
        check_ids("advance", tokens);
        loom::NoGradGuard no_grad;
        // An LSTM steps through its weights packed once, at the first step
        // after start(): every step then reads each weight once, however many
        // rows (beams) there are (LSTM::pack_for_inference).
        // Quantized weights (loom::quantize) are already in their kernels' layout.
        if (model_.lstm && !packed_ && !model_.lstm->has_quantized_weights()) packed_ = model_.lstm->pack_for_inference();
        return loom::log_softmax(model_.step(loom::IndexTensor(tokens), state_, packed_ ? &*packed_ : nullptr));
    }

    // Keeps the state rows `rows` (indices into the current batch; they may
    // repeat or leave rows out), in that order. The identity costs nothing.
    void reorder(const std::vector<loom::index_t>& rows) override {
        loom::detail::check(batch_ > 0, "char_model::CharDecoder::reorder: call start() first");
        loom::detail::check(!rows.empty(), "char_model::CharDecoder::reorder: no rows given");
        bool identity = static_cast<loom::index_t>(rows.size()) == batch_;
        for (std::size_t i = 0; i < rows.size(); ++i) {
            loom::detail::check(rows[i] >= 0 && rows[i] < batch_, "char_model::CharDecoder::reorder: row ", rows[i],
                                " at position ", i, " is out of range for a batch of ", batch_, " rows");
            identity = identity && rows[i] == static_cast<loom::index_t>(i);
        }
        if (identity) return;
        if (state_.h.defined()) state_.h = gather_rows(state_.h, rows);
        if (state_.c.defined()) state_.c = gather_rows(state_.c, rows);
        batch_ = static_cast<loom::index_t>(rows.size());
    }

private:
    static void copy_row(const T* from, T* to, loom::index_t count) {
        std::memcpy(to, from, static_cast<std::size_t>(count) * sizeof(T));
    }

    // New tensor [L, rows.size(), H] with out[l, i, :] = source[l, rows[i], :].
    static loom::Tensor<T> gather_rows(const loom::Tensor<T>& source, const std::vector<loom::index_t>& rows) {
        const loom::index_t L = source.shape()[0], B = source.shape()[1], H = source.shape()[2];
        const auto R = static_cast<loom::index_t>(rows.size());
        loom::Tensor<T> out = loom::Tensor<T>::empty(loom::Shape{L, R, H});
        const T* from = source.data();
        T* to = out.data();
        for (loom::index_t l = 0; l < L; ++l)
            for (loom::index_t i = 0; i < R; ++i)
                std::memcpy(to + (l * R + i) * H, from + (l * B + rows[static_cast<std::size_t>(i)]) * H,
                            static_cast<std::size_t>(H) * sizeof(T));
        return out;
    }

    void check_ids(const std::string& where, const std::vector<loom::index_t>& ids) const {
        const loom::index_t V = vocabulary_size();
        for (std::size_t i = 0; i < ids.size(); ++i)
            loom::detail::check(ids[i] >= 0 && ids[i] < V, "char_model::CharDecoder::", where, ": token ", ids[i],
                                " at position ", i, " is out of range for a vocabulary of ", V);
    }

    CharModel<T>& model_;
    std::optional<loom::LstmInferenceWeights<T>> packed_;  // a snapshot of the weights, made after start()
    State<T> state_;
    loom::index_t batch_ = 0;  // rows in the state; 0 before start()
};

// A model rebuilt from a char_rnn checkpoint, with the vocabulary it was trained on.
template <typename T>
struct LoadedCharModel {
    Config config;
    std::unique_ptr<CharModel<T>> model;
    std::shared_ptr<const loom::Tokenizer> tokenizer;
};

// Reads the model.* metadata of a checkpoint written by examples/char_rnn
// (model.kind must be "char_rnn"), builds the model with that configuration and
// restores its weights. Errors name the file and the metadata key.
template <typename T = float>
LoadedCharModel<T> load_char_model(const std::string& path) {
    const loom::Checkpoint<T> checkpoint = loom::Checkpoint<T>::load(path);
    const examples::ModelMetadata<T> metadata(checkpoint, path, "char_model::load_char_model", "char_rnn");
    LoadedCharModel<T> loaded;
    Config& config = loaded.config;
    const std::string& cell = metadata.text("model.cell");
    if (cell != "lstm" && cell != "gru" && cell != "rnn")
        metadata.fail("model.cell", "is '" + cell + "', expected lstm, gru or rnn");
    config.cell = parse_cell(cell);
    config.vocabulary_size = metadata.integer("model.vocabulary_size");
    config.embedding_dim = metadata.integer("model.embedding_dim");
    config.hidden_size = metadata.integer("model.hidden_size");
    config.num_layers = metadata.integer("model.num_layers");
    config.dropout = metadata.real("model.dropout");
    loaded.tokenizer = metadata.tokenizer(config.vocabulary_size);
    loom::Generator generator(0);  // the initial weights are overwritten by the checkpoint's
    loaded.model = std::make_unique<CharModel<T>>(config, generator);
    checkpoint.restore_model(*loaded.model);
    loaded.model->eval();
    return loaded;
}

}  // namespace char_model
