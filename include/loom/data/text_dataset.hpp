// loom/data/text_dataset.hpp — a text corpus as one long sequence of character ids.
//
// A character-level language model learns from a single stream of characters:
// the whole corpus, encoded with a Vocabulary, one id per character.
//
//   file bytes ──utf8_decode──▶ code points ──Vocabulary──▶ ids  (a CharDataset)
//
// split_train_validation() then cuts that sequence in two contiguous parts: the
// first part to train on and the last part to measure how well the model does
// on text it has not seen. The cut is at one position, not a random choice of
// characters, because windows of text must stay intact and because a random
// split would put the neighbours of every validation character into training.
// For tinyshakespeare "the 90/10 split" means: the first 90 % of the characters
// train, the last 10 % validate (the split nanoGPT uses, n = int(0.9 * len)).
#pragma once

#include <cmath>
#include <cstddef>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loom/data/vocabulary.hpp"
#include "loom/tensor/error.hpp"
#include "loom/tensor/shape.hpp"

namespace loom {

// The whole content of a file, as bytes; throws loom::Error naming the path.
inline std::string read_file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    detail::check(static_cast<bool>(in), "loom::read_file_bytes: cannot open '", path, "' for reading");
    std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    detail::check(!in.bad(), "loom::read_file_bytes: error while reading '", path, "'");
    return bytes;
}

class CharDataset {
public:
    // Ids already encoded with `vocabulary`; each must be a valid id of it.
    CharDataset(Vocabulary vocabulary, std::vector<index_t> ids)
        : vocabulary_(std::move(vocabulary)), ids_(std::move(ids)) {
        for (std::size_t i = 0; i < ids_.size(); ++i)
            detail::check(ids_[i] >= 0 && ids_[i] < vocabulary_.size(), "loom::CharDataset: id ", ids_[i],
                          " at position ", i, " is out of range for a vocabulary of ", vocabulary_.size(),
                          " characters");
    }

    // A UTF-8 text encoded with a given vocabulary (every character must be in it).
    static CharDataset from_text(std::string_view utf8, const Vocabulary& vocabulary) {
        return CharDataset(vocabulary, vocabulary.encode(utf8));
    }

    // A UTF-8 text encoded with the vocabulary of its own characters.
    static CharDataset from_text(std::string_view utf8) { return from_text(utf8, Vocabulary::from_text(utf8)); }

    // A UTF-8 file encoded with a given vocabulary. Errors (unreadable file,
    // invalid UTF-8, unknown character) name the file.
    static CharDataset from_file(const std::string& path, const Vocabulary& vocabulary) {
        const std::string text = read_file_bytes(path);
        try {
            return from_text(text, vocabulary);
        } catch (const Error& error) {
            detail::fail("loom::CharDataset::from_file: '", path, "': ", error.what());
        }
    }

    // A UTF-8 file encoded with the vocabulary of its own characters, e.g.
    //   CharDataset shakespeare = CharDataset::from_file("data/tinyshakespeare.txt");
    static CharDataset from_file(const std::string& path) {
        const std::string text = read_file_bytes(path);
        try {
            return from_text(text);
        } catch (const Error& error) {
            detail::fail("loom::CharDataset::from_file: '", path, "': ", error.what());
        }
    }

    const Vocabulary& vocabulary() const { return vocabulary_; }
    const std::vector<index_t>& ids() const { return ids_; }
    index_t size() const { return static_cast<index_t>(ids_.size()); }  // number of characters

private:
    Vocabulary vocabulary_;
    std::vector<index_t> ids_;
};

struct TrainValidationSplit {
    std::vector<index_t> train;       // the first part of the corpus
    std::vector<index_t> validation;  // the rest, right after it
};

// Cuts `ids` at one position: the first floor((1 - validation_fraction) * N)
// ids train, the remaining ones validate. Deterministic: no randomness at all.
// Throws loom::Error if the fraction is not strictly between 0 and 1 or if
// either part would be empty.
inline TrainValidationSplit split_train_validation(const std::vector<index_t>& ids,
                                                   double validation_fraction = 0.1) {
    detail::check(validation_fraction > 0.0 && validation_fraction < 1.0,  // also rejects NaN
                  "loom::split_train_validation: validation_fraction must be strictly between 0 and 1, got ",
                  validation_fraction);
    const auto total = static_cast<index_t>(ids.size());
    const auto train_size = static_cast<index_t>(std::floor((1.0 - validation_fraction) * static_cast<double>(total)));
    detail::check(train_size > 0 && train_size < total, "loom::split_train_validation: splitting ", total,
                  " ids with validation_fraction ", validation_fraction, " leaves ", train_size, " for training and ",
                  total - train_size, " for validation; both parts must be non-empty");
    const auto cut = ids.begin() + static_cast<std::ptrdiff_t>(train_size);
    return TrainValidationSplit{std::vector<index_t>(ids.begin(), cut), std::vector<index_t>(cut, ids.end())};
}

}  // namespace loom
