#include "test_util.hpp"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "loom/data/byte_bpe.hpp"
#include "loom/data/char_tokenizer.hpp"
#include "loom/data/text_dataset.hpp"
#include "loom/data/tokenizer.hpp"
#include "loom/data/tokenizer_file.hpp"
#include "loom/data/word_tokenizer.hpp"

namespace data_tokenizers_test {  // named, not anonymous: the test files are compiled together in unity batches

using loom::index_t;
using loom_test::contains;
using loom_test::error_message;
using Merges = std::vector<std::pair<index_t, index_t>>;
using Ids = std::vector<index_t>;

// Punctuation, a line break and non-ASCII characters (2- and 3-byte UTF-8).
const std::string mixed_text = "caf\xC3\xA9, \xE6\x9D\xB1\xE4\xBA\xAC!\n";  // "café, 東京!\n"

using loom_test::TempDir;
using loom_test::write_text_file;

// The first `bytes` bytes of tinyshakespeare after skipping `skip` bytes (the file is ASCII).
std::string shakespeare(std::size_t skip, std::size_t bytes) {
    const std::string text = loom::read_file_bytes(LOOM_DATA_DIR "/tinyshakespeare.txt");
    REQUIRE(text.size() >= skip + bytes);
    return text.substr(skip, bytes);
}

std::vector<std::string> chunks_of(std::string_view text) {
    std::vector<std::string> chunks;
    for (const std::string_view chunk : loom::BpeTokenizer::split_chunks(text)) chunks.emplace_back(chunk);
    return chunks;
}

// decode(ids) must equal the concatenation of piece(id_i, id_{i-1}), with -1
// before the first id; decode_after(ids[k-1], ids[k..]) is the rest after k ids.
void check_piece_contract(const loom::Tokenizer& tokenizer, const Ids& ids) {
    std::string pieces;
    std::vector<std::string> after_each;  // the concatenation after the first k pieces
    index_t previous = -1;
    for (const index_t id : ids) {
        after_each.push_back(pieces);
        pieces += tokenizer.piece(id, previous);
        previous = id;
    }
    CHECK(pieces == tokenizer.decode(ids));
    for (std::size_t k = 1; k < ids.size(); ++k) {
        const Ids rest(ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end());
        CHECK(after_each[k] + tokenizer.decode_after(ids[k - 1], rest) == pieces);
    }
}

// ---------------------------------------------------------------------------
// An independent, naive BPE: the same rules written the slow, obvious way.

Ids bytes_of(std::string_view chunk) {
    Ids tokens;
    for (const char byte : chunk) tokens.push_back(static_cast<unsigned char>(byte));
    return tokens;
}

// Every (left, right) in `tokens`, left to right and without overlap, becomes `merged`.
Ids naive_merge(const Ids& tokens, std::pair<index_t, index_t> pair, index_t merged) {
    Ids out;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        if (i + 1 < tokens.size() && tokens[i] == pair.first && tokens[i + 1] == pair.second) {
            out.push_back(merged);
            ++i;
        } else {
            out.push_back(tokens[i]);
        }
    }
    return out;
}

// Training that recounts every pair of every chunk from scratch at each step.
Merges naive_train(std::string_view text, index_t vocab_size) {
    std::map<std::string, std::int64_t> chunk_counts;
    for (const std::string_view chunk : loom::BpeTokenizer::split_chunks(text)) ++chunk_counts[std::string(chunk)];
    std::vector<std::pair<Ids, std::int64_t>> words;
    for (const auto& [chunk, count] : chunk_counts) words.emplace_back(bytes_of(chunk), count);
    Merges merges;
    while (256 + static_cast<index_t>(merges.size()) < vocab_size) {
        std::map<std::pair<index_t, index_t>, std::int64_t> pair_counts;  // ordered: ties go to the smaller pair
        for (const auto& [tokens, count] : words)
            for (std::size_t i = 0; i + 1 < tokens.size(); ++i) pair_counts[{tokens[i], tokens[i + 1]}] += count;
        std::pair<index_t, index_t> best{-1, -1};
        std::int64_t best_count = 0;
        for (const auto& [pair, count] : pair_counts)
            if (count > best_count) {
                best = pair;
                best_count = count;
            }
        if (best_count < 2) break;
        const index_t merged = 256 + static_cast<index_t>(merges.size());
        for (auto& word : words) word.first = naive_merge(word.first, best, merged);
        merges.push_back(best);
    }
    return merges;
}

// Encoding that applies every merge, in order, to every chunk.
Ids naive_encode(const Merges& merges, std::string_view text) {
    Ids ids;
    for (const std::string_view chunk : loom::BpeTokenizer::split_chunks(text)) {
        Ids tokens = bytes_of(chunk);
        for (std::size_t i = 0; i < merges.size(); ++i)
            tokens = naive_merge(tokens, merges[i], 256 + static_cast<index_t>(i));
        ids.insert(ids.end(), tokens.begin(), tokens.end());
    }
    return ids;
}

// ---------------------------------------------------------------------------
// The piece contract, for every kind

