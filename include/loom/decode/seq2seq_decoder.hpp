// loom/decode/seq2seq_decoder.hpp — decoding an encoder–decoder model
// (loom/nn/seq2seq.hpp) for one source or a batch of sources.
//
// Seq2SeqDecoder is a loom::Decoder conditioned on one encoded source, so the
// decoding library's greedy, sample and beam_search run on it unchanged:
//
//   Seq2SeqDecoder<float> decoder(model, source_ids);   // start() encodes the source, once per search
//   auto best = beam_search(decoder, {begin_id}, options);  // the prompt: begin token (+ a forced prefix)
//
// Every row (hypothesis) reads the same memory; reorder() gathers the rows'
// decoder states and their attention sums Σ_t a_t, which source_coverage()
// reports for beam search's coverage penalty (beam_search.hpp).
//
// translate_greedy() decodes a whole padded batch of sources together, one
// decoder step per output position for all rows, and keeps the attention
// weights of every step (for alignment plots):
//
//   for t = 1 .. max_length:  y_t = argmax logits(step(y_{t−1})) for every row
//   a row is done at its end token; the batch stops when every row is done.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "loom/autograd/grad_mode.hpp"
#include "loom/decode/decoder.hpp"
#include "loom/nn/seq2seq.hpp"
#include "loom/ops/embedding.hpp"
#include "loom/ops/reshape.hpp"
#include "loom/ops/softmax.hpp"

namespace loom {

namespace detail {

// Rows `rows` of x [B, ...] as a new tensor [rows.size(), ...] (no graph).
template <typename T>
Tensor<T> select_rows(const Tensor<T>& x, const std::vector<index_t>& rows) {
    if (!x.defined()) return x;
    const index_t batch = x.shape()[0], row_size = x.numel() / batch;
    Shape shape = x.shape();
    shape[0] = static_cast<index_t>(rows.size());
    return reshape(embedding(reshape(x, {batch, row_size}), IndexTensor(rows)), shape.to_vector());
}

}  // namespace detail

template <typename T>
class Seq2SeqDecoder : public Decoder<T> {
public:
    // source: the source ids (non-empty, in the source vocabulary).
    Seq2SeqDecoder(Seq2Seq<T>& model, const std::vector<index_t>& source) : model_(model), source_(source) {
        detail::check(!source.empty(), "loom::Seq2SeqDecoder: the source is empty (an encoder needs at least one token)");
    }

    index_t vocabulary_size() const override { return model_.config.target_vocabulary; }
    index_t source_length() const { return static_cast<index_t>(source_.size()); }

    // Encodes the source and reads the prompt (the begin token, then any
    // forced target prefix); `batch` identical rows.
    Tensor<T> start(const std::vector<index_t>& prompt, index_t batch) override {
        const char* op = "loom::Seq2SeqDecoder::start";
        detail::check(!prompt.empty(), op, ": the prompt is empty (it needs at least the begin token)");
        detail::check(batch >= 1, op, ": batch must be >= 1, got ", batch);
        NoGradGuard no_grad;
        model_.eval();
        const EncodedSource<T> encoded = model_.encode(IndexTensor(source_, Shape{1, source_length()}));
        memory_ = encoded.memory;
        state_ = encoded.initial;
        rows_ = 1;
        if (model_.has_attention()) attention_sum_ = Tensor<T>::zeros(Shape{1, source_length()});
        Tensor<T> log_probs;
        for (index_t token : prompt) log_probs = advance({token});
        if (batch == 1) return log_probs;
        const std::vector<index_t> copies(static_cast<std::size_t>(batch), 0);
        reorder(copies);
        return detail::select_rows(log_probs, copies);
    }

    Tensor<T> advance(const std::vector<index_t>& tokens) override {
        const char* op = "loom::Seq2SeqDecoder::advance";
        detail::check(rows_ > 0, op, ": call start() first");
        detail::check(static_cast<index_t>(tokens.size()) == rows_, op, ": ", tokens.size(), " tokens for a batch of ",
                      rows_, " rows");
        const IndexTensor ids(tokens);
        detail::check_ids(op, "target", ids, vocabulary_size());
        NoGradGuard no_grad;
        const Seq2SeqStep<T> next = model_.step(model_.target_embedding(ids), state_, memory_for_rows());
        state_ = next.state;
        if (next.weights.defined()) {
            attention_sum_ = add(attention_sum_, next.weights);
            last_weights_ = next.weights;
        }
        return log_softmax(model_.logits(next.features));
    }

