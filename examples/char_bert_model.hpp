// examples/char_bert_model.hpp — a BERT-style character model: a bidirectional
// Transformer encoder trained to recover masked characters.
//
//   ids [B, T] → token embedding (V + 1 → d; id V is [MASK]) + learned position embedding (T ≤ block → d)
//              → Dropout → N × TransformerBlock (pre-LayerNorm, NOT causal, H heads, MLP 4d, GELU)
//              → LayerNorm → Linear(d → V)
//              → logits [B, T, V]
//
// The same stack as char_gpt's model, with two differences. Every position
// attends to every position (TransformerBlockOptions::causal = false), so the
// representation of position t sees the characters on both sides of it. And
// the model reads one id more than the tokenizer has characters, [MASK] =
// mask_id() = V, which loom::mask_tokens (loom/data/masked_lm.hpp) writes in
// place of most of the characters it hides; the head predicts characters only
// (V outputs), since [MASK] is never the answer.
//
// Training minimises the masked-LM loss, cross_entropy over the selected
// positions (the targets are −100 elsewhere). score() measures it with the
// accuracy of the argmax at those positions; fill_masks() replaces the [MASK]
// ids of a sequence by the model's characters, all at once or most confident
// first. Parameter names are PyTorch's for the blocks, as in char_gpt, and the
// initialisation is nanoGPT's (N(0, 0.02), residual projections N(0, 0.02/√(2N))).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <loom/autograd/grad_mode.hpp>
#include <loom/data/masked_lm.hpp>
#include <loom/data/tokenizer.hpp>
#include <loom/nn/dropout.hpp>
#include <loom/nn/embedding.hpp>
#include <loom/nn/layer_norm.hpp>
#include <loom/nn/linear.hpp>
#include <loom/nn/module_list.hpp>
#include <loom/nn/transformer.hpp>
#include <loom/ops/cross_entropy.hpp>
#include <loom/ops/softmax.hpp>
#include <loom/optim/optimizer.hpp>
#include <loom/train/checkpoint.hpp>

#include "model_metadata.hpp"

namespace char_bert {

struct Config {
    loom::index_t vocabulary_size = 0;  // the tokenizer's characters; the model reads one id more, [MASK]
    loom::index_t block_size = 64;      // the longest sequence (rows of the position embedding)
    loom::index_t embedding_dim = 128;
    loom::index_t num_heads = 4;
    loom::index_t num_layers = 4;
    loom::index_t feedforward_dim = 0;  // 0: 4 · embedding_dim
    double dropout = 0.0;

    loom::index_t mask_id() const { return vocabulary_size; }
    // Ids the model reads: the characters and [MASK].
    loom::index_t input_vocabulary_size() const { return vocabulary_size + 1; }
};

template <typename T>
class CharBertModel : public loom::Module<T> {
public:
    CharBertModel(const Config& config, loom::Generator& generator)
        : config(checked(config)),
          token_embedding(config.input_vocabulary_size(), config.embedding_dim, generator),
          position_embedding(config.block_size, config.embedding_dim, generator),
          drop(config.dropout, generator),
          norm(config.embedding_dim),
          head(config.embedding_dim, config.vocabulary_size, generator) {
        this->register_module("token_embedding", token_embedding);
        this->register_module("position_embedding", position_embedding);
        this->register_module("drop", drop);
        loom::TransformerBlockOptions block;
        block.feedforward_dim = config.feedforward_dim;
        block.dropout = config.dropout;
        block.causal = false;  // the point of the model: both sides of every position
        for (loom::index_t l = 0; l < config.num_layers; ++l)
            blocks.emplace_back(config.embedding_dim, config.num_heads, generator, block);
        this->register_module("blocks", blocks);
        this->register_module("norm", norm);
        this->register_module("head", head);
        initialise(generator);
    }

    // ids [B, T] (T <= block_size, ids in [0, V], V being [MASK]) -> logits [B, T, V].
    loom::Tensor<T> forward(const loom::IndexTensor& ids) {
        loom::detail::check(ids.rank() == 2 && ids.numel() > 0, "char_bert::CharBertModel: expected ids [batch, ",
                            "length], got shape ", ids.shape());
        const loom::index_t length = ids.shape()[1];
        loom::detail::check(length <= config.block_size, "char_bert::CharBertModel: length ", length,
                            " is longer than the block size ", config.block_size);
        std::vector<loom::index_t> positions(static_cast<std::size_t>(length));
        for (loom::index_t t = 0; t < length; ++t) positions[static_cast<std::size_t>(t)] = t;
        loom::Tensor<T> x = drop(loom::add(token_embedding(ids), position_embedding(loom::IndexTensor(positions))));
        for (std::size_t l = 0; l < blocks.size(); ++l) x = blocks[l](x);
        return head(norm(x));
    }
    loom::Tensor<T> operator()(const loom::IndexTensor& ids) { return forward(ids); }