TEST_CASE("tokenizers: decode is the concatenation of the pieces, for every kind", "[data][tokenizer]") {
    SECTION("char") {
        const loom::CharTokenizer tokenizer = loom::CharTokenizer::train(mixed_text);
        // Characters in code-point order: \n ' ' ! , a c f é 京(U+4EAC) 東(U+6771).
        const Ids ids = tokenizer.encode(mixed_text);
        CHECK(ids == Ids{5, 4, 6, 7, 3, 1, 9, 8, 2, 0});
        CHECK(tokenizer.decode(ids) == mixed_text);
        check_piece_contract(tokenizer, ids);
        CHECK(tokenizer.piece(7, -1) == "\xC3\xA9");
        CHECK(tokenizer.piece(9, 3) == "\xE6\x9D\xB1");
    }
    SECTION("bpe") {
        const loom::BpeTokenizer tokenizer = loom::BpeTokenizer::train(mixed_text + mixed_text + mixed_text, 300);
        const Ids ids = tokenizer.encode(mixed_text);
        CHECK(ids.size() < mixed_text.size());
        CHECK(tokenizer.decode(ids) == mixed_text);
        check_piece_contract(tokenizer, ids);
        const Ids two_texts = tokenizer.encode(mixed_text + "\xC3\xA9t\xC3\xA9 " + mixed_text);
        check_piece_contract(tokenizer, two_texts);
    }
    SECTION("bpe: a piece can be part of one UTF-8 character") {
        const loom::BpeTokenizer bytes_only;  // no merges
        const Ids ids = bytes_only.encode(mixed_text);
        REQUIRE(ids.size() == mixed_text.size());
        CHECK(Ids(ids.begin(), ids.begin() + 5) == Ids{'c', 'a', 'f', 0xC3, 0xA9});
        CHECK(bytes_only.piece(0xC3, 'f') == "\xC3");  // half of "é"
        CHECK(bytes_only.piece(0xA9, 0xC3) == "\xA9");
        check_piece_contract(bytes_only, ids);
        CHECK(bytes_only.decode(ids) == mixed_text);
    }
    SECTION("word") {
        const loom::WordTokenizer tokenizer = loom::WordTokenizer::train(mixed_text, {1, 0, false});
        // All counts are 1, so byte order: <unk> \n ! , café 東京.
        const Ids ids = tokenizer.encode(mixed_text);
        CHECK(ids == Ids{4, 3, 5, 2, 1});
        CHECK(tokenizer.piece(4, -1) == "caf\xC3\xA9");
        CHECK(tokenizer.piece(3, 4) == ",");
        CHECK(tokenizer.piece(5, 3) == " \xE6\x9D\xB1\xE4\xBA\xAC");
        CHECK(tokenizer.piece(2, 5) == "!");
        CHECK(tokenizer.piece(1, 2) == "\n");
        CHECK(tokenizer.decode(ids) == mixed_text);
        check_piece_contract(tokenizer, ids);
        check_piece_contract(tokenizer, Ids{0, 4, 4, 1, 5, 0, 3});
    }
}

// ---------------------------------------------------------------------------
// char

TEST_CASE("CharTokenizer: ids are the vocabulary's", "[data][tokenizer][char]") {
    const loom::CharTokenizer tokenizer = loom::CharTokenizer::train("To be");
    CHECK(tokenizer.kind() == "char");
    CHECK(tokenizer.vocab_size() == 5);
    CHECK(tokenizer.encode("To be") == Ids{1, 4, 0, 2, 3});  // vocabulary " Tbeo"
    CHECK(tokenizer.encode("bee") == Ids{2, 3, 3});
    CHECK(tokenizer.decode({4, 2, 3}) == "obe");
    CHECK(tokenizer.encode("To be") == tokenizer.vocabulary().encode("To be"));
    CHECK(tokenizer.encode("") == Ids{});
}

TEST_CASE("CharTokenizer rejects unknown characters and ids", "[data][tokenizer][char]") {
    const loom::CharTokenizer tokenizer = loom::CharTokenizer::train("To be");
    REQUIRE_THROWS_AS(tokenizer.encode("To bex"), loom::Error);
    const std::string message = error_message([&] { tokenizer.encode("To bex"); });
    CHECK(contains(message, "U+0078 'x'"));
    CHECK(contains(message, "position 5"));
    CHECK(contains(error_message([&] { tokenizer.encode("be\xC3\xA9"); }), "U+00E9 '\xC3\xA9' at character position 2"));
    const std::string piece_message = error_message([&] { tokenizer.piece(5, -1); });
    CHECK(contains(piece_message, "loom::CharTokenizer::piece"));
    CHECK(contains(piece_message, "id 5 is out of range"));
    CHECK(contains(error_message([&] { tokenizer.piece(-1, -1); }), "id -1 is out of range"));
}

TEST_CASE("CharTokenizer JSON round trip and from_json checks", "[data][tokenizer][char]") {
    const loom::CharTokenizer tokenizer = loom::CharTokenizer::train(mixed_text);
    const nlohmann::json json = tokenizer.to_json();
    CHECK(json["format"] == "loom-tokenizer");
    CHECK(json["version"] == 1);
    CHECK(json["kind"] == "char");
    CHECK(json["characters"] == "\n !,acf\xC3\xA9\xE4\xBA\xAC\xE6\x9D\xB1");
    CHECK(json.size() == 4);

    const loom::CharTokenizer back = loom::CharTokenizer::from_json(nlohmann::json::parse(json.dump()));
    CHECK(back.vocabulary() == tokenizer.vocabulary());
    CHECK(back.encode(mixed_text) == tokenizer.encode(mixed_text));

    const std::string who = "loom::CharTokenizer::from_json";
    const auto rejects = [&](const nlohmann::json& document, const std::string& detail) {
        INFO(document.dump());
        const std::string message = error_message([&] { loom::CharTokenizer::from_json(document); });
        INFO(message);
        CHECK(contains(message, who));
        CHECK(contains(message, detail));
    };
    nlohmann::json unsorted = json;
    unsorted["characters"] = "ba";
    rejects(unsorted, "each character once in code-point order");
    nlohmann::json repeated = json;
    repeated["characters"] = "aab";
    rejects(repeated, "each character once in code-point order");
    nlohmann::json number = json;
    number["characters"] = 5;
    rejects(number, "\"characters\" must be a string");
    nlohmann::json missing = json;
    missing.erase("characters");
    rejects(missing, "no field \"characters\"");
}

