#include "test_util.hpp"

// Tests for loom/nn/pretrained_embedding.hpp: rows of words in the table are
// copied, the others keep their initialisation, the copy stays trainable, and
// mismatched sizes are errors naming both sizes.

#include <string>
#include <vector>

#include "loom/io/word_vectors.hpp"
#include "loom/nn/embedding.hpp"
#include "loom/nn/pretrained_embedding.hpp"
#include "loom/ops/reduce.hpp"

using loom::index_t;
using loom_test::contains;
using loom_test::error_message;

namespace nn_pretrained_embedding_test {  // named, not anonymous: the test files are compiled together in unity batches

loom::WordVectors small_table() {
    loom::WordVectors::Matrix rows(3, 2);
    rows << 1.f, 2.f,   //
        -0.5f, 0.25f,   //
        3.f, -4.f;
    return loom::WordVectors({"king", "queen", "night"}, rows);
}

TEMPLATE_TEST_CASE("load_word_vectors copies the rows of known words and keeps the others", "[nn][embedding]", float,
                   double) {
    loom::Generator generator(3);
    loom::Embedding<TestType> embedding(4, 2, generator);
    const loom::Tensor<TestType> before = embedding.weight.clone();
    const loom::PretrainedReport report =
        loom::load_word_vectors(embedding, small_table(), {"<unk>", "night", "sword", "king"});
    CHECK(report.found == 2);
    CHECK(report.total == 4);
    CHECK(report.missing == std::vector<std::string>{"<unk>", "sword"});
    const TestType* w = embedding.weight.data();
    CHECK(w[2] == TestType(3));   // row 1 = "night"
    CHECK(w[3] == TestType(-4));
    CHECK(w[6] == TestType(1));   // row 3 = "king"
    CHECK(w[7] == TestType(2));
    for (const index_t i : {0, 1, 4, 5}) CHECK(w[i] == before.data()[i]);  // <unk>, sword untouched

    // Still a parameter: a loss through the embedding reaches the copied rows.
    const loom::Tensor<TestType> loss = loom::sum(embedding(loom::IndexTensor{3, 3}));
    loss.backward();
    REQUIRE(embedding.weight.grad().defined());
    CHECK(embedding.weight.grad().data()[6] == TestType(2));  // row 3 looked up twice
}

TEST_CASE("load_word_vectors rejects a table of another dimension and a word list of another size", "[nn][embedding]") {
    loom::Generator generator(4);
    loom::Embedding<float> wide(2, 3, generator);
    const std::string dimension = error_message([&] { loom::load_word_vectors(wide, small_table(), {"a", "b"}); });
    CHECK(contains(dimension, "loom::load_word_vectors"));
    CHECK(contains(dimension, "dimension 2"));
    CHECK(contains(dimension, "embedding_dim 3"));
    loom::Embedding<float> narrow(2, 2, generator);
    const std::string count = error_message([&] { loom::load_word_vectors(narrow, small_table(), {"a"}); });
    CHECK(contains(count, "1 words for an embedding of 2 rows"));
}

}  // namespace nn_pretrained_embedding_test
