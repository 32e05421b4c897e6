// loom/data/masked_lm.hpp — BERT's masked-language-model corruption: which
// tokens a bidirectional encoder must recover, and what it sees in their place.
//
// A bidirectional encoder sees the whole sequence, so "predict the next token"
// would be copying. Instead, some positions are hidden and the model predicts
// the original token there from both sides (Devlin et al., 2018). For ids x
// [B, T], every position that may be masked (not a special id, see below) is
// selected independently with probability p (mask_probability, 0.15); then
//
//   selected, with probability 0.8:  input = [MASK]        (mask_token_fraction)
//   selected, with probability 0.1:  input = a random id   (random_token_fraction)
//   selected, otherwise (0.1):       input = x, unchanged
//   target = x at selected positions, ignore_index (-100) everywhere else
//
// so that cross_entropy(logits, targets) (which skips ignore_index) is the
// masked-LM loss, the mean over selected positions of −log softmax(logits)[x].
// Why not always [MASK]: [MASK] never occurs in real text, so a model trained
// only on it would learn nothing useful at unmasked positions; the random and
// kept 10% make every position a possible question, and the random ones force
// the model not to trust its input blindly.
//
// Random ids are drawn uniformly from [0, vocab_size) without the mask id and
// without options.special_ids (e.g. padding or separators); a random id may
// equal the original, as in BERT. Positions holding the mask id or a special id
// are never selected. Every row with at least one maskable position gets at
// least one selected position: if the draws select none, one maskable position
// of that row, chosen uniformly, is selected (at T = 64, p = 0.15 that happens
// to one row in about 30,000, so the statistics barely move).
//
// Deterministic for a generator state. The draws, row by row and position by
// position: one uniform() per maskable position (selected if < p); for each
// selected position one uniform() for the 80/10/10 split, and one below(n) for
// a random id; for a row left without a selection, one below(count) for its
// position, then that position's split draws.
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

struct MaskedLmOptions {
    double mask_probability = 0.15;      // chance that a maskable position is selected
    double mask_token_fraction = 0.8;    // of the selected: replaced by the mask id
    double random_token_fraction = 0.1;  // of the selected: replaced by a random id; the rest stay
    std::vector<index_t> special_ids;    // never selected, never drawn as a random id
    index_t ignore_index = -100;         // the target of every position that is not selected
};

struct MaskedLmBatch {
    IndexTensor inputs;   // [B, T]: the ids with the selected positions corrupted
    IndexTensor targets;  // [B, T]: the original id where selected, ignore_index elsewhere
    index_t ignore_index = -100;  // the options' ignore_index, for the loss: cross_entropy(logits, targets, ignore_index)
    // How many positions were selected, and how each was corrupted:
    // selected = masked + randomised + kept.
    index_t selected = 0, masked = 0, randomised = 0, kept = 0;
};

namespace detail {

inline void check_masked_lm_options(const MaskedLmOptions& o, index_t vocab_size, index_t mask_id) {
    const char* const who = "loom::mask_tokens";
    check(vocab_size >= 1, who, ": vocab_size must be at least 1, got ", vocab_size);
    check(mask_id >= 0 && mask_id < vocab_size, who, ": mask id ", mask_id, " is out of range for a vocabulary of ",
          vocab_size, " (ids 0..", vocab_size - 1, ")");
    check(o.mask_probability > 0.0 && o.mask_probability <= 1.0, who,
          ": mask_probability must be in (0, 1], got ", o.mask_probability);
    check(o.mask_token_fraction >= 0.0 && o.mask_token_fraction <= 1.0, who,
          ": mask_token_fraction must be in [0, 1], got ", o.mask_token_fraction);
    check(o.random_token_fraction >= 0.0 && o.random_token_fraction <= 1.0, who,
          ": random_token_fraction must be in [0, 1], got ", o.random_token_fraction);
    // A little slack: 0.7 + 0.3 is 1.0000000000000002 in doubles.
    check(o.mask_token_fraction + o.random_token_fraction <= 1.0 + 1e-12, who,
          ": mask_token_fraction ", o.mask_token_fraction, " + random_token_fraction ", o.random_token_fraction,
          " is more than 1 (the rest is the fraction kept unchanged)");
    check(o.ignore_index < 0 || o.ignore_index >= vocab_size, who, ": ignore_index ", o.ignore_index,
          " is a token id of the vocabulary of ", vocab_size, "; targets would be ambiguous");
    for (std::size_t i = 0; i < o.special_ids.size(); ++i)
        check(o.special_ids[i] >= 0 && o.special_ids[i] < vocab_size, who, ": special id ", o.special_ids[i],
              " at index ", i, " is out of range for a vocabulary of ", vocab_size);
}

}  // namespace detail