// ---------------------------------------------------------------------------
// bpe: chunks

TEST_CASE("BpeTokenizer::split_chunks follows the chunk rule", "[data][tokenizer][bpe]") {
    using V = std::vector<std::string>;
    CHECK(chunks_of("To be,  or\n") == V{"To", " be", ",", " ", " or", "\n"});  // the header's example
    CHECK(chunks_of("") == V{});
    CHECK(chunks_of("abc123 456") == V{"abc", "123", " 456"});
    CHECK(chunks_of("x ...!") == V{"x", " ...!"});
    CHECK(chunks_of("  ,") == V{" ", " ,"});
    CHECK(chunks_of("a  \n\tb") == V{"a", "  ", "\n\t", "b"});
    CHECK(chunks_of("end \n") == V{"end", " ", "\n"});
    CHECK(chunks_of("hello ") == V{"hello", " "});
    CHECK(chunks_of("line\r\n\r\nnext") == V{"line", "\r\n\r\n", "next"});
    CHECK(chunks_of("   ") == V{"   "});
    CHECK(chunks_of("don't") == V{"don", "'", "t"});
    CHECK(chunks_of(mixed_text) == V{"caf\xC3\xA9", ",", " \xE6\x9D\xB1\xE4\xBA\xAC", "!", "\n"});
    // Bytes >= 0x80 are letters, even when they are not valid UTF-8.
    CHECK(chunks_of("a\xFF\x80 \xC3") == V{"a\xFF\x80", " \xC3"});
    CHECK(chunks_of(std::string("a\0b", 3)) == V{"a", std::string(1, '\0'), "b"});
}

TEST_CASE("BpeTokenizer::split_chunks cuts runs longer than 256 bytes", "[data][tokenizer][bpe]") {
    const auto sizes = [](const std::string& text) {
        std::vector<std::size_t> result;
        std::string joined;
        for (const std::string_view chunk : loom::BpeTokenizer::split_chunks(text)) {
            result.push_back(chunk.size());
            joined += chunk;
        }
        CHECK(joined == text);
        return result;
    };
    using S = std::vector<std::size_t>;
    CHECK(loom::BpeTokenizer::max_chunk_bytes == 256);
    CHECK(sizes(std::string(256, 'a')) == S{256});
    CHECK(sizes(std::string(300, 'a')) == S{256, 44});
    CHECK(sizes(std::string(600, '.')) == S{256, 256, 88});
    CHECK(sizes(" " + std::string(300, 'a')) == S{256, 45});     // the space counts in the first chunk
    CHECK(sizes(std::string(300, ' ') + "a") == S{256, 43, 2});  // ..., " a"
    CHECK(sizes(std::string(300, ' ')) == S{256, 44});
    CHECK(sizes(std::string(257, '7') + "x") == S{256, 1, 1});
    CHECK(chunks_of(std::string(300, 'a') + " b") == std::vector<std::string>{std::string(256, 'a'), std::string(44, 'a'), " b"});
}

// ---------------------------------------------------------------------------
// bpe: training

TEST_CASE("BpeTokenizer::train learns the merges worked out by hand", "[data][tokenizer][bpe]") {
    SECTION("low low lower lowest") {
        // Chunks "low", " low", " lower", " lowest", once each.
        //   (l,o) 4 and (o,w) 4 tie: the smaller pair (108,111) wins → 256 "lo"
        //   (256,w) 4                                               → 257 "low"
        //   (' ',257) 3                                             → 258 " low"
        //   (258,e) 2                                               → 259 " lowe"
        // then every pair occurs once: training stops at 260 tokens.
        const loom::BpeTokenizer tokenizer = loom::BpeTokenizer::train("low low lower lowest", 1000);
        CHECK(tokenizer.merges() == Merges{{108, 111}, {256, 119}, {32, 257}, {258, 101}});
        CHECK(tokenizer.vocab_size() == 260);
        CHECK(tokenizer.token_bytes(256) == "lo");
        CHECK(tokenizer.token_bytes(257) == "low");
        CHECK(tokenizer.token_bytes(258) == " low");
        CHECK(tokenizer.token_bytes(259) == " lowe");
        CHECK(tokenizer.token_bytes(108) == "l");
        CHECK(tokenizer.encode("lowest low") == Ids{257, 101, 115, 116, 258});
        CHECK(tokenizer.encode(" lower") == Ids{259, 114});
        CHECK(tokenizer.encode("slow") == Ids{115, 257});

        const loom::BpeTokenizer two = loom::BpeTokenizer::train("low low lower lowest", 258);
        CHECK(two.merges() == Merges{{108, 111}, {256, 119}});
        CHECK(two.vocab_size() == 258);
        CHECK(two.encode(" lower") == Ids{32, 257, 101, 114});
    }
    SECTION("ties go to the smaller (left, right), not to the first seen") {
        const loom::BpeTokenizer tokenizer = loom::BpeTokenizer::train("cdcd abab", 1000);
        CHECK(tokenizer.merges() == Merges{{97, 98}, {99, 100}});
        const loom::BpeTokenizer reversed = loom::BpeTokenizer::train("abab cdcd", 1000);
        CHECK(reversed.merges() == Merges{{97, 98}, {99, 100}});
    }
    SECTION("overlapping pairs merge left to right without overlap") {
        // "aaaa", " aaaa": (a,a) 6 → 256; [256,256], [' ',256,256]: (256,256) 2 → 257.
        const loom::BpeTokenizer tokenizer = loom::BpeTokenizer::train("aaaa aaaa", 1000);
        CHECK(tokenizer.merges() == Merges{{97, 97}, {256, 256}});
        CHECK(tokenizer.encode("aaaa") == Ids{257});
        CHECK(tokenizer.encode("aaa") == Ids{256, 97});
        CHECK(tokenizer.encode("aaaaaaa") == Ids{257, 256, 97});
        // A pair is counted at every position, overlapping ones included: "aaa" has (a,a) twice.
        CHECK(loom::BpeTokenizer::train("aaa", 1000).merges() == Merges{{97, 97}});
        CHECK(loom::BpeTokenizer::train("aa", 1000).merges() == Merges{});
    }
    SECTION("merges never cross a chunk boundary") {
        // "b " occurs twice in the text, but never inside one chunk ("ab", " ab", " ab"): it is never a pair.
        const loom::BpeTokenizer tokenizer = loom::BpeTokenizer::train("ab ab ab", 1000);
        CHECK(tokenizer.merges() == Merges{{97, 98}, {32, 256}});
    }
    SECTION("vocab_size 256 learns nothing; below 256 is an error") {
        const loom::BpeTokenizer tokenizer = loom::BpeTokenizer::train("aaaa aaaa", 256);
        CHECK(tokenizer.merges().empty());
        CHECK(tokenizer.encode("ab") == Ids{97, 98});
        const std::string message = error_message([] { loom::BpeTokenizer::train("aaaa", 255); });
        CHECK(contains(message, "loom::BpeTokenizer::train"));
        CHECK(contains(message, "at least 256"));
        CHECK(contains(message, "got 255"));
    }
}

