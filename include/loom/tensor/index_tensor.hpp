// loom/tensor/index_tensor.hpp — integer tensors for indices and masks.
//
// Token ids, class targets, argmax positions and boolean masks are integers, not
// values to differentiate, so they live in a small separate type: a Shape plus a
// std::vector<int64_t>, row-major like Tensor. Ops take it where PyTorch takes a
// LongTensor (embedding, cross_entropy) or a BoolTensor (masked_fill: nonzero is
// true).
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <utility>
#include <vector>

#include "loom/tensor/error.hpp"
#include "loom/tensor/shape.hpp"

namespace loom {

class IndexTensor {
public:
    // An empty rank-1 tensor (shape [0]): a default Shape would be a rank-0
    // scalar, which promises one value that is not there.
    IndexTensor() : shape_{0} {}

    IndexTensor(std::vector<index_t> values, const Shape& shape) : shape_(shape), values_(std::move(values)) {
        detail::check(static_cast<index_t>(values_.size()) == shape_.numel(), "loom::IndexTensor: ",
                      values_.size(), " values do not fill shape ", shape_, " (", shape_.numel(), " elements)");
    }
    // A rank-1 index list.
    IndexTensor(std::initializer_list<index_t> values)
        : shape_{static_cast<index_t>(values.size())}, values_(values) {}
    explicit IndexTensor(std::vector<index_t> values)
        : shape_{static_cast<index_t>(values.size())}, values_(std::move(values)) {}

    static IndexTensor full(const Shape& shape, index_t value) {
        return IndexTensor(std::vector<index_t>(static_cast<std::size_t>(shape.numel()), value), shape);
    }
    static IndexTensor zeros(const Shape& shape) { return full(shape, 0); }

    const Shape& shape() const { return shape_; }
    int rank() const { return shape_.rank(); }
    index_t numel() const { return shape_.numel(); }
    index_t* data() { return values_.data(); }
    const index_t* data() const { return values_.data(); }
    index_t operator[](index_t i) const { return values_[static_cast<std::size_t>(i)]; }
    index_t& operator[](index_t i) { return values_[static_cast<std::size_t>(i)]; }
    const std::vector<index_t>& values() const { return values_; }

    // Same values, another shape with the same element count.
    IndexTensor reshaped(const Shape& shape) const {
        detail::check(shape.numel() == numel(), "loom::IndexTensor::reshaped: cannot view ", shape_, " as ", shape);
        return IndexTensor(values_, shape);
    }

    friend std::ostream& operator<<(std::ostream& out, const IndexTensor& tensor) {
        out << "IndexTensor([";
        const index_t shown = std::min<index_t>(tensor.numel(), 20);
        for (index_t i = 0; i < shown; ++i) out << (i ? ", " : "") << tensor[i];
        if (shown < tensor.numel()) out << ", ...";
        return out << "], shape=" << tensor.shape() << ')';
    }

private:
    Shape shape_;
    std::vector<index_t> values_;
};

}  // namespace loom
