// examples/model_metadata.hpp — reading a model's description back from a
// checkpoint.
//
// Every example writes its model's kind, configuration and tokenizer as
// checkpoint metadata ("model.kind", "model.hidden_size", "model.vocabulary" or
// "model.tokenizer", …), so that generate can rebuild the model without the
// command line that trained it. ModelMetadata reads those keys with checks,
// and every error names the function, the file and the key.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include <loom/data/char_tokenizer.hpp>
#include <loom/data/tokenizer.hpp>
#include <loom/data/tokenizer_file.hpp>
#include <loom/data/vocabulary.hpp>
#include <loom/tensor/error.hpp>
#include <loom/train/checkpoint.hpp>

namespace examples {

// What the checkpoints store about the tokenizer: for char the vocabulary as
// before ("model.vocabulary", so char checkpoints keep their format), for the
// other kinds the tokenizer's JSON ("model.tokenizer").
inline std::map<std::string, std::string> tokenizer_metadata(const loom::Tokenizer& tokenizer) {
    if (const auto* chars = dynamic_cast<const loom::CharTokenizer*>(&tokenizer))
        return {{"model.vocabulary", chars->vocabulary().text()}};
    return {{"model.tokenizer", tokenizer.to_json().dump()}};
}

template <typename T>
class ModelMetadata {
public:
    // Fails unless the checkpoint's model.kind is `kind`.
    ModelMetadata(const loom::Checkpoint<T>& checkpoint, std::string path, std::string reader, const std::string& kind)
        : checkpoint_(checkpoint), path_(std::move(path)), reader_(std::move(reader)) {
        const std::string& found = checkpoint_.get("model.kind");
        if (found != kind) fail("model.kind", "is '" + found + "', expected '" + kind + "' (not a " + kind + " checkpoint)");
    }

    [[noreturn]] void fail(const std::string& key, const std::string& why) const {
        loom::detail::fail(reader_, ": '", path_, "': metadata '", key, "' ", why);
    }

    // An integer of at least `minimum`.
    loom::index_t integer(const std::string& key, std::int64_t minimum = 1) const {
        const std::int64_t value = checkpoint_.get_int(key);
        if (value < minimum) fail(key, "is " + std::to_string(value) + ", expected at least " + std::to_string(minimum));
        return static_cast<loom::index_t>(value);
    }
    double real(const std::string& key) const { return checkpoint_.get_double(key); }
    const std::string& text(const std::string& key) const { return checkpoint_.get(key); }

    // model.vocabulary, which must have `size` characters (model.vocabulary_size).
    loom::Vocabulary vocabulary(loom::index_t size) const {
        loom::Vocabulary vocabulary;
        try {
            vocabulary = loom::Vocabulary::from_text(checkpoint_.get("model.vocabulary"));
        } catch (const loom::Error& error) {
            fail("model.vocabulary", std::string("is not a valid vocabulary: ") + error.what());
        }
        if (vocabulary.size() != size)
            fail("model.vocabulary", "has " + std::to_string(vocabulary.size()) +
                                         " characters but model.vocabulary_size is " + std::to_string(size));
        return vocabulary;
    }

    // The tokenizer: model.tokenizer (JSON), or for char checkpoints
    // model.vocabulary; it must have `size` tokens (model.vocabulary_size).
    std::shared_ptr<const loom::Tokenizer> tokenizer(loom::index_t size) const {
        if (!checkpoint_.has("model.tokenizer"))
            return std::make_shared<loom::CharTokenizer>(vocabulary(size));
        std::shared_ptr<const loom::Tokenizer> tokenizer;
        try {
            tokenizer = loom::tokenizer_from_json(nlohmann::json::parse(checkpoint_.get("model.tokenizer")));
        } catch (const std::exception& error) {
            fail("model.tokenizer", std::string("is not a valid tokenizer: ") + error.what());
        }
        if (tokenizer->vocab_size() != size)
            fail("model.tokenizer", "has " + std::to_string(tokenizer->vocab_size()) +
                                        " tokens but model.vocabulary_size is " + std::to_string(size));
        return tokenizer;
    }

private:
    const loom::Checkpoint<T>& checkpoint_;
    std::string path_;
    std::string reader_;
};

}  // namespace examples
