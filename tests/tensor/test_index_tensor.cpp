#include "test_util.hpp"

// Tests for loom/tensor/index_tensor.hpp: integer tensors for ids, targets and masks.

#include <sstream>
#include <string>
#include <vector>

using loom::index_t;
using loom::IndexTensor;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace tensor_index_tensor_test {  // named, not anonymous: the test files are compiled together in unity batches

std::string printed(const IndexTensor& t) {
    std::ostringstream out;
    out << t;
    return out.str();
}

TEST_CASE("IndexTensor construction", "[index_tensor]") {
    SECTION("default is an empty rank-1 tensor") {
        const IndexTensor t;
        CHECK(t.shape() == Shape{0});
        CHECK(t.rank() == 1);
        CHECK(t.numel() == 0);
        CHECK(t.values().empty());
    }
    SECTION("an initializer list is a rank-1 index list") {
        const IndexTensor t{3, 1, 4};
        CHECK(t.shape() == Shape{3});
        CHECK(t[0] == 3);
        CHECK(t[2] == 4);
        CHECK(t.values() == std::vector<index_t>{3, 1, 4});
    }
    SECTION("a vector alone is rank 1") {
        const IndexTensor t(std::vector<index_t>{5, 6});
        CHECK(t.shape() == Shape{2});
        CHECK(t[1] == 6);
    }
    SECTION("values and a shape, row-major") {
        const IndexTensor t(std::vector<index_t>{0, 1, 2, 3, 4, 5}, Shape{2, 3});
        CHECK(t.shape() == Shape{2, 3});
        CHECK(t.rank() == 2);
        CHECK(t.numel() == 6);
        CHECK(t.data()[4] == 4);
        const IndexTensor scalar(std::vector<index_t>{7}, Shape{});
        CHECK(scalar.rank() == 0);
        CHECK(scalar[0] == 7);
    }
    SECTION("a count mismatch throws, naming the shape") {
        const std::string message =
            error_message([] { IndexTensor(std::vector<index_t>{1, 2, 3, 4, 5}, Shape{2, 3}); });
        CHECK(contains(message, "loom::IndexTensor: 5 values do not fill shape [2, 3] (6 elements)"));
        REQUIRE_THROWS_AS(IndexTensor(std::vector<index_t>{}, Shape{}), loom::Error);
    }
    SECTION("full and zeros") {
        const IndexTensor f = IndexTensor::full(Shape{2, 2}, -1);
        CHECK(f.shape() == Shape{2, 2});
        CHECK(f.values() == std::vector<index_t>{-1, -1, -1, -1});
        const IndexTensor z = IndexTensor::zeros(Shape{3});
        CHECK(z.values() == std::vector<index_t>{0, 0, 0});
        CHECK(IndexTensor::zeros(Shape{0, 4}).numel() == 0);
    }
}

TEST_CASE("IndexTensor access and reshaping", "[index_tensor]") {
    IndexTensor t(std::vector<index_t>{0, 1, 2, 3, 4, 5}, Shape{2, 3});
    SECTION("operator[] and data() write in place") {
        t[1] = 10;
        t.data()[5] = 50;
        CHECK(t.values() == std::vector<index_t>{0, 10, 2, 3, 4, 50});
    }
    SECTION("reshaped keeps the values and leaves the original alone") {
        const IndexTensor r = t.reshaped(Shape{3, 2});
        CHECK(r.shape() == Shape{3, 2});
        CHECK(r.values() == t.values());
        CHECK(t.shape() == Shape{2, 3});
        // A copy: writing one does not change the other.
        IndexTensor flat = t.reshaped(Shape{6});
        flat[0] = 99;
        CHECK(t[0] == 0);
    }
    SECTION("reshaped to another element count throws") {
        CHECK(contains(error_message([&] { t.reshaped(Shape{4}); }),
                       "loom::IndexTensor::reshaped: cannot view [2, 3] as [4]"));
    }
}

TEST_CASE("IndexTensor printing", "[index_tensor][print]") {
    CHECK(printed(IndexTensor{3, 1, 4}) == "IndexTensor([3, 1, 4], shape=[3])");
    CHECK(printed(IndexTensor()) == "IndexTensor([], shape=[0])");
    CHECK(printed(IndexTensor(std::vector<index_t>{1, 2, 3, 4}, Shape{2, 2})) ==
          "IndexTensor([1, 2, 3, 4], shape=[2, 2])");
    // More than 20 values: the first 20, then "...".
    std::vector<index_t> many(25);
    for (std::size_t i = 0; i < many.size(); ++i) many[i] = static_cast<index_t>(i);
    CHECK(printed(IndexTensor(many)) ==
          "IndexTensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, ...], shape=[25])");
}

}  // namespace tensor_index_tensor_test
