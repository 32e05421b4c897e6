#include "test_util.hpp"

// Tests for loom/ops/flip.hpp: values along each dimension, the backward, and
// the errors.

#include <vector>

#include <loom/ops/flip.hpp>

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace ops_flip_test {

TEST_CASE("flip reverses one dimension and leaves the others", "[flip]") {
    const Tensor<float> x = loom::reshape(Tensor<float>::arange(24), {2, 3, 4});
    const Tensor<float> middle = loom::flip(x, 1);
    const Tensor<float> last = loom::flip(x, -1);
    const Tensor<float> first = loom::flip(x, 0);
    for (index_t a = 0; a < 2; ++a)
        for (index_t b = 0; b < 3; ++b)
            for (index_t c = 0; c < 4; ++c) {
                const float value = x.data()[(a * 3 + b) * 4 + c];
                CHECK(middle.data()[(a * 3 + (2 - b)) * 4 + c] == value);
                CHECK(last.data()[(a * 3 + b) * 4 + (3 - c)] == value);
                CHECK(first.data()[((1 - a) * 3 + b) * 4 + c] == value);
            }
    CHECK(loom_test::max_abs_diff(loom::flip(loom::flip(x, 1), 1), x) == 0.0);
    CHECK(loom::flip(Tensor<float>::zeros(Shape{0, 3}), 0).shape() == Shape{0, 3});
}

TEST_CASE("flip's gradient is the flipped upstream gradient", "[flip][gradcheck]") {
    const std::vector<Tensor<double>> inputs{loom_test::random_tensor<double>(Shape{2, 5, 3}, 41)};
    for (int dim : {0, 1, 2})
        LOOM_CHECK_GRADIENTS([dim](const std::vector<Tensor<double>>& x) { return loom::mul(loom::flip(x[0], dim), x[0]); },
                             inputs);
}

TEST_CASE("flip rejects a dimension out of range", "[flip][errors]") {
    const Tensor<float> x = Tensor<float>::zeros(Shape{2, 3});
    CHECK(contains(error_message([&] { loom::flip(x, 2); }), "loom::flip: dimension 2 is out of range for a tensor of shape [2, 3]"));
    CHECK(contains(error_message([&] { loom::flip(Tensor<float>(), 0); }), "loom::flip: the input is undefined"));
}

}  // namespace ops_flip_test
