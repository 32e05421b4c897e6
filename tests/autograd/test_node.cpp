#include "test_util.hpp"

// Tests for loom/autograd/node.hpp: recording ops (record, record_multi,
// needs_grad), releasing nodes, and freeing graphs.

#include <memory>
#include <vector>

using loom::Shape;
using loom::Tensord;

namespace autograd_node_test {  // named, not anonymous: the test files are compiled together in unity batches

// y = 3x, recorded by hand with loom::record.
Tensord triple(const Tensord& x) {
    Tensord y = Tensord::empty(x.shape());
    y.flat() = 3.0 * x.flat();
    if (loom::needs_grad(x)) {
        loom::record(y, "triple", {x}, [](const Tensord& g) {
            Tensord dx = Tensord::empty(g.shape());
            dx.flat() = 3.0 * g.flat();
            return std::vector<Tensord>{dx};
        });
    }
    return y;
}

// Two outputs of one node: first = x + 1, second = 2x. The backward counts its
// calls and remembers which output gradients it received.
struct TwoOutputs {
    Tensord first, second;
};
struct SeenGradients {
    int calls = 0;
    bool first_defined = false;
    bool second_defined = false;
};

TwoOutputs split(const Tensord& x, const std::shared_ptr<SeenGradients>& seen) {
    TwoOutputs out{Tensord::empty(x.shape()), Tensord::empty(x.shape())};
    out.first.flat() = x.flat() + 1.0;
    out.second.flat() = 2.0 * x.flat();
    if (loom::needs_grad(x)) {
        loom::record_multi<double>({&out.first, &out.second}, "split", {x},
                                   [seen](const std::vector<Tensord>& grads) {
                                       ++seen->calls;
                                       seen->first_defined = grads[0].defined();
                                       seen->second_defined = grads[1].defined();
                                       Tensord dx = Tensord::zeros(grads[0].defined() ? grads[0].shape()
                                                                                      : grads[1].shape());
                                       if (grads[0].defined()) dx.flat() += grads[0].flat();
                                       if (grads[1].defined()) dx.flat() += 2.0 * grads[1].flat();
                                       return std::vector<Tensord>{dx};
                                   });
    }
    return out;
}

TEST_CASE("needs_grad", "[autograd][node]") {
    const auto plain = Tensord::ones(Shape{2});
    const auto param = Tensord::ones(Shape{2}).requires_grad_();
    CHECK_FALSE(loom::needs_grad(plain));
    CHECK(loom::needs_grad(param));
    CHECK(loom::needs_grad(plain, param));
    CHECK(loom::needs_grad(param, plain, plain));
    CHECK_FALSE(loom::needs_grad(plain, plain));
    CHECK(loom::needs_grad(std::vector<Tensord>{plain, param}));
    CHECK_FALSE(loom::needs_grad(std::vector<Tensord>{plain}));
    CHECK_FALSE(loom::needs_grad(std::vector<Tensord>{}));
    // An undefined tensor does not require grad.
    CHECK_FALSE(loom::needs_grad(Tensord()));
    {
        const loom::NoGradGuard no_grad;
        CHECK_FALSE(loom::needs_grad(param));
        CHECK_FALSE(loom::needs_grad(std::vector<Tensord>{param}));
    }
}

TEST_CASE("record attaches one node to the output", "[autograd][node]") {
    auto x = Tensord::from_list({1, 2}, Shape{2}).requires_grad_();
    const auto constant = Tensord::ones(Shape{2});
    auto y = Tensord::zeros(Shape{2});
    loom::record(y, "my_op", {x, constant}, [](const Tensord& g) { return std::vector<Tensord>{g, g}; });

    REQUIRE(y.grad_fn() != nullptr);
    const loom::Node<double>& node = *y.grad_fn();
    CHECK(std::string(node.name) == "my_op");
    CHECK(y.requires_grad());
    CHECK_FALSE(y.is_leaf());
    CHECK(y.output_index() == 0);
    CHECK(node.grads.size() == 1);
    CHECK_FALSE(node.released);
    REQUIRE(node.inputs.size() == 2);
    // The input that requires grad is kept (the same record, not a copy) ...
    CHECK(node.inputs[0].impl_ptr() == x.impl_ptr());
    // ... the one that does not is dropped, so the graph does not keep it alive.
    CHECK_FALSE(node.inputs[1].defined());
    CHECK(constant.use_count() == 1);
}

TEST_CASE("a hand-recorded op differentiates", "[autograd][node]") {
    auto x = Tensord::from_list({1, -2, 0.5}, Shape{3}).requires_grad_();
    const auto y = loom::sum(triple(x) * x);  // 3x², gradient 6x
    y.backward();
    CHECK(x.grad().to_vector() == std::vector<double>{6, -12, 3});
}

TEST_CASE("record_multi: one node, several outputs", "[autograd][node]") {
    auto x = Tensord::from_list({1, 2}, Shape{2}).requires_grad_();
    auto seen = std::make_shared<SeenGradients>();
    auto out = split(x, seen);

    REQUIRE(out.first.grad_fn() != nullptr);
    CHECK(out.first.grad_fn() == out.second.grad_fn());
    CHECK(out.first.output_index() == 0);
    CHECK(out.second.output_index() == 1);
    CHECK(out.first.grad_fn()->grads.size() == 2);

    SECTION("only the second output reaches the loss: the first gradient is undefined") {
        loom::sum(out.second).backward();
        CHECK(seen->calls == 1);
        CHECK_FALSE(seen->first_defined);
        CHECK(seen->second_defined);
        CHECK(x.grad().to_vector() == std::vector<double>{2, 2});
    }
    SECTION("both outputs reach the loss: one call with both gradients") {
        loom::sum(out.first * 5.0 + out.second).backward();
        CHECK(seen->calls == 1);
        CHECK(seen->first_defined);
        CHECK(seen->second_defined);
        CHECK(x.grad().to_vector() == std::vector<double>{7, 7});
    }
    SECTION("backward from the second output itself") {
        out.second.backward(Tensord::from_list({1, 10}, Shape{2}));
        CHECK(x.grad().to_vector() == std::vector<double>{2, 20});
    }
    SECTION("the node lives while any of its outputs does") {
        const std::weak_ptr<loom::Node<double>> node = out.first.grad_fn();
        out.first = Tensord();
        CHECK_FALSE(node.expired());
        out.second = Tensord();
        CHECK(node.expired());
    }
}

TEST_CASE("Node::release frees what backward needs and keeps a marker", "[autograd][node]") {
    auto x = Tensord::ones(Shape{3}).requires_grad_();
    auto y = triple(x);
    const auto node = y.grad_fn();
    REQUIRE(node->inputs.size() == 1);
    REQUIRE(static_cast<bool>(node->backward));
    node->release();
    CHECK(node->released);
    CHECK(node->inputs.empty());
    CHECK_FALSE(static_cast<bool>(node->backward));
    CHECK(x.use_count() == 1);  // the graph no longer holds the input
}

TEST_CASE("dropping the last handle frees the whole graph", "[autograd][node]") {
    auto x = Tensord::ones(Shape{2}).requires_grad_();
    auto h = triple(x);
    auto y = triple(h) + h;  // h is used twice
    const std::weak_ptr<loom::Node<double>> h_node = h.grad_fn();
    const std::weak_ptr<loom::Node<double>> y_node = y.grad_fn();
    h = Tensord();
    CHECK_FALSE(h_node.expired());  // still reachable from y
    y = Tensord();
    CHECK(y_node.expired());
    CHECK(h_node.expired());
    CHECK(x.use_count() == 1);
}

TEST_CASE("a graph node keeps its inputs' data alive", "[autograd][node]") {
    Tensord y;
    {
        auto x = Tensord::from_list({2, 3}, Shape{2}).requires_grad_();
        y = x * x;
    }
    // x's handle is gone, but the node holds the leaf and mul saved its values.
    REQUIRE(y.grad_fn()->inputs.size() == 2);
    const Tensord x = y.grad_fn()->inputs[0];
    CHECK(x.to_vector() == std::vector<double>{2, 3});
    y.backward(Tensord::ones(Shape{2}));
    CHECK(x.grad().to_vector() == std::vector<double>{4, 6});
}

}  // namespace autograd_node_test