    void reorder(const std::vector<index_t>& rows) override {
        const char* op = "loom::Seq2SeqDecoder::reorder";
        detail::check(rows_ > 0, op, ": call start() first");
        detail::check(!rows.empty(), op, ": no rows given (batch ", rows_, ")");
        for (index_t row : rows)
            detail::check(row >= 0 && row < rows_, op, ": row ", row, " is outside the batch of ", rows_);
        NoGradGuard no_grad;
        state_ = {detail::select_rows(state_.h, rows), detail::select_rows(state_.c, rows),
                  detail::select_rows(state_.coverage, rows)};
        attention_sum_ = detail::select_rows(attention_sum_, rows);
        last_weights_ = detail::select_rows(last_weights_, rows);
        rows_ = static_cast<index_t>(rows.size());
    }

    // Σ_t a_t per row [rows, S] (undefined without attention).
    Tensor<T> source_coverage() const override { return attention_sum_; }
    // The last step's attention weights per row [rows, S] (undefined before the first step or without attention).
    Tensor<T> last_attention() const { return last_weights_; }

private:
    // The memory repeated to the current number of rows (all rows read the one source).
    const EncodedMemory<T>& memory_for_rows() {
        if (!model_.has_attention() || memory_.batch() == rows_) return memory_;
        const std::vector<index_t> copies(static_cast<std::size_t>(rows_), 0);
        const EncodedMemory<T> one{detail::select_rows(memory_.values, {0}), detail::select_rows(memory_.keys, {0}), {}};
        memory_ = {detail::select_rows(one.values, copies), detail::select_rows(one.keys, copies), {}};
        return memory_;
    }

    Seq2Seq<T>& model_;
    std::vector<index_t> source_;
    EncodedMemory<T> memory_;
    Seq2SeqState<T> state_;
    Tensor<T> attention_sum_, last_weights_;
    index_t rows_ = 0;
};

struct Translation {
    std::vector<index_t> tokens;                 // without the begin and end tokens
    bool finished = false;                       // ended with the end token (else max_length)
    std::vector<std::vector<double>> attention;  // per output token (end token included): weights over the source
};

// Greedy decoding of a padded batch of sources [B, S] with lengths (empty: all
// S), every row in the same decoder step. Returns one Translation per row.
template <typename T>
std::vector<Translation> translate_greedy(Seq2Seq<T>& model, const IndexTensor& source,
                                          const std::vector<index_t>& lengths, index_t begin_token,
                                          index_t end_token, index_t max_length) {
    const char* op = "loom::translate_greedy";
    const index_t vocabulary = model.config.target_vocabulary;
    detail::check(begin_token >= 0 && begin_token < vocabulary && end_token >= 0 && end_token < vocabulary, op,
                  ": begin token ", begin_token, " and end token ", end_token, " must be in the target vocabulary of ",
                  vocabulary);
    detail::check(max_length >= 1, op, ": max_length must be >= 1, got ", max_length);
    NoGradGuard no_grad;
    model.eval();
    const EncodedSource<T> encoded = model.encode(source, lengths);
    const index_t batch = source.shape()[0], source_length = source.shape()[1];
    std::vector<Translation> result(static_cast<std::size_t>(batch));
    std::vector<index_t> previous(static_cast<std::size_t>(batch), begin_token);
    Seq2SeqState<T> state = encoded.initial;
    index_t running = batch;
    for (index_t t = 0; t < max_length && running > 0; ++t) {
        const Seq2SeqStep<T> next = model.step(model.target_embedding(IndexTensor(previous)), state, encoded.memory);
        state = next.state;
        const Tensor<T> logits = model.logits(next.features);
        for (index_t b = 0; b < batch; ++b) {
            Translation& row = result[static_cast<std::size_t>(b)];
            if (row.finished) continue;
            const T* values = logits.data() + b * vocabulary;
            detail::check(std::none_of(values, values + vocabulary, [](T v) { return std::isnan(v); }), op,
                          ": the logits of row ", b, " at output position ", t, " contain NaN");
            const auto best = static_cast<index_t>(std::max_element(values, values + vocabulary) - values);
            if (next.weights.defined()) {
                const index_t real = lengths.empty() ? source_length : lengths[static_cast<std::size_t>(b)];
                const T* weights = next.weights.data() + b * source_length;
                row.attention.emplace_back(weights, weights + real);
            }
            if (best == end_token) {
                row.finished = true;
                --running;
            } else {
                row.tokens.push_back(best);
            }
            previous[static_cast<std::size_t>(b)] = best;
        }
    }
    return result;
}

}  // namespace loom
