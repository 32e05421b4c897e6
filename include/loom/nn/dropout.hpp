// loom/nn/dropout.hpp — PyTorch's nn.Dropout(p) as a module.
//
// In training mode each element is zeroed with probability p and the rest are
// scaled by 1/(1 − p) (inverted dropout, ops/dropout.hpp); in evaluation mode
// it is the identity. The layer draws from its own Generator, seeded from the
// one it is built with and registered as "generator", so a checkpoint saves and
// restores where the random stream stands.
#pragma once

#include "loom/nn/module.hpp"
#include "loom/ops/dropout.hpp"

namespace loom {

template <typename T>
class Dropout : public Module<T> {
public:
    Dropout(double p, Generator& generator) : p(p), generator_(generator.next_u64()) {
        detail::check(p >= 0.0 && p <= 1.0, "loom::Dropout: probability p must be in [0, 1], got ", p);
        this->register_generator("generator", generator_);
    }

    Tensor<T> forward(const Tensor<T>& x) { return dropout(x, p, this->is_training(), generator_); }
    Tensor<T> operator()(const Tensor<T>& x) { return forward(x); }

    const double p;

private:
    Generator generator_;
};

}  // namespace loom
