#include "test_util.hpp"

// Tests for loom/tensor/error.hpp: loom::Error and the fail/check helpers, plus a
// sweep over the tensor and autograd layers checking that every bad-input error
// is a loom::Error whose message names the operation.

#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace tensor_error_test {  // named, not anonymous: the test files are compiled together in unity batches

TEST_CASE("loom::Error is a std::invalid_argument", "[error]") {
    const loom::Error error("loom::something: went wrong");
    CHECK(std::string(error.what()) == "loom::something: went wrong");
    const std::invalid_argument& as_invalid = error;
    CHECK(std::string(as_invalid.what()) == "loom::something: went wrong");
    REQUIRE_THROWS_AS(throw loom::Error("x"), std::invalid_argument);
    REQUIRE_THROWS_AS(throw loom::Error("x"), std::exception);
}

TEST_CASE("detail::fail and detail::check build the message from streamable parts", "[error]") {
    SECTION("fail concatenates strings, numbers and shapes") {
        const std::string message = error_message([] { loom::detail::fail("loom::op: ", 3, " vs ", Shape{2, 3}, '!'); });
        CHECK(message == "loom::op: 3 vs [2, 3]!");
    }
    SECTION("check throws only when the condition is false") {
        CHECK_NOTHROW(loom::detail::check(true, "never"));
        CHECK(error_message([] { loom::detail::check(true, "never"); }).empty());
        CHECK(error_message([] { loom::detail::check(1 + 1 == 3, "loom::math: ", 1.5, " is wrong"); }) ==
              "loom::math: 1.5 is wrong");
        REQUIRE_THROWS_AS(loom::detail::check(false, "x"), loom::Error);
    }
    SECTION("error_message returns \"\" when nothing throws, and ignores other exception types") {
        CHECK(error_message([] {}).empty());
        REQUIRE_THROWS_AS(error_message([] { throw std::runtime_error("not loom"); }), std::runtime_error);
    }
}

TEST_CASE("every error of the tensor and autograd layers is a loom::Error naming its operation", "[error]") {
    const auto x = loom::Tensord::zeros(Shape{2, 3});
    const auto leaf = loom::Tensord::ones(Shape{2}).requires_grad_();
    const std::vector<std::pair<std::string, std::function<void()>>> cases = {
        {"loom::Shape", [] { Shape{1, 2, 3, 4, 5}; }},
        {"loom::Shape", [] { Shape{-1}; }},
        {"loom::Shape::with", [] { Shape{2}.with(1, 3); }},
        {"loom::Tensor::size", [&] { x.size(5); }},
        {"loom::Tensor::item", [&] { x.item(); }},
        {"loom::Tensor::at", [&] { x.at({9, 9}); }},
        {"loom::Tensor::arange", [] { loom::Tensord::arange(0.0, 1.0, 0.0); }},
        {"loom::Tensor::from_vector", [] { loom::Tensord::from_vector({1.0}, Shape{2}); }},
        {"loom::Tensor::share_storage", [&] { x.share_storage(Shape{7}); }},
        {"loom::Tensor::copy_", [&] { loom::Tensord::zeros(Shape{3}).copy_(x); }},
        {"loom::Tensor::requires_grad_", [&] { (leaf * 2.0).requires_grad_(false); }},
        {"loom::Tensor::set_grad", [&] { loom::Tensord(leaf).set_grad(x); }},
        {"loom::Tensor:", [] { loom::Tensord().numel(); }},
        {"loom::IndexTensor", [] { loom::IndexTensor(std::vector<loom::index_t>{1}, Shape{2}); }},
        {"loom::set_num_threads", [] { loom::set_num_threads(0); }},
        {"loom::backward", [&] { x.backward(); }},
        {"loom::backward", [&] { (leaf * 2.0).backward(); }},
        {"loom::gradcheck", [] { loom::gradcheck([](const std::vector<loom::Tensord>& in) { return in[0]; }, {}); }},
    };
    for (const auto& [op, fn] : cases) {
        INFO("expected an error from " << op);
        const std::string message = error_message(fn);
        CHECK(message.rfind(op, 0) == 0);  // starts with the operation's name
    }
}

}  // namespace tensor_error_test
