// loom/tensor/storage.hpp — the memory behind tensors.
//
// A Storage is one heap buffer of `size` elements, aligned to 64 bytes (a cache
// line, and enough for AVX-512 loads). Tensors hold it through a shared_ptr, so
// views (reshape, rows) share one buffer and it lives while any view does.
// The buffer starts uninitialised: ops overwrite their outputs anyway, and
// zeroing large activations would cost a pass over memory for nothing.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <limits>
#include <new>

#include "loom/tensor/shape.hpp"

namespace loom::detail {

template <typename T>
class Storage {
public:
    static constexpr std::size_t alignment = 64;

    explicit Storage(index_t size) : size_(size) {
        if (size_ == 0) return;
        // A byte count that overflows size_t would wrap to a small allocation.
        if (static_cast<std::size_t>(size_) > (std::numeric_limits<std::size_t>::max() - alignment) / sizeof(T))
            throw std::bad_alloc();
        // std::aligned_alloc wants the byte count to be a multiple of the alignment.
        std::size_t bytes = static_cast<std::size_t>(size_) * sizeof(T);
        bytes = (bytes + alignment - 1) / alignment * alignment;
        data_ = static_cast<T*>(std::aligned_alloc(alignment, bytes));
        if (data_ == nullptr) throw std::bad_alloc();
    }
    ~Storage() { std::free(data_); }

    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;

    T* data() { return data_; }
    const T* data() const { return data_; }
    index_t size() const { return size_; }

private:
    T* data_ = nullptr;
    index_t size_ = 0;
};

}  // namespace loom::detail
