#include "test_util.hpp"

// loom/loom.hpp, the umbrella header, in a first translation unit. With
// test_loom_second_tu.cpp it is included in at least two units of one
// executable, so a non-inline function defined in any header fails the link.

#include <loom/loom.hpp>
#include <loom/version.hpp>

#include <sstream>

TEST_CASE("the umbrella header gives the whole library (first unit)", "[loom]") {
    loom::Generator generator(1);
    auto w = loom::Tensord::uniform(loom::Shape{3, 2}, -1.0, 1.0, generator).requires_grad_();
    const auto x = loom::Tensord::ones(loom::Shape{4, 3});
    const auto loss = loom::sum(loom::tanh(loom::matmul(x, w)));
    loss.backward();
    REQUIRE(w.grad().defined());
    CHECK(w.grad().shape() == loom::Shape{3, 2});

    std::ostringstream printed;
    printed << loom::Tensord::scalar(1.0);
    CHECK(printed.str() == "tensor(1.0000, shape=[])");

    std::ostringstream version;
    version << LOOM_VERSION_MAJOR << '.' << LOOM_VERSION_MINOR << '.' << LOOM_VERSION_PATCH;
    CHECK(version.str() == LOOM_VERSION_STRING);
}
