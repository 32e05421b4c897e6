// loom/ops/viterbi.hpp — the best tag sequences of a linear-chain CRF
// (scores as in ops/crf.hpp): Viterbi, and its k-best extension.
//
// Viterbi replaces the forward algorithm's log-sum-exp by a max, and remembers
// where each max came from:
//   δ_0(j) = s_j + e_0(j),   δ_t(j) = e_t(j) + max_i(δ_{t−1}(i) + A_ij),
//   best score = max_j(δ_{L−1}(j) + f_j),
// then follows the back-pointers from the best last tag (viterbi_best). For the k best paths
// every state keeps its k best partial paths instead of one: the k best
// paths ending in tag j at step t extend some of the k best ending in each tag
// i at t − 1 (any path in the top k at t has its prefix in the top k at t − 1
// of its own state), so δ_t(j) is the top k of the K·k candidates
// δ_{t−1}(i)[r] + A_ij + e_t(j). O(L · K² · k log k) per sequence. No
// autograd: decoding picks paths, it is not differentiated.
#pragma once

#include <algorithm>
#include <vector>

#include "loom/ops/crf.hpp"

namespace loom {

struct CrfPath {
    std::vector<index_t> tags;  // one per real step of the sequence
    double score = 0.0;         // score(tags), see ops/crf.hpp; log p = score − log Z
};

namespace detail {

// A partial path ending in some tag at some step: its score and where its
// previous step came from (tag and rank in that tag's list).
struct ViterbiEntry {
    double score;
    index_t previous_tag, previous_rank;
};

// k = 1: plain Viterbi, one score and one back-pointer per (step, tag).
template <typename T>
CrfPath viterbi_best(const T* emissions, index_t length, index_t tags, const T* transitions, const T* start,
                     const T* end) {
    std::vector<double> delta(static_cast<std::size_t>(tags)), next(static_cast<std::size_t>(tags));
    std::vector<index_t> back(static_cast<std::size_t>(length * tags), -1);
    for (index_t j = 0; j < tags; ++j) delta[static_cast<std::size_t>(j)] = static_cast<double>(start[j]) + emissions[j];
    for (index_t t = 1; t < length; ++t) {
        for (index_t j = 0; j < tags; ++j) {
            index_t best = 0;
            double best_score = delta[0] + transitions[j];
            for (index_t i = 1; i < tags; ++i) {
                const double score = delta[static_cast<std::size_t>(i)] + transitions[i * tags + j];
                if (score > best_score) {
                    best_score = score;
                    best = i;
                }
            }
            next[static_cast<std::size_t>(j)] = best_score + emissions[t * tags + j];
            back[static_cast<std::size_t>(t * tags + j)] = best;
        }
        std::swap(delta, next);
    }
    CrfPath path{std::vector<index_t>(static_cast<std::size_t>(length)), 0.0};
    index_t tag = 0;
    path.score = delta[0] + end[0];
    for (index_t j = 1; j < tags; ++j)
        if (delta[static_cast<std::size_t>(j)] + end[j] > path.score) {
            path.score = delta[static_cast<std::size_t>(j)] + end[j];
            tag = j;
        }
    for (index_t t = length - 1; t >= 0; --t) {
        path.tags[static_cast<std::size_t>(t)] = tag;
        tag = back[static_cast<std::size_t>(t * tags + tag)];
    }
    return path;
}

template <typename T>
std::vector<CrfPath> viterbi_sequence(const T* emissions, index_t length, index_t tags, const T* transitions,
                                      const T* start, const T* end, index_t k) {
    // lists[t·K + j] holds the (≤ k) best partial paths ending in tag j at step t, best first.
    std::vector<std::vector<ViterbiEntry>> lists(static_cast<std::size_t>(length * tags));
    const auto best_first = [](const ViterbiEntry& a, const ViterbiEntry& b) { return a.score > b.score; };
    const auto keep_best = [&](std::vector<ViterbiEntry>& candidates) {
        const std::size_t kept = std::min(candidates.size(), static_cast<std::size_t>(k));
        std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(kept), candidates.end(),
                          best_first);
        candidates.resize(kept);
    };
    for (index_t j = 0; j < tags; ++j)
        lists[static_cast<std::size_t>(j)] = {{static_cast<double>(start[j]) + emissions[j], -1, -1}};
    std::vector<ViterbiEntry> candidates;
    for (index_t t = 1; t < length; ++t)
        for (index_t j = 0; j < tags; ++j) {
            candidates.clear();
            for (index_t i = 0; i < tags; ++i) {
                const auto& before = lists[static_cast<std::size_t>((t - 1) * tags + i)];
                for (std::size_t r = 0; r < before.size(); ++r)
                    candidates.push_back({before[r].score + transitions[i * tags + j] + emissions[t * tags + j], i,
                                          static_cast<index_t>(r)});
            }
            keep_best(candidates);
            lists[static_cast<std::size_t>(t * tags + j)] = candidates;
        }
    candidates.clear();
    for (index_t j = 0; j < tags; ++j) {
        const auto& last = lists[static_cast<std::size_t>((length - 1) * tags + j)];
        for (std::size_t r = 0; r < last.size(); ++r)
            candidates.push_back({last[r].score + end[j], j, static_cast<index_t>(r)});
    }
    keep_best(candidates);

