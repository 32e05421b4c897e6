// loom/nn/crf.hpp — a linear-chain conditional random field over tag
// sequences, the layer to put on top of per-token scores (a BiLSTM's) for
// sequence labelling.
//
//   p(y | e) ∝ exp( start[y_0] + Σ_t e_t(y_t) + Σ_t transitions[y_{t−1}, y_t] + end[y_{L−1}] )
// Parameters (the names of the pytorch-crf package, so weights move between
// the two): start_transitions [K], end_transitions [K], transitions [K, K]
// (row: from tag, column: to tag), initialised uniform in (−0.1, 0.1).
// forward() is the negative log-likelihood of the given tags (ops/crf.hpp, the
// forward algorithm and its backward); decode() the Viterbi path and
// decode_nbest() the k best paths (ops/viterbi.hpp). Emissions are batch-first
// [B, T, K]; a mask [B, T] (nonzero = real step, a prefix of each row; empty:
// every step real) gives variable lengths.
#pragma once

#include <vector>

#include "loom/nn/module.hpp"
#include "loom/ops/crf.hpp"
#include "loom/ops/viterbi.hpp"

namespace loom {

template <typename T>
class CRF : public Module<T> {
public:
    CRF(index_t num_tags, Generator& generator) : num_tags(num_tags) {
        detail::check(num_tags > 0, "loom::CRF: num_tags must be positive, got ", num_tags);
        start_transitions = this->register_parameter("start_transitions", init(Shape{num_tags}, generator));
        end_transitions = this->register_parameter("end_transitions", init(Shape{num_tags}, generator));
        transitions = this->register_parameter("transitions", init(Shape{num_tags, num_tags}, generator));
    }

    // −log p(tags | emissions): [B] for Reduction::none, else the sum or the
    // mean over the batch.
    Tensor<T> forward(const Tensor<T>& emissions, const IndexTensor& tags, const IndexTensor& mask = IndexTensor(),
                      Reduction reduction = Reduction::mean) const {
        check_tags(emissions);
        return crf_negative_log_likelihood(emissions, tags, mask, transitions, start_transitions, end_transitions,
                                           reduction);
    }
    Tensor<T> operator()(const Tensor<T>& emissions, const IndexTensor& tags, const IndexTensor& mask = IndexTensor(),
                         Reduction reduction = Reduction::mean) const {
        return forward(emissions, tags, mask, reduction);
    }

    // The best path of every sequence and its score.
    std::vector<CrfPath> decode(const Tensor<T>& emissions, const IndexTensor& mask = IndexTensor()) const {
        check_tags(emissions);
        return crf_viterbi(emissions, mask, transitions, start_transitions, end_transitions);
    }
    // The k best paths of every sequence, best first.
    std::vector<std::vector<CrfPath>> decode_nbest(const Tensor<T>& emissions, index_t k,
                                                   const IndexTensor& mask = IndexTensor()) const {
        check_tags(emissions);
        return crf_viterbi_nbest(emissions, mask, transitions, start_transitions, end_transitions, k);
    }

    const index_t num_tags;
    Tensor<T> start_transitions;  // [K]
    Tensor<T> end_transitions;    // [K]
    Tensor<T> transitions;        // [K, K]

private:
    static Tensor<T> init(const Shape& shape, Generator& generator) {
        return Tensor<T>::uniform(shape, T(-0.1), T(0.1), generator);
    }
    void check_tags(const Tensor<T>& emissions) const {
        detail::check(emissions.defined() && emissions.rank() == 3 && emissions.shape()[2] == num_tags,
                      "loom::CRF: emissions must be [batch, steps, ", num_tags, "], got ",
                      emissions.defined() ? emissions.shape() : Shape{});
    }
};

}  // namespace loom
