// bench/vs_libtorch_seq2seq.hpp — the encoder–decoder workloads of
// bench/vs_libtorch.cpp, on examples/seq2seq's default model and task:
//
//   model    Embedding(67→32) → BiLSTM(32→2×128) over packed source lengths →
//            bridge_h/bridge_c Linear(256→128); decoder LSTMCell(32+256→128),
//            Bahdanau attention (A = 128) queried with the state before the
//            cell, output Linear(128+256→13) (loom/nn/seq2seq.hpp)
//   data     64 pairs of the dates task (examples/seq2seq_tasks.hpp, fixed seed),
//            sources padded to the longest, targets begin + 10 characters + end
//
//   seq2seq_train   teacher-forced cross-entropy over the real target tokens,
//                   backward, clip_grad_norm_(5), Adam(2e-3) step.
//                   loom: Seq2Seq::loss; libtorch: the same model written with
//                   torch::nn (pack_padded_sequence, LSTMCell, masked_fill(−inf)
//                   + softmax for the source mask, cross_entropy(ignore_index)).
//   seq2seq_beam5   beam search of width 5 for 12 tokens (no end token, so both
//                   sides do the same number of steps) over 16 sources, one at a
//                   time (time per 16 sources). loom: Seq2SeqDecoder +
//                   loom::beam_search; libtorch: encode, then per step
//                   scores + log_softmax, topk(5) over [5·V], index_select of
//                   the parents' h/c rows, as in lstm_gen_beam5.
// Both sides read the same pairs; the weights are each library's own random
// initialisation (the same distributions).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include <loom/autograd/engine.hpp>
#include <loom/data/seq2seq_batch.hpp>
#include <loom/decode/beam_search.hpp>
#include <loom/decode/seq2seq_decoder.hpp>
#include <loom/nn/seq2seq.hpp>
#include <loom/optim/adam.hpp>
#include <loom/optim/clip_grad.hpp>

#include "../examples/seq2seq_tasks.hpp"
#include "vs_libtorch_beam.hpp"

namespace vs_libtorch_seq2seq {

constexpr loom::index_t embedding_dim = 32, hidden = 128, batch = 64, beam_width = 5, beam_tokens = 12, beam_sources = 16;
constexpr loom::index_t begin_token = 0, end_token = 1;
constexpr double learning_rate = 2e-3, clip = 5.0;

inline loom::index_t source_vocabulary() { return static_cast<loom::index_t>(seq2seq_tasks::source_alphabet().size()); }
inline loom::index_t target_vocabulary() { return 2 + static_cast<loom::index_t>(seq2seq_tasks::target_alphabet().size()); }

// `count` training pairs of the dates task as ids (sources: alphabet index;
// targets: 2 + alphabet index, as examples/seq2seq.cpp numbers them).
struct Pairs {
    std::vector<std::vector<loom::index_t>> sources, targets;
    explicit Pairs(loom::index_t count) {
        loom::Generator generator(31);
        for (loom::index_t i = 0; i < count; ++i) {
            const auto pair = seq2seq_tasks::draw_pair(seq2seq_tasks::Task::dates, false, generator);
            std::vector<loom::index_t> source, target;
            for (char c : pair.source) source.push_back(static_cast<loom::index_t>(seq2seq_tasks::source_alphabet().find(c)));
            for (char c : pair.target) target.push_back(2 + static_cast<loom::index_t>(seq2seq_tasks::target_alphabet().find(c)));
            for (loom::index_t id : target) loom::detail::check(id >= 2, "vs_libtorch_seq2seq: a target character is outside the alphabet");
            sources.push_back(source);
            targets.push_back(target);
        }
    }
    loom::Seq2SeqBatch batch() const { return loom::make_seq2seq_batch(sources, targets, begin_token, end_token, end_token); }
};

inline loom::Seq2SeqConfig loom_config() {
    loom::Seq2SeqConfig config;
    config.source_vocabulary = source_vocabulary();
    config.target_vocabulary = target_vocabulary();
    config.embedding_dim = embedding_dim;
    config.hidden_size = hidden;
    config.attention = loom::Seq2SeqAttention::bahdanau;
    return config;
}

// ---- loom ----------------------------------------------------------------

struct LoomTrain {
    loom::Generator generator{3};
    loom::Seq2Seq<float> model{loom_config(), generator};
    std::vector<loom::Tensor<float>> parameters = model.parameters();
    loom::Adam<float> optimizer{parameters, learning_rate};
    loom::Seq2SeqBatch data = Pairs(batch).batch();

