#include "test_util.hpp"

// Tests for loom/nn/loss.hpp: CrossEntropyLoss against PyTorch
// (tests/data/cross_entropy.txt, made by tests/fixtures/make_layer_fixtures.py,
// with one ignore_index row), a custom ignore_index, [B, T, V] logits, the
// checks, and a finite-difference gradient check.

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "fixture_reader.hpp"

using loom::index_t;
using loom::IndexTensor;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace nn_loss_test {  // named, not anonymous: the test files are compiled together in unity batches

using loom_test::check_matches;

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 1e-5 : 1e-10;
}

IndexTensor to_ids(const Tensor<double>& values) {
    std::vector<index_t> ids;
    for (index_t i = 0; i < values.numel(); ++i) ids.push_back(static_cast<index_t>(std::llround(values.data()[i])));
    return IndexTensor(ids, values.shape());
}

// mean over non-ignored rows of logsumexp(x_i) - x_i,t_i, in double.
template <typename T>
double reference_loss(const Tensor<T>& logits, const IndexTensor& targets, index_t ignore_index) {
    const index_t classes = logits.shape().last();
    double total = 0.0;
    index_t counted = 0;
    for (index_t i = 0; i < targets.numel(); ++i) {
        if (targets[i] == ignore_index) continue;
        const T* row = logits.data() + i * classes;
        double top = row[0];
        for (index_t c = 1; c < classes; ++c) top = std::max(top, static_cast<double>(row[c]));
        double sum = 0.0;
        for (index_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(row[c]) - top);
        total += top + std::log(sum) - static_cast<double>(row[targets[i]]);
        ++counted;
    }
    return total / static_cast<double>(counted);
}

TEMPLATE_TEST_CASE("CrossEntropyLoss matches PyTorch's loss and gradient", "[loss][fixture]", float, double) {
    using T = TestType;
    const auto fixture = loom_test::load_fixture("cross_entropy.txt");
    Tensor<T> logits = fixture.template get<T>("logits");
    const IndexTensor targets = to_ids(fixture.template get<double>("targets"));
    REQUIRE(logits.shape() == Shape{6, 5});
    REQUIRE(targets.shape() == Shape{6});
    REQUIRE(targets[2] == -100);
    logits.requires_grad_();

    const loom::CrossEntropyLoss<T> criterion;
    CHECK(criterion.ignore_index == -100);
    const Tensor<T> loss = criterion(logits, targets);
    REQUIRE(loss.numel() == 1);
    check_matches(loss, fixture.template get<T>("loss"), tolerance<T>());

    loss.backward();
    check_matches(logits.grad(), fixture.template get<T>("logits_grad"), tolerance<T>());
    for (index_t c = 0; c < 5; ++c) CHECK(logits.grad().at({2, c}) == T(0));  // the ignored row
}

TEMPLATE_TEST_CASE("CrossEntropyLoss with a custom ignore_index and [B, T, V] logits", "[loss]", float, double) {
    using T = TestType;
    const auto logits = loom_test::random_tensor<T>(Shape{2, 3, 4}, 1, -3.0, 3.0);

    SECTION("ignore_index = 2 skips the rows whose target is 2, and -100 is an ordinary (invalid) target") {
        const loom::CrossEntropyLoss<T> criterion(2);
        const IndexTensor targets({0, 2, 3, 1, 2, 2}, Shape{2, 3});
        const Tensor<T> loss = criterion.forward(logits, targets);
        const double want = reference_loss(logits, targets, 2);
        CHECK(std::abs(static_cast<double>(loss.item()) - want) <= tolerance<T>() * std::max(1.0, std::abs(want)));
        CHECK(contains(error_message([&] { criterion(logits, IndexTensor({0, -100, 3, 1, 2, 2}, Shape{2, 3})); }),
                       "out of range"));
    }
    SECTION("[B, T, V] gives what the flattened [B·T, V] gives") {
        const loom::CrossEntropyLoss<T> criterion;
        const IndexTensor targets({3, 0, -100, 1, 1, 2}, Shape{2, 3});
        const Tensor<T> loss = criterion(logits, targets);
        const Tensor<T> flat_loss =
            criterion(logits.share_storage(Shape{6, 4}), targets.reshaped(Shape{6}));
        CHECK(static_cast<double>(loss.item()) == static_cast<double>(flat_loss.item()));
        const double want = reference_loss(logits, targets, -100);
        CHECK(std::abs(static_cast<double>(loss.item()) - want) <= tolerance<T>() * std::max(1.0, std::abs(want)));
    }
    SECTION("every row ignored gives 0") {
        const loom::CrossEntropyLoss<T> criterion;
        CHECK(criterion(logits, IndexTensor::full(Shape{2, 3}, -100)).item() == T(0));
    }
}

TEMPLATE_TEST_CASE("CrossEntropyLoss rejects mismatched targets", "[loss]", float, double) {
    using T = TestType;
    const loom::CrossEntropyLoss<T> criterion;
    const auto logits = loom_test::random_tensor<T>(Shape{3, 4}, 2);
    REQUIRE_THROWS_AS(criterion(logits, IndexTensor{0, 1}), loom::Error);
    CHECK(contains(error_message([&] { criterion(logits, IndexTensor{0, 1}); }), "loom::cross_entropy"));
    CHECK(contains(error_message([&] { criterion(logits, IndexTensor{0, 4, 1}); }), "out of range"));
    CHECK(contains(error_message([&] { criterion(logits, IndexTensor{0, 1, -1}); }), "out of range"));
}

TEST_CASE("CrossEntropyLoss passes gradcheck in double", "[loss][gradcheck]") {
    const loom::CrossEntropyLoss<double> criterion;
    const IndexTensor targets{1, -100, 0, 3};
    auto fn = [&](const std::vector<loom::Tensord>& in) { return criterion(in[0], targets); };
    LOOM_CHECK_GRADIENTS(fn, (std::vector<loom::Tensord>{loom_test::random_tensor<double>(Shape{4, 5}, 3, -2, 2)}));
}

}  // namespace nn_loss_test
