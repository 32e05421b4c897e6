// loom/data/tokenizer_file.hpp — any tokenizer from its file or its name.
//
//   load_tokenizer("out/tokenizer.json")   reads a file Tokenizer::save() wrote
//   tokenizer_from_json(json)              the same from a parsed document
//                                          (checkpoints keep it in their metadata)
//   train_tokenizer("bpe", text, 1024)     learns a tokenizer of a kind by name
//
// A tokenizer file is checked before it is trusted: the "format" and "version"
// fields, a known "kind", then the kind's own fields (each from_json() checks
// its part). Every error names the function, and the file when there is one.
#pragma once

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "loom/data/byte_bpe.hpp"
#include "loom/data/char_tokenizer.hpp"
#include "loom/data/tokenizer.hpp"
#include "loom/data/word_tokenizer.hpp"
#include "loom/tensor/error.hpp"

namespace loom {

inline std::shared_ptr<const Tokenizer> tokenizer_from_json(const nlohmann::json& json) {
    const char* const who = "loom::tokenizer_from_json";
    if (!json.is_object()) detail::fail(who, ": a tokenizer file holds a JSON object, got ", json.type_name());
    const nlohmann::json& format = detail::tokenizer_field(json, "format", who);
    if (format != Tokenizer::file_format)
        detail::fail(who, ": not a loom tokenizer: \"format\" is ", format.dump(), ", expected \"",
                     Tokenizer::file_format, "\"");
    const nlohmann::json& version = detail::tokenizer_field(json, "version", who);
    if (version != Tokenizer::file_version)
        detail::fail(who, ": unsupported tokenizer file version ", version.dump(), ", this loom reads version ",
                     Tokenizer::file_version);
    const nlohmann::json& kind = detail::tokenizer_field(json, "kind", who);
    if (kind == "char") return std::make_shared<CharTokenizer>(CharTokenizer::from_json(json));
    if (kind == "bpe") return std::make_shared<BpeTokenizer>(BpeTokenizer::from_json(json));
    if (kind == "word") return std::make_shared<WordTokenizer>(WordTokenizer::from_json(json));
    detail::fail(who, ": unknown tokenizer kind ", kind.dump(), " (loom has \"char\", \"bpe\" and \"word\")");
}

inline std::shared_ptr<const Tokenizer> load_tokenizer(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    detail::check(static_cast<bool>(in), "loom::load_tokenizer: cannot open '", path, "' for reading");
    std::ostringstream contents;
    contents << in.rdbuf();
    nlohmann::json json;
    try {
        json = nlohmann::json::parse(contents.str());
    } catch (const nlohmann::json::parse_error& error) {
        detail::fail("loom::load_tokenizer: '", path, "' is not valid JSON: ", error.what());
    }
    try {
        return tokenizer_from_json(json);
    } catch (const Error& error) {
        detail::fail("loom::load_tokenizer: '", path, "': ", error.what());
    }
}

// Learns a tokenizer of `kind` ("char", "bpe" or "word") from a text.
// bpe_vocab_size is used by "bpe" only, word_options by "word" only.
inline std::shared_ptr<const Tokenizer> train_tokenizer(std::string_view kind, std::string_view text,
                                                        index_t bpe_vocab_size = 1024,
                                                        const WordTokenizerOptions& word_options = {}) {
    detail::check(!text.empty(), "loom::train_tokenizer: the text is empty");
    if (kind == "char") return std::make_shared<CharTokenizer>(CharTokenizer::train(text));
    if (kind == "bpe") return std::make_shared<BpeTokenizer>(BpeTokenizer::train(text, bpe_vocab_size));
    if (kind == "word") return std::make_shared<WordTokenizer>(WordTokenizer::train(text, word_options));
    detail::fail("loom::train_tokenizer: unknown tokenizer kind '", kind, "' (loom has char, bpe and word)");
}

}  // namespace loom
