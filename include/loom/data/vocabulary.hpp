// loom/data/vocabulary.hpp — the characters a model knows, numbered 0..size-1.
//
// A character-level model reads and writes ids, not characters. The Vocabulary
// is the table between them: the distinct Unicode code points of a training
// text, sorted by code point, and a character's id is its position in that
// sorted list. Sorting makes the numbering depend only on WHICH characters occur,
// not on where they first appear, so the same text always gives the same ids.
//
//   text "To be"  →  characters {' ', 'T', 'b', 'e', 'o'}  →  'T' is id 1, 'o' is id 4
//
// Ids are positions in a sorted list, so id → character is an array lookup and
// character → id a binary search.
//
// A trained model is only meaningful with the vocabulary it was trained with, so
// a Vocabulary can be saved and loaded. The file is plain text:
//   loom-vocabulary 1       ← magic word and format version
//   3                       ← number of characters
//   10                      ← one code point per line, in decimal, ascending
//   84
//   19981
// Decimal numbers keep characters like '\n' or ' ' unambiguous in a line-based
// file. save() writes to "<path>.tmp" and then renames it over <path>, so a crash
// mid-write never leaves a half-written vocabulary behind. load() checks every
// line and names the file and line of the first problem it finds.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "loom/data/utf8.hpp"
#include "loom/tensor/error.hpp"
#include "loom/tensor/shape.hpp"

namespace loom {

class Vocabulary {
public:
    // The first line of every vocabulary file.
    static constexpr std::string_view file_header = "loom-vocabulary 1";

    Vocabulary() = default;  // empty: knows no characters

    // The distinct characters of `characters`, sorted; each must be a valid code point.
    static Vocabulary from_characters(std::vector<char32_t> characters) {
        for (std::size_t i = 0; i < characters.size(); ++i)
            if (!is_valid_code_point(characters[i]))
                detail::fail("loom::Vocabulary::from_characters: character ", describe_code_point(characters[i]),
                             " at index ", i, " is not a valid code point");
        std::sort(characters.begin(), characters.end());
        characters.erase(std::unique(characters.begin(), characters.end()), characters.end());
        Vocabulary vocabulary;
        vocabulary.characters_ = std::move(characters);
        return vocabulary;
    }

    // The distinct characters of a UTF-8 text (which must be valid UTF-8).
    static Vocabulary from_text(std::string_view utf8) { return from_characters(utf8_decode(utf8)); }

    index_t size() const { return static_cast<index_t>(characters_.size()); }
    bool empty() const { return characters_.empty(); }

    // All characters in id order: characters()[id] is the character with that id.
    const std::vector<char32_t>& characters() const { return characters_; }

    bool contains(char32_t character) const {
        return std::binary_search(characters_.begin(), characters_.end(), character);
    }

    index_t id_of(char32_t character) const {
        const index_t id = find(character);
        if (id < 0)
            detail::fail("loom::Vocabulary::id_of: character ", describe_code_point(character),
                         " is not in the vocabulary (", size(), " characters)");
        return id;
    }

    char32_t char_of(index_t id) const {
        detail::check(id >= 0 && id < size(), "loom::Vocabulary::char_of: id ", id,
                      " is out of range for a vocabulary of ", size(), " characters (ids 0..", size() - 1, ")");
        return characters_[static_cast<std::size_t>(id)];
    }

    // One id per character (code point) of a UTF-8 text.
    std::vector<index_t> encode(std::string_view utf8) const {
        const std::vector<char32_t> characters = utf8_decode(utf8);
        std::vector<index_t> ids(characters.size());
        for (std::size_t i = 0; i < characters.size(); ++i) {
            ids[i] = find(characters[i]);
            // `if` + fail, not check(): check would run describe_code_point() for every character.
            if (ids[i] < 0)
                detail::fail("loom::Vocabulary::encode: character ", describe_code_point(characters[i]),
                             " at character position ", i, " is not in the vocabulary (", size(), " characters)");
        }
        return ids;
    }

    // The UTF-8 text of a sequence of ids.
    std::string decode(const std::vector<index_t>& ids) const {
        std::string text;
        text.reserve(ids.size());
        for (std::size_t i = 0; i < ids.size(); ++i) {
            detail::check(ids[i] >= 0 && ids[i] < size(), "loom::Vocabulary::decode: id ", ids[i], " at position ",
                          i, " is out of range for a vocabulary of ", size(), " characters");
            detail::append_utf8(text, characters_[static_cast<std::size_t>(ids[i])]);
        }
        return text;
    }

    // The UTF-8 text of one id: one character, one to four bytes.
    std::string decode(index_t id) const { return utf8_encode(char_of(id)); }

    // Every character once, in id order, as UTF-8 text: from_text(v.text()) == v.
    // Checkpoints keep the vocabulary this way, in their metadata.
    std::string text() const {
        std::string result;
        for (const char32_t character : characters_) detail::append_utf8(result, character);
        return result;
    }

    // A one-line description, e.g. "Vocabulary(65 characters, U+000A '\n' .. U+007A 'z')".
    std::string summary() const {
        if (empty()) return "Vocabulary(empty)";
        return "Vocabulary(" + std::to_string(size()) + " characters, " + describe_code_point(characters_.front()) +
               " .. " + describe_code_point(characters_.back()) + ")";
    }

    friend bool operator==(const Vocabulary& a, const Vocabulary& b) { return a.characters_ == b.characters_; }
    friend bool operator!=(const Vocabulary& a, const Vocabulary& b) { return !(a == b); }

