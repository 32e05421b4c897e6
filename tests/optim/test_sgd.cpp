#include "test_util.hpp"

// Tests for loom/optim/sgd.hpp: three steps of plain SGD, momentum, Nesterov
// momentum, and momentum with dampening and weight decay against
// torch.optim.SGD (tests/data/sgd.txt, made by
// tests/fixtures/make_layer_fixtures.py); parameters without a gradient;
// the argument checks; set_learning_rate and zero_grad.

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "fixture_reader.hpp"

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace optim_sgd_test {  // named, not anonymous: the test files are compiled together in unity batches

using loom_test::check_matches;

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 1e-5 : 1e-10;
}

struct Config {
    const char* name;
    double learning_rate, momentum, weight_decay;
    bool nesterov;
    double dampening;
};

TEMPLATE_TEST_CASE("SGD matches torch.optim.SGD over three steps", "[sgd][fixture]", float, double) {
    using T = TestType;
    const auto fixture = loom_test::load_fixture("sgd.txt");
    const Config configs[] = {
        {"plain", 0.1, 0.0, 0.0, false, 0.0},
        {"momentum", 0.1, 0.9, 0.0, false, 0.0},
        {"nesterov", 0.1, 0.9, 0.0, true, 0.0},
        {"dampening", 0.1, 0.9, 0.01, false, 0.1},
    };
    for (const Config& config : configs) {
        INFO("config " << config.name);
        Tensor<T> param = fixture.template get<T>("param");
        param.requires_grad_();
        loom::SGD<T> optimizer({param}, config.learning_rate, config.momentum, config.weight_decay, config.nesterov,
                               config.dampening);
        CHECK(optimizer.learning_rate() == config.learning_rate);
        for (int k = 1; k <= 3; ++k) {
            INFO("after step " << k);
            param.set_grad(fixture.template get<T>("grad_" + std::to_string(k)));
            optimizer.step();
            check_matches(param, fixture.template get<T>(std::string(config.name) + "_" + std::to_string(k)),
                          tolerance<T>());
        }
        // The gradients are left as they were.
        check_matches(param.grad(), fixture.template get<T>("grad_3"), 0.0);
    }
}

TEMPLATE_TEST_CASE("SGD skips parameters without a gradient", "[sgd]", float, double) {
    using T = TestType;
    Tensor<T> a = Tensor<T>::from_list({1, 2, 3}, Shape{3});
    Tensor<T> b = Tensor<T>::from_list({4, 5}, Shape{2});
    a.requires_grad_();
    b.requires_grad_();
    loom::SGD<T> optimizer({a, b}, 0.5, 0.9);

    a.set_grad(Tensor<T>::from_list({2, 2, 2}, Shape{3}));
    optimizer.step();  // b has no gradient: unchanged, and no momentum for it yet
    CHECK(a.to_vector() == std::vector<T>{0, 1, 2});
    CHECK(b.to_vector() == std::vector<T>{4, 5});

    b.set_grad(Tensor<T>::from_list({2, -2}, Shape{2}));
    a.zero_grad();
    optimizer.step();  // b's first step starts its buffer at the gradient: b -= 0.5 · g
    CHECK(a.to_vector() == std::vector<T>{0, 1, 2});
    CHECK(b.to_vector() == std::vector<T>{3, 6});

    optimizer.step();  // buffer 0.9 · g + g = 1.9 g: b -= 0.95 · g
    CHECK(std::abs(static_cast<double>(b.at({0})) - 1.1) < tolerance<T>());
    CHECK(std::abs(static_cast<double>(b.at({1})) - 7.9) < tolerance<T>());
}

