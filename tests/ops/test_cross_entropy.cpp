#include "test_util.hpp"

// Tests for loom/ops/cross_entropy.hpp: fused softmax cross-entropy.

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

using loom::index_t;
using loom::IndexTensor;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace ops_cross_entropy_test {  // named, not anonymous: the test files are compiled together in unity batches

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 5e-6 : 1e-13;
}

// -mean over non-ignored rows of log_softmax(x)[r, t_r], by plain loops in
// long double; 0 when every row is ignored.
template <typename T>
double cross_entropy_by_loops(const loom::Tensor<T>& logits, const IndexTensor& targets, index_t ignore_index) {
    const index_t classes = logits.shape().last();
    long double total = 0;
    index_t counted = 0;
    for (index_t r = 0; r < targets.numel(); ++r) {
        if (targets[r] == ignore_index) continue;
        const T* row = logits.data() + r * classes;
        long double m = row[0];
        for (index_t c = 1; c < classes; ++c) m = std::max<long double>(m, row[c]);
        long double sum = 0;
        for (index_t c = 0; c < classes; ++c) sum += std::exp(static_cast<long double>(row[c]) - m);
        const long double log_prob = static_cast<long double>(row[targets[r]]) - m - std::log(sum);
        total -= log_prob;
        ++counted;
    }
    return counted == 0 ? 0.0 : static_cast<double>(total / static_cast<long double>(counted));
}

// Seeded targets in [0, classes), with every `ignore_every`-th one (if > 0)
// replaced by ignore_index.
IndexTensor random_targets(const Shape& shape, index_t classes, std::uint64_t seed, index_t ignore_every = 0,
                           index_t ignore_index = -100) {
    loom::Generator generator(seed);
    std::vector<index_t> values(static_cast<std::size_t>(shape.numel()));
    for (std::size_t i = 0; i < values.size(); ++i) {
        values[i] = static_cast<index_t>(generator.below(static_cast<std::uint64_t>(classes)));
        if (ignore_every > 0 && static_cast<index_t>(i) % ignore_every == ignore_every - 1) values[i] = ignore_index;
    }
    return IndexTensor(values, shape);
}

template <typename T>
bool all_finite(const loom::Tensor<T>& t) {
    for (index_t i = 0; i < t.numel(); ++i)
        if (!std::isfinite(t.data()[i])) return false;
    return true;
}

TEMPLATE_TEST_CASE("cross_entropy matches -mean(log_softmax at targets)", "[cross_entropy]", float, double) {
    using T = TestType;
    SECTION("random [N, C]") {
        for (index_t classes : {1, 2, 5, 17}) {
            INFO("classes " << classes);
            const auto logits = loom_test::random_tensor<T>(Shape{6, classes}, 1, -3.0, 3.0);
            const IndexTensor targets = random_targets(Shape{6}, classes, 2);
            const auto loss = loom::cross_entropy(logits, targets);
            REQUIRE(loss.shape() == Shape{});
            const double expected = cross_entropy_by_loops(logits, targets, -100);
            CHECK(std::abs(static_cast<double>(loss.item()) - expected) <= tolerance<T>() * std::max(1.0, expected));
        }
    }
    SECTION("logits all zero over C classes give log(C)") {
        for (index_t classes : {1, 2, 3, 10, 1000}) {
            INFO("classes " << classes);
            const auto loss = loom::cross_entropy(loom::Tensor<T>::zeros(Shape{4, classes}),
                                                  random_targets(Shape{4}, classes, 3));
            CHECK(std::abs(static_cast<double>(loss.item()) - std::log(static_cast<double>(classes))) <=
                  tolerance<T>() * 10);
        }
    }
    SECTION("a hand-computed row") {
        // logits [0, ln 3]: softmax = [1/4, 3/4]; target 0 costs ln 4, target 1 costs ln(4/3).
        const auto logits = loom::Tensor<T>::from_vector({T(0), static_cast<T>(std::log(3.0)),  //
                                                          T(0), static_cast<T>(std::log(3.0))},
                                                         Shape{2, 2});
        const auto loss = loom::cross_entropy(logits, IndexTensor{0, 1});
        CHECK(std::abs(static_cast<double>(loss.item()) - 0.5 * (std::log(4.0) + std::log(4.0 / 3.0))) <=
              tolerance<T>());
    }
    SECTION("logits [B, T, C] with targets [B, T] equal the flattened [B*T, C] case") {
        const auto logits = loom_test::random_tensor<T>(Shape{2, 3, 4}, 4, -2.0, 2.0);
        const IndexTensor targets = random_targets(Shape{2, 3}, 4, 5, 4);
        const auto loss = loom::cross_entropy(logits, targets);
        const auto flat = loom::cross_entropy(logits.share_storage(Shape{6, 4}), targets.reshaped(Shape{6}));
        CHECK(std::abs(static_cast<double>(loss.item()) - static_cast<double>(flat.item())) <= tolerance<T>());
        CHECK(std::abs(static_cast<double>(loss.item()) - cross_entropy_by_loops(logits, targets, -100)) <=
              tolerance<T>());
        // And a rank-4 [B, H, T, C] input.
        const auto logits4 = loom_test::random_tensor<T>(Shape{2, 2, 3, 5}, 6);
        const IndexTensor targets4 = random_targets(Shape{2, 2, 3}, 5, 7);
        CHECK(std::abs(static_cast<double>(loom::cross_entropy(logits4, targets4).item()) -
                       cross_entropy_by_loops(logits4, targets4, -100)) <= tolerance<T>());
    }
}

