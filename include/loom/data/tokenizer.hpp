// loom/data/tokenizer.hpp — the interface every tokenizer implements: text in,
// token ids out, and back.
//
//   encode("To be")  →  [ids]        a model reads these
//   decode([ids])    →  "To be"      what a user reads
//
// Three kinds ship with loom, each in its own header:
//   char  CharTokenizer   one id per Unicode character (data/char_tokenizer.hpp)
//   bpe   BpeTokenizer    byte-level byte-pair encoding (data/byte_bpe.hpp)
//   word  WordTokenizer   one id per word or punctuation mark, <unk> for rare
//                         ones (data/word_tokenizer.hpp)
//
// Generation produces one id at a time and wants to print it at once, so
// besides decode() a tokenizer can turn a single id into its text: piece(id,
// previous) with previous the id before it (or -1 at the start). Pieces are
// defined so that concatenating them gives exactly decode():
//
//   decode([a, b, c]) == piece(a, -1) + piece(b, a) + piece(c, b)
//
// The previous id is needed by the word tokenizer, which puts a space between
// two words but not before a comma. A byte-level BPE piece may be part of one
// UTF-8 character; a streaming printer gets the full character once the rest
// of its bytes arrive, since all pieces together are the decoded bytes.
//
// Every tokenizer saves itself as JSON (to_json(), save()):
//   {"format": "loom-tokenizer", "version": 1, "kind": "bpe", ...its own fields}
// data/tokenizer_file.hpp reads any of them back.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "loom/tensor/error.hpp"
#include "loom/tensor/shape.hpp"

namespace loom {

class Tokenizer {
public:
    static constexpr const char* file_format = "loom-tokenizer";
    static constexpr int file_version = 1;

    virtual ~Tokenizer() = default;

    virtual std::string kind() const = 0;         // "char", "bpe" or "word"
    virtual index_t vocab_size() const = 0;       // ids are 0 .. vocab_size() - 1
    virtual std::vector<index_t> encode(std::string_view text) const = 0;
    virtual std::string piece(index_t id, index_t previous) const = 0;
    virtual nlohmann::json to_json() const = 0;   // the format header plus the kind's own fields

    // The text of a sequence of ids: the concatenation of its pieces.
    virtual std::string decode(const std::vector<index_t>& ids) const { return decode_after(-1, ids); }

    // The text `ids` add after the token `previous` (-1: at the start), e.g.
    // what a model generated after a prompt ending in `previous`.
    std::string decode_after(index_t previous, const std::vector<index_t>& ids) const {
        std::string text;
        for (const index_t id : ids) {
            text += piece(id, previous);
            previous = id;
        }
        return text;
    }

    // Writes to_json() to `path` atomically: to "<path>.tmp", then renamed over it.
    void save(const std::string& path) const {
        const std::string temporary = path + ".tmp";
        {
            std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
            detail::check(static_cast<bool>(out), "loom::Tokenizer::save: cannot open '", temporary,
                          "' for writing");
            out << to_json().dump(1) << '\n';
            out.close();
            if (out.fail()) {
                std::error_code ignored;
                std::filesystem::remove(temporary, ignored);
                detail::fail("loom::Tokenizer::save: error while writing '", temporary, "'");
            }
        }
        std::error_code error;
        std::filesystem::rename(temporary, path, error);
        if (error) {
            std::error_code ignored;
            std::filesystem::remove(temporary, ignored);
            detail::fail("loom::Tokenizer::save: cannot rename '", temporary, "' to '", path, "': ", error.message());
        }
    }

protected:
    // The fields every tokenizer file starts with.
    nlohmann::json json_header() const {
        return {{"format", file_format}, {"version", file_version}, {"kind", kind()}};
    }

    // Throws unless 0 <= id < vocab_size(); `who` names the calling function.
    void check_id(const char* who, index_t id) const {
        if (id < 0 || id >= vocab_size())
            detail::fail(who, ": id ", id, " is out of range for a ", kind(), " tokenizer of ", vocab_size(),
                         " tokens (ids 0..", vocab_size() - 1, ")");
    }
};

namespace detail {
// The value of `key` in a tokenizer file's JSON, which must be there. `who`
// names the reading function for the error message.
inline const nlohmann::json& tokenizer_field(const nlohmann::json& json, const char* key, const char* who) {
    const auto found = json.find(key);
    if (found == json.end()) fail(who, ": the tokenizer file has no field \"", key, "\"");
    return *found;
}
}  // namespace detail

}  // namespace loom