TEST_CASE("BpeTokenizer matches a naive re-implementation on Shakespeare", "[data][tokenizer][bpe]") {
    const std::string train_text = shakespeare(0, 6000);
    const std::string other_text = shakespeare(500000, 3000);
    const index_t vocab_size = 420;
    const loom::BpeTokenizer tokenizer = loom::BpeTokenizer::train(train_text, vocab_size);
    const Merges naive = naive_train(train_text, vocab_size);
    REQUIRE(naive.size() > 100);
    CHECK(tokenizer.merges() == naive);
    CHECK(loom::BpeTrainer(train_text).run(vocab_size) == naive);

    // Encoding by lowest merge index reproduces training's own segmentation...
    const Ids ids = tokenizer.encode(train_text);
    CHECK(ids == naive_encode(tokenizer.merges(), train_text));
    CHECK(ids.size() * 2 < train_text.size());
    CHECK(tokenizer.decode(ids) == train_text);
    // ...and the merges applied in order to any other text.
    const Ids other = tokenizer.encode(other_text);
    CHECK(other == naive_encode(tokenizer.merges(), other_text));
    CHECK(tokenizer.decode(other) == other_text);
    check_piece_contract(tokenizer, other);
}

TEST_CASE("BpeTokenizer round-trips arbitrary bytes", "[data][tokenizer][bpe]") {
    std::mt19937 random(20240607);
    std::uniform_int_distribution<int> byte(0, 255);
    std::string noise;
    for (int i = 0; i < 4000; ++i) noise += static_cast<char>(byte(random));
    // Invalid UTF-8 on purpose: a stray continuation byte, a cut sequence, a surrogate, 0xFF, NUL bytes.
    const std::string nasty = std::string("\0a\0\0b", 5) + "\x80" + "caf\xC3" + " \xED\xA0\x80 \xFF\xFE\n" +
                              std::string(3, '\0') + mixed_text;

    const loom::BpeTokenizer on_text = loom::BpeTokenizer::train(shakespeare(0, 4000), 350);
    const loom::BpeTokenizer on_noise = loom::BpeTokenizer::train(noise + noise, 400);
    REQUIRE(on_noise.vocab_size() == 400);
    for (const loom::BpeTokenizer* tokenizer : {&on_text, &on_noise}) {
        for (const std::string& text : {noise, nasty, std::string(1, '\0'), std::string()}) {
            const Ids ids = tokenizer->encode(text);
            CHECK(tokenizer->decode(ids) == text);
            check_piece_contract(*tokenizer, ids);
            for (const index_t id : ids) CHECK((id >= 0 && id < tokenizer->vocab_size()));
        }
    }
    CHECK(on_noise.encode(noise + noise) == naive_encode(on_noise.merges(), noise + noise));
    CHECK(on_noise.encode(std::string(1, '\0')) == Ids{0});
}

// ---------------------------------------------------------------------------
// bpe: from_merges, JSON, files

