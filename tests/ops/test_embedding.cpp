#include "test_util.hpp"

// Tests for loom/ops/embedding.hpp: row lookup with scatter-add backward.

#include <string>
#include <vector>

using loom::index_t;
using loom::IndexTensor;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace ops_embedding_test {  // named, not anonymous: the test files are compiled together in unity batches

TEMPLATE_TEST_CASE("embedding gathers rows of the table", "[embedding]", float, double) {
    using T = TestType;
    const auto weight = loom_test::random_tensor<T>(Shape{5, 3}, 1);

    SECTION("rank-1 ids, with repeats") {
        const IndexTensor ids{4, 0, 4, 2};
        const auto y = loom::embedding(weight, ids);
        REQUIRE(y.shape() == Shape{4, 3});
        for (index_t i = 0; i < 4; ++i)
            for (index_t j = 0; j < 3; ++j) CHECK(y.at({i, j}) == weight.at({ids[i], j}));
        CHECK_FALSE(y.shares_storage_with(weight));
    }
    SECTION("rank-2 ids") {
        const IndexTensor ids({1, 3, 3, 0, 2, 1}, Shape{2, 3});
        const auto y = loom::embedding(weight, ids);
        REQUIRE(y.shape() == Shape{2, 3, 3});
        for (index_t b = 0; b < 2; ++b)
            for (index_t t = 0; t < 3; ++t)
                for (index_t j = 0; j < 3; ++j) CHECK(y.at({b, t, j}) == weight.at({ids[b * 3 + t], j}));
    }
    SECTION("rank-3 and scalar ids") {
        const IndexTensor ids({0, 1, 2, 3, 4, 0, 1, 2}, Shape{2, 2, 2});
        const auto y = loom::embedding(weight, ids);
        REQUIRE(y.shape() == Shape{2, 2, 2, 3});
        for (index_t i = 0; i < 8; ++i)
            for (index_t j = 0; j < 3; ++j) CHECK(y.data()[i * 3 + j] == weight.at({ids[i], j}));
        const auto one = loom::embedding(weight, IndexTensor({3}, Shape{}));
        REQUIRE(one.shape() == Shape{3});
        for (index_t j = 0; j < 3; ++j) CHECK(one.at({j}) == weight.at({3, j}));
    }
    SECTION("hand-written table") {
        const auto table = loom::Tensor<T>::from_list({1, 2, 3, 4, 5, 6}, Shape{3, 2});
        CHECK(loom::embedding(table, IndexTensor{2, 0, 2}).to_vector() == std::vector<T>{5, 6, 1, 2, 5, 6});
        CHECK(loom::embedding(table, IndexTensor(std::vector<index_t>{})).shape() == Shape{0, 2});
    }
}

TEMPLATE_TEST_CASE("embedding backward scatter-adds repeated ids", "[embedding][autograd]", float, double) {
    using T = TestType;
    auto weight = loom_test::random_tensor<T>(Shape{4, 2}, 2);
    weight.requires_grad_();
    const IndexTensor ids({1, 3, 1, 1, 0, 3}, Shape{2, 3});
    const auto y = loom::embedding(weight, ids);
    auto upstream = loom::Tensor<T>::empty(y.shape());
    for (index_t i = 0; i < upstream.numel(); ++i) upstream.data()[i] = static_cast<T>(i + 1);
    y.backward(upstream);
    // Rows of upstream (flat id position i holds values 2i+1, 2i+2):
    //   id 0 at position 4;  id 1 at 0, 2, 3;  id 2 unused;  id 3 at 1, 5.
    const std::vector<T> expected = {9, 10, 1 + 5 + 7, 2 + 6 + 8, 0, 0, 3 + 11, 4 + 12};
    REQUIRE(weight.grad().shape() == Shape{4, 2});
    CHECK(weight.grad().to_vector() == expected);

    SECTION("accumulates across backward calls") {
        loom::embedding(weight, IndexTensor{2}).backward(loom::Tensor<T>::full(Shape{1, 2}, T(1)));
        CHECK(weight.grad().at({2, 0}) == T(1));
        CHECK(weight.grad().at({0, 0}) == T(9));
    }
}

TEST_CASE("embedding rejects bad ids and tables", "[embedding][errors]") {
    const auto weight = loom::Tensorf::zeros(Shape{5, 3});

    SECTION("id past the table names id and position") {
        REQUIRE_THROWS_AS(loom::embedding(weight, IndexTensor{0, 5}), loom::Error);
        const std::string message = error_message([&] { loom::embedding(weight, IndexTensor{0, 5, 1}); });
        INFO(message);
        CHECK(contains(message, "loom::embedding"));
        CHECK(contains(message, "id 5"));
        CHECK(contains(message, "position 1"));
        CHECK(contains(message, "5 rows"));
        CHECK(contains(message, "[5, 3]"));
    }
    SECTION("negative id") {
        const std::string message = error_message([&] { loom::embedding(weight, IndexTensor{2, 2, -1}); });
        INFO(message);
        CHECK(contains(message, "loom::embedding"));
        CHECK(contains(message, "id -1"));
        CHECK(contains(message, "position 2"));
    }
    SECTION("position in rank-2 ids is the flat index") {
        const IndexTensor ids({0, 1, 2, 3, 99, 4}, Shape{2, 3});
        const std::string message = error_message([&] { loom::embedding(weight, ids); });
        INFO(message);
        CHECK(contains(message, "id 99"));
        CHECK(contains(message, "position 4"));
    }
    SECTION("weight that is not 2-D") {
        for (const Shape& shape : {Shape{5}, Shape{2, 3, 4}, Shape{}}) {
            const auto bad = loom::Tensorf::zeros(shape);
            REQUIRE_THROWS_AS(loom::embedding(bad, IndexTensor{0}), loom::Error);
            const std::string message = error_message([&] { loom::embedding(bad, IndexTensor{0}); });
            INFO(message);
            CHECK(contains(message, "loom::embedding"));
            CHECK(contains(message, shape.to_string()));
        }
    }
    SECTION("ids of rank 4 would give a rank-5 output") {
        const IndexTensor ids = IndexTensor::zeros(Shape{1, 1, 1, 2});
        const std::string message = error_message([&] { loom::embedding(weight, ids); });
        INFO(message);
        CHECK(contains(message, "loom::embedding"));
        CHECK(contains(message, "[1, 1, 1, 2]"));
    }
    SECTION("an empty table has no valid id") {
        const std::string message =
            error_message([&] { loom::embedding(loom::Tensorf::zeros(Shape{0, 3}), IndexTensor{0}); });
        CHECK(contains(message, "0 rows"));
    }
}

TEST_CASE("embedding passes gradcheck wrt the weight", "[embedding][gradcheck]") {
    using Inputs = std::vector<loom::Tensord>;
    struct Case {
        Shape weight;
        IndexTensor ids;
    };
    const std::vector<Case> cases = {
        {Shape{1, 1}, IndexTensor{0}},
        {Shape{1, 1}, IndexTensor{0, 0, 0}},
        {Shape{7, 3}, IndexTensor{6, 0, 6, 2}},
        {Shape{4, 5}, IndexTensor({1, 1, 3, 0, 2, 1}, Shape{2, 3})},
        {Shape{3, 2}, IndexTensor({2, 2, 1, 0, 0, 0, 1, 2}, Shape{2, 2, 2})},
        {Shape{2, 6}, IndexTensor({1}, Shape{})},
    };
    for (std::size_t k = 0; k < cases.size(); ++k) {
        INFO("weight " << cases[k].weight << ", ids " << cases[k].ids);
        const IndexTensor ids = cases[k].ids;
        const auto weight = loom_test::random_tensor<double>(cases[k].weight, 300 + k);
        LOOM_CHECK_GRADIENTS([ids](const Inputs& in) { return loom::embedding(in[0], ids); }, Inputs{weight});
    }
}

}  // namespace ops_embedding_test