TEMPLATE_TEST_CASE("cross_entropy leaves out ignore_index rows", "[cross_entropy][ignore_index]", float, double) {
    using T = TestType;
    auto logits = loom_test::random_tensor<T>(Shape{5, 4}, 8, -2.0, 2.0);
    logits.requires_grad_();

    SECTION("default ignore_index -100") {
        const IndexTensor targets{1, -100, 3, -100, 0};
        const auto loss = loom::cross_entropy(logits, targets);
        // The mean is over the 3 counted rows only.
        const double expected = cross_entropy_by_loops(logits, targets, -100);
        const IndexTensor kept_targets{1, 3, 0};
        auto kept = loom::Tensor<T>::empty(Shape{3, 4});
        for (index_t c = 0; c < 4; ++c) {
            kept.set({0, c}, logits.at({0, c}));
            kept.set({1, c}, logits.at({2, c}));
            kept.set({2, c}, logits.at({4, c}));
        }
        CHECK(std::abs(static_cast<double>(loss.item()) - expected) <= tolerance<T>());
        CHECK(std::abs(static_cast<double>(loss.item()) -
                       static_cast<double>(loom::cross_entropy(kept, kept_targets).item())) <= tolerance<T>());

        loss.backward();
        const auto grad = logits.grad();
        for (index_t c = 0; c < 4; ++c) {
            CHECK(grad.at({1, c}) == T(0));
            CHECK(grad.at({3, c}) == T(0));
        }
        // Counted rows: (softmax - onehot) / 3.
        const auto p = loom::softmax(logits.detach());
        for (index_t r : {0, 2, 4})
            for (index_t c = 0; c < 4; ++c) {
                const double onehot = targets[r] == c ? 1.0 : 0.0;
                const double want = (static_cast<double>(p.at({r, c})) - onehot) / 3.0;
                CHECK(std::abs(static_cast<double>(grad.at({r, c})) - want) <= tolerance<T>());
            }
    }
    SECTION("a custom ignore_index that is a valid class") {
        const IndexTensor targets{2, 2, 1, 0, 2};
        const auto loss = loom::cross_entropy(logits, targets, 2);
        CHECK(std::abs(static_cast<double>(loss.item()) - cross_entropy_by_loops(logits, targets, 2)) <=
              tolerance<T>());
        loss.backward();
        for (index_t r : {0, 1, 4})
            for (index_t c = 0; c < 4; ++c) CHECK(logits.grad().at({r, c}) == T(0));
    }
    SECTION("all rows ignored: loss 0 and zero gradient") {
        const auto loss = loom::cross_entropy(logits, IndexTensor::full(Shape{5}, -100));
        CHECK(loss.item() == T(0));
        REQUIRE(loss.requires_grad());
        loss.backward();
        REQUIRE(logits.grad().defined());
        for (T v : logits.grad().to_vector()) CHECK(v == T(0));
    }
}

