// loom/tensor/tensor.hpp — Tensor<T>: a dense, row-major array of float or double
// that can take part in automatic differentiation.
//
// A Tensor is a cheap handle (one shared_ptr) to a TensorImpl, which holds
//   - the data: a shared Storage, an element offset into it and a Shape
//     (always contiguous, so element (i, j, k) of a [I, J, K] tensor sits at
//      offset + (i * J + j) * K + k);
//   - the autograd record: requires_grad, the accumulated gradient `grad` (for
//     leaves) and `grad_fn`, the graph node of the op that produced it.
// Copying a Tensor copies the handle, not the data (as in PyTorch). Views made by
// reshape or by taking leading rows share the Storage without copying.
//
// Every kernel works through Eigen: matrix() is a zero-copy Eigen::Map of the data
// as a (numel / last) x last row-major matrix, flat() a map of all elements as
// one column array. The autograd engine itself lives in loom/autograd/.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cmath>
#include <initializer_list>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "loom/tensor/error.hpp"
#include "loom/tensor/random.hpp"
#include "loom/tensor/shape.hpp"
#include "loom/tensor/storage.hpp"

namespace loom {

template <typename T>
class Tensor;
template <typename T>
struct Node;  // a recorded op; defined in loom/autograd/node.hpp

namespace detail {

template <typename T>
struct TensorImpl {
    std::shared_ptr<Storage<T>> storage;
    index_t offset = 0;
    Shape shape;
    bool requires_grad = false;
    std::shared_ptr<TensorImpl<T>> grad;  // accumulated by backward() into leaves
    std::shared_ptr<Node<T>> grad_fn;     // the op that made this tensor; null for leaves
    int output_index = 0;                 // which of grad_fn's outputs this tensor is
};

}  // namespace detail

template <typename T>
class Tensor {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "loom::Tensor<T>: T must be float or double");

public:
    using Scalar = T;
    using RowMajorMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using MatrixMap = Eigen::Map<RowMajorMatrix>;
    using ConstMatrixMap = Eigen::Map<const RowMajorMatrix>;
    using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
    using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

    // An undefined tensor: no data, like an empty optional. defined() is false.
    Tensor() = default;

    // ---- factories -------------------------------------------------------

    // Uninitialised memory of the given shape; every element must be written.
    static Tensor empty(const Shape& shape) {
        auto impl = std::make_shared<detail::TensorImpl<T>>();
        impl->storage = std::make_shared<detail::Storage<T>>(shape.numel());
        impl->shape = shape;
        return Tensor(std::move(impl));
    }
    static Tensor full(const Shape& shape, T value) {
        Tensor result = empty(shape);
        result.fill_(value);
        return result;
    }
    static Tensor zeros(const Shape& shape) { return full(shape, T(0)); }
    static Tensor ones(const Shape& shape) { return full(shape, T(1)); }
    static Tensor scalar(T value) { return full(Shape{}, value); }

    // 0, 1, ..., count - 1 as a rank-1 tensor (empty for count <= 0). Counted in
    // integers: a float end would round counts above 2^24.
    static Tensor arange(index_t count) {
        Tensor result = empty(Shape{std::max<index_t>(count, 0)});
        for (index_t i = 0; i < result.numel(); ++i) result.data()[i] = static_cast<T>(i);
        return result;
    }
    // start, start + step, ... while below end (above end for a negative step).
    static Tensor arange(T start, T end, T step) {
        detail::check(step != T(0), "loom::Tensor::arange: step must not be zero");
        const double span = (static_cast<double>(end) - static_cast<double>(start)) / static_cast<double>(step);
        const index_t count = span > 0 ? static_cast<index_t>(std::ceil(span)) : 0;
        Tensor result = empty(Shape{count});
        for (index_t i = 0; i < count; ++i) result.data()[i] = start + static_cast<T>(i) * step;
        return result;
    }

    static Tensor from_vector(const std::vector<T>& values, const Shape& shape) {
        detail::check(static_cast<index_t>(values.size()) == shape.numel(),
                      "loom::Tensor::from_vector: ", values.size(), " values do not fill shape ",
                      shape, " (", shape.numel(), " elements)");
        Tensor result = empty(shape);
        std::copy(values.begin(), values.end(), result.data());
        return result;
    }
    static Tensor from_vector(const std::vector<T>& values) {
        return from_vector(values, Shape{static_cast<index_t>(values.size())});
    }
    static Tensor from_list(std::initializer_list<T> values, const Shape& shape) {
        return from_vector(std::vector<T>(values), shape);
    }