    std::vector<CrfPath> paths;
    for (const ViterbiEntry& final_entry : candidates) {
        CrfPath path{std::vector<index_t>(static_cast<std::size_t>(length)), final_entry.score};
        index_t tag = final_entry.previous_tag, rank = final_entry.previous_rank;
        for (index_t t = length - 1; t >= 0; --t) {
            path.tags[static_cast<std::size_t>(t)] = tag;
            const ViterbiEntry& entry = lists[static_cast<std::size_t>(t * tags + tag)][static_cast<std::size_t>(rank)];
            tag = entry.previous_tag;
            rank = entry.previous_rank;
        }
        paths.push_back(std::move(path));
    }
    return paths;
}

}  // namespace detail

// The k best tag sequences of every sequence, best first (fewer when a short
// sequence has fewer than k paths). Shapes and mask as for
// crf_negative_log_likelihood.
template <typename T>
std::vector<std::vector<CrfPath>> crf_viterbi_nbest(const Tensor<T>& emissions, const IndexTensor& mask,
                                                    const Tensor<T>& transitions, const Tensor<T>& start,
                                                    const Tensor<T>& end, index_t k) {
    const char* op = "loom::crf_viterbi";
    detail::crf_check_scores(op, emissions.shape(), transitions.shape(), start.shape(), end.shape());
    detail::check(k >= 1, op, ": the number of paths k must be at least 1, got ", k);
    const index_t batch = emissions.shape()[0], steps = emissions.shape()[1], num_tags = emissions.shape()[2];
    const std::vector<index_t> lengths = detail::crf_lengths(op, mask, batch, steps);
    std::vector<std::vector<CrfPath>> result(static_cast<std::size_t>(batch));
    parallel_for(batch, 1, [&](index_t begin, index_t stop) {
        for (index_t b = begin; b < stop; ++b)
            result[static_cast<std::size_t>(b)] =
                k == 1 ? std::vector<CrfPath>{detail::viterbi_best(emissions.data() + b * steps * num_tags,
                                                                   lengths[static_cast<std::size_t>(b)], num_tags,
                                                                   transitions.data(), start.data(), end.data())}
                       : detail::viterbi_sequence(emissions.data() + b * steps * num_tags, lengths[static_cast<std::size_t>(b)],
                                         num_tags, transitions.data(), start.data(), end.data(), k);
    });
    return result;
}

// The best tag sequence of every sequence (Viterbi).
template <typename T>
std::vector<CrfPath> crf_viterbi(const Tensor<T>& emissions, const IndexTensor& mask, const Tensor<T>& transitions,
                                 const Tensor<T>& start, const Tensor<T>& end) {
    std::vector<CrfPath> best;
    for (auto& paths : crf_viterbi_nbest(emissions, mask, transitions, start, end, 1)) best.push_back(std::move(paths[0]));
    return best;
}

}  // namespace loom
