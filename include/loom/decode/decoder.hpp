// loom/decode/decoder.hpp — what a model implements to be decodable.
//
// The decoding algorithms (greedy.hpp, sample.hpp, beam_search.hpp) never see a
// model, only this interface. A "row" is one sequence of the batch: greedy and
// sampling use one row, beam search one row per live hypothesis.
//
//   logp = decoder.start(prompt, batch)    // [batch, V], every row read `prompt`
//   loop:
//     pick next tokens t_r (one per row) from logp
//     decoder.reorder(parents)             // beam search only: keep/copy rows
//     logp = decoder.advance(t)            // [rows, V]
//
// A recurrent model keeps its state as [batch, hidden] rows; reorder(rows)
// gathers state row rows[i] into row i (index_select on dim 0), so a beam that
// extends parent p continues from p's state without re-reading the prompt.
// Row values are natural-log probabilities (log_softmax of the logits).
#pragma once

#include <vector>

#include "loom/tensor/tensor.hpp"

namespace loom {

// What a model implements to be decodable. A "row" is one sequence of the batch.
template <typename T>
class Decoder {
public:
    virtual ~Decoder() = default;
    virtual index_t vocabulary_size() const = 0;
    // Forget everything; `batch` identical rows that have all read `prompt`
    // (non-empty ids). Returns next-token log-probabilities [batch, V].
    virtual Tensor<T> start(const std::vector<index_t>& prompt, index_t batch) = 0;
    // Feed one token per row (tokens.size() == current batch). Returns log-probs [batch, V].
    virtual Tensor<T> advance(const std::vector<index_t>& tokens) = 0;
    // Keep rows `rows` (indices into the current batch, may repeat or drop rows),
    // in that order; the batch becomes rows.size(). Identity must be free.
    virtual void reorder(const std::vector<index_t>& rows) = 0;
};

}  // namespace loom
