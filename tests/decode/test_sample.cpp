#include "test_util.hpp"

// Tests for loom/decode/sample.hpp: argmax, sampling with a temperature
// (greedy at 0, reproducible per seed, frequencies matching softmax(z/τ)),
// extreme logits, and the argument checks.

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using loom::index_t;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace decode_sample_test {  // named, not anonymous: the test files are compiled together in unity batches

// softmax(z / τ) in double, with the max subtracted.
std::vector<double> reference_probabilities(const std::vector<double>& logits, double temperature) {
    double top = logits[0];
    for (double z : logits) top = std::max(top, z);
    std::vector<double> p;
    double total = 0.0;
    for (double z : logits) {
        p.push_back(std::exp((z - top) / temperature));
        total += p.back();
    }
    for (double& value : p) value /= total;
    return p;
}

template <typename T>
std::vector<T> as(const std::vector<double>& values) {
    return std::vector<T>(values.begin(), values.end());
}

TEMPLATE_TEST_CASE("argmax returns the index of the largest logit, the first on ties", "[sample]", float, double) {
    using T = TestType;
    CHECK(loom::argmax(as<T>({0.5, 2.0, -1.0, 1.5}).data(), 4) == 1);
    CHECK(loom::argmax(as<T>({3.0, 2.0, 1.0}).data(), 3) == 0);
    CHECK(loom::argmax(as<T>({1.0, 2.0, 3.0}).data(), 3) == 2);
    CHECK(loom::argmax(as<T>({1.0, 4.0, 2.0, 4.0, 4.0}).data(), 5) == 1);
    CHECK(loom::argmax(as<T>({7.0, 7.0, 7.0}).data(), 3) == 0);
    CHECK(loom::argmax(as<T>({-5.0}).data(), 1) == 0);
    CHECK(loom::argmax(as<T>({-1e30, -1e20, -1e25}).data(), 3) == 1);
    const T inf = std::numeric_limits<T>::infinity();
    const std::vector<T> with_inf = {0, inf, 5, inf};
    CHECK(loom::argmax(with_inf.data(), 4) == 1);

    const std::vector<T> none;
    REQUIRE_THROWS_AS(loom::argmax(none.data(), 0), loom::Error);
    CHECK(contains(error_message([&] { loom::argmax(none.data(), 0); }), "loom::argmax"));
}

TEMPLATE_TEST_CASE("temperature 0 is greedy", "[sample]", float, double) {
    using T = TestType;
    loom::Generator generator(1);
    const std::vector<T> logits = as<T>({0.1, 2.5, 2.5, -3.0, 1.0});
    for (int i = 0; i < 100; ++i) CHECK(loom::sample_with_temperature(logits.data(), 5, 0.0, generator) == 1);
    // A greedy pick draws nothing from the generator.
    loom::Generator fresh(1);
    CHECK(generator.next_u64() == fresh.next_u64());
}

TEMPLATE_TEST_CASE("the same seed gives the same samples", "[sample]", float, double) {
    using T = TestType;
    const std::vector<T> logits = as<T>({0.3, -0.2, 1.1, 0.0, 0.7, -1.5, 0.9});
    auto draw = [&](std::uint64_t seed, double temperature) {
        loom::Generator generator(seed);
        std::vector<index_t> picks;
        for (int i = 0; i < 500; ++i)
            picks.push_back(loom::sample_with_temperature(logits.data(), 7, temperature, generator));
        return picks;
    };
    for (double temperature : {0.5, 1.0, 2.0}) {
        INFO("temperature " << temperature);
        CHECK(draw(42, temperature) == draw(42, temperature));
        CHECK(draw(42, temperature) != draw(43, temperature));
    }
}

TEMPLATE_TEST_CASE("sample frequencies match softmax(z / temperature)", "[sample]", float, double) {
    using T = TestType;
    const std::vector<double> logits = {1.0, 0.2, -0.5, 1.6, 0.0, -2.0};
    const std::vector<T> typed = as<T>(logits);
    const index_t draws = 200000;
    for (double temperature : {1.0, 0.5}) {
        INFO("temperature " << temperature);
        loom::Generator generator(7);
        std::vector<index_t> counts(logits.size(), 0);
        index_t out_of_range = 0;
        for (index_t i = 0; i < draws; ++i) {
            const index_t pick = loom::sample_with_temperature(typed.data(), 6, temperature, generator);
            if (pick >= 0 && pick < 6) ++counts[static_cast<std::size_t>(pick)];
            else ++out_of_range;
        }
        REQUIRE(out_of_range == 0);
        const std::vector<double> expected = reference_probabilities(logits, temperature);
        for (std::size_t i = 0; i < logits.size(); ++i) {
            const double frequency = static_cast<double>(counts[i]) / static_cast<double>(draws);
            INFO("logit " << i << ": frequency " << frequency << ", probability " << expected[i]);
            CHECK(std::abs(frequency - expected[i]) < 0.01);  // the standard error is at most 0.0011
        }
    }
}

TEMPLATE_TEST_CASE("extreme logits give valid samples", "[sample]", float, double) {
    using T = TestType;
    loom::Generator generator(9);
    const std::vector<T> far_apart = as<T>({-1e4, 1e4, -1e4});
    const std::vector<T> both_high = as<T>({1e4, -1e4, 1e4});
    std::vector<index_t> counts(3, 0);
    index_t not_the_max = 0;
    for (int i = 0; i < 2000; ++i) {
        for (double temperature : {1.0, 0.5, 10.0})
            if (loom::sample_with_temperature(far_apart.data(), 3, temperature, generator) != 1) ++not_the_max;
        const index_t pick = loom::sample_with_temperature(both_high.data(), 3, 1.0, generator);
        REQUIRE(pick >= 0);
        REQUIRE(pick < 3);
        ++counts[static_cast<std::size_t>(pick)];
    }
    CHECK(not_the_max == 0);
    CHECK(counts[1] == 0);
    CHECK(counts[0] > 800);  // each about 1000 of 2000
    CHECK(counts[2] > 800);
    // A temperature so small that every non-maximal weight underflows to 0.
    CHECK(loom::sample_with_temperature(as<T>({0.0, 1e-3, 0.0}).data(), 3, 1e-300, generator) == 1);
}

TEMPLATE_TEST_CASE("sample_last_row samples from the last row", "[sample]", float, double) {
    using T = TestType;
    loom::Generator generator(10);
    // Row 0 points at index 0, the last row at index 2.
    const auto logits = loom::Tensor<T>::from_list({50, 0, 0, 0, 0, 0, 0, 0, 50}, Shape{3, 3});
    for (int i = 0; i < 50; ++i) CHECK(loom::sample_last_row(logits, 1.0, generator) == 2);
    CHECK(loom::sample_last_row(logits, 0.0, generator) == 2);
    const auto batch_time = loom::Tensor<T>::from_list({9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7}, Shape{1, 3, 4});
    CHECK(loom::sample_last_row(batch_time, 0.0, generator) == 3);
    CHECK(loom::sample_last_row(loom::Tensor<T>::from_list({1, 5, 2}, Shape{3}), 0.0, generator) == 1);
}

TEMPLATE_TEST_CASE("invalid temperatures and empty logits throw", "[sample]", float, double) {
    using T = TestType;
    loom::Generator generator(11);
    const std::vector<T> logits = as<T>({1.0, 2.0});
    for (double bad : {-1.0, -1e-9, std::numeric_limits<double>::infinity(), std::nan("")}) {
        INFO("temperature " << bad);
        REQUIRE_THROWS_AS(loom::sample_with_temperature(logits.data(), 2, bad, generator), loom::Error);
        const std::string message =
            error_message([&] { loom::sample_with_temperature(logits.data(), 2, bad, generator); });
        CHECK(contains(message, "loom::sample_with_temperature: temperature must be finite and >= 0"));
    }
    CHECK(contains(error_message([&] { loom::sample_with_temperature(logits.data(), 0, 1.0, generator); }),
                   "loom::sample_with_temperature: no logits given"));
}

}  // namespace decode_sample_test