TEMPLATE_TEST_CASE("SGD runs outside the graph", "[sgd]", float, double) {
    using T = TestType;
    Tensor<T> w = Tensor<T>::from_list({1, -1}, Shape{2});
    w.requires_grad_();
    loom::SGD<T> optimizer({w}, 0.25);
    loom::sum(loom::mul(w, w)).backward();  // grad 2w
    optimizer.step();
    CHECK(w.to_vector() == std::vector<T>{T(0.5), T(-0.5)});
    CHECK(w.is_leaf());
    CHECK(w.requires_grad());
    CHECK(loom::is_grad_enabled());

    optimizer.zero_grad();
    CHECK_FALSE(w.grad().defined());
    optimizer.step();  // nothing to do without gradients
    CHECK(w.to_vector() == std::vector<T>{T(0.5), T(-0.5)});
}

TEMPLATE_TEST_CASE("SGD set_learning_rate changes later steps", "[sgd]", float, double) {
    using T = TestType;
    Tensor<T> w = Tensor<T>::from_list({1, 2}, Shape{2});
    w.requires_grad_();
    loom::SGD<T> optimizer({w}, 0.5);
    REQUIRE(optimizer.parameters().size() == 1);
    CHECK(optimizer.parameters()[0].impl_ptr() == w.impl_ptr());
    w.set_grad(Tensor<T>::from_list({1, 1}, Shape{2}));
    optimizer.step();
    CHECK(w.to_vector() == std::vector<T>{T(0.5), T(1.5)});

    optimizer.set_learning_rate(0.25);
    CHECK(optimizer.learning_rate() == 0.25);
    optimizer.step();
    CHECK(w.to_vector() == std::vector<T>{T(0.25), T(1.25)});

    optimizer.set_learning_rate(0.0);
    optimizer.step();
    CHECK(w.to_vector() == std::vector<T>{T(0.25), T(1.25)});

    CHECK(contains(error_message([&] { optimizer.set_learning_rate(-0.1); }),
                   "loom::SGD: learning rate must be >= 0"));
    CHECK(optimizer.learning_rate() == 0.0);
}

TEMPLATE_TEST_CASE("SGD rejects invalid arguments", "[sgd]", float, double) {
    using T = TestType;
    Tensor<T> w = Tensor<T>::zeros(Shape{2});
    w.requires_grad_();
    const std::vector<Tensor<T>> params{w};

    REQUIRE_THROWS_AS(loom::SGD<T>(params, -0.1), loom::Error);
    CHECK(contains(error_message([&] { loom::SGD<T>(params, -0.1); }), "loom::SGD: learning rate must be >= 0"));
    CHECK(contains(error_message([&] { loom::SGD<T>(params, 0.1, -0.5); }), "loom::SGD: momentum must be >= 0"));
    CHECK(contains(error_message([&] { loom::SGD<T>(params, 0.1, 0.0, -1e-4); }),
                   "loom::SGD: weight_decay must be >= 0"));
    CHECK(contains(error_message([&] { loom::SGD<T>(params, 0.1, 0.0, 0.0, true); }),
                   "loom::SGD: Nesterov momentum needs momentum > 0 and dampening 0"));
    CHECK(contains(error_message([&] { loom::SGD<T>(params, 0.1, 0.9, 0.0, true, 0.1); }),
                   "loom::SGD: Nesterov momentum needs momentum > 0 and dampening 0"));

    CHECK(contains(error_message([&] { loom::SGD<T>({Tensor<T>()}, 0.1); }), "defined leaf tensors"));
    const Tensor<T> not_leaf = loom::mul(w, w);
    CHECK(contains(error_message([&] { loom::SGD<T>({not_leaf}, 0.1); }), "defined leaf tensors"));

    // Valid corner cases construct.
    CHECK(error_message([&] { loom::SGD<T>(params, 0.0); }).empty());
    CHECK(error_message([&] { loom::SGD<T>(std::vector<Tensor<T>>{}, 0.1); }).empty());  // {} alone would be ambiguous with the groups constructor
    CHECK(error_message([&] { loom::SGD<T>(params, 0.1, 0.9, 0.0, true); }).empty());
}

}  // namespace optim_sgd_test
