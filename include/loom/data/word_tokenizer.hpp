// loom/data/word_tokenizer.hpp — one token per word, <unk> for rare words.
//
// Splitting. A word is a maximal run of word characters: ASCII letters and
// digits, any non-ASCII character (loom carries no Unicode tables, so "été" and
// "東京" are words), and an apostrophe between two of them ("don't", "o'er").
// Every other visible character is a token of its own (",", "!", "-"). A line
// break is a token too, so generated text keeps its lines; other white space
// only separates tokens and is dropped:
//
//   "Stay, don't go!\n"  →  ["Stay", ",", "don't", "go", "!", "\n"]
//
// Vocabulary. train() counts the tokens of a text and keeps those seen at least
// min_count times, most frequent first (ties in byte order), at most max_vocab
// ids in all if max_vocab > 0. Id 0 is "<unk>", which every other token encodes
// to; its count is the number of occurrences that were dropped. Frequency order
// puts the common words at small ids, which is what word2vec's negative
// sampling and a softmax over words expect.
//
// Decoding puts the white space back by rule, since the tokens do not keep it:
// a space between two tokens, except after a line break or an opening bracket
// and before a line break or a closing mark (, . ; : ! ? ' ) ] }). It gives
// readable text, not the original bytes: this tokenizer is lossy by design, and
// lowercase=true (ASCII letters only) loses case as well.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "loom/data/tokenizer.hpp"
#include "loom/data/utf8.hpp"
#include "loom/tensor/error.hpp"

namespace loom {

struct WordTokenizerOptions {
    std::int64_t min_count = 2;   // words seen fewer times become <unk>
    index_t max_vocab = 0;        // at most this many ids, <unk> included; 0 = no limit
    bool lowercase = false;       // fold ASCII A-Z to a-z before counting and encoding
};

namespace detail {
inline bool is_word_byte(unsigned char byte) {
    return (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') || (byte >= '0' && byte <= '9') ||
           byte >= 0x80;  // a byte of a multi-byte UTF-8 character
}
inline bool is_space_byte(unsigned char byte) {
    return byte == ' ' || byte == '\t' || byte == '\r' || byte == '\v' || byte == '\f';
}
}  // namespace detail

class WordTokenizer final : public Tokenizer {
public:
    static constexpr index_t unknown_id() { return 0; }
    static constexpr const char* unknown_word = "<unk>";

    // The tokens of a text, in order (the splitting rule above).
    static std::vector<std::string> split(std::string_view text, bool lowercase = false) {
        std::vector<std::string> tokens;
        std::size_t at = 0;
        while (at < text.size()) {
            const auto byte = static_cast<unsigned char>(text[at]);
            if (detail::is_space_byte(byte)) {
                ++at;
            } else if (detail::is_word_byte(byte)) {
                const std::size_t end = word_end(text, at);
                tokens.emplace_back(text.substr(at, end - at));
                at = end;
            } else {
                tokens.emplace_back(1, text[at]);
                ++at;
            }
        }
        if (lowercase)
            for (std::string& token : tokens)
                for (char& c : token)
                    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        return tokens;
    }

    static WordTokenizer train(std::string_view text, const WordTokenizerOptions& options = {}) {
        check_options(options);
        utf8_decode(text);  // throws, naming the byte, unless the text is valid UTF-8
        std::unordered_map<std::string, std::int64_t> counts;
        for (std::string& token : split(text, options.lowercase)) ++counts[std::move(token)];

        std::vector<std::pair<std::string, std::int64_t>> ranked(counts.begin(), counts.end());
        std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
            return a.second != b.second ? a.second > b.second : a.first < b.first;
        });
        WordTokenizer tokenizer;
        tokenizer.options_ = options;
        std::int64_t dropped = 0;
        for (auto& [word, count] : ranked) {
            const bool room = options.max_vocab == 0 || tokenizer.vocab_size() < options.max_vocab;
            if (count >= options.min_count && room && word != unknown_word)
                tokenizer.add(std::move(word), count);
            else
                dropped += count;
        }
        tokenizer.counts_[0] = dropped;
        return tokenizer;
    }

    std::string kind() const override { return "word"; }
    index_t vocab_size() const override { return static_cast<index_t>(words_.size()); }
    const WordTokenizerOptions& options() const { return options_; }

    // The id of a word, or unknown_id() if it is not in the vocabulary.
    index_t id_of(const std::string& word) const {
        const auto found = ids_.find(word);
        return found == ids_.end() ? unknown_id() : found->second;
    }
    bool contains(const std::string& word) const { return ids_.count(word) > 0; }

