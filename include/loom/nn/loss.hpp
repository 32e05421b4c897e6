// loom/nn/loss.hpp — loss modules, in PyTorch's shape.
//
// CrossEntropyLoss(logits [N, C], targets [N]) is the mean over non-ignored
// rows of -log softmax(logits)[i, target_i]; the math and its fused backward
// are in ops/cross_entropy.hpp. For a sequence model, flatten [B, T, V] logits
// and [B, T] targets to [B·T, V] and [B·T] (or pass them as they are: the op
// accepts any leading shape).
//
// CTCLoss(log_probs [T, B, C], targets, input_lengths, target_lengths) is
// torch.nn.CTCLoss: −log p(target | input) summed over all alignments, with
// a blank index, reduction none | mean | sum (mean divides each sequence's loss
// by its target length, then averages) and zero_infinity. The forward–backward
// recursions and the derived gradient are in ops/ctc.hpp.
#pragma once

#include <vector>

#include "loom/ops/cross_entropy.hpp"
#include "loom/ops/ctc.hpp"

namespace loom {

template <typename T>
class CrossEntropyLoss {
public:
    explicit CrossEntropyLoss(index_t ignore_index = -100) : ignore_index(ignore_index) {}

    Tensor<T> forward(const Tensor<T>& logits, const IndexTensor& targets) const {
        return cross_entropy(logits, targets, ignore_index);
    }
    Tensor<T> operator()(const Tensor<T>& logits, const IndexTensor& targets) const { return forward(logits, targets); }

    const index_t ignore_index;
};

template <typename T>
class CTCLoss {
public:
    explicit CTCLoss(index_t blank = 0, Reduction reduction = Reduction::mean, bool zero_infinity = false)
        : options{blank, reduction, zero_infinity} {
        detail::check(blank >= 0, "loom::CTCLoss: blank must be a class index >= 0, got ", blank);
    }

    Tensor<T> forward(const Tensor<T>& log_probs, const IndexTensor& targets, const std::vector<index_t>& input_lengths,
                      const std::vector<index_t>& target_lengths) const {
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, options);
    }
    Tensor<T> operator()(const Tensor<T>& log_probs, const IndexTensor& targets,
                         const std::vector<index_t>& input_lengths, const std::vector<index_t>& target_lengths) const {
        return forward(log_probs, targets, input_lengths, target_lengths);
    }

    const CtcOptions options;
};

}  // namespace loom
