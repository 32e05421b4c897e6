// examples/char_gpt_model.hpp — a GPT-style character model (decoder-only
// Transformer), the "baby GPT" of nanoGPT:
//
//   ids [B, T] → token embedding (V → d) + learned position embedding (T ≤ block → d)
//              → Dropout → N × TransformerBlock (pre-LayerNorm, causal, H heads, MLP 4d, GELU)
//              → LayerNorm → Linear(d → V, no bias)  (optionally tied to the token embedding)
//              → logits [B, T, V]
//
// Parameter names: "token_embedding.weight", "position_embedding.weight",
// "blocks.0.self_attn.in_proj_weight" … (each block as PyTorch's
// TransformerEncoderLayer), "norm.weight", "norm.bias", "head.weight" —
// bench/char_gpt_reference.py builds the same model in PyTorch.
// Initialisation as nanoGPT: weights N(0, 0.02), biases 0, the two projections
// that write into the residual stream (self_attn.out_proj, linear2) N(0, 0.02/√(2N))
// so that the residual's variance does not grow with depth.
//
// Generation uses each block's key/value cache (CharGptDecoder): a prompt is
// read in one pass (prefill), then every new character costs one position's
// worth of work. Positions stop at block_size (the position embedding has no
// more rows); when the cache is full, the decoder re-reads the last
// `context_keep` characters (default block_size / 2) and continues, so each
// prediction sees between context_keep and block_size characters. With
// context_keep = block_size every character past the block re-reads the whole
// window: exactly nanoGPT's sliding window, at its cost.
#pragma once

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <loom/autograd/grad_mode.hpp>
#include <loom/data/vocabulary.hpp>
#include <loom/decode/decoder.hpp>
#include <loom/nn/dropout.hpp>
#include <loom/nn/embedding.hpp>
#include <loom/nn/layer_norm.hpp>
#include <loom/nn/linear.hpp>
#include <loom/nn/module_list.hpp>
#include <loom/nn/transformer.hpp>
#include <loom/ops/softmax.hpp>
#include <loom/optim/optimizer.hpp>
#include <loom/train/checkpoint.hpp>

#include "model_metadata.hpp"

namespace char_gpt {

struct Config {
    loom::index_t vocabulary_size = 0;
    loom::index_t block_size = 64;  // the longest context (rows of the position embedding)
    loom::index_t embedding_dim = 128;
    loom::index_t num_heads = 4;
    loom::index_t num_layers = 4;
    loom::index_t feedforward_dim = 0;  // 0: 4 · embedding_dim
    double dropout = 0.0;
    bool tie_weights = false;  // head.weight is token_embedding.weight
};

template <typename T>
class CharGptModel : public loom::Module<T> {
public:
    CharGptModel(const Config& config, loom::Generator& generator)
        : config(config),
          token_embedding(config.vocabulary_size, config.embedding_dim, generator),
          position_embedding(config.block_size, config.embedding_dim, generator),
          drop(config.dropout, generator),
          norm(config.embedding_dim) {
        loom::detail::check(config.vocabulary_size > 0 && config.block_size > 0 && config.num_layers > 0,
                            "char_gpt::CharGptModel: vocabulary_size, block_size and num_layers must be positive");
        this->register_module("token_embedding", token_embedding);
        this->register_module("position_embedding", position_embedding);
        this->register_module("drop", drop);
        for (loom::index_t l = 0; l < config.num_layers; ++l)
            blocks.emplace_back(config.embedding_dim, config.num_heads, generator, config.feedforward_dim, config.dropout);
        this->register_module("blocks", blocks);
        this->register_module("norm", norm);
        if (!config.tie_weights) {
            head = std::make_unique<loom::Linear<T>>(config.embedding_dim, config.vocabulary_size, generator, false);
            this->register_module("head", *head);
        }
        initialise(generator);
    }

    // ids [B, T] (T <= block_size) -> logits [B, T, V].
    loom::Tensor<T> forward(const loom::IndexTensor& ids) {
        check_ids("forward", ids, 2);
        const loom::index_t length = ids.shape()[1];
        loom::Tensor<T> x = drop(loom::add(token_embedding(ids), position_embedding(positions(0, length))));
        for (std::size_t l = 0; l < blocks.size(); ++l) x = blocks[l](x);
        return logits(norm(x));
    }
    loom::Tensor<T> operator()(const loom::IndexTensor& ids) { return forward(ids); }

