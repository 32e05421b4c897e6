// examples/char_cnn_model.hpp — a WaveNet-style character model: a stack of
// causal dilated convolutions with residual connections.
//
//   ids [B, T] → Embedding(V → C) → h_0 [B, T, C]
//   for l = 0 … L−1:   h_{l+1} = h_l + act(causal_conv_l(h_l))
//                      causal_conv_l: Conv1d(C → C, kernel K, dilation 2^(l mod cycle), causal)
//   logits = Linear(C → V)(h_L)                                         [B, T, V]
//
// act is ReLU or GELU. The stack runs in the channels-last layout [B, T, C] of
// the embedding and the head, through Conv1d::forward_sequence, so no layer
// transposes anything (the parameters are PyTorch's either way). Output t reads
// ids t − R + 1 … t, with the
// receptive field R = 1 + Σ_l (K − 1)·d_l (31 for K = 3 and dilations 1, 2, 4, 8).
// Parameter names follow PyTorch (a ModuleList "convs" of nn.Conv1d):
// "embedding.weight", "convs.0.weight", "convs.0.bias", …, "head.weight", "head.bias".
//
// CharCnnDecoder adapts the model to loom::Decoder for the decoding library.
// It never recomputes the past: each layer keeps its last (K−1)·d inputs in a
// ring buffer (loom::Conv1dStepState, see loom/nn/conv1d.hpp), so one new
// character costs O(L·C²·K + C·V), however long the text already is.
// load_char_cnn_model() rebuilds a model and its vocabulary from a char_cnn
// checkpoint (model.kind = "char_cnn").
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <loom/autograd/grad_mode.hpp>
#include <loom/data/vocabulary.hpp>
#include <loom/decode/decoder.hpp>
#include <loom/nn/conv1d.hpp>
#include <loom/nn/embedding.hpp>
#include <loom/nn/linear.hpp>
#include <loom/nn/module_list.hpp>
#include <loom/ops/activation.hpp>
#include <loom/ops/arithmetic.hpp>
#include <loom/ops/softmax.hpp>
#include <loom/train/checkpoint.hpp>

#include "model_metadata.hpp"

namespace char_cnn {

enum class Activation { relu, gelu };

inline Activation parse_activation(const std::string& name) {
    if (name == "relu") return Activation::relu;
    if (name == "gelu") return Activation::gelu;
    throw loom::Error("unknown activation '" + name + "' (expected relu or gelu)");
}

inline const char* activation_name(Activation activation) { return activation == Activation::relu ? "relu" : "gelu"; }

struct Config {
    loom::index_t vocabulary_size = 0;
    loom::index_t channels = 128;       // C: embedding size and width of every layer
    loom::index_t num_layers = 4;       // L
    loom::index_t kernel_size = 3;      // K
    loom::index_t dilation_cycle = 4;   // dilations 1, 2, …, 2^(cycle−1), then again from 1
    Activation activation = Activation::relu;

    loom::index_t dilation(loom::index_t layer) const { return loom::index_t{1} << (layer % dilation_cycle); }
    // Inputs one output depends on: 1 + Σ_l (K − 1)·d_l.
    loom::index_t receptive_field() const {
        loom::index_t field = 1;
        for (loom::index_t l = 0; l < num_layers; ++l) field += (kernel_size - 1) * dilation(l);
        return field;
    }
};

inline void check_config(const Config& config) {
    loom::detail::check(config.vocabulary_size > 0 && config.channels > 0 && config.num_layers > 0 &&
                            config.kernel_size > 0,
                        "char_cnn::Config: vocabulary_size, channels, num_layers and kernel_size must be positive, got ",
                        config.vocabulary_size, ", ", config.channels, ", ", config.num_layers, ", ",
                        config.kernel_size);
    loom::detail::check(config.dilation_cycle >= 1 && config.dilation_cycle <= 30,
                        "char_cnn::Config: dilation_cycle must be in [1, 30], got ", config.dilation_cycle);
}

// The per-layer ring buffers of the incremental path, one per conv layer.
template <typename T>
using StepStates = std::vector<loom::Conv1dStepState<T>>;

template <typename T>
class CharCnnModel : public loom::Module<T> {
public:
    CharCnnModel(const Config& config, loom::Generator& generator)
        : config((check_config(config), config)),
          embedding(config.vocabulary_size, config.channels, generator),
          head(config.channels, config.vocabulary_size, generator) {
        this->register_module("embedding", embedding);
        for (loom::index_t l = 0; l < config.num_layers; ++l)
            convs.emplace_back(config.channels, config.channels, config.kernel_size, generator, 1, 0,
                               config.dilation(l), true, true);
        this->register_module("convs", convs);
        this->register_module("head", head);
    }

