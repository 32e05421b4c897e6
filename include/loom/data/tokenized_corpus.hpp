// loom/data/tokenized_corpus.hpp — a text file made ready for a language model:
// a tokenizer, and the token ids of a training part and a validation part.
//
//   text ──cut at one position──▶ train text | validation text
//        ──tokenizer (trained on the train text)──▶ train ids | validation ids
//
// The cut is the one split_train_validation() makes (the first
// floor((1 - f)·N) units train, the rest validate), so that windows of text stay
// whole and no validation text is seen in training:
//   char   the units are characters: the vocabulary is every character of the
//          whole text (a character seen only in validation still gets an id),
//          exactly what CharDataset + split_train_validation give;
//   bpe    the units are bytes, moved forward to the next character boundary;
//   word   the same cut; the merges / word list are learned from the training
//          text alone, so validation measures text the tokenizer never saw (an
//          unseen word is <unk>).
//
// Losses of models with different tokenizers are compared in bits per byte:
//   bits/byte = (nats/token) · (tokens / bytes) / ln 2
// over the same validation bytes; validation_bytes_per_token() is the factor.
#pragma once

#include <cmath>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "loom/data/char_tokenizer.hpp"
#include "loom/data/text_dataset.hpp"
#include "loom/data/tokenizer.hpp"
#include "loom/data/tokenizer_file.hpp"
#include "loom/data/vocabulary.hpp"
#include "loom/tensor/error.hpp"

namespace loom {

struct TokenizerSettings {
    std::string kind = "char";       // char, bpe or word
    index_t bpe_vocab_size = 1024;   // bpe: 256 bytes + merges
    WordTokenizerOptions word;       // word: frequency cut-off, cap, lower case
};

struct TokenizedCorpus {
    std::shared_ptr<const Tokenizer> tokenizer;
    std::vector<index_t> train, validation;
    std::size_t train_bytes = 0, validation_bytes = 0;

    double validation_bytes_per_token() const {
        return static_cast<double>(validation_bytes) / static_cast<double>(validation.size());
    }
};

namespace detail {
// The first position at or after `at` that does not split a UTF-8 character.
inline std::size_t next_character_boundary(std::string_view text, std::size_t at) {
    while (at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) ++at;
    return at;
}
}  // namespace detail

inline TokenizedCorpus tokenize_corpus(std::string_view text, const TokenizerSettings& settings,
                                       double validation_fraction = 0.1) {
    detail::check(!text.empty(), "loom::tokenize_corpus: the text is empty");
    TokenizedCorpus corpus;
    if (settings.kind == "char") {
        const Vocabulary vocabulary = Vocabulary::from_text(text);
        TrainValidationSplit split = split_train_validation(vocabulary.encode(text), validation_fraction);
        corpus.train_bytes = vocabulary.decode(split.train).size();
        corpus.validation_bytes = text.size() - corpus.train_bytes;
        corpus.train = std::move(split.train);
        corpus.validation = std::move(split.validation);
        corpus.tokenizer = std::make_shared<CharTokenizer>(vocabulary);
        return corpus;
    }
    detail::check(validation_fraction > 0.0 && validation_fraction < 1.0,
                  "loom::tokenize_corpus: validation_fraction must be strictly between 0 and 1, got ",
                  validation_fraction);
    const auto cut_guess =
        static_cast<std::size_t>(std::floor((1.0 - validation_fraction) * static_cast<double>(text.size())));
    const std::size_t cut = detail::next_character_boundary(text, cut_guess);
    const std::string_view train_text = text.substr(0, cut), validation_text = text.substr(cut);
    detail::check(!train_text.empty() && !validation_text.empty(), "loom::tokenize_corpus: splitting ", text.size(),
                  " bytes with validation_fraction ", validation_fraction, " leaves ", train_text.size(),
                  " bytes for training and ", validation_text.size(), "; both parts must be non-empty");
    corpus.tokenizer = train_tokenizer(settings.kind, train_text, settings.bpe_vocab_size, settings.word);
    corpus.train = corpus.tokenizer->encode(train_text);
    corpus.validation = corpus.tokenizer->encode(validation_text);
    corpus.train_bytes = train_text.size();
    corpus.validation_bytes = validation_text.size();
    detail::check(!corpus.train.empty() && !corpus.validation.empty(), "loom::tokenize_corpus: the ", settings.kind,
                  " tokenizer made ", corpus.train.size(), " training and ", corpus.validation.size(),
                  " validation tokens; both must be non-empty");
    return corpus;
}

}  // namespace loom