    // Writes the vocabulary file (format above) atomically: to "<path>.tmp" first,
    // then renamed over `path`. Any failure throws loom::Error naming the path.
    void save(const std::string& path) const {
        const std::string temporary = path + ".tmp";
        write_file(temporary);
        std::error_code error;
        // std::filesystem::rename replaces an existing `path` in one step (POSIX
        // rename(2); on Windows it asks for replacement explicitly).
        std::filesystem::rename(temporary, path, error);
        if (error) {
            std::error_code ignored;
            std::filesystem::remove(temporary, ignored);
            detail::fail("loom::Vocabulary::save: cannot rename '", temporary, "' to '", path,
                         "': ", error.message());
        }
    }

    // Reads a file written by save(), checking every line.
    static Vocabulary load(const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        detail::check(static_cast<bool>(in), "loom::Vocabulary::load: cannot open '", path, "' for reading");
        LineReader reader{in, path};

        std::string line;
        if (!reader.next(line)) reader.fail("the file is empty, expected \"", file_header, "\"");
        check_header(reader, line);

        if (!reader.next(line)) reader.fail("the file ends before the number of characters");
        std::uint64_t count = 0;
        if (!parse_decimal(line, count)) reader.fail("expected the number of characters, found ", excerpt(line));
        // There are 0x110000 code points in all (surrogates included), so more is impossible.
        if (count > max_code_point + 1ull) reader.fail("character count ", count, " is more than Unicode has");

        Vocabulary vocabulary;
        vocabulary.characters_.reserve(static_cast<std::size_t>(count));
        for (std::uint64_t i = 0; i < count; ++i) {
            if (!reader.next(line)) reader.fail("the file ends after ", i, " of ", count, " characters");
            vocabulary.characters_.push_back(parse_character(reader, line, vocabulary.characters_));
        }
        if (reader.next(line)) reader.fail("unexpected line after the ", count, " characters: ", excerpt(line));
        return vocabulary;
    }

private:
    // The id of a character, or -1 if it is not in the vocabulary.
    index_t find(char32_t character) const {
        const auto found = std::lower_bound(characters_.begin(), characters_.end(), character);
        if (found == characters_.end() || *found != character) return -1;
        return static_cast<index_t>(found - characters_.begin());
    }

    void write_file(const std::string& file_path) const {
        std::ofstream out(file_path, std::ios::binary | std::ios::trunc);
        detail::check(static_cast<bool>(out), "loom::Vocabulary::save: cannot open '", file_path, "' for writing");
        out << file_header << '\n' << characters_.size() << '\n';
        for (const char32_t character : characters_) out << static_cast<std::uint32_t>(character) << '\n';
        out.close();
        if (out.fail()) {
            std::error_code ignored;
            std::filesystem::remove(file_path, ignored);
            detail::fail("loom::Vocabulary::save: error while writing '", file_path, "'");
        }
    }

    // Reads a file line by line and reports problems as "'<path>' line <n>: ...".
    struct LineReader {
        std::istream& in;
        const std::string& path;
        std::size_t line_number = 0;

        bool next(std::string& line) {
            if (!std::getline(in, line)) return false;
            ++line_number;
            // Accept Windows line ends, e.g. after the file went through an editor.
            if (!line.empty() && line.back() == '\r') line.pop_back();
            return true;
        }

        template <typename... Parts>
        [[noreturn]] void fail(Parts&&... parts) const {
            // A problem found at the end of the file belongs to the line after the last one.
            const std::size_t shown_line = in ? line_number : line_number + 1;
            detail::fail("loom::Vocabulary::load: '", path, "' line ", shown_line, ": ", std::forward<Parts>(parts)...);
        }
    };

    static void check_header(const LineReader& reader, const std::string& line) {
        if (line == file_header) return;
        const std::string_view magic = "loom-vocabulary ";
        if (line.compare(0, magic.size(), magic) == 0)
            reader.fail("unsupported format version ", excerpt(line), ", this loom reads \"", file_header, "\"");
        reader.fail("not a loom vocabulary file: expected \"", file_header, "\", found ", excerpt(line));
    }

    // A line quoted for an error message, cut short if long (it may come from a binary file).
    static std::string excerpt(const std::string& line) {
        const std::size_t shown = 40;
        return "\"" + line.substr(0, shown) + (line.size() > shown ? "...\"" : "\"");
    }

    // Parses a line holding only decimal digits (no sign, no spaces).
    static bool parse_decimal(const std::string& line, std::uint64_t& value) {
        const char* const end = line.data() + line.size();
        const auto [stop, error] = std::from_chars(line.data(), end, value);
        return !line.empty() && error == std::errc() && stop == end;
    }

    // Parses one code point line; it must be valid and above the previous one.
    static char32_t parse_character(const LineReader& reader, const std::string& line,
                                    const std::vector<char32_t>& previous) {
        std::uint64_t value = 0;
        if (!parse_decimal(line, value)) reader.fail("expected a code point in decimal, found ", excerpt(line));
        if (value > max_code_point) reader.fail("code point ", value, " is above U+10FFFF, the last code point");
        const auto character = static_cast<char32_t>(value);
        if (is_surrogate(character))
            reader.fail("code point ", value, " (", code_point_hex(character), ") is a surrogate, not a character");
        if (!previous.empty() && character == previous.back())
            reader.fail("duplicate character ", describe_code_point(character));
        if (!previous.empty() && character < previous.back())
            reader.fail("characters are not sorted: ", describe_code_point(character), " follows ",
                        describe_code_point(previous.back()));
        return character;
    }

    std::vector<char32_t> characters_;  // sorted, distinct; the id of a character is its index
};

}  // namespace loom
