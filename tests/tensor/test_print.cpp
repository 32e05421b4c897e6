#include "test_util.hpp"

// Tests for loom/tensor/print.hpp: operator<< for tensors.

#include <algorithm>
#include <limits>
#include <sstream>
#include <string>

using loom::index_t;
using loom::Shape;
using loom_test::contains;

namespace tensor_print_test {  // named, not anonymous: the test files are compiled together in unity batches

template <typename T>
std::string printed(const loom::Tensor<T>& t) {
    std::ostringstream out;
    out << t;
    return out.str();
}

TEMPLATE_TEST_CASE("printing small tensors exactly", "[print]", float, double) {
    using T = TestType;
    SECTION("2x2: aligned columns, PyTorch layout") {
        const auto t = loom::Tensor<T>::from_list({T(0.1), T(-2), T(3.5), T(4)}, Shape{2, 2});
        CHECK(printed(t) ==
              "tensor([[ 0.1000, -2.0000],\n"
              "        [ 3.5000,  4.0000]], shape=[2, 2])");
    }
    SECTION("scalar") {
        CHECK(printed(loom::Tensor<T>::scalar(T(3.5))) == "tensor(3.5000, shape=[])");
        CHECK(printed(loom::Tensor<T>::scalar(T(-0.25))) == "tensor(-0.2500, shape=[])");
    }
    SECTION("rank 1") {
        CHECK(printed(loom::Tensor<T>::arange(3)) == "tensor([0.0000, 1.0000, 2.0000], shape=[3])");
    }
    SECTION("rank 3: a blank line between blocks") {
        const auto t = loom::Tensor<T>::arange(8).share_storage(Shape{2, 2, 2});
        CHECK(printed(t) ==
              "tensor([[[0.0000, 1.0000],\n"
              "         [2.0000, 3.0000]],\n"
              "\n"
              "        [[4.0000, 5.0000],\n"
              "         [6.0000, 7.0000]]], shape=[2, 2, 2])");
    }
    SECTION("empty") {
        CHECK(printed(loom::Tensor<T>::zeros(Shape{0})) == "tensor([], shape=[0])");
        CHECK(printed(loom::Tensor<T>()) == "tensor(undefined)");
    }
    SECTION("very large or very small values switch to scientific notation") {
        CHECK(printed(loom::Tensor<T>::from_list({T(1e-5), T(1)}, Shape{2})) ==
              "tensor([1.0000e-05, 1.0000e+00], shape=[2])");
        CHECK(printed(loom::Tensor<T>::scalar(T(2e9))) == "tensor(2.0000e+09, shape=[])");
        // Zeros do not count as small.
        CHECK(printed(loom::Tensor<T>::from_list({T(0), T(1)}, Shape{2})) == "tensor([0.0000, 1.0000], shape=[2])");
    }
    SECTION("infinity and NaN print without breaking the format") {
        const auto t = loom::Tensor<T>::from_list(
            {std::numeric_limits<T>::infinity(), T(1.5), std::numeric_limits<T>::quiet_NaN()}, Shape{3});
        const std::string text = printed(t);
        CHECK(contains(text, "inf"));
        CHECK(contains(text, "nan"));
        CHECK(contains(text, "1.5000"));
        CHECK(contains(text, "shape=[3])"));
    }
}

TEMPLATE_TEST_CASE("printing summarises tensors with more than 1000 elements", "[print]", float, double) {
    using T = TestType;
    SECTION("rank 1") {
        const std::string text = printed(loom::Tensor<T>::arange(2000));
        CHECK(text == "tensor([   0.0000,    1.0000,    2.0000, ..., 1997.0000, 1998.0000, 1999.0000], shape=[2000])");
    }
    SECTION("rank 2: rows and columns elided") {
        const std::string text = printed(loom::Tensor<T>::arange(1600).share_storage(Shape{40, 40}));
        CHECK(contains(text, "...,\n"));
        CHECK(contains(text, "   2.0000, ...,   37.0000"));
        CHECK(contains(text, "1599.0000]], shape=[40, 40])"));
        CHECK_FALSE(contains(text, " 200.0000"));
        // 6 rows shown plus the "..." line.
        CHECK(std::count(text.begin(), text.end(), '\n') == 6);
    }
    SECTION("rank 3: the \"...\" between blocks is set off by blank lines like the blocks") {
        const std::string text = printed(loom::Tensor<T>::arange(1100).share_storage(Shape{10, 10, 11}));
        CHECK(contains(text, "]],\n\n        ...,\n\n        [["));
        // Inside a block, rows are elided with single newlines.
        CHECK(contains(text, "],\n         ...,\n         ["));
    }
    SECTION("exactly 1000 elements are all printed") {
        const std::string text = printed(loom::Tensor<T>::arange(1000));
        CHECK_FALSE(contains(text, "..."));
        CHECK(contains(text, "500.0000"));
    }
}

TEST_CASE("printing shows the autograd state", "[print][autograd]") {
    auto x = loom::Tensord::ones(Shape{2});
    CHECK(printed(x) == "tensor([1.0000, 1.0000], shape=[2])");
    x.requires_grad_();
    CHECK(printed(x) == "tensor([1.0000, 1.0000], shape=[2], requires_grad=true)");
    const auto y = x * 2.0;
    CHECK(printed(y) == "tensor([2.0000, 2.0000], shape=[2], has grad_fn)");
    CHECK_FALSE(contains(printed(y.detach()), "grad"));
}

}  // namespace tensor_print_test