TEST_CASE("BpeTokenizer::from_merges checks the merges", "[data][tokenizer][bpe]") {
    const loom::BpeTokenizer tokenizer = loom::BpeTokenizer::from_merges({{97, 98}, {256, 99}});
    CHECK(tokenizer.vocab_size() == 258);
    CHECK(tokenizer.token_bytes(257) == "abc");
    CHECK(tokenizer.encode("abcab") == Ids{257, 256});

    const std::string undefined = error_message([] { loom::BpeTokenizer::from_merges({{97, 98}, {97, 257}}); });
    CHECK(contains(undefined, "loom::BpeTokenizer"));
    CHECK(contains(undefined, "merge 1 is (97, 257)"));
    CHECK(contains(undefined, "0..256"));
    CHECK(contains(error_message([] { loom::BpeTokenizer::from_merges({{256, 97}}); }), "merge 0 is (256, 97)"));
    CHECK(contains(error_message([] { loom::BpeTokenizer::from_merges({{-1, 97}}); }), "merge 0 is (-1, 97)"));
    CHECK(contains(error_message([] { loom::BpeTokenizer::from_merges({{97, 98}, {99, 100}, {97, 98}}); }),
                   "the same pair twice"));

    const std::string range = error_message([&] { tokenizer.token_bytes(258); });
    CHECK(contains(range, "loom::BpeTokenizer::token_bytes"));
    CHECK(contains(range, "id 258 is out of range"));
    CHECK(contains(error_message([&] { tokenizer.decode({97, 300}); }), "id 300 is out of range"));
}

TEST_CASE("BpeTokenizer JSON: round trip and from_json checks", "[data][tokenizer][bpe]") {
    const loom::BpeTokenizer tokenizer = loom::BpeTokenizer::train("low low lower lowest", 1000);
    const nlohmann::json json = tokenizer.to_json();
    CHECK(json["format"] == "loom-tokenizer");
    CHECK(json["version"] == 1);
    CHECK(json["kind"] == "bpe");
    CHECK(json["merges"] == nlohmann::json::parse("[[108, 111], [256, 119], [32, 257], [258, 101]]"));
    CHECK(json.size() == 4);
    CHECK(loom::BpeTokenizer::from_json(json).merges() == tokenizer.merges());
    CHECK(loom::BpeTokenizer().to_json()["merges"] == nlohmann::json::array());

    const auto rejects = [](const std::string& merges, const std::string& detail) {
        const nlohmann::json document = nlohmann::json::parse(
            R"({"format": "loom-tokenizer", "version": 1, "kind": "bpe", "merges": )" + merges + "}");
        const std::string message = error_message([&] { loom::BpeTokenizer::from_json(document); });
        INFO(merges << " → " << message);
        CHECK(contains(message, "loom::BpeTokenizer"));
        CHECK(contains(message, detail));
    };
    rejects("5", "\"merges\" must be an array, got number");
    rejects(R"({"a": 1})", "\"merges\" must be an array, got object");
    rejects(R"([[97, 98], [1, "x"]])", "merge 1 must be a pair of integer ids");
    rejects("[[97.5, 98]]", "merge 0 must be a pair of integer ids");
    rejects("[[97, 98, 99]]", "merge 0 must be a pair of integer ids");
    rejects("[97]", "merge 0 must be a pair of integer ids");
    rejects("[[97, 300]]", "merge 0 is (97, 300)");
    rejects("[[97, 98], [97, 98]]", "the same pair twice");
    rejects("[[18446744073709551615, 98]]", "merge 0 must be a pair of integer ids");  // would wrap to -1
    rejects("[[4294967296, 98]]", "merge 0 must be a pair of integer ids");
    const std::string missing = error_message([] { loom::BpeTokenizer::from_json(nlohmann::json::object()); });
    CHECK(contains(missing, "loom::BpeTokenizer::from_json: the tokenizer file has no field \"merges\""));
}

TEST_CASE("BpeTokenizer: to_json, save, load_tokenizer give the same encoding", "[data][tokenizer][bpe]") {
    const std::string text = shakespeare(0, 5000);
    const loom::BpeTokenizer tokenizer = loom::BpeTokenizer::train(text, 400);
    TempDir dir;
    const std::string path = dir.file("bpe.json");
    tokenizer.save(path);
    const std::shared_ptr<const loom::Tokenizer> loaded = loom::load_tokenizer(path);
    CHECK(loaded->kind() == "bpe");
    CHECK(loaded->vocab_size() == tokenizer.vocab_size());
    CHECK(loaded->to_json() == tokenizer.to_json());
    const std::string other = shakespeare(100000, 2000) + mixed_text;
    CHECK(loaded->encode(text) == tokenizer.encode(text));
    CHECK(loaded->encode(other) == tokenizer.encode(other));
    CHECK(loaded->decode(loaded->encode(other)) == other);
    const auto* bpe = dynamic_cast<const loom::BpeTokenizer*>(loaded.get());
    REQUIRE(bpe != nullptr);
    CHECK(bpe->merges() == tokenizer.merges());
}

// ---------------------------------------------------------------------------
// word

TEST_CASE("WordTokenizer::split follows the splitting rule", "[data][tokenizer][word]") {
    using V = std::vector<std::string>;
    CHECK(loom::WordTokenizer::split("Stay, don't go!\n") == V{"Stay", ",", "don't", "go", "!", "\n"});
    CHECK(loom::WordTokenizer::split("o'er 'tis dogs' x--y") == V{"o'er", "'", "tis", "dogs", "'", "x", "-", "-", "y"});
    CHECK(loom::WordTokenizer::split("a \t\r\v\fb\n\nc") == V{"a", "b", "\n", "\n", "c"});
    CHECK(loom::WordTokenizer::split("R2D2 and 42.") == V{"R2D2", "and", "42", "."});
    CHECK(loom::WordTokenizer::split("\xC3\xA9t\xC3\xA9 \xE6\x9D\xB1\xE4\xBA\xAC") ==
          V{"\xC3\xA9t\xC3\xA9", "\xE6\x9D\xB1\xE4\xBA\xAC"});
    CHECK(loom::WordTokenizer::split("The THE tHe", true) == V{"the", "the", "the"});
    CHECK(loom::WordTokenizer::split("  ") == V{});
    CHECK(loom::WordTokenizer::split("") == V{});
}

