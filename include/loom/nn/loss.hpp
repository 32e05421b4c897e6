// loom/nn/loss.hpp — loss modules, in PyTorch's shape.
//
// CrossEntropyLoss(logits [N, C], targets [N]) is the mean over non-ignored
// rows of -log softmax(logits)[i, target_i]; the math and its fused backward
// are in ops/cross_entropy.hpp. For a sequence model, flatten [B, T, V] logits
// and [B, T] targets to [B·T, V] and [B·T] (or pass them as they are: the op
// accepts any leading shape).
#pragma once

#include "loom/ops/cross_entropy.hpp"

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

}  // namespace loom
