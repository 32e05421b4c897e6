#include "test_util.hpp"

// Tests for top-k / top-p sampling and sample() in loom/decode/sample.hpp:
// chi-square agreement with softmax(z / τ) and with the renormalised top-k /
// top-p distributions, support restriction, top-k = 1 and τ → 0 are greedy,
// same seed → same output, NaN / +inf logits.

#include <cmath>
#include <limits>
#include <vector>

#include <loom/decode/greedy.hpp>
#include <loom/decode/sample.hpp>

#include "decode/fake_decoders.hpp"

namespace decode_sampling_test {  // named, not anonymous: the test files are compiled together in unity batches

using decode_fake_decoders::MarkovDecoder;
using loom::index_t;
using loom_test::contains;
using loom_test::error_message;

// Critical values of the chi-square distribution at p = 0.001, by degrees of freedom.
double chi_square_critical_0001(std::size_t degrees) {
    const double table[] = {0, 10.828, 13.816, 16.266, 18.467, 20.515, 22.458, 24.322, 26.124, 27.877};
    REQUIRE(degrees >= 1);
    REQUIRE(degrees < 10);
    return table[degrees];
}

// softmax(z / τ) restricted to `support`, renormalised.
std::vector<double> restricted_softmax(const std::vector<double>& z, double tau, const std::vector<index_t>& support) {
    std::vector<double> p(z.size(), 0.0);
    double total = 0.0;
    for (index_t i : support) total += p[static_cast<std::size_t>(i)] = std::exp(z[static_cast<std::size_t>(i)] / tau);
    for (double& value : p) value /= total;
    return p;
}

// Draws `draws` samples and checks them against `expected` by Pearson's chi-square.
template <typename T>
void check_frequencies(const std::vector<double>& logits, double tau, index_t top_k, double top_p,
                       const std::vector<double>& expected, std::uint64_t seed) {
    const std::vector<T> typed(logits.begin(), logits.end());
    const index_t draws = 40000;
    loom::Generator generator(seed);
    std::vector<double> counts(logits.size(), 0.0);
    for (index_t n = 0; n < draws; ++n) {
        const index_t pick = loom::sample_top_k_top_p(typed.data(), static_cast<index_t>(typed.size()), tau, top_k, top_p, generator);
        REQUIRE(pick >= 0);
        REQUIRE(pick < static_cast<index_t>(typed.size()));
        // Never a token outside the support.
        REQUIRE(expected[static_cast<std::size_t>(pick)] > 0.0);
        counts[static_cast<std::size_t>(pick)] += 1.0;
    }
    double statistic = 0.0;
    std::size_t cells = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        if (expected[i] == 0.0) continue;
        const double e = expected[i] * static_cast<double>(draws);
        statistic += (counts[i] - e) * (counts[i] - e) / e;
        ++cells;
    }
    INFO("tau " << tau << ", top_k " << top_k << ", top_p " << top_p << ": chi-square " << statistic << " over "
                << cells << " cells");
    if (cells > 1) CHECK(statistic < chi_square_critical_0001(cells - 1));
}

const std::vector<double> logits = {1.0, 0.2, -0.5, 1.6, 0.0, -2.0, 0.9};
// Sorted by probability: 3 (1.6), 0 (1.0), 6 (0.9), 1 (0.2), 4 (0.0), 2 (-0.5), 5 (-2.0).

TEMPLATE_TEST_CASE("sample frequencies match softmax(z / temperature) by chi-square", "[sampling]", float, double) {
    using T = TestType;
    for (double tau : {1.0, 0.5, 2.0})
        check_frequencies<T>(logits, tau, 0, 1.0, restricted_softmax(logits, tau, {0, 1, 2, 3, 4, 5, 6}), 21);
}

TEMPLATE_TEST_CASE("top-k keeps the k most probable tokens, renormalised", "[sampling]", float, double) {
    using T = TestType;
    check_frequencies<T>(logits, 1.0, 3, 1.0, restricted_softmax(logits, 1.0, {3, 0, 6}), 22);
    check_frequencies<T>(logits, 0.7, 2, 1.0, restricted_softmax(logits, 0.7, {3, 0}), 23);
    check_frequencies<T>(logits, 1.0, 7, 1.0, restricted_softmax(logits, 1.0, {0, 1, 2, 3, 4, 5, 6}), 24);
    check_frequencies<T>(logits, 1.0, 100, 1.0, restricted_softmax(logits, 1.0, {0, 1, 2, 3, 4, 5, 6}), 25);
}