TEST_CASE("WordTokenizer::train: frequency order, min_count, max_vocab, lowercase", "[data][tokenizer][word]") {
    const std::string text = "b a b c a b\n";  // b 3, a 2, c 1, \n 1
    SECTION("min_count 1 keeps everything, most frequent first, ties in byte order") {
        const loom::WordTokenizer tokenizer = loom::WordTokenizer::train(text, {1, 0, false});
        REQUIRE(tokenizer.vocab_size() == 5);
        CHECK(tokenizer.word(0) == "<unk>");
        CHECK(tokenizer.word(1) == "b");
        CHECK(tokenizer.word(2) == "a");
        CHECK(tokenizer.word(3) == "\n");
        CHECK(tokenizer.word(4) == "c");
        CHECK(tokenizer.count(0) == 0);
        CHECK(tokenizer.count(1) == 3);
        CHECK(tokenizer.count(2) == 2);
        CHECK(tokenizer.count(4) == 1);
        CHECK(tokenizer.encode(text) == Ids{1, 2, 1, 4, 2, 1, 3});
    }
    SECTION("the default min_count 2 drops the rare words into <unk>") {
        const loom::WordTokenizer tokenizer = loom::WordTokenizer::train(text);
        REQUIRE(tokenizer.vocab_size() == 3);
        CHECK(tokenizer.word(1) == "b");
        CHECK(tokenizer.word(2) == "a");
        CHECK(tokenizer.count(0) == 2);  // c and \n
        CHECK_FALSE(tokenizer.contains("c"));
        CHECK(tokenizer.id_of("c") == 0);
        CHECK(tokenizer.encode("b c zzz a") == Ids{1, 0, 0, 2});
        CHECK(tokenizer.decode(tokenizer.encode("b c zzz a")) == "b <unk> <unk> a");
    }
    SECTION("max_vocab counts <unk> as one of the ids") {
        const loom::WordTokenizer two = loom::WordTokenizer::train(text, {1, 2, false});
        REQUIRE(two.vocab_size() == 2);
        CHECK(two.word(1) == "b");
        CHECK(two.count(0) == 4);  // a a c \n
        const loom::WordTokenizer three = loom::WordTokenizer::train(text, {1, 3, false});
        REQUIRE(three.vocab_size() == 3);
        CHECK(three.word(2) == "a");
        CHECK(three.count(0) == 2);
        CHECK(loom::WordTokenizer::train(text, {1, 100, false}).vocab_size() == 5);
    }
    SECTION("lowercase folds ASCII letters before counting and encoding") {
        const loom::WordTokenizer tokenizer = loom::WordTokenizer::train("The the THE Cat", {1, 0, true});
        REQUIRE(tokenizer.vocab_size() == 3);
        CHECK(tokenizer.word(1) == "the");
        CHECK(tokenizer.count(1) == 3);
        CHECK(tokenizer.word(2) == "cat");
        CHECK(tokenizer.encode("THE cAT dog") == Ids{1, 2, 0});
        CHECK(tokenizer.options().lowercase);
        const loom::WordTokenizer cased = loom::WordTokenizer::train("The the THE Cat", {1, 0, false});
        REQUIRE(cased.vocab_size() == 5);  // Cat, THE, The, the: all once, so byte order
        CHECK(cased.word(1) == "Cat");
        CHECK(cased.word(4) == "the");
        CHECK(cased.encode("THE cAT") == Ids{2, 0});
    }
    SECTION("training needs valid UTF-8") {
        CHECK(contains(error_message([] { loom::WordTokenizer::train("caf\xC3"); }), "invalid UTF-8"));
    }
}

TEST_CASE("WordTokenizer::decode puts the spaces back by rule", "[data][tokenizer][word]") {
    const auto round = [](const std::string& text) {
        const loom::WordTokenizer tokenizer = loom::WordTokenizer::train(text, {1, 0, false});
        return tokenizer.decode(tokenizer.encode(text));
    };
    CHECK(round("Stay, don't go!\n") == "Stay, don't go!\n");
    CHECK(round("( x )") == "(x)");
    CHECK(round("[a] {b} c; d: e? f.\ng") == "[a] {b} c; d: e? f.\ng");
    CHECK(round("dogs' bones") == "dogs' bones");
    // Lossy: the original white space is not kept.
    CHECK(round("a  \t b") == "a b");
    CHECK(round("x ,y") == "x, y");
    CHECK(round("'tis") == "' tis");
    CHECK(round("one\n  two") == "one\ntwo");

    const loom::WordTokenizer tokenizer = loom::WordTokenizer::train("a , ( \n", {1, 0, false});
    const index_t a = tokenizer.id_of("a"), comma = tokenizer.id_of(","), open = tokenizer.id_of("("),
                  line = tokenizer.id_of("\n");
    CHECK(tokenizer.piece(a, -1) == "a");
    CHECK(tokenizer.piece(a, a) == " a");
    CHECK(tokenizer.piece(comma, a) == ",");
    CHECK(tokenizer.piece(a, open) == "a");
    CHECK(tokenizer.piece(a, line) == "a");
    CHECK(tokenizer.piece(line, a) == "\n");
    CHECK(tokenizer.piece(0, a) == " <unk>");
    CHECK(contains(error_message([&] { tokenizer.piece(a, 99); }), "(previous id): id 99 is out of range"));
    CHECK(contains(error_message([&] { tokenizer.piece(99, a); }), "loom::WordTokenizer::piece: id 99"));
}