    // ids [B, T] -> logits [B, T, V]. With `prime`, also leaves each layer's
    // ring buffer as if the T characters had been stepped through (inference
    // only: the decoder reads a prompt this way).
    loom::Tensor<T> forward(const loom::IndexTensor& ids, StepStates<T>* prime = nullptr) const {
        loom::detail::check(ids.rank() == 2, "char_cnn::CharCnnModel::forward: ids must be [batch, length], got ",
                            ids.shape());
        if (prime != nullptr) *prime = StepStates<T>(convs.size());
        loom::Tensor<T> h = embedding(ids);  // [B, T, C]: channels-last all the way, no transposes
        for (std::size_t l = 0; l < convs.size(); ++l) {
            const loom::Conv1d<T>& conv = convs[l];
            if (prime != nullptr) conv.prime(h, (*prime)[l]);
            h = loom::add(h, activate(conv.forward_sequence(h)));
        }
        return head(h);
    }

    // Inference only (under NoGradGuard): one character per row, ids [B] ->
    // logits [B, V], advancing every layer's ring buffer by one step.
    loom::Tensor<T> step(const loom::IndexTensor& ids, StepStates<T>& states) const {
        loom::detail::check(states.size() == convs.size(), "char_cnn::CharCnnModel::step: ", states.size(),
                            " layer states for ", convs.size(), " layers");
        loom::Tensor<T> h = embedding(ids.reshaped(loom::Shape{ids.numel()}));  // [B, C]
        for (std::size_t l = 0; l < convs.size(); ++l)
            h = loom::add(h, activate(convs[l].step(h, states[l])));
        return head(h);
    }

    const Config config;
    loom::Embedding<T> embedding;
    loom::ModuleList<T, loom::Conv1d<T>> convs;  // children "0", "1", … as PyTorch's nn.ModuleList
    loom::Linear<T> head;

private:
    loom::Tensor<T> activate(const loom::Tensor<T>& x) const {
        return config.activation == Activation::relu ? loom::relu(x) : loom::gelu(x);
    }
};

// A CharCnnModel as a loom::Decoder. Inference only: every call runs under
// NoGradGuard. start() runs the prompt through the full forward once (batch 1)
// and primes the ring buffers from it; start_rows() does that for prompts of
// different lengths, one row each; advance() is one step per character;
// reorder() gathers the ring-buffer rows of every layer.
template <typename T>
class CharCnnDecoder : public loom::Decoder<T> {
public:
    explicit CharCnnDecoder(const CharCnnModel<T>& model) : model_(model) {}

    loom::index_t vocabulary_size() const override { return model_.config.vocabulary_size; }
    loom::index_t batch_size() const { return batch_; }
    const StepStates<T>& states() const { return states_; }

    loom::Tensor<T> start(const std::vector<loom::index_t>& prompt, loom::index_t batch) override {
        loom::detail::check(!prompt.empty(), "char_cnn::CharCnnDecoder::start: the prompt is empty (the model needs "
                                             "at least one character to predict the next one)");
        loom::detail::check(batch >= 1, "char_cnn::CharCnnDecoder::start: batch must be >= 1, got ", batch);
        check_ids("start", prompt);
        loom::NoGradGuard no_grad;
        const auto length = static_cast<loom::index_t>(prompt.size());
        const loom::index_t V = vocabulary_size();
        const loom::Tensor<T> logits =
            model_.forward(loom::IndexTensor(prompt, loom::Shape{1, length}), &states_);
        const loom::Tensor<T> log_probs = loom::log_softmax(logits.share_storage(loom::Shape{1, V}, (length - 1) * V));
        batch_ = 1;
        if (batch == 1) return log_probs;
        const std::vector<loom::index_t> copies(static_cast<std::size_t>(batch), 0);
        reorder(copies);
        loom::Tensor<T> rows = loom::Tensor<T>::empty(loom::Shape{batch, V});
        for (loom::index_t r = 0; r < batch; ++r)
            std::memcpy(rows.data() + r * V, log_probs.data(), static_cast<std::size_t>(V) * sizeof(T));
        return rows;
    }

