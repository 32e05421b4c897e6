// loom/nn/conv1d.hpp — a 1-D convolution layer, PyTorch's nn.Conv1d (groups = 1),
// with an optional causal mode for generation.
//
//   y = conv1d(x, W, b, stride, padding, dilation)
//   x [B, C_in, T], W [C_out, C_in, K] ("weight"), b [C_out] ("bias"), y [B, C_out, T_out]
// causal = true pads (K−1)·dilation zeros on the left only (stride 1, padding 0),
// so y[.., t] sees x[.., t − (K−1)·dilation ..= t] and T_out = T.
// Initialisation as PyTorch: W and b uniform in (−1/√(C_in·K), 1/√(C_in·K))
// (kaiming_uniform with a = √5 gives exactly this bound for W).
// forward_sequence takes the [B, T, C] layout of recurrent and attention models
// and returns [B, T, C_out]; the two transposes are recorded ops.
// The maths and the backward are in loom/ops/conv1d.hpp.
#pragma once

#include <cmath>

#include "loom/nn/module.hpp"
#include "loom/ops/conv1d.hpp"
#include "loom/ops/transpose.hpp"

namespace loom {

template <typename T>
class Conv1d : public Module<T> {
public:
    Conv1d(index_t in_channels, index_t out_channels, index_t kernel_size, Generator& generator, index_t stride = 1,
           index_t padding = 0, index_t dilation = 1, bool bias = true, bool causal = false)
        : in_channels(in_channels),
          out_channels(out_channels),
          kernel_size(kernel_size),
          stride(stride),
          padding(padding),
          dilation(dilation),
          causal(causal) {
        detail::check(in_channels > 0 && out_channels > 0 && kernel_size > 0,
                      "loom::Conv1d: sizes must be positive, got in_channels ", in_channels, ", out_channels ",
                      out_channels, ", kernel_size ", kernel_size);
        detail::check(stride >= 1 && dilation >= 1 && padding >= 0,
                      "loom::Conv1d: need stride >= 1, dilation >= 1 and padding >= 0, got stride ", stride,
                      ", padding ", padding, ", dilation ", dilation);
        detail::check(!causal || (stride == 1 && padding == 0),
                      "loom::Conv1d: causal mode pads (kernel_size - 1) * dilation on the left itself and uses "
                      "stride 1; got stride ",
                      stride, " and padding ", padding);
        const T bound = T(1) / std::sqrt(static_cast<T>(in_channels * kernel_size));
        weight = this->register_parameter(
            "weight", Tensor<T>::uniform(Shape{out_channels, in_channels, kernel_size}, -bound, bound, generator));
        if (bias)
            this->bias =
                this->register_parameter("bias", Tensor<T>::uniform(Shape{out_channels}, -bound, bound, generator));
    }

    // x [B, C_in, T] -> [B, C_out, T_out].
    Tensor<T> forward(const Tensor<T>& x) const {
        detail::check(x.defined() && x.rank() == 3 && x.shape()[1] == in_channels,
                      "loom::Conv1d: expected input [batch, ", in_channels, ", length], got ",
                      x.defined() ? x.shape() : Shape{});
        return causal ? causal_conv1d(x, weight, bias, dilation) : conv1d(x, weight, bias, stride, padding, dilation);
    }
    Tensor<T> operator()(const Tensor<T>& x) const { return forward(x); }

    // x [B, T, C_in] -> [B, T_out, C_out].
    Tensor<T> forward_sequence(const Tensor<T>& x) const {
        detail::check(x.defined() && x.rank() == 3 && x.shape()[2] == in_channels,
                      "loom::Conv1d::forward_sequence: expected input [batch, length, ", in_channels, "], got ",
                      x.defined() ? x.shape() : Shape{});
        return transpose(forward(transpose(x)));
    }

    const index_t in_channels;
    const index_t out_channels;
    const index_t kernel_size;
    const index_t stride;
    const index_t padding;
    const index_t dilation;
    const bool causal;
    Tensor<T> weight;  // [out_channels, in_channels, kernel_size]
    Tensor<T> bias;    // [out_channels], undefined without bias
};

}  // namespace loom
