#include "test_util.hpp"

// Tests for loom/nn/module.hpp: the parameter tree of a nested module (names,
// order, lookup, counting), zero_grad, train/eval propagation, and the checks
// on registered names; ModuleList.

#include <string>
#include <utility>
#include <vector>

#include <loom/nn/linear.hpp>
#include <loom/nn/module_list.hpp>

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace nn_module_test {  // named, not anonymous: the test files are compiled together in unity batches

// The innermost module: a parameter of its own and a Linear child.
template <typename T>
struct Block : loom::Module<T> {
    explicit Block(loom::Generator& generator) : proj(3, 2, generator) {
        scale = this->register_parameter("scale", Tensor<T>::ones(Shape{2}));
        this->register_module("proj", proj);
    }
    loom::Linear<T> proj;
    Tensor<T> scale;
};

// The root: a parameter, then an Embedding, the nested Block and a Linear.
template <typename T>
struct Net : loom::Module<T> {
    explicit Net(loom::Generator& generator) : embed(5, 3, generator), block(generator), head(2, 4, generator) {
        gain = this->register_parameter("gain", Tensor<T>::full(Shape{1}, T(2)));
        this->register_module("embed", embed);
        this->register_module("block", block);
        this->register_module("head", head);
    }

    // ids [N] -> [N, 4]: embed, project, scale, head.
    Tensor<T> forward(const loom::IndexTensor& ids) const {
        return head(loom::mul(loom::mul(block.proj(embed(ids)), block.scale), gain));
    }

    loom::Embedding<T> embed;
    Block<T> block;
    loom::Linear<T> head;
    Tensor<T> gain;
};

// Exposes the protected registration functions to test their checks.
template <typename T>
struct Open : loom::Module<T> {
    using loom::Module<T>::register_parameter;
    using loom::Module<T>::register_module;
    using loom::Module<T>::register_generator;
};

const std::vector<std::pair<std::string, Shape>> expected_parameters = {
    {"gain", Shape{1}},         {"embed.weight", Shape{5, 3}},    {"block.scale", Shape{2}},
    {"block.proj.weight", Shape{2, 3}}, {"block.proj.bias", Shape{2}}, {"head.weight", Shape{4, 2}},
    {"head.bias", Shape{4}},
};

TEMPLATE_TEST_CASE("named_parameters walks the tree depth first with dotted names", "[module]", float, double) {
    using T = TestType;
    loom::Generator generator(1);
    Net<T> net(generator);

    const auto named = net.named_parameters();
    REQUIRE(named.size() == expected_parameters.size());
    for (std::size_t i = 0; i < named.size(); ++i) {
        INFO("parameter " << i << ": " << named[i].first);
        CHECK(named[i].first == expected_parameters[i].first);
        CHECK(named[i].second.shape() == expected_parameters[i].second);
        CHECK(named[i].second.requires_grad());
        CHECK(named[i].second.is_leaf());
    }

    SECTION("the entries are the members themselves, not copies") {
        CHECK(named[0].second.impl_ptr() == net.gain.impl_ptr());
        CHECK(named[1].second.impl_ptr() == net.embed.weight.impl_ptr());
        CHECK(named[2].second.impl_ptr() == net.block.scale.impl_ptr());
        CHECK(named[3].second.impl_ptr() == net.block.proj.weight.impl_ptr());
        CHECK(named[4].second.impl_ptr() == net.block.proj.bias.impl_ptr());
        CHECK(named[5].second.impl_ptr() == net.head.weight.impl_ptr());
        CHECK(named[6].second.impl_ptr() == net.head.bias.impl_ptr());
    }
    SECTION("parameters() is the same list without names") {
        const auto params = net.parameters();
        REQUIRE(params.size() == named.size());
        for (std::size_t i = 0; i < params.size(); ++i) CHECK(params[i].impl_ptr() == named[i].second.impl_ptr());
    }
    SECTION("a child lists its own parameters without the parent's prefix") {
        const auto inner = net.block.named_parameters();
        REQUIRE(inner.size() == 3);
        CHECK(inner[0].first == "scale");
        CHECK(inner[1].first == "proj.weight");
        CHECK(inner[2].first == "proj.bias");
    }
    SECTION("named_children in registration order") {
        const auto& children = net.named_children();
        REQUIRE(children.size() == 3);
        CHECK(children[0].first == "embed");
        CHECK(children[0].second == &net.embed);
        CHECK(children[1].first == "block");
        CHECK(children[1].second == &net.block);
        CHECK(children[2].first == "head");
        CHECK(children[2].second == &net.head);
    }
}

TEMPLATE_TEST_CASE("parameter looks up a dotted name", "[module]", float, double) {
    using T = TestType;
    loom::Generator generator(2);
    Net<T> net(generator);

    CHECK(net.parameter("block.proj.weight").impl_ptr() == net.block.proj.weight.impl_ptr());
    CHECK(net.parameter("block.scale").impl_ptr() == net.block.scale.impl_ptr());
    CHECK(net.parameter("gain").impl_ptr() == net.gain.impl_ptr());
    CHECK(net.block.parameter("proj.bias").impl_ptr() == net.block.proj.bias.impl_ptr());

    for (const std::string name : {"block.proj.missing", "proj.weight", "block", "", "head.weight.x"}) {
        INFO("name '" << name << "'");
        REQUIRE_THROWS_AS(net.parameter(name), loom::Error);
        const std::string message = error_message([&] { net.parameter(name); });
        CHECK(contains(message, "loom::Module::parameter"));
        CHECK(contains(message, "'" + name + "'"));
    }
}

TEMPLATE_TEST_CASE("parameter_count sums the elements of every parameter", "[module]", float, double) {
    using T = TestType;
    loom::Generator generator(3);
    Net<T> net(generator);
    // gain 1, embed 5·3, block.scale 2, block.proj 2·3 + 2, head 4·2 + 4
    CHECK(net.parameter_count() == 1 + 15 + 2 + 8 + 12);
    CHECK(net.block.parameter_count() == 2 + 8);
    CHECK(net.head.parameter_count() == 12);

    Open<T> empty;
    CHECK(empty.parameter_count() == 0);
    CHECK(empty.named_parameters().empty());
    CHECK(empty.parameters().empty());
}

TEMPLATE_TEST_CASE("zero_grad drops every gradient in the tree", "[module]", float, double) {
    using T = TestType;
    loom::Generator generator(4);
    Net<T> net(generator);
    for (const auto& p : net.parameters()) CHECK_FALSE(p.grad().defined());

    const loom::IndexTensor ids{0, 3, 3};
    loom::sum(net.forward(ids)).backward();
    for (const auto& named : net.named_parameters()) {
        INFO(named.first);
        CHECK(named.second.grad().defined());
    }

    net.zero_grad();
    for (const auto& named : net.named_parameters()) {
        INFO(named.first);
        CHECK_FALSE(named.second.grad().defined());
    }
    // The members see it too: they share the tensors.
    CHECK_FALSE(net.block.proj.weight.grad().defined());

    SECTION("zero_grad on a child only touches that subtree") {
        loom::sum(net.forward(ids)).backward();
        net.block.zero_grad();
        CHECK_FALSE(net.block.scale.grad().defined());
        CHECK_FALSE(net.block.proj.weight.grad().defined());
        CHECK(net.gain.grad().defined());
        CHECK(net.head.weight.grad().defined());
        CHECK(net.embed.weight.grad().defined());
    }
}

TEMPLATE_TEST_CASE("train and eval reach every module of the tree", "[module]", float, double) {
    using T = TestType;
    loom::Generator generator(5);
    Net<T> net(generator);
    auto all_modes = [&](bool mode) {
        return net.is_training() == mode && net.embed.is_training() == mode && net.block.is_training() == mode &&
               net.block.proj.is_training() == mode && net.head.is_training() == mode;
    };
    CHECK(all_modes(true));  // modules start in training mode
    net.eval();
    CHECK(all_modes(false));
    net.train();
    CHECK(all_modes(true));
    net.train(false);
    CHECK(all_modes(false));
    net.train(true);

    SECTION("a child's mode does not climb up") {
        net.block.eval();
        CHECK(net.is_training());
        CHECK_FALSE(net.block.is_training());
        CHECK_FALSE(net.block.proj.is_training());
        CHECK(net.head.is_training());
    }
}

TEMPLATE_TEST_CASE("registration rejects empty, dotted and duplicate names", "[module]", float, double) {
    using T = TestType;
    loom::Generator generator(6);
    Open<T> module;
    loom::Linear<T> child(2, 2, generator);
    loom::Linear<T> other(2, 2, generator);
    const Tensor<T> value = Tensor<T>::zeros(Shape{3});

    module.register_parameter("w", value);
    module.register_module("child", child);
    REQUIRE(module.named_parameters().size() == 3);
    CHECK(module.named_parameters()[0].first == "w");
    CHECK(module.named_parameters()[1].first == "child.weight");
    CHECK(value.requires_grad());  // register_parameter marks the tensor itself

    SECTION("names with dots or empty names") {
        for (const std::string bad : {"a.b", ".", "x.", ""}) {
            INFO("name '" << bad << "'");
            const std::string as_parameter = error_message([&] { module.register_parameter(bad, value); });
            CHECK(contains(as_parameter, "loom::Module: invalid name '" + bad + "'"));
            const std::string as_child = error_message([&] { module.register_module(bad, other); });
            CHECK(contains(as_child, "loom::Module: invalid name '" + bad + "'"));
        }
    }
    SECTION("a name already used by a parameter or a child") {
        REQUIRE_THROWS_AS(module.register_parameter("w", value), loom::Error);
        CHECK(contains(error_message([&] { module.register_parameter("w", value); }), "already a parameter"));
        CHECK(contains(error_message([&] { module.register_module("w", other); }), "already a parameter"));
        CHECK(contains(error_message([&] { module.register_parameter("child", value); }), "already a child"));
        CHECK(contains(error_message([&] { module.register_module("child", other); }), "already a child"));
    }
    // Nothing was added by the failed registrations.
    CHECK(module.named_parameters().size() == 3);
    CHECK(module.named_children().size() == 1);
}

TEMPLATE_TEST_CASE("named_generators finds every registered generator with dotted names", "[module]", float, double) {
    using T = TestType;
    loom::Generator generator(8);
    Open<T> root;
    loom::LSTM<T> lstm(3, 4, 2, generator, 0.5);
    loom::LSTMCell<T> cell(3, 4, generator);
    loom::Generator own(1);
    root.register_generator("noise", own);
    root.register_module("rnn", lstm);
    root.register_module("cell", cell);

    const auto generators = root.named_generators();
    REQUIRE(generators.size() == 2);  // cells have no dropout, so no generator
    CHECK(generators[0].first == "noise");
    CHECK(generators[0].second == &own);
    CHECK(generators[1].first == "rnn.dropout_generator");
    CHECK(contains(error_message([&] { root.register_generator("noise", own); }), "already a generator"));
    CHECK(contains(error_message([&] { root.register_parameter("noise", Tensor<T>::zeros(Shape{1})); }),
                   "already a generator"));

    // The dropout masks come from the registered generator: restoring its state replays them.
    const Tensor<T> x = Tensor<T>::ones(Shape{2, 3, 3});
    const std::string saved = generators[1].second->state_string();
    const Tensor<T> first = lstm(x).output;
    generators[1].second->set_state_string(saved);
    const Tensor<T> again = lstm(x).output;
    CHECK(loom_test::max_abs_diff(first, again) == 0.0);
    CHECK(loom_test::max_abs_diff(first, lstm(x).output) > 0.0);  // without the restore: other masks
}

TEST_CASE("ModuleList names its children 0, 1, ... and owns them", "[nn][module]") {
    loom::Generator generator(1);
    loom::ModuleList<double, loom::Linear<double>> list;
    list.emplace_back(3, 2, generator);
    loom::Linear<double>& second = list.emplace_back(2, 4, generator, false);
    REQUIRE(list.size() == 2);
    CHECK(&list[1] == &second);
    CHECK(list[0].out_features == 2);
    std::vector<std::string> names;
    for (const auto& named : list.named_parameters()) names.push_back(named.first);
    CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "1.weight"});
    CHECK(loom_test::contains(loom_test::error_message([&] { list.at(2); }), "index 2 is out of range for 2 modules"));
}

}  // namespace nn_module_test
