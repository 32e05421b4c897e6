#include "test_util.hpp"

// Tests for loom/nn/embedding.hpp: lookup and the scatter-add gradient with
// repeated ids against PyTorch (tests/data/embedding.txt, made by
// tests/fixtures/make_layer_fixtures.py), the N(0, 1) initialisation, id
// shapes, and the checks on sizes and ids.

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

namespace nn_embedding_test {  // named, not anonymous: the test files are compiled together in unity batches

using loom_test::check_matches;

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 1e-5 : 1e-10;
}

// Integer ids stored as float values in a fixture.
IndexTensor to_ids(const Tensor<double>& values) {
    std::vector<index_t> ids;
    for (index_t i = 0; i < values.numel(); ++i) ids.push_back(static_cast<index_t>(std::llround(values.data()[i])));
    return IndexTensor(ids, values.shape());
}

TEMPLATE_TEST_CASE("Embedding matches PyTorch's output and weight gradient", "[embedding][fixture]", float, double) {
    using T = TestType;
    const auto fixture = loom_test::load_fixture("embedding.txt");
    loom::Generator generator(1);
    loom::Embedding<T> layer(6, 3, generator);
    layer.weight.copy_(fixture.template get<T>("weight"));

    const IndexTensor ids = to_ids(fixture.template get<double>("ids"));
    REQUIRE(ids.shape() == Shape{2, 4});
    const Tensor<T> y = layer(ids);
    check_matches(y, fixture.template get<T>("output"), tolerance<T>());

    loom::sum(loom::mul(y, fixture.template get<T>("upstream"))).backward();
    check_matches(layer.weight.grad(), fixture.template get<T>("weight_grad"), tolerance<T>());
    // Row 4 is never looked up: its gradient is exactly zero.
    for (index_t j = 0; j < 3; ++j) CHECK(layer.weight.grad().at({4, j}) == T(0));
}

TEMPLATE_TEST_CASE("Embedding initialises its table N(0, 1)", "[embedding]", float, double) {
    using T = TestType;
    loom::Generator generator(2);
    const loom::Embedding<T> layer(200, 50, generator);
    REQUIRE(layer.num_embeddings == 200);
    REQUIRE(layer.embedding_dim == 50);
    REQUIRE(layer.weight.shape() == Shape{200, 50});
    const auto named = layer.named_parameters();
    REQUIRE(named.size() == 1);
    CHECK(named[0].first == "weight");
    CHECK(named[0].second.requires_grad());

    // 10000 draws: the mean's standard error is 0.01, the std's about 0.007.
    const auto w = layer.weight.flat().template cast<double>();
    const double mean = w.mean();
    const double stddev = std::sqrt((w - mean).square().mean());
    CHECK(std::abs(mean) < 0.05);
    CHECK(std::abs(stddev - 1.0) < 0.05);
    CHECK(w.abs().maxCoeff() > 3.0);  // a normal, not a bounded distribution
    const double within_one = (w.abs() < 1.0).template cast<double>().mean();
    CHECK(std::abs(within_one - 0.6827) < 0.03);
}

TEMPLATE_TEST_CASE("Embedding looks up ids of any rank", "[embedding]", float, double) {
    using T = TestType;
    loom::Generator generator(3);
    const loom::Embedding<T> layer(5, 2, generator);
    auto row_matches = [&](const Tensor<T>& y, index_t position, index_t id) {
        for (index_t j = 0; j < 2; ++j)
            if (y.data()[position * 2 + j] != layer.weight.at({id, j})) return false;
        return true;
    };

    const Tensor<T> scalar = layer(IndexTensor({3}, Shape{}));
    REQUIRE(scalar.shape() == Shape{2});
    CHECK(row_matches(scalar, 0, 3));

    const IndexTensor ids({4, 0, 4, 1, 2, 3}, Shape{1, 2, 3});
    const Tensor<T> y = layer.forward(ids);
    REQUIRE(y.shape() == Shape{1, 2, 3, 2});
    for (index_t i = 0; i < 6; ++i) CHECK(row_matches(y, i, ids[i]));
}

TEMPLATE_TEST_CASE("Embedding rejects bad sizes and ids, naming the layer", "[embedding]", float, double) {
    using T = TestType;
    loom::Generator generator(4);
    for (const auto& sizes : {std::vector<index_t>{0, 3}, {4, 0}, {-2, 3}}) {
        const std::string message = error_message([&] { loom::Embedding<T>(sizes[0], sizes[1], generator); });
        CHECK(contains(message, "loom::Embedding: sizes must be positive"));
    }

    const loom::Embedding<T> layer(4, 3, generator);
    SECTION("ids out of range") {
        for (const IndexTensor& ids : {IndexTensor{0, 4}, IndexTensor{-1}, IndexTensor({1, 2, 3, 100}, Shape{2, 2})}) {
            INFO("ids " << ids);
            REQUIRE_THROWS_AS(layer(ids), loom::Error);
            const std::string message = error_message([&] { layer(ids); });
            CHECK(contains(message, "loom::Embedding"));
            CHECK(contains(message, "out of range"));
        }
    }
    SECTION("ids of rank 4 would make an output above the maximum rank") {
        const IndexTensor ids = IndexTensor::zeros(Shape{1, 1, 2, 2});
        REQUIRE_THROWS_AS(layer(ids), loom::Error);
        CHECK(contains(error_message([&] { layer(ids); }), "loom::Embedding"));
    }
}

TEST_CASE("Embedding passes gradcheck in double", "[embedding][gradcheck]") {
    loom::Generator generator(5);
    loom::Embedding<double> layer(4, 3, generator);
    const IndexTensor ids({2, 0, 2, 3, 2}, Shape{5});
    auto fn = [&](const std::vector<loom::Tensord>& in) {
        layer.weight = in[0];
        return layer(ids);
    };
    LOOM_CHECK_GRADIENTS(fn, (std::vector<loom::Tensord>{layer.weight.clone()}));
}

}  // namespace nn_embedding_test