    // AdamW's two groups, as char_gpt: weight decay on matrices and embeddings
    // (rank 2), none on biases and LayerNorm parameters.
    std::vector<loom::ParamGroup<T>> optimizer_groups(double weight_decay) const {
        loom::ParamGroup<T> decay{{}, std::nullopt, weight_decay}, no_decay{{}, std::nullopt, 0.0};
        for (const auto& named : this->named_parameters())
            (named.second.rank() >= 2 ? decay : no_decay).parameters.push_back(named.second);
        return {decay, no_decay};
    }

    const Config config;
    loom::Embedding<T> token_embedding;     // [V + 1, d]
    loom::Embedding<T> position_embedding;  // [block_size, d]
    loom::Dropout<T> drop;
    loom::ModuleList<T, loom::TransformerBlock<T>> blocks;
    loom::LayerNorm<T> norm;
    loom::Linear<T> head;  // [V, d] and bias [V]

private:
    static const Config& checked(const Config& config) {
        loom::detail::check(config.vocabulary_size > 0 && config.block_size > 0 && config.num_layers > 0,
                            "char_bert::CharBertModel: vocabulary_size, block_size and num_layers must be positive, "
                            "got ", config.vocabulary_size, ", ", config.block_size, " and ", config.num_layers);
        return config;
    }

    void initialise(loom::Generator& generator) {
        const T std_dev = T(0.02);
        const T residual_std = std_dev / std::sqrt(T(2) * static_cast<T>(config.num_layers));
        const auto ends_with = [](const std::string& name, const std::string& suffix) {
            return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
        };
        for (auto& named : this->named_parameters()) {
            loom::Tensor<T>& p = named.second;
            if (ends_with(named.first, "bias"))
                p.flat().setZero();  // LayerNorm weights (rank 1) stay ones
            else if (ends_with(named.first, "out_proj.weight") || ends_with(named.first, "linear2.weight"))
                p.flat() = loom::Tensor<T>::normal(p.shape(), T(0), residual_std, generator).flat();
            else if (p.rank() >= 2)
                p.flat() = loom::Tensor<T>::normal(p.shape(), T(0), std_dev, generator).flat();
        }
    }
};

// The masked-LM loss and accuracy of a model over some masked batches, summed
// over the selected positions so that batches with more of them weigh more.
struct MaskedLmScore {
    double loss_sum = 0.0;       // Σ −log p(target) over selected positions
    loom::index_t correct = 0;   // selected positions whose argmax is the target
    loom::index_t count = 0;     // selected positions

