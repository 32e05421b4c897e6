#include "test_util.hpp"

// Tests for loom/tensor/shape.hpp: rank, element count, strides, negative
// dimensions, validation and the with/without/inserted helpers.

#include <cstdint>
#include <limits>
#include <sstream>
#include <vector>

using loom::index_t;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace tensor_shape_test {  // named, not anonymous: the test files are compiled together in unity batches

TEST_CASE("Shape of rank 0 to 4: rank, numel, last and to_string", "[shape]") {
    SECTION("rank 0 is a scalar with one element") {
        const Shape s;
        CHECK(s.rank() == 0);
        CHECK(s.numel() == 1);
        CHECK(s.last() == 1);
        CHECK(s.to_string() == "[]");
        CHECK(s.to_vector().empty());
        CHECK(Shape{} == s);
    }
    SECTION("rank 1") {
        const Shape s{5};
        CHECK(s.rank() == 1);
        CHECK(s[0] == 5);
        CHECK(s.numel() == 5);
        CHECK(s.last() == 5);
        CHECK(s.to_string() == "[5]");
    }
    SECTION("rank 2") {
        const Shape s{2, 3};
        CHECK(s.rank() == 2);
        CHECK(s.numel() == 6);
        CHECK(s.last() == 3);
        CHECK(s.to_string() == "[2, 3]");
    }
    SECTION("rank 3") {
        const Shape s{2, 3, 4};
        CHECK(s.rank() == 3);
        CHECK(s.numel() == 24);
        CHECK(s.to_string() == "[2, 3, 4]");
    }
    SECTION("rank 4") {
        const Shape s{2, 3, 4, 5};
        CHECK(s.rank() == 4);
        CHECK(s.numel() == 120);
        CHECK(s.last() == 5);
        CHECK(s.to_string() == "[2, 3, 4, 5]");
        CHECK(s.to_vector() == std::vector<index_t>{2, 3, 4, 5});
    }
    SECTION("a zero size gives zero elements") {
        const Shape s{3, 0, 2};
        CHECK(s.numel() == 0);
        CHECK(s.to_string() == "[3, 0, 2]");
    }
    SECTION("built from a std::vector") {
        const Shape s(std::vector<index_t>{7, 1, 2});
        CHECK(s == Shape{7, 1, 2});
        CHECK(s.numel() == 14);
    }
    SECTION("operator<< prints to_string") {
        std::ostringstream out;
        out << Shape{4, 1};
        CHECK(out.str() == "[4, 1]");
    }
}

TEST_CASE("Shape strides are row-major", "[shape]") {
    SECTION("rank 4") {
        const auto strides = Shape{2, 3, 4, 5}.strides();
        CHECK(strides[0] == 60);
        CHECK(strides[1] == 20);
        CHECK(strides[2] == 5);
        CHECK(strides[3] == 1);
    }
    SECTION("rank 2") {
        const auto strides = Shape{3, 7}.strides();
        CHECK(strides[0] == 7);
        CHECK(strides[1] == 1);
    }
    SECTION("rank 1") { CHECK(Shape{9}.strides()[0] == 1); }
    SECTION("strides agree with Tensor::at") {
        const Shape shape{2, 3, 4};
        const auto t = loom::Tensord::arange(24).share_storage(shape);
        const auto stride = shape.strides();
        for (index_t i = 0; i < 2; ++i)
            for (index_t j = 0; j < 3; ++j)
                for (index_t k = 0; k < 4; ++k)
                    CHECK(t.at({i, j, k}) == static_cast<double>(i * stride[0] + j * stride[1] + k * stride[2]));
    }
}

TEST_CASE("Shape::normalize_dim wraps negative dimensions", "[shape]") {
    const Shape s{2, 3, 4};
    CHECK(s.normalize_dim(0, "op") == 0);
    CHECK(s.normalize_dim(2, "op") == 2);
    CHECK(s.normalize_dim(-1, "op") == 2);
    CHECK(s.normalize_dim(-3, "op") == 0);

    SECTION("out of range on either side throws, naming the op, the dim and the shape") {
        const std::string high = error_message([&] { s.normalize_dim(3, "loom::test_op"); });
        CHECK(contains(high, "loom::test_op: dimension 3 is out of range"));
        CHECK(contains(high, "[2, 3, 4]"));
        const std::string low = error_message([&] { s.normalize_dim(-4, "loom::test_op"); });
        CHECK(contains(low, "dimension -4"));
        REQUIRE_THROWS_AS(s.normalize_dim(-4, "x"), loom::Error);
    }
    SECTION("a scalar has no dimensions") {
        CHECK(contains(error_message([] { Shape{}.normalize_dim(0, "loom::f"); }), "loom::f: dimension 0"));
        CHECK(contains(error_message([] { Shape{}.normalize_dim(-1, "loom::f"); }), "[]"));
    }
}

TEST_CASE("Shape rejects a rank above 4 and negative sizes", "[shape]") {
    SECTION("rank 5 from an initializer list") {
        const std::string message = error_message([] { Shape{1, 2, 3, 4, 5}; });
        CHECK(contains(message, "loom::Shape: rank 5 is above the maximum of 4"));
        CHECK(contains(message, "[1, 2, 3, 4, 5]"));
    }
    SECTION("rank 6 from a vector") {
        REQUIRE_THROWS_AS(Shape(std::vector<index_t>(6, 1)), loom::Error);
        CHECK(contains(error_message([] { Shape(std::vector<index_t>(6, 1)); }), "rank 6"));
    }
    SECTION("negative size names the size and the dimension") {
        const std::string message = error_message([] { Shape{2, -3}; });
        CHECK(contains(message, "loom::Shape: negative size -3 in dimension 1"));
        REQUIRE_THROWS_AS(Shape(std::vector<index_t>{-1}), loom::Error);
    }
    SECTION("an element count that does not fit in index_t") {
        const index_t big = index_t{1} << 32;
        const std::string message = error_message([&] { Shape{big, big}; });
        CHECK(contains(message, "loom::Shape:"));
        CHECK(contains(message, "[4294967296, 4294967296]"));
        // Even with a zero size, the partial products would overflow in numel().
        REQUIRE_THROWS_AS((Shape{big, big, 0}), loom::Error);
        // The largest that fits is fine.
        CHECK(Shape{std::numeric_limits<index_t>::max(), 1}.numel() == std::numeric_limits<index_t>::max());
        CHECK(Shape{big, big / 2 - 1}.numel() == big * (big / 2 - 1));
    }
}

TEST_CASE("Shape equality", "[shape]") {
    CHECK(Shape{2, 3} == Shape{2, 3});
    CHECK_FALSE(Shape{2, 3} != Shape{2, 3});
    CHECK(Shape{2, 3} != Shape{3, 2});
    CHECK(Shape{2, 3} != Shape{2, 3, 1});
    CHECK(Shape{1} != Shape{});
    CHECK(Shape{} == Shape());
    // Sizes beyond the rank are not part of the shape.
    CHECK(Shape{2, 3, 9}.without(2) == Shape{2, 3});
}

TEST_CASE("Shape::with, without and inserted", "[shape]") {
    const Shape s{2, 3, 4};
    SECTION("with replaces one size and leaves the original alone") {
        CHECK(s.with(1, 7) == Shape{2, 7, 4});
        CHECK(s.with(0, 0) == Shape{0, 3, 4});
        CHECK(s == Shape{2, 3, 4});
    }
    SECTION("without removes one dimension") {
        CHECK(s.without(0) == Shape{3, 4});
        CHECK(s.without(1) == Shape{2, 4});
        CHECK(s.without(2) == Shape{2, 3});
        CHECK(Shape{5}.without(0) == Shape{});
    }
    SECTION("inserted adds a dimension before position dim (== rank appends)") {
        CHECK(s.inserted(0, 1) == Shape{1, 2, 3, 4});
        CHECK(s.inserted(2, 5) == Shape{2, 3, 5, 4});
        CHECK(s.inserted(3, 1) == Shape{2, 3, 4, 1});
        CHECK(Shape{}.inserted(0, 6) == Shape{6});
    }
    SECTION("inserted into a rank-4 shape exceeds the maximum rank") {
        CHECK(contains(error_message([] { Shape{1, 2, 3, 4}.inserted(0, 1); }), "rank 5"));
    }
    SECTION("bad dimensions and sizes throw instead of writing out of bounds") {
        CHECK(contains(error_message([&] { s.with(3, 1); }), "loom::Shape::with: dimension 3"));
        CHECK(contains(error_message([&] { s.with(-1, 1); }), "[2, 3, 4]"));
        CHECK(contains(error_message([&] { s.with(0, -2); }), "negative size -2"));
        CHECK(contains(error_message([&] { s.without(3); }), "loom::Shape::without: dimension 3"));
        CHECK(contains(error_message([] { Shape{}.without(0); }), "loom::Shape::without"));
        CHECK(contains(error_message([&] { s.inserted(4, 1); }), "loom::Shape::inserted: dimension 4"));
        CHECK(contains(error_message([&] { s.inserted(-1, 1); }), "loom::Shape::inserted"));
        CHECK(contains(error_message([&] { s.inserted(0, -1); }), "negative size -1"));
    }
}

}  // namespace tensor_shape_test