TEMPLATE_TEST_CASE("cross_entropy is finite for extreme logits", "[cross_entropy][stability]", float, double) {
    using T = TestType;
    const T big = T(1e4);
    auto logits = loom::Tensor<T>::from_vector({big, -big, T(0),  //
                                                big, -big, T(0),  //
                                                -big, -big, -big},
                                               Shape{3, 3});
    logits.requires_grad_();
    // Row 0 picks the dominant class (cost 0); row 1 a class 2e4 below it
    // (cost 2e4); row 2 has equal logits (cost ln 3).
    const auto loss = loom::cross_entropy(logits, IndexTensor{0, 1, 2});
    REQUIRE(std::isfinite(loss.item()));
    const double expected = (0.0 + 2e4 + std::log(3.0)) / 3.0;
    CHECK(std::abs(static_cast<double>(loss.item()) - expected) <= tolerance<T>() * expected);
    loss.backward();
    const auto grad = logits.grad();
    REQUIRE(all_finite(grad));
    // (softmax - onehot) / 3 with softmax rows [1, 0, 0], [1, 0, 0], [1/3, 1/3, 1/3].
    const std::vector<double> expected_grad = {0, 0, 0, 1.0 / 3, -1.0 / 3, 0, 1.0 / 9, 1.0 / 9, -2.0 / 9};
    for (index_t i = 0; i < 9; ++i)
        CHECK(std::abs(static_cast<double>(grad.data()[i]) - expected_grad[static_cast<std::size_t>(i)]) <=
              tolerance<T>());
}

TEMPLATE_TEST_CASE("cross_entropy with -infinity logits", "[cross_entropy][stability]", float, double) {
    using T = TestType;
    const T inf = std::numeric_limits<T>::infinity();
    auto logits = loom::Tensor<T>::from_vector({T(0), -inf, T(0), -inf, T(2), -inf}, Shape{2, 3});
    logits.requires_grad_();
    // Row 0: two equal finite logits, cost ln 2; row 1: one finite logit, cost 0.
    const auto loss = loom::cross_entropy(logits, IndexTensor{0, 1});
    CHECK(std::abs(static_cast<double>(loss.item()) - 0.5 * std::log(2.0)) <= tolerance<T>());
    loss.backward();
    const auto grad = logits.grad();
    REQUIRE(all_finite(grad));
    // (softmax - onehot) / 2, with exactly 0 probability at the -inf logits.
    CHECK(grad.to_vector() == std::vector<T>{T(-0.25), T(0), T(0.25), T(0), T(0), T(0)});
}