    // Generation (eval mode, no autograd). prefill: ids [B, T] read in one
    // pass, starting one key/value cache per block; returns the logits of the
    // last position [B, V]. step: one id per row at position `caches[0].length`;
    // returns [B, V].
    loom::Tensor<T> prefill(const loom::IndexTensor& ids, std::vector<loom::KeyValueCache<T>>& caches) {
        check_ids("prefill", ids, 2);
        const loom::index_t batch = ids.shape()[0], length = ids.shape()[1];
        caches.assign(blocks.size(), loom::KeyValueCache<T>());
        loom::Tensor<T> x = loom::add(token_embedding(ids), position_embedding(positions(0, length)));
        for (std::size_t l = 0; l < blocks.size(); ++l) x = blocks[l].prefill(x, caches[l], config.block_size);
        const loom::index_t d = config.embedding_dim;
        loom::Tensor<T> last = loom::Tensor<T>::empty(loom::Shape{batch, d});
        for (loom::index_t b = 0; b < batch; ++b)
            std::copy(x.data() + ((b + 1) * length - 1) * d, x.data() + (b + 1) * length * d, last.data() + b * d);
        return logits(norm(last));
    }

    loom::Tensor<T> step(const loom::IndexTensor& ids, std::vector<loom::KeyValueCache<T>>& caches) {
        check_ids("step", ids, 1);
        loom::detail::check(caches.size() == blocks.size() && caches[0].defined(),
                            "char_gpt::CharGptModel::step: call prefill() first");
        const loom::index_t position = caches[0].length;
        loom::detail::check(position < config.block_size, "char_gpt::CharGptModel::step: position ", position,
                            " is past the block size ", config.block_size);
        loom::Tensor<T> x = loom::add(token_embedding(ids), position_embedding(positions(position, 1)));
        for (std::size_t l = 0; l < blocks.size(); ++l) x = blocks[l].step(x, caches[l], config.block_size);
        return logits(norm(x));
    }

    // AdamW's two groups, as nanoGPT: weight decay on the matrices and
    // embeddings (rank 2), none on biases and LayerNorm parameters.
    std::vector<loom::ParamGroup<T>> optimizer_groups(double weight_decay) const {
        loom::ParamGroup<T> decay{{}, std::nullopt, weight_decay}, no_decay{{}, std::nullopt, 0.0};
        for (const auto& named : this->named_parameters())
            (named.second.rank() >= 2 ? decay : no_decay).parameters.push_back(named.second);
        return {decay, no_decay};
    }

    const Config config;
    loom::Embedding<T> token_embedding;
    loom::Embedding<T> position_embedding;
    loom::Dropout<T> drop;
    loom::ModuleList<T, loom::TransformerBlock<T>> blocks;
    loom::LayerNorm<T> norm;
    std::unique_ptr<loom::Linear<T>> head;  // none when tied

private:
    loom::Tensor<T> logits(const loom::Tensor<T>& x) const {
        if (head) return (*head)(x);
        // Tied: the embedding's table is the head's weight, quantized with it (loom::quantize).
        if (const loom::QuantizedMatrix* table = token_embedding.quantized_weight("weight"))
            return loom::quantized_linear(x, *table, loom::Tensor<T>(), "char_gpt::CharGptModel head");
        return loom::linear(x, token_embedding.weight);
    }

    static loom::IndexTensor positions(loom::index_t first, loom::index_t count) {
        std::vector<loom::index_t> values(static_cast<std::size_t>(count));
        for (loom::index_t i = 0; i < count; ++i) values[static_cast<std::size_t>(i)] = first + i;
        return loom::IndexTensor(values, loom::Shape{count});
    }

    void check_ids(const char* where, const loom::IndexTensor& ids, int rank) const {
        loom::detail::check(ids.rank() == rank && ids.numel() > 0, "char_gpt::CharGptModel::", where, ": expected ",
                            rank == 2 ? "ids [batch, length]" : "ids [batch]", ", got shape ", ids.shape());
        if (rank == 2)
            loom::detail::check(ids.shape()[1] <= config.block_size, "char_gpt::CharGptModel::", where, ": length ",
                                ids.shape()[1], " is longer than the block size ", config.block_size);
    }

    void initialise(loom::Generator& generator) {
        const T std_dev = T(0.02);
        const T residual_std = std_dev / std::sqrt(T(2) * static_cast<T>(config.num_layers));
        const auto ends_with = [](const std::string& name, const std::string& suffix) {
            return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
        };
        for (auto& named : this->named_parameters()) {
            loom::Tensor<T>& p = named.second;
            const std::string& name = named.first;
            if (ends_with(name, "bias"))
                p.flat().setZero();  // LayerNorm biases are zero already; LayerNorm weights (rank 1) stay ones
            else if (ends_with(name, "out_proj.weight") || ends_with(name, "linear2.weight"))
                p.flat() = loom::Tensor<T>::normal(p.shape(), T(0), residual_std, generator).flat();
            else if (p.rank() >= 2)
                p.flat() = loom::Tensor<T>::normal(p.shape(), T(0), std_dev, generator).flat();
        }
    }
};

// A CharGptModel as a loom::Decoder (see loom/decode/decoder.hpp): rows are
// hypotheses, each with its key/value caches and the characters it has read
// (kept for the re-read when the context is full). Eval mode, no autograd.
// start_rows() (batched generation) takes prompts of one length only.
template <typename T>
class CharGptDecoder : public loom::Decoder<T> {
public:
    // context_keep: characters re-read when the block is full (see the top of
    // this file); 0 means block_size / 2, block_size is nanoGPT's sliding window.
    explicit CharGptDecoder(CharGptModel<T>& model, loom::index_t context_keep = 0)
        : model_(model), keep_(context_keep > 0 ? context_keep : std::max<loom::index_t>(1, model.config.block_size / 2)) {
        loom::detail::check(keep_ <= model.config.block_size, "char_gpt::CharGptDecoder: context_keep ", keep_,
                            " must be at most the block size ", model.config.block_size);
        model_.eval();
    }

