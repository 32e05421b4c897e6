#include "test_util.hpp"

// Tests for the linear-chain CRF: loom/ops/crf.hpp (negative log-likelihood
// and its backward), loom/ops/viterbi.hpp (best and k-best paths) and
// loom::CRF (nn/crf.hpp), against brute-force enumeration of all tag
// sequences, finite differences, and PyTorch (tests/data/crf.txt, made by
// tests/fixtures/make_crf_fixtures.py).

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>
#include <vector>

#include <loom/nn/crf.hpp>
#include <loom/ops/crf.hpp>
#include <loom/ops/viterbi.hpp>

#include "fixture_reader.hpp"

using loom::index_t;
using loom::IndexTensor;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace ops_crf_test {

using Path = std::vector<index_t>;

// Every tag sequence of `length` steps over `tags` tags with its score, best first.
std::vector<std::pair<double, Path>> all_paths(const Tensor<double>& emissions, index_t b, index_t length,
                                               const Tensor<double>& transitions, const Tensor<double>& start,
                                               const Tensor<double>& end) {
    const index_t steps = emissions.shape()[1], tags = emissions.shape()[2];
    std::vector<std::pair<double, Path>> scored;
    Path path(static_cast<std::size_t>(length), 0);
    for (;;) {
        double score = start.data()[path[0]] + end.data()[path.back()];
        for (index_t t = 0; t < length; ++t) score += emissions.data()[(b * steps + t) * tags + path[static_cast<std::size_t>(t)]];
        for (index_t t = 1; t < length; ++t)
            score += transitions.data()[path[static_cast<std::size_t>(t - 1)] * tags + path[static_cast<std::size_t>(t)]];
        scored.emplace_back(score, path);
        index_t position = 0;
        while (position < length && ++path[static_cast<std::size_t>(position)] == tags) path[static_cast<std::size_t>(position++)] = 0;
        if (position == length) break;
    }
    std::sort(scored.begin(), scored.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
    return scored;
}

struct Problem {
    Tensor<double> emissions = loom_test::random_tensor<double>(Shape{2, 4, 3}, 61, -2, 2);
    Tensor<double> transitions = loom_test::random_tensor<double>(Shape{3, 3}, 62, -1, 1);
    Tensor<double> start = loom_test::random_tensor<double>(Shape{3}, 63, -1, 1);
    Tensor<double> end = loom_test::random_tensor<double>(Shape{3}, 64, -1, 1);
    IndexTensor tags{{0, 2, 2, 1, 1, 0, 2, 0}, Shape{2, 4}};
    IndexTensor mask{{1, 1, 1, 1, 1, 1, 1, 0}, Shape{2, 4}};  // lengths 4 and 3
    std::vector<index_t> lengths{4, 3};
};

TEST_CASE("CRF negative log-likelihood equals log Z − score by enumeration", "[crf]") {
    const Problem p;
    const Tensor<double> nll = loom::crf_negative_log_likelihood(p.emissions, p.tags, p.mask, p.transitions, p.start,
                                                                 p.end, loom::Reduction::none);
    REQUIRE(nll.shape() == Shape{2});
    for (index_t b = 0; b < 2; ++b) {
        const auto scored = all_paths(p.emissions, b, p.lengths[static_cast<std::size_t>(b)], p.transitions, p.start, p.end);
        double partition = 0, gold = 0;
        const Path gold_path(p.tags.values().begin() + b * 4, p.tags.values().begin() + b * 4 + p.lengths[static_cast<std::size_t>(b)]);
        for (const auto& [score, path] : scored) {
            partition += std::exp(score);
            if (path == gold_path) gold = score;
        }
        CHECK(nll.data()[b] == Approx(std::log(partition) - gold).epsilon(1e-12));
    }
    const auto sum = loom::crf_negative_log_likelihood(p.emissions, p.tags, p.mask, p.transitions, p.start, p.end,
                                                       loom::Reduction::sum);
    const auto mean = loom::crf_negative_log_likelihood(p.emissions, p.tags, p.mask, p.transitions, p.start, p.end);
    CHECK(sum.item() == Approx(nll.data()[0] + nll.data()[1]).epsilon(1e-14));
    CHECK(mean.item() == Approx(sum.item() / 2).epsilon(1e-14));
    // Tags past a sequence's length do not matter.
    IndexTensor other = p.tags;
    other[7] = 1;
    CHECK(loom::crf_negative_log_likelihood(p.emissions, other, p.mask, p.transitions, p.start, p.end).item() == mean.item());
}

TEST_CASE("Viterbi and k-best paths equal the enumeration's best", "[crf][viterbi]") {
    const Problem p;
    const auto best = loom::crf_viterbi(p.emissions, p.mask, p.transitions, p.start, p.end);
    const auto top = loom::crf_viterbi_nbest(p.emissions, p.mask, p.transitions, p.start, p.end, 5);
    for (index_t b = 0; b < 2; ++b) {
        const auto scored = all_paths(p.emissions, b, p.lengths[static_cast<std::size_t>(b)], p.transitions, p.start, p.end);
        CHECK(best[static_cast<std::size_t>(b)].tags == scored[0].second);
        CHECK(best[static_cast<std::size_t>(b)].score == Approx(scored[0].first).epsilon(1e-12));
        REQUIRE(top[static_cast<std::size_t>(b)].size() == 5);
        for (std::size_t r = 0; r < 5; ++r) {
            INFO("sequence " << b << ", rank " << r);
            CHECK(top[static_cast<std::size_t>(b)][r].score == Approx(scored[r].first).epsilon(1e-12));
            CHECK(top[static_cast<std::size_t>(b)][r].tags == scored[r].second);
        }
    }
    // A one-step sequence has only K paths.
    const auto short_one = loom::crf_viterbi_nbest(p.emissions, IndexTensor({1, 0, 0, 0, 1, 1, 1, 1}, Shape{2, 4}),
                                                   p.transitions, p.start, p.end, 10);
    CHECK(short_one[0].size() == 3);
    CHECK(short_one[1].size() == 10);
}

TEST_CASE("CRF gradients match finite differences", "[crf][gradcheck]") {
    const Problem p;
    for (loom::Reduction reduction : {loom::Reduction::none, loom::Reduction::sum, loom::Reduction::mean}) {
        INFO("reduction " << loom::to_string(reduction));
        LOOM_CHECK_GRADIENTS(
            [&](const std::vector<Tensor<double>>& x) {
                return loom::crf_negative_log_likelihood(x[0], p.tags, p.mask, x[1], x[2], x[3], reduction);
            },
            (std::vector<Tensor<double>>{p.emissions, p.transitions, p.start, p.end}));
    }
}

TEMPLATE_TEST_CASE("CRF matches PyTorch", "[crf][fixture]", float, double) {
    using T = TestType;
    const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-10;
    const loom_test::Fixture fixture = loom_test::load_fixture("crf.txt");
    const auto to_indices = [&](const std::string& key) {
        const Tensor<double> values = fixture.get<double>(key);
        std::vector<index_t> indices;
        for (index_t i = 0; i < values.numel(); ++i) indices.push_back(static_cast<index_t>(values.data()[i]));
        return IndexTensor(indices, values.shape());
    };
    loom::Generator generator(65);
    loom::CRF<T> crf(4, generator);
    for (auto& [name, parameter] : crf.named_parameters()) parameter.copy_(fixture.get<T>(name));
    Tensor<T> emissions = fixture.get<T>("emissions");
    emissions.requires_grad_(true);
    const IndexTensor tags = to_indices("tags"), mask = to_indices("mask");
    const Tensor<T> nll = crf(emissions, tags, mask, loom::Reduction::none);
    loom_test::check_matches(nll, fixture.get<T>("nll"), tol);
    loom_test::check_matches(crf(emissions, tags, mask), fixture.get<T>("nll_mean"), tol);
    nll.backward(fixture.get<T>("upstream"));
    loom_test::check_matches(emissions.grad(), fixture.get<T>("emissions_grad"), tol);
    for (const auto& [name, parameter] : crf.named_parameters()) {
        INFO(name);
        loom_test::check_matches(parameter.grad(), fixture.get<T>(name + "_grad"), tol);
    }
    const auto paths = crf.decode(emissions, mask);
    const IndexTensor best = to_indices("best_tags");
    const Tensor<T> best_score = fixture.get<T>("best_score");
    for (index_t b = 0; b < 3; ++b) {
        const auto& path = paths[static_cast<std::size_t>(b)].tags;
        for (std::size_t t = 0; t < path.size(); ++t) CHECK(path[t] == best[b * 5 + static_cast<index_t>(t)]);
        CHECK(paths[static_cast<std::size_t>(b)].score == Approx(best_score.data()[b]).epsilon(tol));
    }
}

TEMPLATE_TEST_CASE("CRF stays finite on extreme emissions", "[crf]", float, double) {
    using T = TestType;
    loom::Generator generator(66);
    loom::CRF<T> crf(5, generator);
    Tensor<T> emissions = loom_test::random_tensor<T>(Shape{3, 20, 5}, 67, -1e4, 1e4);
    emissions.requires_grad_(true);
    IndexTensor tags = IndexTensor::zeros(Shape{3, 20});
    for (index_t i = 0; i < tags.numel(); ++i) tags[i] = (i * 7) % 5;
    const Tensor<T> loss = crf(emissions, tags);
    CHECK(std::isfinite(loss.item()));
    CHECK(loss.item() >= T(0));
    loss.backward();
    for (index_t i = 0; i < emissions.numel(); ++i) CHECK(std::isfinite(emissions.grad().data()[i]));
    for (const Tensor<T>& parameter : crf.parameters())
        for (index_t i = 0; i < parameter.numel(); ++i) CHECK(std::isfinite(parameter.grad().data()[i]));
}

TEST_CASE("CRF training learns a tag pattern that Viterbi recovers", "[crf]") {
    // Tags follow 0 → 1 → 2 → 0 …; the emissions say nothing about them, so
    // only the transitions can learn the pattern.
    loom::Generator generator(68);
    loom::CRF<double> crf(3, generator);
    const Tensor<double> emissions = Tensor<double>::zeros(Shape{2, 6, 3});
    const IndexTensor tags({0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2}, Shape{2, 6});
    loom::SGD<double> optimizer(crf.parameters(), 0.5);
    const double first = crf(emissions, tags).item();
    for (int step = 0; step < 100; ++step) {
        optimizer.zero_grad();
        crf(emissions, tags).backward();
        optimizer.step();
    }
    CHECK(crf(emissions, tags).item() < 0.1 * first);
    CHECK(crf.decode(emissions)[0].tags == std::vector<index_t>{0, 1, 2, 0, 1, 2});
}

TEST_CASE("CRF rejects bad input with the op and the shapes", "[crf][errors]") {
    const Problem p;
    const auto nll = [&](const Tensor<double>& e, const IndexTensor& tags, const IndexTensor& mask) {
        return error_message([&] { loom::crf_negative_log_likelihood(e, tags, mask, p.transitions, p.start, p.end); });
    };
    CHECK(contains(nll(Tensor<double>::zeros(Shape{2, 4}), p.tags, p.mask),
                   "loom::crf_negative_log_likelihood: emissions must be [batch, steps, num_tags]"));
    CHECK(contains(nll(Tensor<double>::zeros(Shape{2, 4, 5}), p.tags, p.mask), "need transitions [5, 5]"));
    CHECK(contains(nll(p.emissions, IndexTensor::zeros(Shape{2, 3}), p.mask), "tags must be [batch, steps] = [2, 4]"));
    CHECK(contains(nll(p.emissions, IndexTensor({0, 3, 0, 0, 0, 0, 0, 0}, Shape{2, 4}), p.mask),
                   "tag 3 at [0, 1] is out of range for 3 tags"));
    CHECK(contains(nll(p.emissions, p.tags, IndexTensor::zeros(Shape{4, 2})), "mask must be [batch, steps] = [2, 4]"));
    CHECK(contains(nll(p.emissions, p.tags, IndexTensor({1, 0, 1, 0, 1, 1, 1, 1}, Shape{2, 4})),
                   "the mask of sequence 0 has a real step at 2 after padding at 1"));
    CHECK(contains(nll(p.emissions, p.tags, IndexTensor({1, 1, 1, 1, 0, 0, 0, 0}, Shape{2, 4})),
                   "sequence 1 has no real step"));
    CHECK(contains(nll(Tensor<double>::zeros(Shape{2, 0, 3}), IndexTensor::zeros(Shape{2, 0}), IndexTensor()),
                   "steps and num_tags > 0"));
    CHECK(contains(error_message([&] { loom::crf_viterbi_nbest(p.emissions, p.mask, p.transitions, p.start, p.end, 0); }),
                   "loom::crf_viterbi: the number of paths k must be at least 1"));
    loom::Generator generator(69);
    CHECK(contains(error_message([&] { loom::CRF<float> bad(0, generator); }), "loom::CRF: num_tags must be positive"));
    loom::CRF<double> crf(3, generator);
    CHECK(contains(error_message([&] { crf.decode(Tensor<double>::zeros(Shape{1, 2, 4})); }),
                   "loom::CRF: emissions must be [batch, steps, 3], got [1, 2, 4]"));
    const auto names = crf.named_parameters();
    REQUIRE(names.size() == 3);
    CHECK(names[0].first == "start_transitions");
    CHECK(names[2].first == "transitions");
    CHECK(names[2].second.shape() == Shape{3, 3});
}

}  // namespace ops_crf_test
