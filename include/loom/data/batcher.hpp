// loom/data/batcher.hpp — mini-batches of next-character prediction from a corpus of ids.
//
// A language model learns to predict each character from the ones before it.
// A Batch holds B windows of T consecutive ids (the inputs) and, for each of
// them, the same window moved one position on (the targets):
//   inputs[b][t]  = corpus[start_b + t]
//   targets[b][t] = corpus[start_b + t + 1]      (the character that follows)
// Both are IndexTensors of shape [B, T], row b being window b.
//
// Two batchers choose the windows differently:
//
// RandomWindowBatcher — every batch draws B independent starts uniformly from
//   [0, N - T - 1] (the last start whose targets still fit). The windows are
//   unrelated, so a model starts every window from a fresh state. This is how
//   transformers (and stateless RNN training) see the data. Deterministic for a
//   seed.
//
// StreamBatcher — for recurrent models trained with truncated backpropagation
//   through time (BPTT), which carry their hidden state from one batch to the
//   next. The corpus is cut into B contiguous streams of L = (N - 1) / B ids;
//   stream b is corpus[b·L, b·L + L) (its last target is corpus[b·L + L]). Batch
//   k takes positions [k·T, k·T + T) of every stream:
//     inputs[b][t] = corpus[b·L + k·T + t],   targets[b][t] = corpus[b·L + k·T + t + 1]
//   so row b of batch k + 1 continues row b of batch k exactly, and the hidden
//   state left by row b can be fed back in as the start of the next row b.
//   With N = 21, B = 2, T = 3 (so L = 10), as corpus positions:
//
//                  batch 0     batch 1     batch 2     dropped
//     stream 0:  [ 0  1  2 ] [ 3  4  5 ] [ 6  7  8 ]    9
//     stream 1:  [10 11 12 ] [13 14 15 ] [16 17 18 ]   19   (20: last target only)
//
//   An epoch is batches_per_epoch() = L / T batches; the last L mod T ids of
//   every stream (and the N - 1 - B·L ids after the last stream) would make only
//   a partial batch, which is dropped. After the last batch of an epoch next()
//   wraps around to batch 0 and epoch() goes up by one. A batch with
//   batch_in_epoch() == 0 starts the streams afresh: reset the hidden state there.
//
// Both batchers copy the corpus, so they stay valid whatever happens to the
// vector they were given.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "loom/tensor/error.hpp"
#include "loom/tensor/index_tensor.hpp"
#include "loom/tensor/random.hpp"
#include "loom/tensor/shape.hpp"

namespace loom {

struct Batch {
    IndexTensor inputs;   // [B, T]
    IndexTensor targets;  // [B, T]: targets[b][t] is the id that follows inputs[b][t] in the corpus
};

// The batch whose row b is the window of `sequence_length` ids starting at
// corpus[starts[b]], with targets one position further on. Every window and its
// targets must lie inside the corpus.
inline Batch batch_from_windows(const std::vector<index_t>& corpus, const std::vector<index_t>& starts,
                                index_t sequence_length) {
    const auto corpus_size = static_cast<index_t>(corpus.size());
    const auto batch_size = static_cast<index_t>(starts.size());
    detail::check(batch_size >= 1 && sequence_length >= 1, "loom::batch_from_windows: need at least one window of ",
                  "at least one id, got ", batch_size, " starts and sequence_length ", sequence_length);
    std::vector<index_t> inputs(static_cast<std::size_t>(batch_size * sequence_length));
    std::vector<index_t> targets(inputs.size());
    for (index_t b = 0; b < batch_size; ++b) {
        const index_t start = starts[static_cast<std::size_t>(b)];
        detail::check(start >= 0 && start + sequence_length + 1 <= corpus_size, "loom::batch_from_windows: window ",
                      b, " starts at ", start, ", but a window of ", sequence_length,
                      " ids plus its last target must fit in a corpus of ", corpus_size, " ids");
        for (index_t t = 0; t < sequence_length; ++t) {
            const auto at = static_cast<std::size_t>(b * sequence_length + t);
            inputs[at] = corpus[static_cast<std::size_t>(start + t)];
            targets[at] = corpus[static_cast<std::size_t>(start + t + 1)];
        }
    }
    const Shape shape{batch_size, sequence_length};
    return Batch{IndexTensor(std::move(inputs), shape), IndexTensor(std::move(targets), shape)};
}

namespace detail {

inline void check_batch_dimensions(const char* batcher, index_t batch_size, index_t sequence_length) {
    check(batch_size >= 1, batcher, ": batch_size must be at least 1, got ", batch_size);
    check(sequence_length >= 1, batcher, ": sequence_length must be at least 1, got ", sequence_length);
}

}  // namespace detail

// B independent, uniformly random windows per batch (see the top of the file).
class RandomWindowBatcher {
public:
    RandomWindowBatcher(const std::vector<index_t>& corpus, index_t batch_size, index_t sequence_length,
                        std::uint64_t seed)
        : corpus_(corpus), batch_size_(batch_size), sequence_length_(sequence_length), generator_(seed) {
        detail::check_batch_dimensions("loom::RandomWindowBatcher", batch_size, sequence_length);
        detail::check(corpus_size() >= sequence_length + 1, "loom::RandomWindowBatcher: a corpus of ", corpus_size(),
                      " ids is too short for batch_size ", batch_size, " and sequence_length ", sequence_length,
                      ": one window needs sequence_length + 1 = ", sequence_length + 1,
                      " ids (its inputs plus the target after the last one)");
    }