    loom::index_t vocabulary_size() const override { return model_.config.vocabulary_size; }

    // Reads the prompt once (its last block_size characters, as nanoGPT crops)
    // and copies the caches to `batch` rows.
    loom::Tensor<T> start(const std::vector<loom::index_t>& prompt, loom::index_t batch) override {
        loom::detail::check(!prompt.empty(), "char_gpt::CharGptDecoder::start: the prompt is empty");
        loom::detail::check(batch >= 1, "char_gpt::CharGptDecoder::start: batch must be >= 1, got ", batch);
        check_tokens("start", prompt);
        loom::NoGradGuard no_grad;
        model_.eval();
        const auto take = std::min<std::size_t>(prompt.size(), static_cast<std::size_t>(model_.config.block_size));
        history_.assign(1, std::vector<loom::index_t>(prompt.end() - static_cast<std::ptrdiff_t>(take), prompt.end()));
        const loom::Tensor<T> log_probs = loom::log_softmax(read_history());
        if (batch == 1) return log_probs;
        const std::vector<loom::index_t> copies(static_cast<std::size_t>(batch), 0);
        reorder(copies);
        loom::Tensor<T> out = loom::Tensor<T>::empty(loom::Shape{batch, vocabulary_size()});
        for (loom::index_t b = 0; b < batch; ++b)
            std::copy(log_probs.data(), log_probs.data() + vocabulary_size(), out.data() + b * vocabulary_size());
        return out;
    }

    // One row per prompt (batched generation), for prompts of the same length
    // only (after the crop to the last block_size characters, so any prompts
    // of at least block_size characters qualify). The rows share one cache
    // length, which is also the position of the next character, and they all
    // re-read their last context_keep characters at the same step when the
    // block is full; rows of different lengths would need a position and an
    // attention mask per row, which the model's step() does not have. The
    // error for different lengths names two prompts that differ.
    loom::Tensor<T> start_rows(const std::vector<std::vector<loom::index_t>>& prompts) override {
        loom::detail::check(!prompts.empty(), "char_gpt::CharGptDecoder::start_rows: no prompts given");
        std::vector<std::vector<loom::index_t>> history;
        for (std::size_t i = 0; i < prompts.size(); ++i) {
            const std::vector<loom::index_t>& prompt = prompts[i];
            loom::detail::check(!prompt.empty(), "char_gpt::CharGptDecoder::start_rows: prompt ", i, " is empty");
            check_tokens("start_rows: prompt " + std::to_string(i), prompt);
            const auto take = std::min<std::size_t>(prompt.size(), static_cast<std::size_t>(model_.config.block_size));
            history.emplace_back(prompt.end() - static_cast<std::ptrdiff_t>(take), prompt.end());
            loom::detail::check(history[i].size() == history[0].size(), "char_gpt::CharGptDecoder::start_rows: prompt ",
                                i, " has ", history[i].size(), " tokens and prompt 0 has ", history[0].size(),
                                "; this decoder's rows share one position, so prompts generated together must have "
                                "the same length (or at least the block size, ", model_.config.block_size, ")");
        }
        loom::NoGradGuard no_grad;
        model_.eval();
        history_ = std::move(history);
        return loom::log_softmax(read_history());
    }

    loom::Tensor<T> advance(const std::vector<loom::index_t>& tokens) override {
        loom::detail::check(!history_.empty(), "char_gpt::CharGptDecoder::advance: call start() first");
        loom::detail::check(tokens.size() == history_.size(), "char_gpt::CharGptDecoder::advance: ", tokens.size(),
                            " tokens for a batch of ", history_.size(), " rows");
        check_tokens("advance", tokens);
        loom::NoGradGuard no_grad;
        for (std::size_t r = 0; r < tokens.size(); ++r) history_[r].push_back(tokens[r]);
        if (caches_[0].length < model_.config.block_size)
            return loom::log_softmax(model_.step(loom::IndexTensor(tokens), caches_));
        // The block is full: re-read the last keep_ characters of every row.
        for (auto& row : history_) row.erase(row.begin(), row.end() - static_cast<std::ptrdiff_t>(keep_));
        return loom::log_softmax(read_history());
    }

