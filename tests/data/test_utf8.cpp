#include "test_util.hpp"

#include <string>
#include <string_view>
#include <vector>

#include "loom/data/utf8.hpp"

using loom_test::contains;
using loom_test::error_message;

namespace data_utf8_test {  // named, not anonymous: the test files are compiled together in unity batches

const std::string english = "To be, or not to be";
const std::string chinese = "床前明月光，疑是地上霜。举头望明月，低头思故乡。";

// The message utf8_decode throws for `bytes`, after checking that it throws loom::Error.
std::string decode_error(const std::string& bytes) {
    REQUIRE_THROWS_AS(loom::utf8_decode(bytes), loom::Error);
    return error_message([&] { loom::utf8_decode(bytes); });
}

TEST_CASE("utf8_decode gives one code point per character", "[data][utf8]") {
    SECTION("ASCII: one byte per character") {
        const std::vector<char32_t> decoded = loom::utf8_decode(english);
        REQUIRE(decoded.size() == english.size());
        CHECK(decoded[0] == U'T');
        CHECK(decoded[5] == U',');
    }
    SECTION("Chinese: three bytes per character") {
        REQUIRE(chinese.size() == 72);  // guards against the source file being read in another encoding
        const std::vector<char32_t> decoded = loom::utf8_decode(chinese);
        REQUIRE(decoded.size() == 24);
        CHECK(decoded[0] == U'床');
        CHECK(decoded[2] == U'明');
        CHECK(decoded[5] == U'，');
        CHECK(decoded[23] == U'。');
    }
    SECTION("sequences of every length") {
        CHECK(loom::utf8_decode("A") == std::vector<char32_t>{0x41});
        CHECK(loom::utf8_decode("\xC3\xA9") == std::vector<char32_t>{0xE9});
        CHECK(loom::utf8_decode("\xE4\xB8\xAD") == std::vector<char32_t>{0x4E2D});
        CHECK(loom::utf8_decode("\xF0\x9F\x98\x80") == std::vector<char32_t>{0x1F600});
        CHECK(loom::utf8_decode("\xF4\x8F\xBF\xBF") == std::vector<char32_t>{0x10FFFF});
    }
    SECTION("empty input, NUL bytes and a leading byte-order mark are kept as they are") {
        CHECK(loom::utf8_decode("").empty());
        CHECK(loom::utf8_decode(std::string_view("a\0b", 3)) == std::vector<char32_t>{U'a', 0, U'b'});
        CHECK(loom::utf8_decode("\xEF\xBB\xBFok") == std::vector<char32_t>{0xFEFF, U'o', U'k'});
    }
}

TEST_CASE("utf8_encode inverts utf8_decode", "[data][utf8]") {
    SECTION("English and Chinese text round-trip") {
        CHECK(loom::utf8_encode(loom::utf8_decode(english)) == english);
        CHECK(loom::utf8_encode(loom::utf8_decode(chinese)) == chinese);
    }
    SECTION("single code points give the expected bytes") {
        CHECK(loom::utf8_encode(U'A') == "A");
        CHECK(loom::utf8_encode(char32_t{0xE9}) == "\xC3\xA9");
        CHECK(loom::utf8_encode(U'中') == "\xE4\xB8\xAD");
        CHECK(loom::utf8_encode(char32_t{0x1F600}) == "\xF0\x9F\x98\x80");
    }
    SECTION("byte counts change exactly at the boundaries") {
        CHECK(loom::utf8_encode(char32_t{0x7F}).size() == 1);
        CHECK(loom::utf8_encode(char32_t{0x80}).size() == 2);
        CHECK(loom::utf8_encode(char32_t{0x7FF}).size() == 2);
        CHECK(loom::utf8_encode(char32_t{0x800}).size() == 3);
        CHECK(loom::utf8_encode(char32_t{0xFFFF}).size() == 3);
        CHECK(loom::utf8_encode(char32_t{0x10000}).size() == 4);
        CHECK(loom::utf8_encode(char32_t{0x10FFFF}).size() == 4);
    }
    SECTION("every valid code point round-trips") {
        std::vector<char32_t> all;
        for (char32_t c = 0; c <= loom::max_code_point; ++c)
            if (!loom::is_surrogate(c)) all.push_back(c);
        REQUIRE(all.size() == 0x110000 - 0x800);
        CHECK(loom::utf8_decode(loom::utf8_encode(all)) == all);
    }
}

TEST_CASE("utf8_encode rejects what is not a character", "[data][utf8]") {
    REQUIRE_THROWS_AS(loom::utf8_encode(char32_t{0xD800}), loom::Error);
    CHECK(contains(error_message([] { loom::utf8_encode(char32_t{0xD800}); }), "U+D800"));
    CHECK(contains(error_message([] { loom::utf8_encode(char32_t{0xDFFF}); }), "surrogate"));
    CHECK(contains(error_message([] { loom::utf8_encode(char32_t{0x110000}); }), "U+110000"));

    const std::vector<char32_t> text{U'a', U'b', 0xDC00};
    REQUIRE_THROWS_AS(loom::utf8_encode(text), loom::Error);
    const std::string message = error_message([&] { loom::utf8_encode(text); });
    CHECK(contains(message, "U+DC00"));
    CHECK(contains(message, "at index 2"));
}

TEST_CASE("utf8_decode names the byte offset and byte of invalid input", "[data][utf8]") {
    SECTION("the message has the documented form") {
        const std::string bytes = std::string(17, 'x') + "\xC3";
        CHECK(contains(decode_error(bytes),
                       "loom::utf8_decode: invalid UTF-8 at byte offset 17 (byte 0xC3): truncated sequence"));
    }
    SECTION("offsets count bytes, not characters") {
        // "中" is three bytes, so the stray byte after it is at offset 3.
        CHECK(contains(decode_error("中\x80"), "byte offset 3 (byte 0x80)"));
    }
    SECTION("stray continuation bytes") {
        const std::string message = decode_error("ab\x80");
        CHECK(contains(message, "byte offset 2 (byte 0x80)"));
        CHECK(contains(message, "continuation"));
        CHECK(contains(decode_error("\xBF"), "byte offset 0 (byte 0xBF)"));
        // A fourth continuation byte after a complete 3-byte sequence is stray too.
        CHECK(contains(decode_error("\xE4\xB8\xAD\xAD"), "byte offset 3 (byte 0xAD)"));
    }
    SECTION("sequences truncated by the end of the input") {
        CHECK(contains(decode_error("abc\xC3"), "byte offset 3 (byte 0xC3): truncated"));
        CHECK(contains(decode_error("x\xE4\xB8"), "byte offset 1 (byte 0xE4): truncated"));
        CHECK(contains(decode_error("\xF0\x9F\x98"), "byte offset 0 (byte 0xF0): truncated"));
    }
    SECTION("sequences truncated by a byte that is not a continuation byte") {
        const std::string message = decode_error("ab\xC3" "A");
        CHECK(contains(message, "byte offset 2 (byte 0xC3): truncated"));
        CHECK(contains(message, "0x41 at offset 3"));
        CHECK(contains(decode_error("\xE4\xB8\xE4\xB8\xAD"), "byte offset 0 (byte 0xE4): truncated"));
    }
    SECTION("overlong encodings") {
        CHECK(contains(decode_error("ab\xC0\xAF"), "byte offset 2 (byte 0xC0): overlong"));
        CHECK(contains(decode_error("\xC1\xBF"), "byte offset 0 (byte 0xC1): overlong"));
        CHECK(contains(decode_error("a\xE0\x80\xAF"), "byte offset 1 (byte 0xE0): overlong"));
        CHECK(contains(decode_error("\xE0\x9F\xBF"), "overlong encoding of U+07FF"));
        CHECK(contains(decode_error("abcd\xF0\x8F\xBF\xBF"), "byte offset 4 (byte 0xF0): overlong"));
    }
    SECTION("surrogates") {
        CHECK(contains(decode_error("ok\xED\xA0\x80"), "byte offset 2 (byte 0xED)"));
        CHECK(contains(decode_error("\xED\xA0\x80"), "U+D800"));
        CHECK(contains(decode_error("\xED\xBF\xBF"), "surrogate"));
        CHECK(loom::utf8_decode("\xED\x9F\xBF") == std::vector<char32_t>{0xD7FF});  // just below: fine
        CHECK(loom::utf8_decode("\xEE\x80\x80") == std::vector<char32_t>{0xE000});  // just above: fine
    }
    SECTION("code points above U+10FFFF") {
        const std::string message = decode_error("abc\xF4\x90\x80\x80");
        CHECK(contains(message, "byte offset 3 (byte 0xF4)"));
        CHECK(contains(message, "U+110000"));
        CHECK(contains(decode_error("\xF5\x80\x80\x80"), "byte offset 0 (byte 0xF5)"));
        CHECK(contains(decode_error("\xF7\xBF\xBF\xBF"), "above U+10FFFF"));
    }
    SECTION("bytes that start no sequence") {
        CHECK(contains(decode_error("a\xF8\x80\x80\x80\x80"), "byte offset 1 (byte 0xF8)"));
        CHECK(contains(decode_error("\xFE"), "byte offset 0 (byte 0xFE)"));
        CHECK(contains(decode_error("ab\xFF"), "byte offset 2 (byte 0xFF)"));
    }
}

TEST_CASE("describe_code_point shows a character readably", "[data][utf8]") {
    CHECK(loom::code_point_hex(U'A') == "U+0041");
    CHECK(loom::code_point_hex(char32_t{0x1F600}) == "U+1F600");
    CHECK(loom::describe_code_point(U'A') == "U+0041 'A'");
    CHECK(loom::describe_code_point(U' ') == "U+0020 ' '");
    CHECK(loom::describe_code_point(U'\n') == "U+000A '\\n'");
    CHECK(loom::describe_code_point(U'中') == "U+4E2D '中'");
    CHECK(loom::describe_code_point(char32_t{0x07}) == "U+0007 (control character)");
    CHECK(loom::describe_code_point(char32_t{0xD800}) == "U+D800 (not a valid code point)");
}

}  // namespace data_utf8_test
