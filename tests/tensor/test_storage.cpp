#include "test_util.hpp"

// Tests for loom/tensor/storage.hpp: the aligned buffer behind tensors, and how
// tensors share it.

#include <cstdint>
#include <new>
#include <type_traits>

using loom::index_t;
using loom::Shape;

static_assert(!std::is_copy_constructible_v<loom::detail::Storage<float>>, "a Storage is owned, never copied");
static_assert(!std::is_copy_assignable_v<loom::detail::Storage<double>>, "a Storage is owned, never copied");

namespace tensor_storage_test {  // named, not anonymous: the test files are compiled together in unity batches

bool is_aligned(const void* pointer, std::size_t alignment) {
    return reinterpret_cast<std::uintptr_t>(pointer) % alignment == 0;
}

TEMPLATE_TEST_CASE("Storage allocates an aligned buffer of the requested size", "[storage]", float, double) {
    using T = TestType;
    SECTION("sizes that are and are not a multiple of the alignment") {
        for (index_t size : {1, 3, 16, 17, 1000}) {
            INFO("size " << size);
            loom::detail::Storage<T> storage(size);
            REQUIRE(storage.data() != nullptr);
            CHECK(storage.size() == size);
            CHECK(is_aligned(storage.data(), loom::detail::Storage<T>::alignment));
            // Every element is writable (AddressSanitizer would catch a short buffer).
            for (index_t i = 0; i < size; ++i) storage.data()[i] = static_cast<T>(i);
            CHECK(storage.data()[size - 1] == static_cast<T>(size - 1));
        }
    }
    SECTION("size 0 allocates nothing") {
        const loom::detail::Storage<T> storage(0);
        CHECK(storage.size() == 0);
        CHECK(storage.data() == nullptr);
    }
    SECTION("a byte count that overflows size_t is bad_alloc, not a short buffer") {
        REQUIRE_THROWS_AS(loom::detail::Storage<T>(index_t{1} << 62), std::bad_alloc);
        REQUIRE_THROWS_AS(loom::Tensor<T>::empty(Shape{index_t{1} << 60, 4}), std::bad_alloc);
    }
    SECTION("a new tensor starts at an aligned address") {
        const auto t = loom::Tensor<T>::zeros(Shape{3, 5});
        CHECK(is_aligned(t.data(), 64));
    }
}

TEMPLATE_TEST_CASE("tensors share one Storage and keep it alive", "[storage]", float, double) {
    using T = TestType;
    SECTION("a view outlives the tensor it was taken from") {
        loom::Tensor<T> view;
        {
            const auto original = loom::Tensor<T>::arange(10);
            view = original.share_storage(Shape{2, 2}, 4);
            CHECK(view.shares_storage_with(original));
        }
        // The original handle is gone; the buffer must still be there.
        CHECK(view.to_vector() == std::vector<T>{4, 5, 6, 7});
        view.fill_(T(1));
        CHECK(view.at({1, 1}) == T(1));
    }
    SECTION("copies of a handle share the storage, clones do not") {
        const auto a = loom::Tensor<T>::ones(Shape{4});
        const auto b = a;  // a second handle, not a copy of the data
        CHECK(b.shares_storage_with(a));
        CHECK(b.impl_ptr() == a.impl_ptr());
        CHECK_FALSE(a.clone().shares_storage_with(a));
        CHECK_FALSE(a.shares_storage_with(loom::Tensor<T>()));
        CHECK_FALSE(loom::Tensor<T>().shares_storage_with(a));
    }
    SECTION("owns_storage_alone sees other handles and views") {
        auto a = loom::Tensor<T>::zeros(Shape{4});
        CHECK(a.owns_storage_alone());
        {
            const auto handle = a;
            CHECK_FALSE(a.owns_storage_alone());
        }
        CHECK(a.owns_storage_alone());
        {
            const auto view = a.detach();
            CHECK(a.use_count() == 1);
            CHECK_FALSE(a.owns_storage_alone());
        }
        CHECK(a.owns_storage_alone());
    }
}

}  // namespace tensor_storage_test