    void reorder(const std::vector<loom::index_t>& rows) override {
        loom::detail::check(!history_.empty(), "char_gpt::CharGptDecoder::reorder: call start() first");
        loom::detail::check(!rows.empty(), "char_gpt::CharGptDecoder::reorder: no rows given");
        bool identity = rows.size() == history_.size();
        for (std::size_t i = 0; i < rows.size(); ++i) {
            loom::detail::check(rows[i] >= 0 && rows[i] < static_cast<loom::index_t>(history_.size()),
                                "char_gpt::CharGptDecoder::reorder: row ", rows[i], " at position ", i,
                                " is out of range for a batch of ", history_.size(), " rows");
            identity = identity && rows[i] == static_cast<loom::index_t>(i);
        }
        if (identity) return;
        std::vector<std::vector<loom::index_t>> history;
        for (loom::index_t r : rows) history.push_back(history_[static_cast<std::size_t>(r)]);
        history_ = std::move(history);
        for (auto& cache : caches_) cache.reorder(rows);
    }

private:
    // Prefills the caches from history_ (every row has the same length).
    loom::Tensor<T> read_history() {
        const auto batch = static_cast<loom::index_t>(history_.size());
        const auto length = static_cast<loom::index_t>(history_[0].size());
        std::vector<loom::index_t> ids;
        for (const auto& row : history_) ids.insert(ids.end(), row.begin(), row.end());
        return model_.prefill(loom::IndexTensor(ids, loom::Shape{batch, length}), caches_);
    }

    void check_tokens(const std::string& where, const std::vector<loom::index_t>& ids) const {
        for (std::size_t i = 0; i < ids.size(); ++i)
            loom::detail::check(ids[i] >= 0 && ids[i] < vocabulary_size(), "char_gpt::CharGptDecoder::", where,
                                ": token ", ids[i], " at position ", i, " is out of range for a vocabulary of ",
                                vocabulary_size());
    }

    CharGptModel<T>& model_;
    const loom::index_t keep_;
    std::vector<loom::KeyValueCache<T>> caches_;       // one per block
    std::vector<std::vector<loom::index_t>> history_;  // per row: the characters in the caches
};

// What describes the model in a checkpoint (model.kind = "char_gpt").
inline std::map<std::string, std::string> model_metadata(const Config& config, const loom::Tokenizer& tokenizer) {
    std::map<std::string, std::string> metadata{{"model.kind", "char_gpt"},
            {"model.vocabulary_size", std::to_string(config.vocabulary_size)},
            {"model.block_size", std::to_string(config.block_size)},
            {"model.embedding_dim", std::to_string(config.embedding_dim)},
            {"model.num_heads", std::to_string(config.num_heads)},
            {"model.num_layers", std::to_string(config.num_layers)},
            {"model.feedforward_dim", std::to_string(config.feedforward_dim)},
            {"model.dropout", std::to_string(config.dropout)},
            {"model.tie_weights", config.tie_weights ? "1" : "0"}};
    metadata.merge(examples::tokenizer_metadata(tokenizer));
    return metadata;
}

template <typename T>
struct LoadedCharGptModel {
    Config config;
    std::unique_ptr<CharGptModel<T>> model;
    std::shared_ptr<const loom::Tokenizer> tokenizer;
};

// Rebuilds a model from a checkpoint written by examples/char_gpt. Errors name
// the file and the metadata key.
template <typename T = float>
LoadedCharGptModel<T> load_char_gpt_model(const std::string& path) {
    const loom::Checkpoint<T> checkpoint = loom::Checkpoint<T>::load(path);
    const examples::ModelMetadata<T> metadata(checkpoint, path, "char_gpt::load_char_gpt_model", "char_gpt");
    LoadedCharGptModel<T> loaded;
    Config& config = loaded.config;
    config.vocabulary_size = metadata.integer("model.vocabulary_size");
    config.block_size = metadata.integer("model.block_size");
    config.embedding_dim = metadata.integer("model.embedding_dim");
    config.num_heads = metadata.integer("model.num_heads");
    config.num_layers = metadata.integer("model.num_layers");
    config.feedforward_dim = metadata.integer("model.feedforward_dim", 0);
    config.dropout = metadata.real("model.dropout");
    config.tie_weights = metadata.integer("model.tie_weights", 0) != 0;
    loaded.tokenizer = metadata.tokenizer(config.vocabulary_size);
    loom::Generator generator(0);  // overwritten by the checkpoint's weights
    loaded.model = std::make_unique<CharGptModel<T>>(config, generator);
    checkpoint.restore_model(*loaded.model);
    loaded.model->eval();
    return loaded;
}

}  // namespace char_gpt