    // The next batch: B starts drawn in order from the generator.
    Batch next() {
        std::vector<index_t> starts(static_cast<std::size_t>(batch_size_));
        for (index_t& start : starts)
            start = static_cast<index_t>(generator_.below(static_cast<std::uint64_t>(start_count())));
        return batch_from_windows(corpus_, starts, sequence_length_);
    }

    // The generator that draws the windows, for saving and restoring its state
    // (so a resumed run draws the same batches as an uninterrupted one).
    Generator& generator() { return generator_; }
    const Generator& generator() const { return generator_; }

    index_t batch_size() const { return batch_size_; }
    index_t sequence_length() const { return sequence_length_; }
    index_t corpus_size() const { return static_cast<index_t>(corpus_.size()); }
    // How many different windows there are: starts 0 .. N - T - 1.
    index_t start_count() const { return corpus_size() - sequence_length_; }

private:
    std::vector<index_t> corpus_;
    index_t batch_size_;
    index_t sequence_length_;
    Generator generator_;
};

// B contiguous streams read T ids at a time, for truncated BPTT (see the top of the file).
class StreamBatcher {
public:
    StreamBatcher(const std::vector<index_t>& corpus, index_t batch_size, index_t sequence_length)
        : corpus_(corpus), batch_size_(batch_size), sequence_length_(sequence_length) {
        detail::check_batch_dimensions("loom::StreamBatcher", batch_size, sequence_length);
        // One id is held back so that the last input of the last stream has a target.
        stream_length_ = corpus_size() >= 1 ? (corpus_size() - 1) / batch_size : 0;
        detail::check(stream_length_ >= sequence_length, "loom::StreamBatcher: a corpus of ", corpus_size(),
                      " ids is too short for batch_size ", batch_size, " and sequence_length ", sequence_length,
                      ": each of the ", batch_size, " streams gets (", corpus_size(), " - 1) / ", batch_size, " = ",
                      stream_length_, " ids, fewer than sequence_length; the corpus needs at least ",
                      batch_size * sequence_length + 1, " ids");
    }

    // Batch number batch_in_epoch() of the current epoch; then moves on,
    // wrapping to batch 0 of the next epoch after the last one.
    Batch next() {
        std::vector<index_t> starts(static_cast<std::size_t>(batch_size_));
        for (index_t b = 0; b < batch_size_; ++b)
            starts[static_cast<std::size_t>(b)] = b * stream_length_ + next_batch_ * sequence_length_;
        Batch batch = batch_from_windows(corpus_, starts, sequence_length_);
        if (++next_batch_ == batches_per_epoch()) {
            next_batch_ = 0;
            ++epoch_;
        }
        return batch;
    }

    // Back to batch 0 of epoch 0.
    void reset() {
        next_batch_ = 0;
        epoch_ = 0;
    }

    // Continues from batch `batch_in_epoch` of epoch `epoch`, as when resuming training.
    void seek(index_t epoch, index_t batch_in_epoch) {
        detail::check(epoch >= 0 && batch_in_epoch >= 0 && batch_in_epoch < batches_per_epoch(),
                      "loom::StreamBatcher::seek: epoch ", epoch, " batch ", batch_in_epoch,
                      " is out of range (batches per epoch: ", batches_per_epoch(), ")");
        epoch_ = epoch;
        next_batch_ = batch_in_epoch;
    }

    // Full batches in one pass over the streams: L / T (a partial batch is dropped).
    index_t batches_per_epoch() const { return stream_length_ / sequence_length_; }
    // The index within its epoch of the batch the next call to next() returns;
    // 0 means that batch starts the streams afresh.
    index_t batch_in_epoch() const { return next_batch_; }
    // How many epochs next() has completed.
    index_t epoch() const { return epoch_; }

    index_t batch_size() const { return batch_size_; }
    index_t sequence_length() const { return sequence_length_; }
    index_t corpus_size() const { return static_cast<index_t>(corpus_.size()); }
    // L = (N - 1) / B: the ids in each stream (those past the last full batch are dropped).
    index_t stream_length() const { return stream_length_; }

private:
    std::vector<index_t> corpus_;
    index_t batch_size_;
    index_t sequence_length_;
    index_t stream_length_ = 0;
    index_t next_batch_ = 0;
    index_t epoch_ = 0;
};

}  // namespace loom
