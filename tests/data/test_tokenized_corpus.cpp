#include "test_util.hpp"

// Tests for loom/data/tokenized_corpus.hpp: the cut between training and
// validation text for every tokenizer kind, the tokenizer trained on the
// training part only, bytes per token, and the errors.

#include <string>
#include <vector>

#include "loom/data/text_dataset.hpp"
#include "loom/data/tokenized_corpus.hpp"
#include "loom/data/vocabulary.hpp"

using loom::index_t;
using loom_test::contains;
using loom_test::error_message;

namespace data_tokenized_corpus_test {  // named, not anonymous: the test files are compiled together in unity batches

TEST_CASE("tokenize_corpus with char tokens is the Vocabulary + split_train_validation of before", "[data][tokenizer]") {
    const std::string text = "To be, or not to be: that is the question. Ça va?\n";
    const loom::TokenizedCorpus corpus = loom::tokenize_corpus(text, loom::TokenizerSettings{}, 0.2);
    const loom::Vocabulary vocabulary = loom::Vocabulary::from_text(text);
    const loom::TrainValidationSplit split = loom::split_train_validation(vocabulary.encode(text), 0.2);
    CHECK(corpus.tokenizer->kind() == "char");
    CHECK(corpus.tokenizer->vocab_size() == vocabulary.size());
    CHECK(corpus.train == split.train);
    CHECK(corpus.validation == split.validation);
    // Byte counts of the two parts ('Ç' is two bytes, in the validation part).
    CHECK(corpus.train_bytes + corpus.validation_bytes == text.size());
    CHECK(corpus.validation_bytes == vocabulary.decode(split.validation).size());
    CHECK(corpus.validation_bytes_per_token() ==
          Approx(static_cast<double>(corpus.validation_bytes) / static_cast<double>(split.validation.size())));
}

TEST_CASE("tokenize_corpus with bpe cuts at a character boundary and learns merges from the training part only",
          "[data][tokenizer]") {
    // 9 bytes of 'a' then "éé" (4 bytes): a cut at floor(0.8·13) = 10 would split the first é.
    const std::string text = "aaaaaaaaa\xC3\xA9\xC3\xA9";
    loom::TokenizerSettings settings;
    settings.kind = "bpe";
    settings.bpe_vocab_size = 300;
    const loom::TokenizedCorpus corpus = loom::tokenize_corpus(text, settings, 0.2);
    CHECK(corpus.train_bytes == 11);  // moved on to the end of the first é
    CHECK(corpus.validation_bytes == 2);
    CHECK(corpus.tokenizer->decode(corpus.train) == text.substr(0, 11));
    CHECK(corpus.tokenizer->decode(corpus.validation) == "\xC3\xA9");
    // "é" occurs once in the training part, so no merge joins its bytes: the
    // validation text stays two byte tokens.
    CHECK(corpus.validation == std::vector<index_t>{0xC3, 0xA9});
    CHECK(corpus.validation_bytes_per_token() == Approx(1.0));
}

TEST_CASE("tokenize_corpus with words: words seen only in validation are <unk>", "[data][tokenizer]") {
    loom::TokenizerSettings settings;
    settings.kind = "word";
    settings.word.min_count = 1;
    const std::string text = "the cat the dog the cat. zebra!";
    const loom::TokenizedCorpus corpus = loom::tokenize_corpus(text, settings, 0.25);
    REQUIRE(corpus.tokenizer->kind() == "word");
    CHECK(corpus.tokenizer->decode(corpus.validation).find("<unk>") != std::string::npos);  // "zebra"
    CHECK(corpus.train_bytes + corpus.validation_bytes == text.size());
}

TEST_CASE("tokenize_corpus errors name the problem", "[data][tokenizer]") {
    CHECK(contains(error_message([] { loom::tokenize_corpus("", loom::TokenizerSettings{}); }), "the text is empty"));
    loom::TokenizerSettings bpe;
    bpe.kind = "bpe";
    CHECK(contains(error_message([&] { loom::tokenize_corpus("abcdef", bpe, 1.0); }),
                   "validation_fraction must be strictly between 0 and 1, got 1"));
    CHECK(contains(error_message([&] { loom::tokenize_corpus("a", bpe, 0.01); }), "both parts must be non-empty"));
    loom::TokenizerSettings unknown;
    unknown.kind = "sentencepiece";
    CHECK(contains(error_message([&] { loom::tokenize_corpus("abcdef", unknown, 0.5); }),
                   "unknown tokenizer kind 'sentencepiece'"));
}

}  // namespace data_tokenized_corpus_test
