#include "test_util.hpp"

// Tests for loom/autograd/engine.hpp: backward(), gradient accumulation,
// retain_graph, graph freeing, deep graphs and gradient aliasing.

#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

using loom::index_t;
using loom::Shape;
using loom::Tensord;
using loom_test::contains;
using loom_test::error_message;

namespace autograd_engine_test {  // named, not anonymous: the test files are compiled together in unity batches

template <typename T>
std::vector<T> values(std::initializer_list<double> list) {
    std::vector<T> out;
    for (double v : list) out.push_back(static_cast<T>(v));
    return out;
}

// An op whose backward returns whatever `make_grads` builds, to test the
// engine's checks on misbehaving ops.
template <typename Fn>
Tensord custom_op(const std::vector<Tensord>& inputs, Fn make_grads) {
    Tensord out = inputs[0].clone();
    loom::record(out, "custom", inputs, [make_grads](const Tensord& g) { return make_grads(g); });
    return out;
}

TEMPLATE_TEST_CASE("backward computes gradients of simple expressions", "[autograd][engine]", float, double) {
    using T = TestType;
    auto x = loom::Tensor<T>::from_list({1, -2, 3}, Shape{3}).requires_grad_();
    SECTION("sum(x * x) gives 2x") {
        loom::sum(x * x).backward();
        CHECK(x.grad().to_vector() == values<T>({2, -4, 6}));
    }
    SECTION("diamond: y = x * x + x gives 2x + 1") {
        loom::sum(x * x + x).backward();
        CHECK(x.grad().to_vector() == values<T>({3, -3, 7}));
    }
    SECTION("a leaf as both operands of add gives 2") {
        loom::sum(x + x).backward();
        CHECK(x.grad().to_vector() == values<T>({2, 2, 2}));
    }
    SECTION("a shared intermediate: h = 2x, y = h * h + h gives (2h + 1) * 2 = 8x + 2") {
        const auto h = x * T(2);
        loom::sum(h * h + h).backward();
        CHECK(x.grad().to_vector() == values<T>({10, -14, 26}));
        CHECK_FALSE(h.grad().defined());  // only leaves keep a gradient
    }
    SECTION("backward(gradient) on a non-scalar") {
        const auto y = x * T(3);
        y.backward(loom::Tensor<T>::from_list({1, 10, 100}, Shape{3}));
        CHECK(x.grad().to_vector() == values<T>({3, 30, 300}));
    }
    SECTION("the free function loom::backward") {
        loom::backward(loom::sum(x * T(4)));
        CHECK(x.grad().to_vector() == values<T>({4, 4, 4}));
    }
    SECTION("only leaves that require grad receive a gradient") {
        const auto c = loom::Tensor<T>::from_list({5, 6, 7}, Shape{3});
        loom::sum(x * c).backward();
        CHECK(x.grad().to_vector() == values<T>({5, 6, 7}));
        CHECK_FALSE(c.grad().defined());
    }
    SECTION("backward on a leaf accumulates the gradient into it") {
        x.backward(loom::Tensor<T>::full(Shape{3}, T(2)));
        CHECK(x.grad().to_vector() == values<T>({2, 2, 2}));
        auto s = loom::Tensor<T>::scalar(T(1)).requires_grad_();
        s.backward();
        CHECK(s.grad().item() == T(1));
    }
}

TEMPLATE_TEST_CASE("gradients accumulate until zero_grad", "[autograd][engine]", float, double) {
    using T = TestType;
    auto x = loom::Tensor<T>::from_list({1, 2}, Shape{2}).requires_grad_();
    loom::sum(x * x).backward();
    CHECK(x.grad().to_vector() == values<T>({2, 4}));
    loom::sum(x * T(10)).backward();
    CHECK(x.grad().to_vector() == values<T>({12, 14}));
    x.zero_grad();
    CHECK_FALSE(x.grad().defined());
    loom::sum(x * T(10)).backward();
    CHECK(x.grad().to_vector() == values<T>({10, 10}));
}

TEST_CASE("backward rejects bad calls with clear messages", "[autograd][engine]") {
    auto x = Tensord::ones(Shape{2, 3}).requires_grad_();
    const auto y = x * 2.0;
    SECTION("a non-scalar without a gradient names its shape") {
        const std::string message = error_message([&] { y.backward(); });
        CHECK(contains(message, "loom::backward: the tensor has shape [2, 3]"));
        CHECK(contains(message, "backward(gradient)"));
        CHECK_FALSE(x.grad().defined());
    }
    SECTION("a gradient of the wrong shape") {
        const std::string message = error_message([&] { y.backward(Tensord::ones(Shape{3, 2})); });
        CHECK(contains(message, "loom::backward: gradient shape [3, 2] differs from the tensor's shape [2, 3]"));
        REQUIRE_THROWS_AS(loom::sum(y).backward(Tensord::ones(Shape{1})), loom::Error);
    }
    SECTION("a tensor that does not require grad") {
        const auto plain = Tensord::ones(Shape{2});
        const std::string message = error_message([&] { loom::sum(plain * 2.0).backward(); });
        CHECK(contains(message, "loom::backward: the tensor of shape [] does not require grad"));
    }
    SECTION("an undefined tensor") {
        CHECK(contains(error_message([] { Tensord().backward(); }), "loom::backward: called on an undefined tensor"));
    }
}

TEST_CASE("backward frees the graph unless retain_graph", "[autograd][engine]") {
    auto x = Tensord::from_list({1, 2}, Shape{2}).requires_grad_();
    SECTION("a second backward through a freed graph throws, naming the op and retain_graph") {
        const auto y = loom::sum(x * x);
        y.backward();
        const std::string message = error_message([&] { y.backward(); });
        CHECK(contains(message, "loom::backward: the graph through op 'sum' was freed"));
        CHECK(contains(message, "retain_graph"));
        CHECK(x.grad().to_vector() == std::vector<double>{2, 4});  // unchanged by the failed call
    }
    SECTION("retain_graph = true allows a second backward, which doubles the gradient") {
        const auto y = loom::sum(x * x);
        y.backward(Tensord(), true);
        CHECK(x.grad().to_vector() == std::vector<double>{2, 4});
        y.backward(Tensord(), true);
        CHECK(x.grad().to_vector() == std::vector<double>{4, 8});
        y.backward();  // frees it
        CHECK(x.grad().to_vector() == std::vector<double>{6, 12});
        REQUIRE_THROWS_AS(y.backward(), loom::Error);
    }
    SECTION("after backward the nodes hold no inputs and no backward function") {
        const auto h = x * x;
        const auto y = loom::sum(h);
        const auto y_node = y.grad_fn();
        const auto h_node = h.grad_fn();
        CHECK(x.use_count() > 1);
        y.backward();
        for (const auto& node : {y_node, h_node}) {
            CHECK(node->released);
            CHECK(node->inputs.empty());
            CHECK_FALSE(static_cast<bool>(node->backward));
        }
        CHECK(x.use_count() == 1);
    }
    SECTION("with retain_graph the nodes stay intact") {
        const auto y = loom::sum(x * x);
        y.backward(Tensord(), true);
        CHECK_FALSE(y.grad_fn()->released);
        CHECK(y.grad_fn()->inputs.size() == 1);
    }
    SECTION("freeing releases the tensors saved for backward") {
        // tanh saves its output; sum keeps its input. Once backward ran, h is
        // the only holder of its buffer again.
        const auto h = loom::tanh(x);
        const auto y = loom::sum(h);
        CHECK_FALSE(h.owns_storage_alone());
        y.backward();
        CHECK(h.owns_storage_alone());
        // mul saved detached views of both operands: those are gone as well.
        auto a = Tensord::ones(Shape{3}).requires_grad_();
        auto b = Tensord::ones(Shape{3}).requires_grad_();
        const auto z = loom::sum(a * b);
        CHECK_FALSE(a.owns_storage_alone());
        z.backward();
        CHECK(a.owns_storage_alone());
        CHECK(b.owns_storage_alone());
    }
    SECTION("a backward that fails on a freed node changes no gradient") {
        // h's node is freed by the first backward. The second graph reaches it
        // only after the mul by w, whose backward would already have added into
        // w.grad if the engine checked nodes one at a time.
        auto w = Tensord::from_list({3, 4}, Shape{2}).requires_grad_();
        const auto h = x * 2.0;
        loom::sum(h).backward();
        CHECK(x.grad().to_vector() == std::vector<double>{2, 2});
        const std::string message = error_message([&] { loom::sum(h * w).backward(); });
        CHECK(contains(message, "'mul_scalar' was freed"));
        CHECK_FALSE(w.grad().defined());
        CHECK(x.grad().to_vector() == std::vector<double>{2, 2});
    }
}

TEST_CASE("backward checks what ops return", "[autograd][engine]") {
    auto x = Tensord::ones(Shape{2}).requires_grad_();
    SECTION("a wrong number of gradients") {
        const auto y = custom_op({x}, [](const Tensord& g) { return std::vector<Tensord>{g, g}; });
        CHECK(contains(error_message([&] { loom::sum(y).backward(); }),
                       "loom::backward: op 'custom' returned 2 gradients for 1 inputs"));
    }
    SECTION("a gradient of the wrong shape") {
        const auto y = custom_op({x}, [](const Tensord&) { return std::vector<Tensord>{Tensord::ones(Shape{3})}; });
        CHECK(contains(error_message([&] { loom::sum(y).backward(); }),
                       "op 'custom' returned a gradient of shape [3] for input 0 of shape [2]"));
    }
    SECTION("an undefined gradient means zero") {
        const auto y = custom_op({x}, [](const Tensord&) { return std::vector<Tensord>{Tensord()}; });
        CHECK_NOTHROW(loom::sum(y).backward());
        CHECK_FALSE(x.grad().defined());
    }
}

TEMPLATE_TEST_CASE("detach stops gradient flow", "[autograd][engine]", float, double) {
    using T = TestType;
    auto x = loom::Tensor<T>::from_list({2, 5}, Shape{2}).requires_grad_();
    // d/dx [stop(x) * x] = stop(x) = x, not 2x.
    loom::sum(x.detach() * x).backward();
    CHECK(x.grad().to_vector() == values<T>({2, 5}));
    // Nothing at all flows through a fully detached branch.
    x.zero_grad();
    loom::sum(x.detach() * T(3) + x).backward();
    CHECK(x.grad().to_vector() == values<T>({1, 1}));
}

TEST_CASE("leaf gradients never alias other memory", "[autograd][engine]") {
    SECTION("z = a + b: a's and b's gradients are separate buffers") {
        auto a = Tensord::from_list({1, 2}, Shape{2}).requires_grad_();
        auto b = Tensord::from_list({3, 4}, Shape{2}).requires_grad_();
        loom::sum(a + b).backward();
        CHECK_FALSE(a.grad().shares_storage_with(b.grad()));
        a.grad().fill_(5.0);
        CHECK(b.grad().to_vector() == std::vector<double>{1, 1});
    }
    SECTION("a gradient passed straight through (x + 0) is not the caller's gradient tensor") {
        auto x = Tensord::zeros(Shape{3}).requires_grad_();
        auto upstream = Tensord::ones(Shape{3});
        (x + 0.0).backward(upstream);
        CHECK_FALSE(x.grad().shares_storage_with(upstream));
        upstream.fill_(9.0);
        CHECK(x.grad().to_vector() == std::vector<double>{1, 1, 1});
        x.grad().fill_(-1.0);
        CHECK(upstream.to_vector() == std::vector<double>{9, 9, 9});
    }
    SECTION("backward on a leaf copies the given gradient") {
        auto x = Tensord::zeros(Shape{2}).requires_grad_();
        auto upstream = Tensord::ones(Shape{2});
        x.backward(upstream);
        upstream.fill_(4.0);
        CHECK(x.grad().to_vector() == std::vector<double>{1, 1});
    }
    SECTION("two leaves fed by one pass-through gradient") {
        auto a = Tensord::ones(Shape{2}).requires_grad_();
        auto b = Tensord::ones(Shape{2}).requires_grad_();
        const auto y = (a + 0.0) + (b + 0.0);
        y.backward(Tensord::ones(Shape{2}));
        a.grad().fill_(7.0);
        CHECK(b.grad().to_vector() == std::vector<double>{1, 1});
    }
    SECTION("accumulation writes into the existing buffer, which handles observe") {
        auto x = Tensord::ones(Shape{2}).requires_grad_();
        loom::sum(x).backward();
        const auto first = x.grad();
        loom::sum(x).backward();
        CHECK(first.to_vector() == std::vector<double>{2, 2});
        CHECK(first.shares_storage_with(x.grad()));
    }
}

TEST_CASE("deep graphs build, free and run backward without recursion", "[autograd][engine]") {
    // 200000 chained ops: a recursive destructor or DFS would need ~200000 stack
    // frames and overflow the default 8 MB stack (more so under sanitizers).
    constexpr int depth = 200000;
    auto x = Tensord::scalar(1.0).requires_grad_();
    SECTION("built and destroyed without backward") {
        std::weak_ptr<loom::Node<double>> first_node;
        {
            Tensord y = x;
            for (int i = 0; i < depth; ++i) {
                y = y * 1.0;
                if (i == 0) first_node = y.grad_fn();
            }
            CHECK_FALSE(first_node.expired());
        }
        CHECK(first_node.expired());
        CHECK(x.use_count() == 1);
    }
    SECTION("backward through the chain") {
        Tensord y = x;
        for (int i = 0; i < depth; ++i) y = y + 1.0;
        CHECK(y.item() == 1.0 + depth);
        y.backward();
        CHECK(x.grad().item() == 1.0);
    }
    SECTION("backward with retain_graph, then destroyed intact") {
        Tensord y = x;
        for (int i = 0; i < depth; ++i) y = y * 1.0;
        y.backward(Tensord(), true);
        y.backward(Tensord(), true);
        CHECK(x.grad().item() == 2.0);
        y = Tensord();
        CHECK(x.use_count() == 1);
    }
    SECTION("a chain whose links each use the previous tensor twice") {
        Tensord y = x;
        for (int i = 0; i < 50000; ++i) y = y * 0.5 + y * 0.5;
        y.backward();
        CHECK(std::abs(x.grad().item() - 1.0) < 1e-12);
    }
}

TEST_CASE("backward_with_hook reports each leaf once, when its gradient is final", "[autograd][hook]") {
    // a is used early and late, b only at the end, c by a branch that does not
    // reach the loss, d does not require grad.
    Tensord a = Tensord::full(Shape{2}, 2.0).requires_grad_();
    Tensord b = Tensord::full(Shape{2}, 3.0).requires_grad_();
    Tensord c = Tensord::full(Shape{2}, 5.0).requires_grad_();
    const Tensord d = Tensord::full(Shape{2}, 7.0);
    const Tensord hidden = a * d;               // first use of a
    const Tensord unused = c * 2.0;             // not on the loss's path
    const Tensord loss = loom::sum(hidden * b + a);  // last use of a, only use of b
    (void)unused;
    std::vector<std::pair<const void*, std::vector<double>>> reports;
    loom::backward_with_hook(loss, std::function<void(const Tensord&)>([&](const Tensord& leaf) {
        reports.emplace_back(leaf.impl_ptr(), leaf.grad().to_vector());  // the gradient as it is then
    }));
    REQUIRE(reports.size() == 2);  // a and b; c and d never get a gradient from this loss
    std::vector<double> seen_a, seen_b;
    for (const auto& [leaf, grad] : reports) (leaf == a.impl_ptr() ? seen_a : seen_b) = grad;
    CHECK(seen_a == std::vector<double>{22.0, 22.0});  // d·b + 1 = 7·3 + 1: both uses already summed
    CHECK(seen_b == std::vector<double>{14.0, 14.0});  // a·d
    CHECK(a.grad().to_vector() == seen_a);             // nothing was added after the report
    CHECK_FALSE(c.grad().defined());
    // A leaf loss reports itself.
    Tensord alone = Tensord::full(Shape{}, 1.0).requires_grad_();
    int calls = 0;
    loom::backward_with_hook(alone, std::function<void(const Tensord&)>([&](const Tensord&) { ++calls; }));
    CHECK(calls == 1);
}

}  // namespace autograd_engine_test
