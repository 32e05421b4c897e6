#include "test_util.hpp"

// Tests for loom/decode/stream.hpp and streaming generation: pieces are whole
// UTF-8 characters when tokens are single bytes, stop strings spanning two or
// more tokens are caught and not emitted, the callback can stop generation.

#include <string>
#include <vector>

#include <loom/decode/greedy.hpp>
#include <loom/decode/sample.hpp>
#include <loom/decode/stream.hpp>

#include "decode/fake_decoders.hpp"

namespace decode_stream_test {  // named, not anonymous: the test files are compiled together in unity batches

using decode_fake_decoders::bytes_of;
using decode_fake_decoders::byte_text;
using decode_fake_decoders::ScriptedDecoder;
using loom::index_t;
using loom_test::contains;
using loom_test::error_message;

// A piece is whole characters: it starts on a lead byte and ends on a complete character.
bool whole_characters(const std::string& piece) {
    if (piece.empty()) return false;
    if ((static_cast<unsigned char>(piece[0]) & 0xC0) == 0x80) return false;
    return loom::detail::incomplete_utf8_tail(piece) == 0;
}

TEMPLATE_TEST_CASE("pieces are whole UTF-8 characters when tokens are single bytes", "[stream]", float, double) {
    using T = TestType;
    const std::string text = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80z";  // a é 中 😀 z: 1, 2, 3, 4, 1 bytes
    ScriptedDecoder<T> model(256, bytes_of(text));
    loom::GenerationOptions options;
    options.max_new_tokens = static_cast<index_t>(text.size());
    options.token_text = byte_text;
    std::vector<std::string> pieces;
    options.on_text = [&](const std::string& piece) {
        pieces.push_back(piece);
        return true;
    };
    const auto result = loom::greedy(model, {0}, options);
    CHECK(result.text == text);
    CHECK(pieces == std::vector<std::string>{"a", "\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80", "z"});
    for (const auto& piece : pieces) CHECK(whole_characters(piece));
}

TEMPLATE_TEST_CASE("text ending inside a character gets U+FFFD", "[stream]", float, double) {
    using T = TestType;
    ScriptedDecoder<T> model(256, bytes_of("ok\xE4\xB8"));
    loom::GenerationOptions options;
    options.max_new_tokens = 4;
    options.token_text = byte_text;
    std::string streamed;
    options.on_text = [&](const std::string& piece) {
        CHECK(whole_characters(piece));
        streamed += piece;
        return true;
    };
    const auto result = loom::greedy(model, {0}, options);
    CHECK(result.text == "ok\xEF\xBF\xBD");
    CHECK(streamed == result.text);
}

TEMPLATE_TEST_CASE("stop strings spanning several tokens are caught and not emitted", "[stream]", float, double) {
    using T = TestType;
    // Tokens are words: the stop string "\n\nUser:" is split over "\n", "\nUs" and "er: hi".
    const std::vector<std::string> words = {"Hello", " there", "\n", "\nUs", "er: hi", " again"};
    loom::GenerationOptions options;
    options.max_new_tokens = 20;
    options.token_text = [&](index_t token) { return words[static_cast<std::size_t>(token)]; };
    options.stop_strings = {"never", "\n\nUser:"};
    std::string streamed;
    options.on_text = [&](const std::string& piece) {
        streamed += piece;
        return true;
    };
    ScriptedDecoder<T> model(6, {0, 1, 2, 3, 4, 5});
    const auto result = loom::greedy(model, {0}, options);
    CHECK(result.stop_reason == loom::StopReason::stop_string);
    CHECK(result.stop_string == "\n\nUser:");
    CHECK(result.text == "Hello there");
    CHECK(streamed == "Hello there");  // the "\n" and "\nUs" held back were never emitted
    CHECK(result.tokens == std::vector<index_t>{0, 1, 2, 3, 4});
    CHECK(model.advance_calls == 4);

    // Two single-byte tokens, with sampling.
    ScriptedDecoder<T> bytes(256, bytes_of("abc##def"));
    loom::GenerationOptions sampled;
    sampled.max_new_tokens = 20;
    sampled.token_text = byte_text;
    sampled.stop_strings = {"##"};
    sampled.temperature = 0.5;
    const auto cut = loom::sample(bytes, {0}, sampled);
    CHECK(cut.text == "abc");
    CHECK(cut.stop_reason == loom::StopReason::stop_string);
}

TEST_CASE("TextStream holds back a possible stop-string start until it is decided", "[stream]") {
    std::vector<std::string> pieces;
    loom::TextStream stream({"STOP"}, [&](const std::string& piece) {
        pieces.push_back(piece);
        return true;
    });
    CHECK(stream.append("xS"));
    CHECK(stream.append("T"));
    CHECK(pieces == std::vector<std::string>{"x"});
    CHECK(stream.append("y"));  // "STy" is not a stop string: released
    CHECK(pieces == std::vector<std::string>{"x", "STy"});
    CHECK(stream.append("ST"));
    stream.finish();  // generation ended for another reason: the held "ST" is real text
    CHECK(pieces == std::vector<std::string>{"x", "STy", "ST"});
    CHECK(stream.text() == "xSTyST");
    CHECK_FALSE(stream.stopped());
    CHECK(contains(error_message([] { loom::TextStream({""}); }), "loom::TextStream: a stop string is empty"));
}

TEMPLATE_TEST_CASE("the callback can stop generation", "[stream]", float, double) {
    using T = TestType;
    ScriptedDecoder<T> model(256, bytes_of("one two three four"));
    loom::GenerationOptions options;
    options.max_new_tokens = 100;
    options.token_text = byte_text;
    std::string streamed;
    options.on_text = [&](const std::string& piece) {
        streamed += piece;
        return piece != " ";  // stop after the first space
    };
    const auto result = loom::greedy(model, {0}, options);
    CHECK(result.stop_reason == loom::StopReason::callback);
    CHECK(streamed == "one ");
    CHECK(result.text == "one ");
    CHECK(result.tokens == bytes_of("one "));
    CHECK(model.advance_calls == 3);  // no model call after the callback said stop
}

}  // namespace decode_stream_test
