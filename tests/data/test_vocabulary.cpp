#include "test_util.hpp"

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "loom/data/utf8.hpp"
#include "loom/data/vocabulary.hpp"

using loom::index_t;
using loom_test::contains;
using loom_test::error_message;

namespace data_vocabulary_test {  // named, not anonymous: the test files are compiled together in unity batches

const std::string english = "To be, or not to be";
const std::string chinese = "床前明月光，疑是地上霜。举头望明月，低头思故乡。";

using loom_test::TempDir;
using loom_test::write_text_file;

std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Checks that loading `contents` throws loom::Error naming the file, the line and `detail`.
void check_load_rejects(const std::string& contents, int line, const std::string& detail) {
    TempDir dir;
    const std::string path = dir.file("corrupt.vocab");
    write_text_file(path, contents);
    INFO("file contents:\n" << contents);
    REQUIRE_THROWS_AS(loom::Vocabulary::load(path), loom::Error);
    const std::string message = error_message([&] { loom::Vocabulary::load(path); });
    INFO(message);
    CHECK(contains(message, "'" + path + "'"));
    CHECK(contains(message, "line " + std::to_string(line) + ":"));
    CHECK(contains(message, detail));
}

TEST_CASE("Vocabulary::from_text numbers the distinct characters in code point order", "[data][vocabulary]") {
    SECTION("English") {
        const loom::Vocabulary vocabulary = loom::Vocabulary::from_text(english);
        REQUIRE(vocabulary.size() == 9);
        CHECK(vocabulary.characters() == std::vector<char32_t>{U' ', U',', U'T', U'b', U'e', U'n', U'o', U'r', U't'});
        CHECK(vocabulary.id_of(U' ') == 0);
        CHECK(vocabulary.id_of(U'T') == 2);
        CHECK(vocabulary.char_of(8) == U't');
    }
    SECTION("Chinese: one id per code point, not per byte") {
        const loom::Vocabulary vocabulary = loom::Vocabulary::from_text(chinese);
        const std::vector<char32_t> characters = loom::utf8_decode(chinese);
        const std::set<char32_t> distinct(characters.begin(), characters.end());
        CHECK(vocabulary.size() == static_cast<index_t>(distinct.size()));
        CHECK(vocabulary.size() == 19);
        CHECK(vocabulary.char_of(0) == U'。');  // U+3002 is the smallest code point in the poem
        CHECK(vocabulary.char_of(vocabulary.size() - 1) == U'，');  // U+FF0C the largest
    }
    SECTION("ids follow code point order, whatever the order of the text") {
        const loom::Vocabulary vocabulary = loom::Vocabulary::from_text(chinese + english);
        for (index_t id = 0; id + 1 < vocabulary.size(); ++id)
            CHECK(vocabulary.char_of(id) < vocabulary.char_of(id + 1));
        CHECK(loom::Vocabulary::from_text(english + chinese) == vocabulary);
        CHECK(loom::Vocabulary::from_text("ebT ,nort") == loom::Vocabulary::from_text(english));
    }
    SECTION("from_characters sorts, removes duplicates and rejects invalid code points") {
        const auto vocabulary = loom::Vocabulary::from_characters({U'c', U'a', U'c', U'b'});
        CHECK(vocabulary.characters() == std::vector<char32_t>{U'a', U'b', U'c'});
        REQUIRE_THROWS_AS(loom::Vocabulary::from_characters({U'a', char32_t{0xD800}}), loom::Error);
        CHECK(contains(error_message([] { loom::Vocabulary::from_characters({U'a', char32_t{0xD800}}); }),
                       "U+D800"));
    }
    SECTION("an empty text gives an empty vocabulary") {
        CHECK(loom::Vocabulary::from_text("").empty());
        CHECK(loom::Vocabulary().size() == 0);
    }
}

TEST_CASE("Vocabulary encodes and decodes text", "[data][vocabulary]") {
    SECTION("English round trip") {
        const loom::Vocabulary vocabulary = loom::Vocabulary::from_text(english);
        const std::vector<index_t> ids = vocabulary.encode(english);
        REQUIRE(ids.size() == english.size());
        CHECK(ids[0] == vocabulary.id_of(U'T'));
        CHECK(vocabulary.decode(ids) == english);
        CHECK(vocabulary.encode("be not") == std::vector<index_t>{3, 4, 0, 5, 6, 8});
    }
    SECTION("Chinese round trip, one id per character") {
        const loom::Vocabulary vocabulary = loom::Vocabulary::from_text(chinese);
        const std::vector<index_t> ids = vocabulary.encode(chinese);
        REQUIRE(ids.size() == 24);  // 24 characters, not 72 bytes
        CHECK(ids[2] == ids[15]);   // both are 明
        CHECK(ids[3] == ids[16]);   // both are 月
        CHECK(ids[2] == vocabulary.id_of(U'明'));
        for (const index_t id : ids) CHECK((id >= 0 && id < vocabulary.size()));
        CHECK(vocabulary.decode(ids) == chinese);
        CHECK(vocabulary.decode(ids[0]) == "床");
    }
    SECTION("contains") {
        const loom::Vocabulary vocabulary = loom::Vocabulary::from_text(chinese);
        CHECK(vocabulary.contains(U'霜'));
        CHECK_FALSE(vocabulary.contains(U'雪'));
        CHECK_FALSE(vocabulary.contains(U'a'));
    }
}

TEST_CASE("Vocabulary reports unknown characters and ids", "[data][vocabulary]") {
    const loom::Vocabulary vocabulary = loom::Vocabulary::from_text(english);

    REQUIRE_THROWS_AS(vocabulary.id_of(U'z'), loom::Error);
    std::string message = error_message([&] { vocabulary.id_of(U'z'); });
    CHECK(contains(message, "U+007A 'z'"));
    CHECK(contains(message, "not in the vocabulary"));

    CHECK(contains(error_message([&] { vocabulary.id_of(U'\n'); }), "U+000A '\\n'"));
    CHECK(contains(error_message([&] { vocabulary.id_of(U'雪'); }), "U+96EA '雪'"));

    REQUIRE_THROWS_AS(vocabulary.encode("To bee!"), loom::Error);
    message = error_message([&] { vocabulary.encode("To bee!"); });
    CHECK(contains(message, "U+0021 '!'"));
    CHECK(contains(message, "position 6"));

    REQUIRE_THROWS_AS(vocabulary.char_of(9), loom::Error);
    CHECK(contains(error_message([&] { vocabulary.char_of(9); }), "id 9"));
    CHECK(contains(error_message([&] { vocabulary.char_of(-1); }), "id -1"));
    REQUIRE_THROWS_AS(vocabulary.decode(std::vector<index_t>{0, 1, 42}), loom::Error);
    CHECK(contains(error_message([&] { vocabulary.decode(std::vector<index_t>{0, 1, 42}); }), "id 42 at position 2"));
    REQUIRE_THROWS_AS(vocabulary.decode(index_t{9}), loom::Error);
}

TEST_CASE("Vocabulary save and load round-trip", "[data][vocabulary]") {
    TempDir dir;
    const std::string path = dir.file("chars.vocab");
    // Newline, tab and space must survive the line-based format.
    const loom::Vocabulary vocabulary = loom::Vocabulary::from_text(english + "\n\t" + chinese + "\xF0\x9F\x98\x80");

    vocabulary.save(path);
    const loom::Vocabulary loaded = loom::Vocabulary::load(path);
    CHECK(loaded == vocabulary);
    CHECK(loaded.decode(loaded.encode(chinese)) == chinese);
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));

    const std::string contents = read_text_file(path);
    CHECK(contents.rfind("loom-vocabulary 1\n" + std::to_string(vocabulary.size()) + "\n9\n10\n32\n", 0) == 0);

    SECTION("saving again replaces the file") {
        const loom::Vocabulary smaller = loom::Vocabulary::from_text("ab");
        smaller.save(path);
        CHECK(loom::Vocabulary::load(path) == smaller);
        CHECK(read_text_file(path) == "loom-vocabulary 1\n2\n97\n98\n");
    }
    SECTION("an empty vocabulary round-trips") {
        loom::Vocabulary().save(path);
        CHECK(loom::Vocabulary::load(path).empty());
    }
    SECTION("Windows line ends are accepted") {
        write_text_file(path, "loom-vocabulary 1\r\n2\r\n97\r\n98\r\n");
        CHECK(loom::Vocabulary::load(path) == loom::Vocabulary::from_text("ab"));
    }
}

