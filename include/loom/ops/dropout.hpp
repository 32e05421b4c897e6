// loom/ops/dropout.hpp — inverted dropout.
//
// In training, each element is kept with probability 1 - p and scaled so that
// the expected value is unchanged:
//   m_i = [u_i >= p] / (1 - p),  u_i ~ U[0, 1) from the given generator
//   y = x ⊙ m                     dx = g ⊙ m
// In evaluation (training = false) or with p = 0, dropout is the identity and
// returns x itself. p = 1 drops everything (y = 0).
#pragma once

#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/tensor/random.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

template <typename T>
Tensor<T> dropout(const Tensor<T>& x, double p, bool training, Generator& generator) {
    detail::check(p >= 0.0 && p <= 1.0, "loom::dropout: probability p must be in [0, 1], got ", p);
    if (!training || p == 0.0) return x;
    const T keep_scale = p < 1.0 ? static_cast<T>(1.0 / (1.0 - p)) : T(0);
    Tensor<T> mask = Tensor<T>::empty(x.shape());
    T* m = mask.data();
    for (index_t i = 0; i < mask.numel(); ++i) m[i] = generator.uniform() >= p ? keep_scale : T(0);
    Tensor<T> out = Tensor<T>::empty(x.shape());
    out.flat() = x.flat() * mask.flat();
    if (needs_grad(x))
        record(out, "dropout", {x}, [mask](const Tensor<T>& g) {
            Tensor<T> dx = Tensor<T>::empty(g.shape());
            dx.flat() = g.flat() * mask.flat();
            return std::vector<Tensor<T>>{dx};
        });
    return out;
}

}  // namespace loom