TEST_CASE("WordTokenizer JSON: round trip and from_json checks", "[data][tokenizer][word]") {
    const loom::WordTokenizer tokenizer = loom::WordTokenizer::train("b a b c a b\n", {2, 10, true});
    const nlohmann::json json = tokenizer.to_json();
    CHECK(json["kind"] == "word");
    CHECK(json["words"] == nlohmann::json::parse(R"(["<unk>", "b", "a"])"));
    CHECK(json["counts"] == nlohmann::json::parse("[2, 3, 2]"));
    CHECK(json["options"] == nlohmann::json::parse(R"({"min_count": 2, "max_vocab": 10, "lowercase": true})"));

    const loom::WordTokenizer back = loom::WordTokenizer::from_json(nlohmann::json::parse(json.dump()));
    CHECK(back.vocab_size() == 3);
    CHECK(back.count(0) == 2);
    CHECK(back.count(1) == 3);
    CHECK(back.options().min_count == 2);
    CHECK(back.options().max_vocab == 10);
    CHECK(back.options().lowercase);
    CHECK(back.encode("B A c") == Ids{1, 2, 0});
    CHECK(back.to_json() == json);

    const auto rejects = [&](const char* key, const nlohmann::json& value, const std::string& detail) {
        nlohmann::json document = json;
        document[key] = value;
        const std::string message = error_message([&] { loom::WordTokenizer::from_json(document); });
        INFO(document.dump() << " → " << message);
        CHECK(contains(message, "loom::WordTokenizer"));
        CHECK(contains(message, detail));
    };
    rejects("words", nlohmann::json::parse(R"(["the", "b", "a"])"), "the first word must be \"<unk>\"");
    rejects("words", nlohmann::json::parse(R"(["<unk>", "b", "b"])"), "word \"b\" is listed twice");
    rejects("words", nlohmann::json::parse(R"(["<unk>", "<unk>", "a"])"), "word \"<unk>\" is listed twice");
    rejects("words", nlohmann::json::parse(R"(["<unk>", "b"])"), "must be arrays of the same, non-zero length");
    rejects("counts", nlohmann::json::parse("[2, 3, 2, 7]"), "must be arrays of the same, non-zero length");
    rejects("words", "b a", "must be arrays");
    rejects("counts", nlohmann::json::parse(R"([2, "x", 2])"), "malformed");
    rejects("counts", nlohmann::json::parse("[2, 3, -1]"), "has a negative count -1");
    rejects("options", nlohmann::json::parse(R"({"min_count": 2})"), "malformed");
    rejects("options", nlohmann::json::parse(R"({"min_count": 0, "max_vocab": 0, "lowercase": false})"),
            "min_count must be at least 1");
    nlohmann::json empty = json;
    empty["words"] = nlohmann::json::array();
    empty["counts"] = nlohmann::json::array();
    CHECK(contains(error_message([&] { loom::WordTokenizer::from_json(empty); }), "non-zero length"));
    nlohmann::json missing = json;
    missing.erase("counts");
    CHECK(contains(error_message([&] { loom::WordTokenizer::from_json(missing); }), "no field \"counts\""));
}

TEST_CASE("WordTokenizer rejects bad options", "[data][tokenizer][word]") {
    const std::string min_count = error_message([] { loom::WordTokenizer::train("a a", {0, 0, false}); });
    CHECK(contains(min_count, "loom::WordTokenizer: min_count must be at least 1, got 0"));
    const std::string max_vocab = error_message([] { loom::WordTokenizer::train("a a", {1, 1, false}); });
    CHECK(contains(max_vocab, "max_vocab must be 0 (no limit) or at least 2"));
    CHECK(contains(max_vocab, "got 1"));
    CHECK(contains(error_message([] { loom::WordTokenizer::train("a a", {1, -3, false}); }), "got -3"));
    CHECK(error_message([] { loom::WordTokenizer::train("a a", {1, 2, false}); }).empty());
}

// ---------------------------------------------------------------------------
// tokenizer_file

