// bench/vs_libtorch_beam.hpp — the libtorch side's beam bookkeeping, shared by
// the lstm_gen_beam5 and seq2seq_beam5 workloads of bench/vs_libtorch.cpp.
//
// k hypotheses as k rows: scores [k] (the sums of log-probabilities) and each
// row's token history on the host, as loom's beam search keeps them. One step
// takes the k best of scores[r] + log_probs[r, v] over the flattened [k·V],
// parent = index / V, token = index % V. At the start every row is the same
// (the prompt's state copied k times), so only row 0 may be extended.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace vs_libtorch_beam {

struct TorchBeam {
    explicit TorchBeam(int64_t width)
        : width(width), scores(torch::full({width}, -std::numeric_limits<float>::infinity())), histories(width) {
        scores[0] = 0.0f;
    }

    // Extends the beam by one token; returns (parent rows, tokens), both [k].
    std::pair<torch::Tensor, torch::Tensor> extend(const torch::Tensor& log_probs) {
        const int64_t vocabulary = log_probs.size(1);
        auto [top, index] = (scores.unsqueeze(1) + log_probs).reshape({-1}).topk(width);
        auto parent = index.div(vocabulary, "floor"), token = index.remainder(vocabulary);
        const int64_t* parents = parent.data_ptr<int64_t>();
        const int64_t* tokens = token.data_ptr<int64_t>();
        std::vector<std::vector<int64_t>> next(static_cast<std::size_t>(width));
        for (int64_t r = 0; r < width; ++r) {
            next[static_cast<std::size_t>(r)] = histories[static_cast<std::size_t>(parents[r])];
            next[static_cast<std::size_t>(r)].push_back(tokens[r]);
        }
        histories = std::move(next);
        scores = top;
        return {parent, token};
    }

    // A checksum of the best row's tokens.
    int64_t checksum() const {
        int64_t sum = 0;
        for (const int64_t token : histories[0]) sum += token;
        return sum;
    }

    int64_t width;
    torch::Tensor scores;
    std::vector<std::vector<int64_t>> histories;
};

}  // namespace vs_libtorch_beam