    void step() {
        const loom::Tensor<float> loss = model.loss(data).total;
        optimizer.zero_grad();
        loss.backward();
        loom::clip_grad_norm_(parameters, clip);
        optimizer.step();
    }
};

inline loom::index_t loom_beam() {
    static loom::Generator generator(4);
    static loom::Seq2Seq<float> model(loom_config(), generator);
    static const Pairs pairs(beam_sources);
    loom::BeamSearchOptions options;
    options.beam_width = beam_width;
    options.max_new_tokens = beam_tokens;
    loom::index_t checksum = 0;
    for (const auto& source : pairs.sources) {
        loom::Seq2SeqDecoder<float> decoder(model, source);
        for (loom::index_t token : loom::beam_search(decoder, {begin_token}, options).front().tokens) checksum += token;
    }
    return checksum;
}

// ---- libtorch ------------------------------------------------------------

struct TorchSeq2Seq : torch::nn::Module {
    TorchSeq2Seq() {
        source_embedding = register_module("source_embedding", torch::nn::Embedding(source_vocabulary(), embedding_dim));
        encoder = register_module(
            "encoder", torch::nn::LSTM(torch::nn::LSTMOptions(embedding_dim, hidden).bidirectional(true).batch_first(true)));
        bridge_h = register_module("bridge_h", torch::nn::Linear(2 * hidden, hidden));
        bridge_c = register_module("bridge_c", torch::nn::Linear(2 * hidden, hidden));
        target_embedding = register_module("target_embedding", torch::nn::Embedding(target_vocabulary(), embedding_dim));
        decoder = register_module("decoder", torch::nn::LSTMCell(embedding_dim + 2 * hidden, hidden));
        memory_layer = register_module("memory_layer", torch::nn::Linear(2 * hidden, hidden));
        query_layer = register_module("query_layer", torch::nn::Linear(torch::nn::LinearOptions(hidden, hidden).bias(false)));
        energy = register_module("energy", torch::nn::Linear(torch::nn::LinearOptions(hidden, 1).bias(false)));
        output = register_module("output", torch::nn::Linear(3 * hidden, target_vocabulary()));
    }

    struct Encoded {
        torch::Tensor memory, keys, padding, h, c;  // [B,S,2H], [B,S,A], [B,S] bool, [B,H], [B,H]
    };

    Encoded encode(const torch::Tensor& source, const torch::Tensor& lengths) {
        namespace rnn = torch::nn::utils::rnn;
        const auto packed = rnn::pack_padded_sequence(source_embedding(source), lengths, true, false);
        auto [out, state] = encoder->forward_with_packed_input(packed);
        const auto memory = std::get<0>(rnn::pad_packed_sequence(out, true, 0.0, source.size(1)));
        const auto h_n = std::get<0>(state), c_n = std::get<1>(state);
        const auto positions = torch::arange(source.size(1), torch::kLong).unsqueeze(0);
        return {memory, memory_layer(memory), positions >= lengths.unsqueeze(1),
                torch::tanh(bridge_h(torch::cat({h_n[0], h_n[1]}, 1))), bridge_c(torch::cat({c_n[0], c_n[1]}, 1))};
    }

    // One decoder step: returns the features [s_t ; ctx_t] and updates h, c.
    torch::Tensor step(const torch::Tensor& embedded, const Encoded& memory, torch::Tensor& h, torch::Tensor& c) {
        const auto scores = energy(torch::tanh(memory.keys + query_layer(h).unsqueeze(1))).squeeze(2);
        const auto weights = torch::softmax(scores.masked_fill(memory.padding, -std::numeric_limits<float>::infinity()), 1);
        const auto context = torch::bmm(weights.unsqueeze(1), memory.memory).squeeze(1);
        std::tie(h, c) = decoder(torch::cat({embedded, context}, 1), std::make_tuple(h, c));
        return torch::cat({h, context}, 1);
    }