TEMPLATE_TEST_CASE("top-p keeps the smallest most probable set reaching p, renormalised", "[sampling]", float, double) {
    using T = TestType;
    const auto full = restricted_softmax(logits, 1.0, {0, 1, 2, 3, 4, 5, 6});
    // Cumulative in sorted order: 3, 0, 6 ... find where each p lands.
    const std::vector<index_t> sorted = {3, 0, 6, 1, 4, 2, 5};
    for (double p : {0.3, 0.5, 0.75, 0.9, 0.99}) {
        std::vector<index_t> support;
        double mass = 0.0;
        for (index_t i : sorted) {
            support.push_back(i);
            mass += full[static_cast<std::size_t>(i)];
            if (mass >= p) break;
        }
        INFO("top_p " << p << ": " << support.size() << " tokens");
        check_frequencies<T>(logits, 1.0, 0, p, restricted_softmax(logits, 1.0, support), 30);
    }
    // top-k first, then top-p on the renormalised k: k = 3 gives 3 (0.47), 0 (0.26), 6 (0.24) of the three.
    const auto three = restricted_softmax(logits, 1.0, {3, 0, 6});
    CHECK(three[3] < 0.6);
    check_frequencies<T>(logits, 1.0, 3, 0.6, restricted_softmax(logits, 1.0, {3, 0}), 31);
}

TEMPLATE_TEST_CASE("top-k = 1 and temperature 0 are greedy", "[sampling]", float, double) {
    using T = TestType;
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        INFO("seed " << seed);
        auto model = MarkovDecoder<T>::random(7, 2, seed);
        loom::GenerationOptions options;
        options.max_new_tokens = 12;
        const auto greedy = loom::greedy(model, {0}, options);
        options.top_k = 1;
        options.seed = seed;
        CHECK(loom::sample(model, {0}, options).tokens == greedy.tokens);
        options.top_k = 0;
        options.temperature = 0.0;
        CHECK(loom::sample(model, {0}, options).tokens == greedy.tokens);
        // A very small temperature is greedy too (every other weight underflows).
        options.temperature = 1e-6;
        CHECK(loom::sample(model, {0}, options).tokens == greedy.tokens);
    }
}

TEMPLATE_TEST_CASE("the same seed gives the same generation", "[sampling]", float, double) {
    using T = TestType;
    auto model = MarkovDecoder<T>::random(8, 2, 77, 1.0);
    loom::GenerationOptions options;
    options.max_new_tokens = 40;
    options.temperature = 1.3;
    options.top_k = 5;
    options.top_p = 0.9;
    options.seed = 123;
    const auto first = loom::sample(model, {1}, options);
    CHECK(loom::sample(model, {1}, options).tokens == first.tokens);
    loom::Generator generator(123);
    CHECK(loom::sample(model, {1}, options, generator).tokens == first.tokens);
    options.seed = 124;
    CHECK(loom::sample(model, {1}, options).tokens != first.tokens);
}

TEMPLATE_TEST_CASE("NaN logits throw, +inf logits share the probability, -inf never sampled", "[sampling]", float, double) {
    using T = TestType;
    loom::Generator generator(5);
    const T inf = std::numeric_limits<T>::infinity();
    const std::vector<T> with_nan = {0, 1, std::numeric_limits<T>::quiet_NaN()};
    CHECK(contains(error_message([&] { loom::sample_with_temperature(with_nan.data(), 3, 1.0, generator); }),
                   "loom::sample_with_temperature: logit 2 is NaN"));
    CHECK(contains(error_message([&] { loom::sample_top_k_top_p(with_nan.data(), 3, 0.0, 0, 1.0, generator); }),
                   "loom::sample_top_k_top_p: logit 2 is NaN"));
    const std::vector<T> all_minus = {-inf, -inf};
    CHECK(contains(error_message([&] { loom::sample_with_temperature(all_minus.data(), 2, 1.0, generator); }),
                   "every logit is -inf"));
    const std::vector<T> with_inf = {0, inf, 3, inf, -inf};
    std::vector<int> counts(5, 0);
    for (int n = 0; n < 4000; ++n) {
        ++counts[static_cast<std::size_t>(loom::sample_with_temperature(with_inf.data(), 5, 1.0, generator))];
        ++counts[static_cast<std::size_t>(loom::sample_top_k_top_p(with_inf.data(), 5, 1.0, 3, 0.9, generator))];
    }
    CHECK(counts[0] + counts[2] + counts[4] == 0);
    CHECK(counts[1] > 3500);  // about 4000 each of 8000
    CHECK(counts[3] > 3500);
    const std::vector<T> minus_inf = {-inf, 0.5, -inf};
    for (int n = 0; n < 100; ++n) CHECK(loom::sample_top_k_top_p(minus_inf.data(), 3, 1.0, 2, 1.0, generator) == 1);
    const std::vector<T> fine = {0, 1};
    CHECK(contains(error_message([&] { loom::sample_top_k_top_p(fine.data(), 2, 1.0, -1, 1.0, generator); }), "top_k must be >= 0"));
    CHECK(contains(error_message([&] { loom::sample_top_k_top_p(fine.data(), 2, 1.0, 0, 0.0, generator); }), "top_p must be in (0, 1]"));
    CHECK(contains(error_message([&] { loom::sample_top_k_top_p(fine.data(), 2, 1.0, 0, 1.5, generator); }), "top_p must be in (0, 1]"));
}

}  // namespace decode_sampling_test
