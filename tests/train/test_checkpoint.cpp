#include "test_util.hpp"

// Tests for loom/train/checkpoint.hpp: a checkpoint restores a model (with its
// dropout generator) and an optimizer so that training continues bit for bit,
// and it refuses files that do not fit the model or optimizer.

#include <filesystem>
#include <string>
#include <vector>

#include "loom/nn/linear.hpp"
#include "loom/nn/lstm.hpp"
#include "loom/optim/adam.hpp"
#include "loom/optim/sgd.hpp"
#include "loom/train/checkpoint.hpp"

using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace train_checkpoint_test {  // named, not anonymous: the test files are compiled together in unity batches

// A 2-layer LSTM with dropout and a linear head: parameters and a generator.
template <typename T>
struct Net : loom::Module<T> {
    explicit Net(std::uint64_t seed) : generator(seed), lstm(3, 4, 2, generator, 0.3), head(4, 2, generator) {
        this->register_module("rnn", lstm);
        this->register_module("head", head);
    }
    Tensor<T> loss(const Tensor<T>& x) { return loom::sum(loom::mul(head(lstm(x).output), head(lstm(x).output))); }
    loom::Generator generator;
    loom::LSTM<T> lstm;
    loom::Linear<T> head;
};

std::string temp_path(const std::string& name) {
    return loom_test::unique_temp_path("loom_test_checkpoint_" + name, ".safetensors");
}

template <typename T>
void train_steps(Net<T>& net, loom::Optimizer<T>& optimizer, int steps) {
    const Tensor<T> x = loom_test::random_tensor<T>(Shape{2, 5, 3}, 17);
    for (int k = 0; k < steps; ++k) {
        optimizer.zero_grad();
        net.loss(x).backward();
        optimizer.step();
    }
}

template <typename T>
bool same_parameters(const Net<T>& a, const Net<T>& b) {
    const auto pa = a.named_parameters(), pb = b.named_parameters();
    for (std::size_t i = 0; i < pa.size(); ++i)
        if (loom_test::max_abs_diff(pa[i].second, pb[i].second) != 0.0) return false;
    return true;
}

TEMPLATE_TEST_CASE("a checkpoint resumes model, dropout generator and Adam bit for bit", "[checkpoint]", float, double) {
    using T = TestType;
    const std::string path = temp_path("resume");
    Net<T> straight(1);
    loom::Adam<T> straight_optimizer(straight.parameters(), 1e-2);
    train_steps(straight, straight_optimizer, 5);

    Net<T> first(1);
    loom::Adam<T> first_optimizer(first.parameters(), 1e-2);
    train_steps(first, first_optimizer, 2);
    loom::CheckpointWriter<T> writer;
    writer.add_model(first).add_optimizer(first_optimizer).set("train.step", "2");
    writer.add_tensor("train.extra", Tensor<T>::ones(Shape{3}));
    writer.save(path);

    Net<T> resumed(99);  // other initial weights and another generator state
    loom::Adam<T> resumed_optimizer(resumed.parameters(), 1e-2);
    REQUIRE_FALSE(same_parameters(first, resumed));
    const auto checkpoint = loom::Checkpoint<T>::load(path);
    checkpoint.restore_model(resumed);
    checkpoint.restore_optimizer(resumed_optimizer);
    CHECK(same_parameters(first, resumed));
    CHECK(checkpoint.get_int("train.step") == 2);
    CHECK(checkpoint.get("dtype") == (std::is_same_v<T, float> ? "F32" : "F64"));
    CHECK(checkpoint.has_tensor("train.extra"));
    CHECK(resumed_optimizer.step_count() == 2);

    train_steps(resumed, resumed_optimizer, 3);
    CHECK(same_parameters(straight, resumed));  // dropout masks and Adam moments continued exactly
    std::filesystem::remove(path);
}

TEMPLATE_TEST_CASE("a checkpoint without the generator's state would not resume exactly", "[checkpoint]", float, double) {
    // Guards the test above: the generator matters, so restoring it is what makes the runs equal.
    using T = TestType;
    Net<T> straight(1);
    loom::SGD<T> straight_optimizer(straight.parameters(), 0.1);
    train_steps(straight, straight_optimizer, 3);
    Net<T> partial(1);
    loom::SGD<T> partial_optimizer(partial.parameters(), 0.1);
    train_steps(partial, partial_optimizer, 1);
    partial.lstm.named_generators()[0].second->manual_seed(12345);
    train_steps(partial, partial_optimizer, 2);
    CHECK_FALSE(same_parameters(straight, partial));
}

TEMPLATE_TEST_CASE("restoring refuses checkpoints that do not fit, and changes nothing", "[checkpoint][errors]", float,
                   double) {
    using T = TestType;
    const std::string path = temp_path("errors");
    Net<T> net(1);
    loom::SGD<T> sgd(net.parameters(), 0.1, 0.9);
    train_steps(net, sgd, 1);

    Net<T> other(2);
    loom::Adam<T> adam(other.parameters());
    SECTION("an optimizer of another kind") {
        loom::CheckpointWriter<T>().add_model(net).add_optimizer(sgd).save(path);
        const auto checkpoint = loom::Checkpoint<T>::load(path);
        CHECK(contains(error_message([&] { checkpoint.restore_optimizer(adam); }), "SGD"));
        CHECK(adam.step_count() == 0);
    }
    SECTION("a tensor that is no parameter of the model") {
        loom::CheckpointWriter<T>().add_model(net).add_tensor("extra.weight", Tensor<T>::ones(Shape{2})).save(path);
        const auto checkpoint = loom::Checkpoint<T>::load(path);
        const Net<T> before(2);
        const std::string message = error_message([&] { checkpoint.restore_model(other); });
        CHECK(contains(message, "'extra.weight'"));
        CHECK(contains(message, path));
        CHECK(same_parameters(before, other));
    }
    SECTION("a missing generator state") {
        loom::safetensors::Writer raw;
        loom::add_state_dict(raw, net);
        raw.set_metadata("format", loom::checkpoint_format);
        raw.save(path);
        const auto checkpoint = loom::Checkpoint<T>::load(path);
        CHECK(contains(error_message([&] { checkpoint.restore_model(other); }), "rng.model.rnn.dropout_generator"));
    }
    SECTION("a safetensors file that is not a checkpoint") {
        loom::save_state_dict(path, net);
        CHECK(contains(error_message([&] { loom::Checkpoint<T>::load(path); }), "no metadata entry 'format'"));
    }
    SECTION("metadata that is not a number") {
        loom::CheckpointWriter<T>().add_model(net).set("train.step", "12x").save(path);
        const auto checkpoint = loom::Checkpoint<T>::load(path);
        CHECK(contains(error_message([&] { checkpoint.get_int("train.step"); }), "'12x' is not an integer"));
        CHECK(contains(error_message([&] { checkpoint.get("nothing"); }), "no metadata entry 'nothing'"));
    }
    std::filesystem::remove(path);
}

}  // namespace train_checkpoint_test