    torch::nn::Embedding source_embedding{nullptr}, target_embedding{nullptr};
    torch::nn::LSTM encoder{nullptr};
    torch::nn::LSTMCell decoder{nullptr};
    torch::nn::Linear bridge_h{nullptr}, bridge_c{nullptr}, memory_layer{nullptr}, query_layer{nullptr},
        energy{nullptr}, output{nullptr};
};

inline torch::Tensor torch_ids(const loom::IndexTensor& ids) {
    std::vector<int64_t> values(ids.values().begin(), ids.values().end());
    std::vector<int64_t> sizes;
    for (int d = 0; d < ids.rank(); ++d) sizes.push_back(ids.shape()[d]);
    return torch::tensor(values, torch::kLong).reshape(sizes);
}

struct TorchTrain {
    std::shared_ptr<TorchSeq2Seq> model = std::make_shared<TorchSeq2Seq>();
    torch::optim::Adam optimizer{model->parameters(), torch::optim::AdamOptions(learning_rate)};
    torch::Tensor source, lengths, inputs, targets;

    TorchTrain() {
        const loom::Seq2SeqBatch data = Pairs(batch).batch();
        source = torch_ids(data.source);
        lengths = torch::tensor(std::vector<int64_t>(data.source_lengths.begin(), data.source_lengths.end()), torch::kLong);
        const auto target = torch_ids(data.target);
        const int64_t steps = target.size(1) - 1;
        inputs = target.slice(1, 0, steps);
        targets = target.slice(1, 1, steps + 1).clone();
        for (std::size_t b = 0; b < data.target_lengths.size(); ++b)  // ignore positions at or past each row's end
            targets[static_cast<int64_t>(b)].slice(0, data.target_lengths[b] - 1, steps).fill_(-100);
    }

    void step() {
        auto memory = model->encode(source, lengths);
        auto h = memory.h, c = memory.c;
        const auto embedded = model->target_embedding(inputs);
        std::vector<torch::Tensor> features;
        for (int64_t t = 0; t < inputs.size(1); ++t) features.push_back(model->step(embedded.select(1, t), memory, h, c));
        const auto logits = model->output(torch::stack(features, 1));
        const auto loss = torch::nn::functional::cross_entropy(
            logits.reshape({-1, target_vocabulary()}), targets.reshape({-1}),
            torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
        optimizer.zero_grad();
        loss.backward();
        torch::nn::utils::clip_grad_norm_(model->parameters(), clip);
        optimizer.step();
    }
};

inline int64_t torch_beam() {
    static auto model = std::make_shared<TorchSeq2Seq>();
    static const Pairs pairs(beam_sources);
    torch::NoGradGuard no_grad;
    model->eval();
    const int64_t V = target_vocabulary();
    int64_t checksum = 0;
    for (const auto& ids : pairs.sources) {
        const auto source = torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()), torch::kLong).unsqueeze(0);
        const auto one = model->encode(source, torch::tensor({static_cast<int64_t>(ids.size())}, torch::kLong));
        auto h = one.h, c = one.c;
        const auto first = model->step(model->target_embedding(torch::full({1}, begin_token, torch::kLong)), one, h, c);
        auto log_probs = torch::log_softmax(model->output(first), -1).expand({beam_width, V});
        const auto replicate = torch::zeros({beam_width}, torch::kLong);
        const TorchSeq2Seq::Encoded memory{one.memory.index_select(0, replicate), one.keys.index_select(0, replicate),
                                           one.padding.index_select(0, replicate), {}, {}};
        h = h.index_select(0, replicate);
        c = c.index_select(0, replicate);
        vs_libtorch_beam::TorchBeam beam(beam_width);
        for (loom::index_t i = 0; i < beam_tokens; ++i) {
            const auto [parent, token] = beam.extend(log_probs);
            if (i + 1 == beam_tokens) break;  // the last token needs no further step
            h = h.index_select(0, parent);
            c = c.index_select(0, parent);
            log_probs = torch::log_softmax(model->output(model->step(model->target_embedding(token), memory, h, c)), -1);
        }
        checksum += beam.checksum();
    }
    return checksum;
}

}  // namespace vs_libtorch_seq2seq
