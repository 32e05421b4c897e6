// examples/char_tagger_model.hpp — a character tagger: embedding, a
// bidirectional LSTM, a linear layer to one score per tag, and on top either
// a softmax per character or a linear-chain CRF over the whole sequence.
//
//   ids [B, T] → Embedding(V → E) → BiLSTM(E → 2H, L layers) → Linear(2H → K)
//              → emissions s [B, T, K]
//   softmax:  loss = mean_t −log softmax(s_t)[y_t],   prediction ŷ_t = argmax_k s_t(k)
//   CRF:      loss = mean_b −log p(y | s) with p ∝ exp(Σ_t s_t(y_t) + Σ_t A[y_{t−1}, y_t] + start/end),
//             prediction ŷ = Viterbi path (loom/nn/crf.hpp)
// The softmax tags every character on its own; the CRF scores whole tag
// sequences, so it can learn that I-WORD never follows B-SPEAKER.
// Parameter names: embedding.weight, lstm.weight_ih_l0, lstm.weight_ih_l0_reverse,
// …, head.weight, head.bias, crf.transitions, crf.start_transitions,
// crf.end_transitions.
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <loom/nn/crf.hpp>
#include <loom/nn/embedding.hpp>
#include <loom/nn/linear.hpp>
#include <loom/nn/loss.hpp>
#include <loom/nn/lstm.hpp>
#include <loom/nn/module.hpp>

namespace char_tagger {

struct Config {
    loom::index_t vocabulary_size = 0, num_tags = 0;
    loom::index_t embedding_dim = 32, hidden_size = 64, num_layers = 1;
    bool crf = true;
};

template <typename T>
class TaggerModel : public loom::Module<T> {
public:
    TaggerModel(const Config& config, loom::Generator& generator)
        : config(config),
          embedding(config.vocabulary_size, config.embedding_dim, generator),
          lstm(config.embedding_dim, config.hidden_size, config.num_layers, generator, 0.0, true, true),
          head(2 * config.hidden_size, config.num_tags, generator) {
        this->register_module("embedding", embedding);
        this->register_module("lstm", lstm);
        this->register_module("head", head);
        if (config.crf) {
            crf = std::make_unique<loom::CRF<T>>(config.num_tags, generator);
            this->register_module("crf", *crf);
        }
    }

    // Scores [B, T, K] of every tag at every position.
    loom::Tensor<T> emissions(const loom::IndexTensor& ids) {
        return head(lstm(embedding(ids)).output);
    }

    // The training loss of one batch: the CRF's negative log-likelihood per
    // sequence, or the per-character cross-entropy.
    loom::Tensor<T> loss(const loom::IndexTensor& ids, const loom::IndexTensor& tags) {
        const loom::Tensor<T> scores = emissions(ids);
        if (crf) return crf->forward(scores, tags);
        return loom::cross_entropy(scores, tags);
    }

    // The best tags of every sequence: Viterbi with the CRF, argmax without.
    std::vector<std::vector<loom::index_t>> predict(const loom::IndexTensor& ids) {
        const loom::Tensor<T> scores = emissions(ids);
        if (crf) {
            std::vector<std::vector<loom::index_t>> paths;
            for (loom::CrfPath& path : crf->decode(scores)) paths.push_back(std::move(path.tags));
            return paths;
        }
        const loom::index_t batch = scores.shape()[0], steps = scores.shape()[1], tags = scores.shape()[2];
        std::vector<std::vector<loom::index_t>> best(static_cast<std::size_t>(batch));
        for (loom::index_t b = 0; b < batch; ++b)
            for (loom::index_t t = 0; t < steps; ++t) {
                const T* row = scores.data() + (b * steps + t) * tags;
                best[static_cast<std::size_t>(b)].push_back(static_cast<loom::index_t>(std::max_element(row, row + tags) - row));
            }
        return best;
    }

    const Config config;
    loom::Embedding<T> embedding;
    loom::LSTM<T> lstm;
    loom::Linear<T> head;
    std::unique_ptr<loom::CRF<T>> crf;
};

inline std::map<std::string, std::string> model_metadata(const Config& config) {
    return {{"model", "char_tagger"},
            {"embedding_dim", std::to_string(config.embedding_dim)},
            {"hidden_size", std::to_string(config.hidden_size)},
            {"num_layers", std::to_string(config.num_layers)},
            {"num_tags", std::to_string(config.num_tags)},
            {"vocabulary_size", std::to_string(config.vocabulary_size)},
            {"output", config.crf ? "crf" : "softmax"}};
}

}  // namespace char_tagger