TEST_CASE("cross_entropy rejects bad targets", "[cross_entropy][errors]") {
    const auto logits = loom::Tensorf::zeros(Shape{4, 5});

    SECTION("target above the class range names value and position") {
        REQUIRE_THROWS_AS(loom::cross_entropy(logits, IndexTensor{0, 1, 7, 2}), loom::Error);
        const std::string message = error_message([&] { loom::cross_entropy(logits, IndexTensor{0, 1, 7, 2}); });
        INFO(message);
        CHECK(contains(message, "loom::cross_entropy"));
        CHECK(contains(message, "target 7"));
        CHECK(contains(message, "position 2"));
        CHECK(contains(message, "5 classes"));
    }
    SECTION("target equal to the class count") {
        const std::string message = error_message([&] { loom::cross_entropy(logits, IndexTensor{5, 0, 0, 0}); });
        INFO(message);
        CHECK(contains(message, "target 5"));
        CHECK(contains(message, "position 0"));
    }
    SECTION("negative target other than ignore_index") {
        const std::string message = error_message([&] { loom::cross_entropy(logits, IndexTensor{0, 0, 0, -1}); });
        INFO(message);
        CHECK(contains(message, "loom::cross_entropy"));
        CHECK(contains(message, "target -1"));
        CHECK(contains(message, "position 3"));
        // -100 is only ignored by default; with another ignore_index it is out of range.
        const std::string custom =
            error_message([&] { loom::cross_entropy(logits, IndexTensor{0, -100, 0, 0}, index_t{-1}); });
        CHECK(contains(custom, "target -100"));
        CHECK(contains(custom, "position 1"));
    }
    SECTION("a position in [B, T] targets is the flat row index") {
        const auto logits3 = loom::Tensorf::zeros(Shape{2, 3, 4});
        IndexTensor targets = IndexTensor::zeros(Shape{2, 3});
        targets[4] = 9;
        const std::string message = error_message([&] { loom::cross_entropy(logits3, targets); });
        INFO(message);
        CHECK(contains(message, "target 9"));
        CHECK(contains(message, "position 4"));
    }
    SECTION("no classes: any counted target is out of range") {
        const auto no_classes = loom::Tensorf::zeros(Shape{3, 0});
        const std::string message = error_message([&] { loom::cross_entropy(no_classes, IndexTensor{0, 0, 0}); });
        INFO(message);
        CHECK(contains(message, "loom::cross_entropy"));
        CHECK(contains(message, "target 0"));
        CHECK(contains(message, "0 classes"));
        CHECK(loom::cross_entropy(no_classes, IndexTensor::full(Shape{3}, -100)).item() == 0.0f);
    }
    SECTION("target shape mismatch names both shapes") {
        REQUIRE_THROWS_AS(loom::cross_entropy(logits, IndexTensor{0, 1, 2}), loom::Error);
        const std::string message = error_message([&] { loom::cross_entropy(logits, IndexTensor{0, 1, 2}); });
        INFO(message);
        CHECK(contains(message, "loom::cross_entropy"));
        CHECK(contains(message, "[4, 5]"));
        CHECK(contains(message, "[4]"));
        CHECK(contains(message, "[3]"));
        const auto logits3 = loom::Tensorf::zeros(Shape{2, 3, 5});
        const std::string flat = error_message([&] { loom::cross_entropy(logits3, IndexTensor::zeros(Shape{6})); });
        INFO(flat);
        CHECK(contains(flat, "[2, 3, 5]"));
        CHECK(contains(flat, "[2, 3]"));
        CHECK(contains(flat, "[6]"));
    }
    SECTION("logits without a batch dimension") {
        const std::string message =
            error_message([&] { loom::cross_entropy(loom::Tensorf::zeros(Shape{5}), IndexTensor{1}); });
        INFO(message);
        CHECK(contains(message, "loom::cross_entropy"));
        CHECK(contains(message, "[5]"));
        CHECK(contains(error_message([&] { loom::cross_entropy(loom::Tensorf::scalar(1.0f), IndexTensor{0}); }),
                       "loom::cross_entropy"));
    }
}

TEST_CASE("cross_entropy passes gradcheck wrt the logits", "[cross_entropy][gradcheck]") {
    using Inputs = std::vector<loom::Tensord>;
    struct Case {
        Shape logits;
        index_t ignore_every;
    };
    const std::vector<Case> cases = {{Shape{1, 1}, 0}, {Shape{1, 4}, 0}, {Shape{3, 5}, 0}, {Shape{5, 2}, 2},
                                     {Shape{2, 3, 4}, 3}, {Shape{4, 1}, 0}, {Shape{2, 2, 2, 3}, 0}};
    for (std::size_t k = 0; k < cases.size(); ++k) {
        const Shape shape = cases[k].logits;
        INFO("logits " << shape << ", ignoring every " << cases[k].ignore_every);
        const IndexTensor targets =
            random_targets(shape.without(shape.rank() - 1), shape.last(), 200 + k, cases[k].ignore_every);
        const auto logits = loom_test::random_tensor<double>(shape, 210 + k, -2.0, 2.0);
        LOOM_CHECK_GRADIENTS([targets](const Inputs& in) { return loom::cross_entropy(in[0], targets); },
                             Inputs{logits});
    }
    SECTION("custom ignore_index") {
        const IndexTensor targets{0, 3, 3, 1};
        const auto logits = loom_test::random_tensor<double>(Shape{4, 4}, 220);
        LOOM_CHECK_GRADIENTS([targets](const Inputs& in) { return loom::cross_entropy(in[0], targets, 3); },
                             Inputs{logits});
    }
}

}  // namespace ops_cross_entropy_test
