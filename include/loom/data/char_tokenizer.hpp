// loom/data/char_tokenizer.hpp — one token per Unicode character.
//
// The simplest tokenizer, and the one the character-level examples use: a
// Vocabulary (data/vocabulary.hpp) numbers the distinct characters of the
// training text in code-point order, and a character's id is its number.
//
//   "To be" → ['T','o',' ','b','e'] → [1, 4, 0, 2, 3]     (vocabulary " Tbeo")
//
// A piece is one character, one to four UTF-8 bytes, whatever came before it.
// A character the vocabulary does not know cannot be encoded: encode() throws,
// naming it. Its file is {"format": "loom-tokenizer", "version": 1,
// "kind": "char", "characters": "<every character once, in id order>"}.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loom/data/tokenizer.hpp"
#include "loom/data/utf8.hpp"
#include "loom/data/vocabulary.hpp"
#include "loom/tensor/error.hpp"

namespace loom {

class CharTokenizer final : public Tokenizer {
public:
    CharTokenizer() = default;
    explicit CharTokenizer(Vocabulary vocabulary) : vocabulary_(std::move(vocabulary)) {}

    // The tokenizer of every character in a (valid UTF-8) text.
    static CharTokenizer train(std::string_view text) { return CharTokenizer(Vocabulary::from_text(text)); }

    const Vocabulary& vocabulary() const { return vocabulary_; }

    std::string kind() const override { return "char"; }
    index_t vocab_size() const override { return vocabulary_.size(); }
    std::vector<index_t> encode(std::string_view text) const override { return vocabulary_.encode(text); }
    std::string decode(const std::vector<index_t>& ids) const override { return vocabulary_.decode(ids); }

    std::string piece(index_t id, index_t /*previous: a character's text does not depend on it*/) const override {
        check_id("loom::CharTokenizer::piece", id);
        return vocabulary_.decode(id);
    }

    nlohmann::json to_json() const override {
        nlohmann::json json = json_header();
        json["characters"] = vocabulary_.text();
        return json;
    }

    // The tokenizer of a to_json() document whose kind is "char".
    static CharTokenizer from_json(const nlohmann::json& json) {
        const char* const who = "loom::CharTokenizer::from_json";
        const nlohmann::json& characters = detail::tokenizer_field(json, "characters", who);
        if (!characters.is_string()) detail::fail(who, ": \"characters\" must be a string, got ", characters.type_name());
        const std::string text = characters.get<std::string>();
        Vocabulary vocabulary = Vocabulary::from_text(text);
        // from_text sorts and removes repeats; a file that needed either was not written by to_json().
        if (vocabulary.text() != text)
            detail::fail(who, ": \"characters\" must list each character once in code-point order");
        return CharTokenizer(std::move(vocabulary));
    }

private:
    Vocabulary vocabulary_;
};

}  // namespace loom