    // One row per prompt (batched generation). The prompts of each length are
    // read together by one forward pass, which primes their ring buffers; then
    // the rows are stacked into one batch. All rows of a ring buffer share
    // one clock (Conv1dStepState::steps: the input of time t sits in slot
    // t mod S), so a row whose prompt is shorter than the longest, by δ
    // characters, has its ring rotated by δ slots: it continues as if its
    // text had started δ steps later. The zero slots of a short prompt (the
    // causal padding) rotate with it, so every row sees what it would alone.
    loom::Tensor<T> start_rows(const std::vector<std::vector<loom::index_t>>& prompts) override {
        loom::detail::check(!prompts.empty(), "char_cnn::CharCnnDecoder::start_rows: no prompts given");
        std::map<std::size_t, std::vector<std::size_t>> prompts_of_length;  // length -> prompt indices
        for (std::size_t i = 0; i < prompts.size(); ++i) {
            loom::detail::check(!prompts[i].empty(), "char_cnn::CharCnnDecoder::start_rows: prompt ", i, " is empty");
            check_ids("start_rows: prompt " + std::to_string(i), prompts[i]);
            prompts_of_length[prompts[i].size()].push_back(i);
        }
        loom::NoGradGuard no_grad;
        const auto count = static_cast<loom::index_t>(prompts.size());
        const loom::index_t V = vocabulary_size(), C = model_.config.channels;
        const auto longest = static_cast<loom::index_t>(prompts_of_length.rbegin()->first);

        StepStates<T> stacked(model_.convs.size());
        for (std::size_t l = 0; l < stacked.size(); ++l) {
            const loom::index_t span = model_.convs[l].history_length();
            if (span > 0) stacked[l].history = loom::Tensor<T>::zeros(loom::Shape{count, span, C});
            stacked[l].batch = count;
            stacked[l].steps = longest;
        }
        loom::Tensor<T> log_probs = loom::Tensor<T>::empty(loom::Shape{count, V});
        for (const auto& [length_in_tokens, members] : prompts_of_length) {
            const auto length = static_cast<loom::index_t>(length_in_tokens);
            const auto group = static_cast<loom::index_t>(members.size());
            std::vector<loom::index_t> ids;
            for (const std::size_t i : members) ids.insert(ids.end(), prompts[i].begin(), prompts[i].end());
            StepStates<T> primed;
            const loom::Tensor<T> logits = model_.forward(loom::IndexTensor(ids, loom::Shape{group, length}), &primed);
            loom::Tensor<T> last = loom::Tensor<T>::empty(loom::Shape{group, V});  // logits of each last position
            for (loom::index_t g = 0; g < group; ++g)
                std::memcpy(last.data() + g * V, logits.data() + ((g + 1) * length - 1) * V,
                            static_cast<std::size_t>(V) * sizeof(T));
            const loom::Tensor<T> group_log_probs = loom::log_softmax(last);
            const loom::index_t shift = longest - length;  // δ
            for (loom::index_t g = 0; g < group; ++g) {
                const auto row = static_cast<loom::index_t>(members[static_cast<std::size_t>(g)]);
                std::memcpy(log_probs.data() + row * V, group_log_probs.data() + g * V,
                            static_cast<std::size_t>(V) * sizeof(T));
                for (std::size_t l = 0; l < stacked.size(); ++l) {
                    if (!stacked[l].history.defined()) continue;  // kernel 1: no past to carry
                    const loom::index_t span = stacked[l].history.shape()[1];
                    for (loom::index_t slot = 0; slot < span; ++slot)
                        std::memcpy(stacked[l].history.data() + (row * span + (slot + shift) % span) * C,
                                    primed[l].history.data() + (g * span + slot) * C,
                                    static_cast<std::size_t>(C) * sizeof(T));
                }
            }
        }
        states_ = std::move(stacked);
        batch_ = count;
        return log_probs;
    }

    loom::Tensor<T> advance(const std::vector<loom::index_t>& tokens) override {
        loom::detail::check(batch_ > 0, "char_cnn::CharCnnDecoder::advance: call start() first");
        loom::detail::check(static_cast<loom::index_t>(tokens.size()) == batch_, "char_cnn::CharCnnDecoder::advance: ",
                            tokens.size(), " tokens for a batch of ", batch_, " rows");
        check_ids("advance", tokens);
        loom::NoGradGuard no_grad;
        return loom::log_softmax(model_.step(loom::IndexTensor(tokens), states_));
    }

