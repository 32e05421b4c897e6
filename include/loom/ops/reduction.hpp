// loom/ops/reduction.hpp — how a loss reduces its per-sequence values,
// PyTorch's `reduction` argument: none (one value per sequence), sum, or mean.
// What "mean" divides by is the loss's own definition (CTC divides each
// sequence's loss by its target length before averaging over the batch, as
// torch.nn.CTCLoss does); each loss header says which.
#pragma once

#include <string>

#include "loom/tensor/error.hpp"

namespace loom {

enum class Reduction { none, mean, sum };

inline const char* to_string(Reduction reduction) {
    switch (reduction) {
        case Reduction::none: return "none";
        case Reduction::mean: return "mean";
        case Reduction::sum: return "sum";
    }
    return "?";
}

// "none" | "mean" | "sum", as PyTorch spells them.
inline Reduction parse_reduction(const std::string& name) {
    if (name == "none") return Reduction::none;
    if (name == "mean") return Reduction::mean;
    if (name == "sum") return Reduction::sum;
    throw Error("loom::parse_reduction: unknown reduction '" + name + "' (expected none, mean or sum)");
}

}  // namespace loom