    // Uniform in [low, high) and normal(mean, stddev), drawn in row-major order
    // from an explicit generator, so the same seed gives the same tensor anywhere.
    static Tensor uniform(const Shape& shape, T low, T high, Generator& generator) {
        detail::check(low <= high, "loom::Tensor::uniform: low (", low, ") must not be above high (", high, ")");
        Tensor result = empty(shape);
        T* out = result.data();
        // Rounding a value just below `high` to T can give `high` itself (for
        // float in [0, 1): once in ~3e7 draws); it becomes the largest T below
        // high, so the range stays half-open.
        const T below_high = std::nextafter(high, low);
        for (index_t i = 0; i < result.numel(); ++i) {
            const T value = static_cast<T>(generator.uniform(low, high));
            out[i] = value < high ? value : below_high;
        }
        return result;
    }
    static Tensor normal(const Shape& shape, T mean, T stddev, Generator& generator) {
        Tensor result = empty(shape);
        T* out = result.data();
        for (index_t i = 0; i < result.numel(); ++i) out[i] = static_cast<T>(generator.normal(mean, stddev));
        return result;
    }

    // ---- shape and data ---------------------------------------------------

    bool defined() const { return impl_ != nullptr; }
    const Shape& shape() const { return impl().shape; }
    int rank() const { return shape().rank(); }
    index_t size(int dim) const { return shape()[shape().normalize_dim(dim, "loom::Tensor::size")]; }
    index_t numel() const { return shape().numel(); }
    std::array<index_t, Shape::max_rank> strides() const { return shape().strides(); }

    T* data() { return impl().storage->data() + impl().offset; }
    const T* data() const { return impl().storage->data() + impl().offset; }

    // The single value of a one-element tensor.
    T item() const {
        detail::check(numel() == 1, "loom::Tensor::item: tensor of shape ", shape(),
                      " has ", numel(), " elements, not 1");
        return data()[0];
    }

    // Bounds-checked element access by full index, e.g. t.at({1, 2}).
    T at(std::initializer_list<index_t> index) const { return data()[flat_index(index)]; }
    void set(std::initializer_list<index_t> index, T value) { data()[flat_index(index)] = value; }

    std::vector<T> to_vector() const { return std::vector<T>(data(), data() + numel()); }

    // Zero-copy Eigen views. matrix(): rows = numel / last dim, cols = last dim
    // (a rank-0 or rank-1 tensor is one row).
    MatrixMap matrix() { return MatrixMap(data(), rows(), shape().last()); }
    ConstMatrixMap matrix() const { return ConstMatrixMap(data(), rows(), shape().last()); }
    ArrayMap flat() { return ArrayMap(data(), numel()); }
    ConstArrayMap flat() const { return ConstArrayMap(data(), numel()); }

    // ---- storage sharing (no autograd; ops build differentiable views on it) --

    // A tensor over the same storage with another shape, starting `offset`
    // elements into this one. The new shape must fit inside this tensor.
    Tensor share_storage(const Shape& new_shape, index_t offset = 0) const {
        detail::check(offset >= 0 && offset + new_shape.numel() <= numel(),
                      "loom::Tensor::share_storage: shape ", new_shape, " at offset ", offset,
                      " does not fit in a tensor of shape ", shape());
        auto view = std::make_shared<detail::TensorImpl<T>>();
        view->storage = impl().storage;
        view->offset = impl().offset + offset;
        view->shape = new_shape;
        return Tensor(std::move(view));
    }
    bool shares_storage_with(const Tensor& other) const {
        return defined() && other.defined() && impl_->storage == other.impl_->storage;
    }

    // A new tensor with a copy of the data; it is a leaf and does not require grad.
    Tensor clone() const {
        Tensor copy = empty(shape());
        std::copy(data(), data() + numel(), copy.data());
        return copy;
    }