    void reorder(const std::vector<loom::index_t>& rows) override {
        loom::detail::check(batch_ > 0, "char_cnn::CharCnnDecoder::reorder: call start() first");
        loom::detail::check(!rows.empty(), "char_cnn::CharCnnDecoder::reorder: no rows given");
        bool identity = static_cast<loom::index_t>(rows.size()) == batch_;
        for (std::size_t i = 0; i < rows.size(); ++i) {
            loom::detail::check(rows[i] >= 0 && rows[i] < batch_, "char_cnn::CharCnnDecoder::reorder: row ", rows[i],
                                " at position ", i, " is out of range for a batch of ", batch_, " rows");
            identity = identity && rows[i] == static_cast<loom::index_t>(i);
        }
        if (identity) return;
        for (loom::Conv1dStepState<T>& state : states_) state.reorder(rows);
        batch_ = static_cast<loom::index_t>(rows.size());
    }

private:
    void check_ids(const std::string& where, const std::vector<loom::index_t>& ids) const {
        const loom::index_t V = vocabulary_size();
        for (std::size_t i = 0; i < ids.size(); ++i)
            loom::detail::check(ids[i] >= 0 && ids[i] < V, "char_cnn::CharCnnDecoder::", where, ": token ", ids[i],
                                " at position ", i, " is out of range for a vocabulary of ", V);
    }

    const CharCnnModel<T>& model_;
    StepStates<T> states_;
    loom::index_t batch_ = 0;  // rows in the states; 0 before start()
};

// What describes the model in a checkpoint: enough to rebuild it.
inline std::map<std::string, std::string> model_metadata(const Config& config, const loom::Tokenizer& tokenizer) {
    std::map<std::string, std::string> metadata{{"model.kind", "char_cnn"},
            {"model.vocabulary_size", std::to_string(config.vocabulary_size)},
            {"model.channels", std::to_string(config.channels)},
            {"model.num_layers", std::to_string(config.num_layers)},
            {"model.kernel_size", std::to_string(config.kernel_size)},
            {"model.dilation_cycle", std::to_string(config.dilation_cycle)},
            {"model.activation", activation_name(config.activation)}};
    metadata.merge(examples::tokenizer_metadata(tokenizer));
    return metadata;
}

// A model rebuilt from a char_cnn checkpoint, with the vocabulary it was trained on.
template <typename T>
struct LoadedCharCnnModel {
    Config config;
    std::unique_ptr<CharCnnModel<T>> model;
    std::shared_ptr<const loom::Tokenizer> tokenizer;
};

// Reads the model.* metadata of a checkpoint written by examples/char_cnn
// (model.kind must be "char_cnn"), builds the model with that configuration and
// restores its weights. Errors name the file and the metadata key.
template <typename T = float>
LoadedCharCnnModel<T> load_char_cnn_model(const std::string& path) {
    const loom::Checkpoint<T> checkpoint = loom::Checkpoint<T>::load(path);
    const examples::ModelMetadata<T> metadata(checkpoint, path, "char_cnn::load_char_cnn_model", "char_cnn");
    LoadedCharCnnModel<T> loaded;
    Config& config = loaded.config;
    config.vocabulary_size = metadata.integer("model.vocabulary_size");
    config.channels = metadata.integer("model.channels");
    config.num_layers = metadata.integer("model.num_layers");
    config.kernel_size = metadata.integer("model.kernel_size");
    config.dilation_cycle = metadata.integer("model.dilation_cycle");
    if (config.dilation_cycle > 30)
        metadata.fail("model.dilation_cycle", "is " + std::to_string(config.dilation_cycle) + ", expected at most 30");
    const std::string& activation = metadata.text("model.activation");
    if (activation != "relu" && activation != "gelu")
        metadata.fail("model.activation", "is '" + activation + "', expected relu or gelu");
    config.activation = parse_activation(activation);
    loaded.tokenizer = metadata.tokenizer(config.vocabulary_size);
    loom::Generator generator(0);  // the initial weights are overwritten by the checkpoint's
    loaded.model = std::make_unique<CharCnnModel<T>>(config, generator);
    checkpoint.restore_model(*loaded.model);
    loaded.model->eval();
    return loaded;
}

}  // namespace char_cnn