    const std::string& word(index_t id) const {
        check_id("loom::WordTokenizer::word", id);
        return words_[static_cast<std::size_t>(id)];
    }
    // How often the word occurred in the training text (for <unk>: all dropped occurrences).
    std::int64_t count(index_t id) const {
        check_id("loom::WordTokenizer::count", id);
        return counts_[static_cast<std::size_t>(id)];
    }

    std::vector<index_t> encode(std::string_view text) const override {
        std::vector<index_t> ids;
        for (const std::string& token : split(text, options_.lowercase)) ids.push_back(id_of(token));
        return ids;
    }

    std::string piece(index_t id, index_t previous) const override {
        check_id("loom::WordTokenizer::piece", id);
        if (previous >= 0) check_id("loom::WordTokenizer::piece (previous id)", previous);
        const std::string& text = words_[static_cast<std::size_t>(id)];
        if (previous < 0 || !space_between(words_[static_cast<std::size_t>(previous)], text)) return text;
        return " " + text;
    }

    nlohmann::json to_json() const override {
        nlohmann::json json = json_header();
        json["words"] = words_;
        json["counts"] = counts_;
        json["options"] = {{"min_count", options_.min_count}, {"max_vocab", options_.max_vocab},
                           {"lowercase", options_.lowercase}};
        return json;
    }

    static WordTokenizer from_json(const nlohmann::json& json) {
        const char* const who = "loom::WordTokenizer::from_json";
        const nlohmann::json& words = detail::tokenizer_field(json, "words", who);
        const nlohmann::json& counts = detail::tokenizer_field(json, "counts", who);
        const nlohmann::json& options = detail::tokenizer_field(json, "options", who);
        if (!words.is_array() || !counts.is_array() || words.size() != counts.size() || words.empty())
            detail::fail(who, ": \"words\" and \"counts\" must be arrays of the same, non-zero length");
        if (words[0] != unknown_word) detail::fail(who, ": the first word must be \"", unknown_word, "\"");
        WordTokenizer tokenizer;
        try {
            tokenizer.options_.min_count = options.at("min_count").get<std::int64_t>();
            tokenizer.options_.max_vocab = options.at("max_vocab").get<index_t>();
            tokenizer.options_.lowercase = options.at("lowercase").get<bool>();
            tokenizer.counts_[0] = counts[0].get<std::int64_t>();
            for (std::size_t i = 1; i < words.size(); ++i) {
                const std::string word = words[i].get<std::string>();
                if (tokenizer.contains(word) || word == unknown_word)
                    detail::fail(who, ": word \"", word, "\" is listed twice");
                const auto count = counts[i].get<std::int64_t>();
                if (count < 0) detail::fail(who, ": word \"", word, "\" has a negative count ", count);
                tokenizer.add(word, count);
            }
        } catch (const nlohmann::json::exception& error) {
            detail::fail(who, ": malformed \"options\", \"words\" or \"counts\": ", error.what());
        }
        check_options(tokenizer.options_);
        return tokenizer;
    }

private:
    WordTokenizer() : words_{unknown_word}, counts_{0} {}

    void add(std::string word, std::int64_t count) {
        ids_.emplace(word, vocab_size());
        words_.push_back(std::move(word));
        counts_.push_back(count);
    }

    static void check_options(const WordTokenizerOptions& options) {
        if (options.min_count < 1)
            detail::fail("loom::WordTokenizer: min_count must be at least 1, got ", options.min_count);
        if (options.max_vocab < 0 || options.max_vocab == 1)
            detail::fail("loom::WordTokenizer: max_vocab must be 0 (no limit) or at least 2 (<unk> and one word), got ",
                         options.max_vocab);
    }

    // Where the word starting at `at` ends: word bytes, and apostrophes inside.
    static std::size_t word_end(std::string_view text, std::size_t at) {
        std::size_t end = at;
        while (end < text.size()) {
            if (detail::is_word_byte(static_cast<unsigned char>(text[end]))) {
                ++end;
            } else if (text[end] == '\'' && end + 1 < text.size() &&
                       detail::is_word_byte(static_cast<unsigned char>(text[end + 1]))) {
                end += 2;
            } else {
                break;
            }
        }
        return end;
    }

    static bool space_between(const std::string& left, const std::string& right) {
        if (left == "\n" || right == "\n") return false;
        if (left == "(" || left == "[" || left == "{") return false;
        static constexpr std::string_view closing = ",.;:!?')]}";
        return !(right.size() == 1 && closing.find(right[0]) != std::string_view::npos);
    }

    std::vector<std::string> words_;
    std::vector<std::int64_t> counts_;
    std::unordered_map<std::string, index_t> ids_;
    WordTokenizerOptions options_;
};

}  // namespace loom