TEST_CASE("Vocabulary::load rejects corrupted files, naming file and line", "[data][vocabulary]") {
    SECTION("empty file") { check_load_rejects("", 1, "empty"); }
    SECTION("bad magic") { check_load_rejects("hello world\n2\n97\n98\n", 1, "not a loom vocabulary file"); }
    SECTION("a long first line is cut short in the message") {
        check_load_rejects(std::string(1000, 'x') + "\n", 1, "found \"" + std::string(40, 'x') + "...\"");
    }
    SECTION("unknown version") { check_load_rejects("loom-vocabulary 2\n2\n97\n98\n", 1, "unsupported"); }
    SECTION("count missing") { check_load_rejects("loom-vocabulary 1\n", 2, "ends before the number"); }
    SECTION("count not a number") { check_load_rejects("loom-vocabulary 1\ntwo\n97\n98\n", 2, "\"two\""); }
    SECTION("negative count") { check_load_rejects("loom-vocabulary 1\n-2\n97\n98\n", 2, "\"-2\""); }
    SECTION("impossible count") { check_load_rejects("loom-vocabulary 1\n9999999\n97\n", 2, "9999999"); }
    SECTION("fewer characters than the count") {
        check_load_rejects("loom-vocabulary 1\n3\n97\n98\n", 5, "ends after 2 of 3 characters");
    }
    SECTION("more lines than the count") {
        check_load_rejects("loom-vocabulary 1\n2\n97\n98\n99\n", 5, "unexpected line");
    }
    SECTION("duplicate character") { check_load_rejects("loom-vocabulary 1\n3\n97\n98\n98\n", 5, "duplicate"); }
    SECTION("unsorted characters") { check_load_rejects("loom-vocabulary 1\n3\n97\n99\n98\n", 5, "not sorted"); }
    SECTION("a surrogate") { check_load_rejects("loom-vocabulary 1\n2\n97\n55296\n", 4, "surrogate"); }
    SECTION("above U+10FFFF") { check_load_rejects("loom-vocabulary 1\n2\n97\n1114112\n", 4, "above U+10FFFF"); }
    SECTION("not a decimal number") {
        check_load_rejects("loom-vocabulary 1\n2\n97\nb\n", 4, "\"b\"");
        check_load_rejects("loom-vocabulary 1\n2\n 97\n98\n", 3, "\" 97\"");
        check_load_rejects("loom-vocabulary 1\n2\n+97\n98\n", 3, "\"+97\"");
        check_load_rejects("loom-vocabulary 1\n2\n97\n0x62\n", 4, "\"0x62\"");
        check_load_rejects("loom-vocabulary 1\n2\n97\n\n", 4, "\"\"");
    }
}

