// loom/tensor/shape.hpp — the shape of a tensor: up to four dimensions.
//
// A Shape is a small fixed-capacity list of sizes (rank 0..4). Tensors are
// dense and row-major, so the strides follow from the shape alone:
//   stride[last] = 1,   stride[d] = stride[d + 1] * size[d + 1].
// Rank 0 is a scalar with one element.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "loom/tensor/error.hpp"

namespace loom {

using index_t = std::int64_t;

class Shape {
public:
    static constexpr int max_rank = 4;

    Shape() = default;  // rank 0: a scalar

    Shape(std::initializer_list<index_t> sizes) { assign(sizes.begin(), sizes.end()); }
    explicit Shape(const std::vector<index_t>& sizes) { assign(sizes.begin(), sizes.end()); }

    int rank() const { return rank_; }
    index_t operator[](int dim) const { return sizes_[static_cast<std::size_t>(dim)]; }
    index_t& operator[](int dim) { return sizes_[static_cast<std::size_t>(dim)]; }

    // Negative dims count from the end, as in Python: -1 is the last dimension.
    int normalize_dim(int dim, const char* op) const {
        const int wrapped = dim < 0 ? dim + rank_ : dim;
        detail::check(wrapped >= 0 && wrapped < rank_, op, ": dimension ", dim,
                      " is out of range for a tensor of shape ", to_string());
        return wrapped;
    }

    index_t numel() const {
        index_t count = 1;
        for (int d = 0; d < rank_; ++d) count *= sizes_[static_cast<std::size_t>(d)];
        return count;
    }

    index_t last() const { return rank_ == 0 ? 1 : sizes_[static_cast<std::size_t>(rank_ - 1)]; }

    // Row-major strides in elements.
    std::array<index_t, max_rank> strides() const {
        std::array<index_t, max_rank> result{};
        index_t stride = 1;
        for (int d = rank_ - 1; d >= 0; --d) {
            result[static_cast<std::size_t>(d)] = stride;
            stride *= sizes_[static_cast<std::size_t>(d)];
        }
        return result;
    }

    std::vector<index_t> to_vector() const {
        return std::vector<index_t>(sizes_.begin(), sizes_.begin() + rank_);
    }

    // Copies with dimension `dim` set to `size`, removed, or inserted before
    // position `dim` (dim == rank appends). dim counts from 0 (normalize
    // negative dims first); a bad dim or size throws rather than writing out of
    // bounds.
    Shape with(int dim, index_t size) const {
        check_dim(dim, rank_ - 1, "loom::Shape::with");
        Shape result = *this;
        result[dim] = size;
        result.validate();
        return result;
    }
    Shape without(int dim) const {
        check_dim(dim, rank_ - 1, "loom::Shape::without");
        std::vector<index_t> sizes = to_vector();
        sizes.erase(sizes.begin() + dim);
        return Shape(sizes);
    }
    Shape inserted(int dim, index_t size) const {
        check_dim(dim, rank_, "loom::Shape::inserted");
        std::vector<index_t> sizes = to_vector();
        sizes.insert(sizes.begin() + dim, size);
        return Shape(sizes);
    }

    std::string to_string() const {
        std::ostringstream out;
        out << '[';
        for (int d = 0; d < rank_; ++d) out << (d ? ", " : "") << sizes_[static_cast<std::size_t>(d)];
        out << ']';
        return out.str();
    }

    friend bool operator==(const Shape& a, const Shape& b) {
        if (a.rank_ != b.rank_) return false;
        for (int d = 0; d < a.rank_; ++d)
            if (a[d] != b[d]) return false;
        return true;
    }
    friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }
    friend std::ostream& operator<<(std::ostream& out, const Shape& shape) {
        return out << shape.to_string();
    }

private:
    template <typename It>
    void assign(It first, It last) {
        const auto count = static_cast<int>(last - first);
        if (count > max_rank) {
            std::ostringstream sizes;
            for (It it = first; it != last; ++it) sizes << (it == first ? "" : ", ") << *it;
            detail::fail("loom::Shape: rank ", count, " is above the maximum of ", max_rank,
                         " (sizes [", sizes.str(), "])");
        }
        rank_ = count;
        int d = 0;
        for (It it = first; it != last; ++it, ++d) sizes_[static_cast<std::size_t>(d)] = *it;
        validate();
    }

    // Sizes must be non-negative, and their product must fit in index_t. Zero
    // sizes are left out of that product: numel() and strides() multiply in
    // order, so [2^40, 2^40, 0] would overflow on the way to its 0 elements.
    void validate() const {
        index_t product = 1;
        for (int d = 0; d < rank_; ++d) {
            const index_t size = sizes_[static_cast<std::size_t>(d)];
            if (size < 0) detail::fail("loom::Shape: negative size ", size, " in dimension ", d);
            if (size == 0) continue;
            if (product > std::numeric_limits<index_t>::max() / size)
                detail::fail("loom::Shape: sizes ", to_string(), " have more elements than index_t can count");
            product *= size;
        }
    }

    // dim must lie in [0, highest].
    void check_dim(int dim, int highest, const char* op) const {
        detail::check(dim >= 0 && dim <= highest, op, ": dimension ", dim, " is out of range for shape ",
                      to_string());
    }

    std::array<index_t, max_rank> sizes_{};
    int rank_ = 0;
};

}  // namespace loom
