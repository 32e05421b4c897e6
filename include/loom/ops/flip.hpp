// loom/ops/flip.hpp — reverse the order along one dimension, torch.flip(x, [dim]).
//
//   y[..., i, ...] = x[..., n−1−i, ...]      (n = size of `dim`)
// A bidirectional RNN reads its input back to front this way and flips its
// output back, so that position t of both directions lines up. Flipping is a
// permutation that is its own inverse, so the backward is the same flip:
//   dx[..., i, ...] = g[..., n−1−i, ...]
//
// reverse_padded(x, lengths) does the same for a padded batch x [B, T, F],
// reversing only each row's first lengths[b] steps and leaving its padding in
// place, as a bidirectional RNN over variable-length sequences needs (the
// reverse direction must start at each sequence's own last step):
//   y[b, t] = x[b, lengths[b]−1−t]   for t < lengths[b],   y[b, t] = x[b, t] after.
// Again a permutation that is its own inverse, so dx = reverse_padded(g, lengths).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/ops/slice.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

namespace detail {

// Copies from [outer, size, inner] with the middle index reversed.
template <typename T>
void flip_slabs(const T* from, T* to, const AxisSplit& split) {
    for (index_t o = 0; o < split.outer; ++o)
        for (index_t i = 0; i < split.size; ++i) {
            const T* source = from + (o * split.size + (split.size - 1 - i)) * split.inner;
            std::copy(source, source + split.inner, to + (o * split.size + i) * split.inner);
        }
}

// [B, T, F]: row b's first lengths[b] steps reversed, the rest copied.
template <typename T>
void reverse_rows_within(const T* from, T* to, index_t steps, index_t width, const std::vector<index_t>& lengths) {
    for (std::size_t b = 0; b < lengths.size(); ++b) {
        const index_t n = lengths[b];
        const T* row_from = from + static_cast<index_t>(b) * steps * width;
        T* row_to = to + static_cast<index_t>(b) * steps * width;
        for (index_t t = 0; t < steps; ++t) {
            const T* source = row_from + (t < n ? n - 1 - t : t) * width;
            std::copy(source, source + width, row_to + t * width);
        }
    }
}

}  // namespace detail

template <typename T>
Tensor<T> flip(const Tensor<T>& x, int dim) {
    detail::check(x.defined(), "loom::flip: the input is undefined");
    const int d = x.shape().normalize_dim(dim, "loom::flip");
    const detail::AxisSplit split = detail::split_at(x.shape(), d);
    Tensor<T> out = Tensor<T>::empty(x.shape());
    detail::flip_slabs(x.data(), out.data(), split);
    if (needs_grad(x)) {
        record(out, "flip", {x}, [split](const Tensor<T>& g) {
            Tensor<T> dx = Tensor<T>::empty(g.shape());
            detail::flip_slabs(g.data(), dx.data(), split);
            return std::vector<Tensor<T>>{dx};
        });
    }
    return out;
}

template <typename T>
Tensor<T> reverse_padded(const Tensor<T>& x, const std::vector<index_t>& lengths) {
    detail::check(x.defined() && x.rank() == 3, "loom::reverse_padded: input must be [batch, steps, features], got ",
                  x.defined() ? x.shape().to_string() : std::string("an undefined tensor"));
    if (lengths.empty()) return flip(x, 1);
    const index_t batch = x.shape()[0], steps = x.shape()[1], width = x.shape()[2];
    detail::check(static_cast<index_t>(lengths.size()) == batch, "loom::reverse_padded: lengths has ", lengths.size(),
                  " entries for a batch of ", batch, " sequences");
    for (std::size_t b = 0; b < lengths.size(); ++b)
        detail::check(lengths[b] >= 0 && lengths[b] <= steps, "loom::reverse_padded: sequence ", b, " has length ",
                      lengths[b], ", outside [0, ", steps, "]");
    Tensor<T> out = Tensor<T>::empty(x.shape());
    detail::reverse_rows_within(x.data(), out.data(), steps, width, lengths);
    if (needs_grad(x)) {
        record(out, "reverse_padded", {x}, [steps, width, lengths](const Tensor<T>& g) {
            Tensor<T> dx = Tensor<T>::empty(g.shape());
            detail::reverse_rows_within(g.data(), dx.data(), steps, width, lengths);
            return std::vector<Tensor<T>>{dx};
        });
    }
    return out;
}

}  // namespace loom
