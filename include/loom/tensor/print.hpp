// loom/tensor/print.hpp — operator<< for tensors, in PyTorch's layout:
//   tensor([[ 0.1000, -2.0000],
//           [ 3.5000,  4.0000]], shape=[2, 2])
// Tensors with more than 1000 elements are summarised: along every dimension
// longer than 6 only the first and last 3 entries are shown, with "..." between.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <string>

#include "loom/tensor/tensor.hpp"

namespace loom {

namespace detail {

struct PrintFormat {
    bool scientific = false;
    int width = 0;
};

inline std::string format_number(double value, bool scientific) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, scientific ? "%.4e" : "%.4f", value);
    return buffer;
}

template <typename T>
void print_block(std::ostream& out, const T* data, const Shape& shape, int dim, index_t offset,
                 const std::array<index_t, Shape::max_rank>& strides, bool summarize,
                 const PrintFormat& format, int indent) {
    const index_t size = shape[dim];
    const bool elide = summarize && size > 6;
    out << '[';
    for (index_t i = 0; i < size; ++i) {
        if (elide && i == 3) {
            // "..." stands in for the hidden entries and is separated like one of them.
            if (dim + 1 == shape.rank()) {
                out << "..., ";
            } else {
                out << "...," << std::string(static_cast<std::size_t>(shape.rank() - dim - 1), '\n')
                    << std::string(static_cast<std::size_t>(indent + 1), ' ');
            }
            i = size - 3;
        }
        const index_t at = offset + i * strides[static_cast<std::size_t>(dim)];
        if (dim + 1 == shape.rank()) {
            std::string number = format_number(static_cast<double>(data[at]), format.scientific);
            out << std::string(static_cast<std::size_t>(std::max<int>(0, format.width - static_cast<int>(number.size()))), ' ')
                << number;
        } else {
            print_block(out, data, shape, dim + 1, at, strides, summarize, format, indent + 1);
        }
        if (i + 1 < size) {
            if (dim + 1 == shape.rank()) {
                out << ", ";
            } else {
                out << ',' << std::string(static_cast<std::size_t>(shape.rank() - dim - 1), '\n')
                    << std::string(static_cast<std::size_t>(indent + 1), ' ');
            }
        }
    }
    out << ']';
}

}  // namespace detail

template <typename T>
std::ostream& operator<<(std::ostream& out, const Tensor<T>& tensor) {
    if (!tensor.defined()) return out << "tensor(undefined)";
    const Shape& shape = tensor.shape();
    const T* data = tensor.data();
    const index_t count = tensor.numel();

    // One format for all elements, so columns line up.
    detail::PrintFormat format;
    double largest = 0.0;
    double smallest_nonzero = 0.0;
    for (index_t i = 0; i < count; ++i) {
        const double magnitude = std::abs(static_cast<double>(data[i]));
        if (!std::isfinite(magnitude)) continue;
        largest = std::max(largest, magnitude);
        if (magnitude > 0 && (smallest_nonzero == 0.0 || magnitude < smallest_nonzero)) smallest_nonzero = magnitude;
    }
    format.scientific = largest >= 1e8 || (smallest_nonzero > 0 && smallest_nonzero < 1e-4);
    for (index_t i = 0; i < count; ++i)
        format.width = std::max<int>(format.width, static_cast<int>(detail::format_number(static_cast<double>(data[i]), format.scientific).size()));

    const std::string prefix = "tensor(";
    out << prefix;
    if (shape.rank() == 0) {
        out << detail::format_number(static_cast<double>(data[0]), format.scientific);
    } else {
        detail::print_block(out, data, shape, 0, 0, shape.strides(), count > 1000, format,
                            static_cast<int>(prefix.size()));
    }
    out << ", shape=" << shape;
    if (tensor.grad_fn()) out << ", has grad_fn";
    else if (tensor.requires_grad()) out << ", requires_grad=true";
    return out << ')';
}

}  // namespace loom
