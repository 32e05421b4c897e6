// loom/data/seq2seq_batch.hpp — source/target pairs of different lengths as
// one padded batch, the input of an encoder–decoder (loom/nn/seq2seq.hpp).
//
//   sources  "3 May 98" "May 3, 1998"     targets "1998-05-03" "1998-05-03"
//   source   [B, S_max]: each source's ids, then `pad`             source_lengths n_b
//   target   [B, 2 + T_max]: begin, the target's ids, end, then `pad`  target_lengths m_b = |y_b| + 2
//
// The padding is never read: the encoder runs each row for its own n_b steps
// (packed sequences) and attention is masked past n_b; the loss ignores the
// target positions at or past m_b. So `pad` may be any id of the vocabulary.
#pragma once

#include <algorithm>
#include <vector>

#include "loom/tensor/error.hpp"
#include "loom/tensor/index_tensor.hpp"

namespace loom {

// A padded batch of pairs. Positions at or past a row's length may hold any id
// of the vocabulary; they are masked everywhere.
struct Seq2SeqBatch {
    IndexTensor source;                   // [B, S]
    std::vector<index_t> source_lengths;  // n_b in [1, S]
    IndexTensor target;                   // [B, T]: begin token, the tokens, end token
    std::vector<index_t> target_lengths;  // m_b in [2, T]
};

// Pads sources[b] and begin + targets[b] + end into one batch. A source must
// not be empty (the encoder needs a step); a target may be (then m_b = 2).
inline Seq2SeqBatch make_seq2seq_batch(const std::vector<std::vector<index_t>>& sources,
                                       const std::vector<std::vector<index_t>>& targets, index_t begin_token,
                                       index_t end_token, index_t pad_token) {
    const char* op = "loom::make_seq2seq_batch";
    detail::check(!sources.empty(), op, ": no pairs given");
    detail::check(sources.size() == targets.size(), op, ": ", sources.size(), " sources but ", targets.size(),
                  " targets");
    std::size_t source_length = 0, target_length = 0;
    for (std::size_t b = 0; b < sources.size(); ++b) {
        detail::check(!sources[b].empty(), op, ": source ", b, " is empty (an encoder needs at least one token)");
        source_length = std::max(source_length, sources[b].size());
        target_length = std::max(target_length, targets[b].size() + 2);
    }
    Seq2SeqBatch batch;
    std::vector<index_t> source_ids, target_ids;
    for (std::size_t b = 0; b < sources.size(); ++b) {
        source_ids.insert(source_ids.end(), sources[b].begin(), sources[b].end());
        source_ids.resize(source_ids.size() + source_length - sources[b].size(), pad_token);
        batch.source_lengths.push_back(static_cast<index_t>(sources[b].size()));
        target_ids.push_back(begin_token);
        target_ids.insert(target_ids.end(), targets[b].begin(), targets[b].end());
        target_ids.push_back(end_token);
        target_ids.resize(target_ids.size() + target_length - targets[b].size() - 2, pad_token);
        batch.target_lengths.push_back(static_cast<index_t>(targets[b].size() + 2));
    }
    const auto rows = static_cast<index_t>(sources.size());
    batch.source = IndexTensor(source_ids, Shape{rows, static_cast<index_t>(source_length)});
    batch.target = IndexTensor(target_ids, Shape{rows, static_cast<index_t>(target_length)});
    return batch;
}

}  // namespace loom