    // In-place writes to the data. They are not recorded by autograd: use them on
    // leaves (parameter updates, initialisation), not on tensors inside a graph.
    Tensor& fill_(T value) {
        std::fill(data(), data() + numel(), value);
        return *this;
    }
    Tensor& copy_(const Tensor& source) {
        detail::check(source.shape() == shape(), "loom::Tensor::copy_: source shape ", source.shape(),
                      " differs from destination shape ", shape());
        std::copy(source.data(), source.data() + numel(), data());
        return *this;
    }

    // ---- autograd record --------------------------------------------------

    bool requires_grad() const { return defined() && impl_->requires_grad; }

    // Marks a leaf as a parameter whose gradient backward() should accumulate.
    Tensor& requires_grad_(bool requires = true) {
        detail::check(is_leaf() || requires,
                      "loom::Tensor::requires_grad_: cannot turn off requires_grad on a tensor of shape ",
                      shape(), " made by an op; use detach() to get a tensor without history");
        impl().requires_grad = requires;
        return *this;
    }

    // A leaf is a tensor not produced by a recorded op: an input or a parameter.
    bool is_leaf() const { return !impl().grad_fn; }
    const std::shared_ptr<Node<T>>& grad_fn() const { return impl().grad_fn; }

    // The gradient accumulated by backward(); undefined until one ran.
    // It shares storage with the gradient buffer, so it can be updated in place.
    Tensor grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }
    void set_grad(const Tensor& gradient) {
        detail::check(!gradient.defined() || gradient.shape() == shape(), "loom::Tensor::set_grad: gradient shape ",
                      gradient.defined() ? gradient.shape().to_string() : "", " differs from tensor shape ", shape());
        impl().grad = gradient.impl_;
    }
    // Drops the gradient (PyTorch's zero_grad(set_to_none=True)).
    void zero_grad() { impl().grad.reset(); }

    // Same data, no history: the result is a leaf that does not require grad.
    Tensor detach() const {
        Tensor view = share_storage(shape());
        return view;
    }

    // Reverse-mode autodiff from this tensor: accumulates d(this)/d(leaf) into the
    // grad of every leaf that requires grad. A non-scalar needs `gradient` (the
    // upstream dL/d(this)). The graph is freed afterwards unless retain_graph.
    // Defined in loom/autograd/engine.hpp, found there by argument-dependent lookup.
    void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const {
        run_backward(*this, gradient, retain_graph);
    }

    // For ops: attach the graph node that produced this tensor (as its output
    // number `output_index`, for ops with several outputs).
    void set_grad_fn(std::shared_ptr<Node<T>> node, int output_index = 0) {
        impl().grad_fn = std::move(node);
        impl().output_index = output_index;
        impl().requires_grad = true;
    }
    int output_index() const { return impl().output_index; }

    // For the autograd engine: detach and hand over the graph node (see ~Node).
    std::shared_ptr<Node<T>> take_grad_fn() { return std::move(impl().grad_fn); }

    // Identity of the underlying record (two handles to one tensor compare equal).
    const detail::TensorImpl<T>* impl_ptr() const { return impl_.get(); }
    long use_count() const { return impl_.use_count(); }
    bool owns_storage_alone() const { return impl_.use_count() == 1 && impl_->storage.use_count() == 1; }

private:
    explicit Tensor(std::shared_ptr<detail::TensorImpl<T>> impl) : impl_(std::move(impl)) {}

    detail::TensorImpl<T>& impl() const {
        detail::check(impl_ != nullptr, "loom::Tensor: the tensor is undefined (default-constructed or empty grad)");
        return *impl_;
    }

    index_t rows() const { return shape().last() == 0 ? 0 : numel() / shape().last(); }

    index_t flat_index(std::initializer_list<index_t> index) const {
        detail::check(static_cast<int>(index.size()) == rank(), "loom::Tensor::at: ", index.size(),
                      " indices for a tensor of rank ", rank(), " and shape ", shape());
        const auto stride = strides();
        index_t flat = 0;
        int dim = 0;
        for (index_t i : index) {
            detail::check(i >= 0 && i < shape()[dim], "loom::Tensor::at: index ", i, " is out of range for dimension ",
                          dim, " of shape ", shape());
            flat += i * stride[static_cast<std::size_t>(dim)];
            ++dim;
        }
        return flat;
    }

    std::shared_ptr<detail::TensorImpl<T>> impl_;
};

using Tensorf = Tensor<float>;
using Tensord = Tensor<double>;

}  // namespace loom
