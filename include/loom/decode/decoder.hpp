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
//
// Batched generation (batched_generation.hpp) starts differently: one row per
// prompt, the prompts of different lengths,
//
//   logp = decoder.start_rows(prompts)     // [prompts.size(), V], row i read prompts[i]
//   loop: pick t_r per row; decoder.reorder(rows still running); logp = decoder.advance(t)
//
// so finished prompts leave the batch and later steps run on fewer rows. A
// decoder whose rows cannot hold different histories (say, one shared position
// counter) keeps the default start_rows, which throws.
#pragma once

#include <string>
#include <typeinfo>
#include <vector>

#if defined(__GNUG__)
#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#endif

#include "loom/tensor/error.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

namespace detail {

// The name of a type as written in C++ ("char_gpt::CharGptDecoder<float>"),
// where the compiler's mangled name can be decoded (GCC, Clang).
inline std::string readable_type_name(const std::type_info& type) {
#if defined(__GNUG__)
    int status = 0;
    const std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(type.name(), nullptr, nullptr, &status),
                                                      std::free);
    if (status == 0 && name) return name.get();
#endif
    return type.name();
}

}  // namespace detail

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
    // An encoder–decoder's attention sums Σ_t a_t over the source, [rows, S],
    // for beam search's coverage penalty. Optional: undefined means the
    // decoder attends to no source.
    virtual Tensor<T> source_coverage() const { return Tensor<T>(); }
    // Forget everything; one row per prompt, row i having read prompts[i]
    // (each non-empty; lengths may differ). Returns log-probs [prompts.size(), V].
    // Optional: the default says that this decoder cannot do it.
    virtual Tensor<T> start_rows(const std::vector<std::vector<index_t>>& prompts) {
        detail::fail("loom::Decoder::start_rows: this decoder (", detail::readable_type_name(typeid(*this)),
                     ") cannot start rows from different prompts (it implements start(prompt, batch) only), so it "
                     "cannot generate for ", prompts.size(), " prompts in one batch");
    }
};

}  // namespace loom
