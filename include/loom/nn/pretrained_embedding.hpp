// loom/nn/pretrained_embedding.hpp — start an Embedding from word vectors
// trained elsewhere (a .vec file from word2vec, fastText, GloVe converted, or
// loom's own examples/word2vec).
//
//   W[id] = vectors[word(id)]   for every id whose word the table has
//
// Rows of ids whose word is missing keep their initialisation (N(0, 1) for a
// new Embedding), so a model can start from pretrained vectors for the words
// it shares with them and learn the rest. The copy is of values only: W stays
// a trainable parameter (freeze it by leaving it out of the optimizer).
//
//   const auto vectors = loom::WordVectors::load_text("vectors.vec");
//   loom::Embedding<float> embedding(tokenizer.vocab_size(), vectors.dimension(), generator);
//   const auto report = loom::load_word_vectors(embedding, vectors, words_by_id);
//   // report.found of report.total ids got a pretrained vector
#pragma once

#include <string>
#include <vector>

#include "loom/io/word_vectors.hpp"
#include "loom/nn/embedding.hpp"
#include "loom/tensor/error.hpp"

namespace loom {

struct PretrainedReport {
    index_t found = 0;                  // ids whose row was copied from the table
    index_t total = 0;                  // ids of the embedding
    std::vector<std::string> missing;   // the words without a vector, in id order
};

// words_by_id[id] is the word of embedding row id (e.g. WordTokenizer::word(id)).
template <typename T>
PretrainedReport load_word_vectors(Embedding<T>& embedding, const WordVectors& vectors,
                                   const std::vector<std::string>& words_by_id) {
    const char* const who = "loom::load_word_vectors";
    detail::check(static_cast<index_t>(words_by_id.size()) == embedding.num_embeddings, who, ": ",
                  words_by_id.size(), " words for an embedding of ", embedding.num_embeddings, " rows");
    detail::check(vectors.dimension() == embedding.embedding_dim, who, ": the word vectors have dimension ",
                  vectors.dimension(), " but the embedding has embedding_dim ", embedding.embedding_dim);
    PretrainedReport report;
    report.total = embedding.num_embeddings;
    T* const weight = embedding.weight.data();
    const index_t dimension = embedding.embedding_dim;
    for (index_t id = 0; id < embedding.num_embeddings; ++id) {
        const std::string& word = words_by_id[static_cast<std::size_t>(id)];
        const index_t row = vectors.index_of(word);
        if (row < 0) {
            report.missing.push_back(word);
            continue;
        }
        for (index_t k = 0; k < dimension; ++k)
            weight[id * dimension + k] = static_cast<T>(vectors.matrix()(row, k));
        ++report.found;
    }
    return report;
}

}  // namespace loom