// The masked-LM inputs and targets for ids [B, T] (see the top of the file).
// vocab_size counts every id the model reads, the mask id included.
inline MaskedLmBatch mask_tokens(const IndexTensor& ids, index_t vocab_size, index_t mask_id, Generator& generator,
                                 const MaskedLmOptions& options = MaskedLmOptions()) {
    detail::check(ids.rank() == 2 && ids.numel() > 0, "loom::mask_tokens: expected ids [batch, length] with at ",
                  "least one id, got shape ", ids.shape());
    detail::check_masked_lm_options(options, vocab_size, mask_id);
    for (index_t i = 0; i < ids.numel(); ++i)
        detail::check(ids[i] >= 0 && ids[i] < vocab_size, "loom::mask_tokens: id ", ids[i], " at position ", i,
                      " is out of range for a vocabulary of ", vocab_size);

    // is_special[id]: never selected, never a random replacement.
    std::vector<bool> is_special(static_cast<std::size_t>(vocab_size), false);
    is_special[static_cast<std::size_t>(mask_id)] = true;
    for (const index_t id : options.special_ids) is_special[static_cast<std::size_t>(id)] = true;
    std::vector<index_t> random_candidates;
    for (index_t id = 0; id < vocab_size; ++id)
        if (!is_special[static_cast<std::size_t>(id)]) random_candidates.push_back(id);
    detail::check(options.random_token_fraction == 0.0 || !random_candidates.empty(),
                  "loom::mask_tokens: random_token_fraction is ", options.random_token_fraction,
                  " but every id of the vocabulary of ", vocab_size, " is the mask id or special");
    const auto maskable = [&](index_t id) { return !is_special[static_cast<std::size_t>(id)]; };

    const index_t batch = ids.shape()[0], length = ids.shape()[1];
    const std::vector<index_t>& original = ids.values();
    MaskedLmBatch result;
    result.ignore_index = options.ignore_index;
    std::vector<index_t> inputs = original;
    std::vector<index_t> targets(inputs.size(), options.ignore_index);

    // Selects position `at`: its target is the original id, its input one of the three corruptions.
    const auto select = [&](std::size_t at) {
        targets[at] = original[at];
        ++result.selected;
        const double split = generator.uniform();
        if (split < options.mask_token_fraction) {
            inputs[at] = mask_id;
            ++result.masked;
        } else if (split < options.mask_token_fraction + options.random_token_fraction) {
            inputs[at] = random_candidates[static_cast<std::size_t>(generator.below(random_candidates.size()))];
            ++result.randomised;
        } else {
            ++result.kept;
        }
    };

    index_t maskable_in_batch = 0;
    for (index_t b = 0; b < batch; ++b) {
        index_t maskable_in_row = 0, selected_in_row = 0;
        for (index_t t = 0; t < length; ++t) {
            const auto at = static_cast<std::size_t>(b * length + t);
            if (!maskable(original[at])) continue;
            ++maskable_in_row;
            if (generator.uniform() < options.mask_probability) {
                select(at);
                ++selected_in_row;
            }
        }
        maskable_in_batch += maskable_in_row;
        if (selected_in_row > 0 || maskable_in_row == 0) continue;
        // No position of this row was drawn: select the k-th maskable one instead.
        auto k = static_cast<index_t>(generator.below(static_cast<std::uint64_t>(maskable_in_row)));
        for (index_t t = 0; t < length; ++t) {
            const auto at = static_cast<std::size_t>(b * length + t);
            if (maskable(original[at]) && k-- == 0) {
                select(at);
                break;
            }
        }
    }
    detail::check(maskable_in_batch > 0, "loom::mask_tokens: no position of the ", ids.shape(),
                  " ids can be masked (every id is the mask id ", mask_id, " or a special id)");
    result.inputs = IndexTensor(std::move(inputs), ids.shape());
    result.targets = IndexTensor(std::move(targets), ids.shape());
    return result;
}

}  // namespace loom