    double loss() const { return count > 0 ? loss_sum / static_cast<double>(count) : 0.0; }
    double accuracy() const { return count > 0 ? static_cast<double>(correct) / static_cast<double>(count) : 0.0; }
    void add(const MaskedLmScore& other) {
        loss_sum += other.loss_sum;
        correct += other.correct;
        count += other.count;
    }
};

// The character with the largest logit in row `row` of logits [B, T, V] viewed as [B·T, V].
template <typename T>
loom::index_t argmax_row(const loom::Tensor<T>& logits, loom::index_t row) {
    const loom::index_t classes = logits.shape().last();
    const T* values = logits.data() + row * classes;
    return static_cast<loom::index_t>(std::max_element(values, values + classes) - values);
}

// Loss and accuracy of `model` (put in eval mode) on one masked batch; the
// logits too, for callers that show predictions.
template <typename T>
MaskedLmScore score(CharBertModel<T>& model, const loom::MaskedLmBatch& batch, loom::Tensor<T>* logits_out = nullptr) {
    loom::NoGradGuard no_grad;
    model.eval();
    const loom::Tensor<T> logits = model(batch.inputs);
    MaskedLmScore result;
    result.count = batch.selected;
    result.loss_sum = static_cast<double>(loom::cross_entropy(logits, batch.targets, batch.ignore_index).item()) *
                      static_cast<double>(batch.selected);
    for (loom::index_t i = 0; i < batch.targets.numel(); ++i)
        if (batch.targets[i] != batch.ignore_index && argmax_row(logits, i) == batch.targets[i]) ++result.correct;
    if (logits_out != nullptr) *logits_out = logits;
    return result;
}

// `ids` (one sequence) with every [MASK] replaced by the model's most likely
// character. most_confident_first: one blank at a time, each time the blank
// whose best character has the highest probability, so that later choices see
// the earlier ones (one forward pass per blank); otherwise all blanks from one
// pass. The model is left in eval mode.
template <typename T>
std::vector<loom::index_t> fill_masks(CharBertModel<T>& model, std::vector<loom::index_t> ids,
                                      bool most_confident_first = true) {
    const loom::index_t mask_id = model.config.mask_id();
    const auto length = static_cast<loom::index_t>(ids.size());
    loom::detail::check(length >= 1 && length <= model.config.block_size, "char_bert::fill_masks: ", length,
                        " ids, expected 1 to the block size ", model.config.block_size);
    loom::NoGradGuard no_grad;
    model.eval();
    while (std::find(ids.begin(), ids.end(), mask_id) != ids.end()) {
        const loom::Tensor<T> log_probs = loom::log_softmax(model(loom::IndexTensor(ids, loom::Shape{1, length})));
        loom::index_t best_position = -1;
        T best_log_prob = -std::numeric_limits<T>::infinity();
        for (loom::index_t t = 0; t < length; ++t) {
            if (ids[static_cast<std::size_t>(t)] != mask_id) continue;
            const loom::index_t character = argmax_row(log_probs, t);
            if (!most_confident_first) {
                ids[static_cast<std::size_t>(t)] = character;
                continue;
            }
            const T log_prob = log_probs.data()[t * log_probs.shape().last() + character];
            if (best_position < 0 || log_prob > best_log_prob) {
                best_position = t;
                best_log_prob = log_prob;
            }
        }
        if (best_position >= 0) ids[static_cast<std::size_t>(best_position)] = argmax_row(log_probs, best_position);
    }
    return ids;
}

// What describes the model in a checkpoint (model.kind = "char_bert").
inline std::map<std::string, std::string> model_metadata(const Config& config, const loom::Tokenizer& tokenizer) {
    std::map<std::string, std::string> metadata{{"model.kind", "char_bert"},
            {"model.vocabulary_size", std::to_string(config.vocabulary_size)},
            {"model.mask_id", std::to_string(config.mask_id())},
            {"model.block_size", std::to_string(config.block_size)},
            {"model.embedding_dim", std::to_string(config.embedding_dim)},
            {"model.num_heads", std::to_string(config.num_heads)},
            {"model.num_layers", std::to_string(config.num_layers)},
            {"model.feedforward_dim", std::to_string(config.feedforward_dim)},
            {"model.dropout", std::to_string(config.dropout)}};
    metadata.merge(examples::tokenizer_metadata(tokenizer));
    return metadata;
}

template <typename T>
struct LoadedCharBertModel {
    Config config;
    std::unique_ptr<CharBertModel<T>> model;
    std::shared_ptr<const loom::Tokenizer> tokenizer;
};

// Rebuilds a model from a checkpoint written by examples/char_bert (in eval
// mode). Errors name the file and the metadata key.
template <typename T = float>
LoadedCharBertModel<T> load_char_bert_model(const std::string& path) {
    const loom::Checkpoint<T> checkpoint = loom::Checkpoint<T>::load(path);
    const examples::ModelMetadata<T> metadata(checkpoint, path, "char_bert::load_char_bert_model", "char_bert");
    LoadedCharBertModel<T> loaded;
    Config& config = loaded.config;
    config.vocabulary_size = metadata.integer("model.vocabulary_size");
    config.block_size = metadata.integer("model.block_size");
    config.embedding_dim = metadata.integer("model.embedding_dim");
    config.num_heads = metadata.integer("model.num_heads");
    config.num_layers = metadata.integer("model.num_layers");
    config.feedforward_dim = metadata.integer("model.feedforward_dim", 0);
    config.dropout = metadata.real("model.dropout");
    if (metadata.integer("model.mask_id", 0) != config.mask_id())
        metadata.fail("model.mask_id", "is " + metadata.text("model.mask_id") + ", expected model.vocabulary_size " +
                                           std::to_string(config.vocabulary_size));
    loaded.tokenizer = metadata.tokenizer(config.vocabulary_size);
    loom::Generator generator(0);  // overwritten by the checkpoint's weights
    loaded.model = std::make_unique<CharBertModel<T>>(config, generator);
    checkpoint.restore_model(*loaded.model);
    loaded.model->eval();
    return loaded;
}

}  // namespace char_bert
