// loom/ops/cross_entropy.hpp — softmax cross-entropy loss, fused.
//
// For logits x [N, C] and integer targets t [N] (any leading shape works: x
// [..., C] with t [...]), over the rows whose target is not ignore_index:
//   loss = (1/n) Σ_i ( log Σ_c e^(x_ic) - x_i,t_i ),   n = number of such rows
// which is mean(-log_softmax(x)[i, t_i]). Fusing the two ops gives a short,
// stable backward:
//   dx_ic = g / n · (softmax(x)_ic - [c = t_i])    (0 for ignored rows)
// softmax is computed with the row max subtracted (see softmax.hpp), so extreme
// logits give finite results. If every row is ignored the loss is 0 with zero
// gradient (PyTorch returns NaN there; loom prefers a value that cannot poison
// a training run).
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/ops/softmax.hpp"
#include "loom/tensor/index_tensor.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

template <typename T>
Tensor<T> cross_entropy(const Tensor<T>& logits, const IndexTensor& targets, index_t ignore_index = -100) {
    detail::check(logits.rank() >= 1, "loom::cross_entropy: logits must have a class dimension, got shape ",
                  logits.shape());
    const index_t classes = logits.shape().last();
    const index_t rows = logits.numel() / std::max<index_t>(classes, 1);
    detail::check(logits.rank() >= 2 && targets.shape() == logits.shape().without(logits.rank() - 1),
                  "loom::cross_entropy: logits ", logits.shape(), " need targets of shape ",
                  logits.rank() >= 2 ? logits.shape().without(logits.rank() - 1).to_string() : std::string("[N]"),
                  ", got ", targets.shape());
    // Check every target, not `rows` of them: with 0 classes rows is 0 but the
    // targets are not, and any target that is not ignored is out of range.
    index_t counted = 0;
    for (index_t i = 0; i < targets.numel(); ++i) {
        const index_t t = targets[i];
        if (t == ignore_index) continue;
        detail::check(t >= 0 && t < classes, "loom::cross_entropy: target ", t, " at position ", i,
                      " is out of range for ", classes, " classes");
        ++counted;
    }

    // probabilities = softmax(logits); loss_i = log Σ e^(x - m) - (x_t - m).
    Tensor<T> probabilities = Tensor<T>::empty(logits.shape());
    auto x = logits.matrix();
    auto p = probabilities.matrix();
    std::vector<T> row_loss(static_cast<std::size_t>(rows), T(0));
    detail::for_each_row(rows, classes, [&](index_t r) {
        const T row_max = x.row(r).maxCoeff();
        detail::exp_shifted_row(logits.data() + r * classes, row_max, probabilities.data() + r * classes, classes);
        const T total = p.row(r).sum();
        p.row(r) /= total;
        const index_t t = targets[r];
        if (t != ignore_index) row_loss[static_cast<std::size_t>(r)] = std::log(total) - (x(r, t) - row_max);
    });
    T loss_sum = T(0);
    for (T value : row_loss) loss_sum += value;
    const T scale = counted > 0 ? T(1) / static_cast<T>(counted) : T(0);
    Tensor<T> loss = Tensor<T>::scalar(loss_sum * scale);

    if (needs_grad(logits))
        record(loss, "cross_entropy", {logits},
               [probabilities, targets, ignore_index, scale, rows](const Tensor<T>& g) {
                   const T factor = g.item() * scale;
                   Tensor<T> dx = Tensor<T>::empty(probabilities.shape());
                   auto pm = probabilities.matrix();
                   auto dm = dx.matrix();
                   for (index_t r = 0; r < rows; ++r) {
                       const index_t t = targets[r];
                       if (t == ignore_index) {
                           dm.row(r).setZero();
                       } else {
                           dm.row(r) = pm.row(r) * factor;
                           dm(r, t) -= factor;
                       }
                   }
                   return std::vector<Tensor<T>>{dx};
               });
    return loss;
}

}  // namespace loom