TEST_CASE("Vocabulary save and load report I/O failures with the path", "[data][vocabulary]") {
    TempDir dir;
    const std::string missing = dir.file("no_such_file.vocab");
    REQUIRE_THROWS_AS(loom::Vocabulary::load(missing), loom::Error);
    CHECK(contains(error_message([&] { loom::Vocabulary::load(missing); }), missing));

    const std::string unwritable = dir.file("no_such_directory/chars.vocab");
    const loom::Vocabulary vocabulary = loom::Vocabulary::from_text("abc");
    REQUIRE_THROWS_AS(vocabulary.save(unwritable), loom::Error);
    CHECK(contains(error_message([&] { vocabulary.save(unwritable); }), unwritable));
}

TEST_CASE("Vocabulary::summary", "[data][vocabulary]") {
    CHECK(loom::Vocabulary().summary() == "Vocabulary(empty)");
    CHECK(loom::Vocabulary::from_text("ba\n").summary() == "Vocabulary(3 characters, U+000A '\\n' .. U+0062 'b')");
}

TEST_CASE("Vocabulary::text lists every character once in id order and rebuilds the vocabulary", "[data][vocabulary]") {
    const loom::Vocabulary vocabulary = loom::Vocabulary::from_text("ba\nab 床前明月光 a\t");
    const std::string text = vocabulary.text();
    CHECK(text == "\t\n ab光前床明月");
    CHECK(loom::Vocabulary::from_text(text) == vocabulary);
    CHECK(loom::Vocabulary().text().empty());
}

}  // namespace data_vocabulary_test