TEST_CASE("load_tokenizer rejects bad files, naming the function and the path", "[data][tokenizer][file]") {
    TempDir dir;
    const auto rejects = [&](const std::string& contents, const std::vector<std::string>& details) {
        const std::string path = dir.file("bad.json");
        write_text_file(path, contents);
        const std::string message = error_message([&] { loom::load_tokenizer(path); });
        INFO(contents << " → " << message);
        CHECK(contains(message, "loom::load_tokenizer: '" + path + "'"));
        for (const std::string& detail : details) CHECK(contains(message, detail));
    };
    SECTION("missing file") {
        const std::string path = dir.file("nothing_here.json");
        const std::string message = error_message([&] { loom::load_tokenizer(path); });
        CHECK(contains(message, "loom::load_tokenizer: cannot open '" + path + "'"));
    }
    SECTION("not JSON") {
        rejects("{\"format\": ", {"is not valid JSON"});
        rejects("", {"is not valid JSON"});
    }
    SECTION("not an object") { rejects("[1, 2]", {"loom::tokenizer_from_json", "a JSON object, got array"}); }
    SECTION("wrong format") {
        rejects(R"({"format": "loom-vocabulary", "version": 1, "kind": "bpe", "merges": []})",
                {"loom::tokenizer_from_json", "not a loom tokenizer", "\"loom-vocabulary\""});
    }
    SECTION("wrong version") {
        rejects(R"({"format": "loom-tokenizer", "version": 2, "kind": "bpe", "merges": []})",
                {"loom::tokenizer_from_json", "unsupported tokenizer file version 2"});
        rejects(R"({"format": "loom-tokenizer", "version": "1", "kind": "bpe", "merges": []})",
                {"unsupported tokenizer file version \"1\""});
    }
    SECTION("unknown kind") {
        rejects(R"({"format": "loom-tokenizer", "version": 1, "kind": "sentencepiece"})",
                {"loom::tokenizer_from_json", "unknown tokenizer kind \"sentencepiece\""});
    }
    SECTION("missing fields") {
        rejects(R"({"version": 1, "kind": "bpe", "merges": []})", {"no field \"format\""});
        rejects(R"({"format": "loom-tokenizer", "kind": "bpe", "merges": []})", {"no field \"version\""});
        rejects(R"({"format": "loom-tokenizer", "version": 1, "merges": []})", {"no field \"kind\""});
        rejects(R"({"format": "loom-tokenizer", "version": 1, "kind": "bpe"})",
                {"loom::BpeTokenizer::from_json", "no field \"merges\""});
        rejects(R"({"format": "loom-tokenizer", "version": 1, "kind": "char"})",
                {"loom::CharTokenizer::from_json", "no field \"characters\""});
        rejects(R"({"format": "loom-tokenizer", "version": 1, "kind": "word", "words": ["<unk>"], "counts": [0]})",
                {"loom::WordTokenizer::from_json", "no field \"options\""});
    }
    SECTION("a bad field of the kind") {
        rejects(R"({"format": "loom-tokenizer", "version": 1, "kind": "bpe", "merges": [[1, 2], [1, 2]]})",
                {"the same pair twice"});
    }
}

TEST_CASE("tokenizer_from_json reads what every kind writes", "[data][tokenizer][file]") {
    const std::string text = "Stay, don't go!\nStay, stay.\n";
    const std::vector<std::shared_ptr<const loom::Tokenizer>> tokenizers = {
        loom::train_tokenizer("char", text), loom::train_tokenizer("bpe", text, 270),
        loom::train_tokenizer("word", text, 0, {1, 0, false})};
    for (const auto& tokenizer : tokenizers) {
        INFO(tokenizer->kind());
        const auto back = loom::tokenizer_from_json(nlohmann::json::parse(tokenizer->to_json().dump()));
        CHECK(back->kind() == tokenizer->kind());
        CHECK(back->vocab_size() == tokenizer->vocab_size());
        CHECK(back->encode(text) == tokenizer->encode(text));
        CHECK(back->decode(back->encode(text)) == text);
    }
    CHECK(contains(error_message([] { loom::tokenizer_from_json(nlohmann::json(3)); }),
                   "loom::tokenizer_from_json: a tokenizer file holds a JSON object, got number"));
}

TEST_CASE("train_tokenizer makes each kind by name", "[data][tokenizer][file]") {
    const auto char_tokenizer = loom::train_tokenizer("char", "To be");
    CHECK(char_tokenizer->kind() == "char");
    CHECK(char_tokenizer->vocab_size() == 5);
    const auto bpe = loom::train_tokenizer("bpe", "low low lower lowest", 258);
    CHECK(bpe->kind() == "bpe");
    CHECK(bpe->vocab_size() == 258);
    CHECK(loom::train_tokenizer("bpe", "low low lower lowest")->vocab_size() == 260);  // runs out of pairs
    const auto word = loom::train_tokenizer("word", "b a b c a b\n");                   // min_count 2
    CHECK(word->kind() == "word");
    CHECK(word->vocab_size() == 3);
    CHECK(loom::train_tokenizer("word", "b a b c a b\n", 1024, {1, 0, false})->vocab_size() == 5);

    const std::string unknown = error_message([] { loom::train_tokenizer("nope", "some text"); });
    CHECK(contains(unknown, "loom::train_tokenizer: unknown tokenizer kind 'nope'"));
    CHECK(contains(error_message([] { loom::train_tokenizer("char", ""); }), "loom::train_tokenizer: the text is empty"));
    CHECK(contains(error_message([] { loom::train_tokenizer("bpe", "abc", 100); }), "at least 256"));
}

TEST_CASE("Tokenizer::save writes atomically and leaves no .tmp file", "[data][tokenizer][file]") {
    TempDir dir;
    const std::string path = dir.file("tokenizer.json");
    const loom::CharTokenizer small = loom::CharTokenizer::train("ab");
    small.save(path);
    CHECK(std::filesystem::exists(path));
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
    CHECK(loom::load_tokenizer(path)->vocab_size() == 2);

    // Saving again replaces the file in one step.
    const loom::WordTokenizer word = loom::WordTokenizer::train(mixed_text, {1, 0, false});
    word.save(path);
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
    const auto loaded = loom::load_tokenizer(path);
    CHECK(loaded->kind() == "word");
    CHECK(loaded->decode(loaded->encode(mixed_text)) == mixed_text);
    std::size_t files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir.file(""))) {
        CHECK(entry.path().filename() == "tokenizer.json");
        ++files;
    }
    CHECK(files == 1);

    const std::string nowhere = dir.file("no_such_dir/tokenizer.json");
    const std::string message = error_message([&] { small.save(nowhere); });
    CHECK(contains(message, "loom::Tokenizer::save: cannot open '" + nowhere + ".tmp'"));
    CHECK_FALSE(std::filesystem::exists(nowhere + ".tmp"));
}

}  // namespace data_tokenizers_test
