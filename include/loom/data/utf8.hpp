// loom/data/utf8.hpp — strict UTF-8 decoding and encoding of Unicode code points.
//
// loom's text models work on characters, and a character is a Unicode code point
// (a char32_t), not a byte: "床" is one code point stored as three bytes. UTF-8
// spreads the bits of a code point over one to four bytes:
//   U+0000  .. U+007F     0xxxxxxx
//   U+0080  .. U+07FF     110xxxxx 10xxxxxx
//   U+0800  .. U+FFFF     1110xxxx 10xxxxxx 10xxxxxx
//   U+10000 .. U+10FFFF   11110xxx 10xxxxxx 10xxxxxx 10xxxxxx
// The first byte (the lead byte) says how many bytes follow; every following
// byte is a continuation byte, 10xxxxxx.
//
// The decoder is strict. It rejects
//   - a continuation byte where a character should start (a stray byte),
//   - a sequence cut short, by the end of the input or by a byte that is not a
//     continuation byte,
//   - overlong forms such as C0 AF for '/': a character must use its shortest
//     form, otherwise one text would have several spellings,
//   - surrogates U+D800..U+DFFF (halves of UTF-16 pairs, not characters) and
//     anything above U+10FFFF, the last code point,
//   - the bytes F8..FF, which start no UTF-8 sequence.
// Its error names the byte offset where the bad sequence starts and that byte:
//   "loom::utf8_decode: invalid UTF-8 at byte offset 17 (byte 0xC3): truncated sequence ..."
// A leading byte-order mark (EF BB BF, U+FEFF) is not special: it is decoded as
// an ordinary character, so decoding never silently drops anything.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iomanip>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loom/tensor/error.hpp"

namespace loom {

// The last code point Unicode defines.
inline constexpr char32_t max_code_point = 0x10FFFF;

inline bool is_surrogate(char32_t code_point) { return code_point >= 0xD800 && code_point <= 0xDFFF; }

// A code point that UTF-8 may encode: at most U+10FFFF and not a surrogate.
inline bool is_valid_code_point(char32_t code_point) {
    return code_point <= max_code_point && !is_surrogate(code_point);
}

// "U+0041", "U+4E2D", "U+1F600": the standard way to name a code point.
inline std::string code_point_hex(char32_t code_point) {
    std::ostringstream out;
    out << "U+" << std::uppercase << std::hex << std::setw(4) << std::setfill('0')
        << static_cast<std::uint32_t>(code_point);
    return out.str();
}

namespace detail {

// "0xC3": a byte as it appears in error messages.
inline std::string byte_hex(unsigned char byte) {
    std::ostringstream out;
    out << "0x" << std::uppercase << std::hex << std::setw(2) << std::setfill('0') << static_cast<unsigned>(byte);
    return out.str();
}

// Why a code point cannot be encoded; "" when it can.
inline std::string invalid_code_point_reason(char32_t code_point) {
    if (is_surrogate(code_point)) return "it is a surrogate (U+D800..U+DFFF), not a character";
    if (code_point > max_code_point) return "it is above U+10FFFF, the last code point";
    return "";
}

// Appends the UTF-8 bytes of a code point already known to be valid.
inline void append_utf8(std::string& out, char32_t code_point) {
    const auto byte = [](char32_t bits) { return static_cast<char>(static_cast<unsigned char>(bits)); };
    if (code_point < 0x80) {
        out += byte(code_point);
    } else if (code_point < 0x800) {
        out += byte(0xC0 | (code_point >> 6));
        out += byte(0x80 | (code_point & 0x3F));
    } else if (code_point < 0x10000) {
        out += byte(0xE0 | (code_point >> 12));
        out += byte(0x80 | ((code_point >> 6) & 0x3F));
        out += byte(0x80 | (code_point & 0x3F));
    } else {
        out += byte(0xF0 | (code_point >> 18));
        out += byte(0x80 | ((code_point >> 12) & 0x3F));
        out += byte(0x80 | ((code_point >> 6) & 0x3F));
        out += byte(0x80 | (code_point & 0x3F));
    }
}

template <typename... Reason>
[[noreturn]] void fail_utf8(std::size_t offset, unsigned char byte, Reason&&... reason) {
    fail("loom::utf8_decode: invalid UTF-8 at byte offset ", offset, " (byte ", byte_hex(byte),
         "): ", std::forward<Reason>(reason)...);
}

// Decodes the one character that starts at bytes[offset], checks it, and
// returns it; `length` receives how many bytes it used.
inline char32_t decode_utf8_character(std::string_view bytes, std::size_t offset, std::size_t& length) {
    const auto lead = static_cast<unsigned char>(bytes[offset]);
    if (lead < 0x80) {
        length = 1;
        return lead;
    }
    if (lead < 0xC0) fail_utf8(offset, lead, "unexpected continuation byte (no character starts with 10xxxxxx)");
    if (lead >= 0xF8) fail_utf8(offset, lead, "no UTF-8 sequence starts with a byte above 0xF7");

    length = lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    // The lead byte carries 5, 4 or 3 payload bits for a 2-, 3- or 4-byte sequence.
    char32_t code_point = lead & (0x7Fu >> length);
    for (std::size_t i = 1; i < length; ++i) {
        if (offset + i >= bytes.size())
            fail_utf8(offset, lead, "truncated sequence (the input ends after ", i, " of ", length, " bytes)");
        const auto next = static_cast<unsigned char>(bytes[offset + i]);
        if ((next & 0xC0) != 0x80)
            fail_utf8(offset, lead, "truncated sequence (byte ", byte_hex(next), " at offset ", offset + i,
                      " is not a continuation byte; ", length, " bytes were expected)");
        code_point = (code_point << 6) | (next & 0x3Fu);
    }

    // The smallest code point that needs `length` bytes; anything below it had a shorter form.
    const char32_t shortest_needs[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < shortest_needs[length])
        fail_utf8(offset, lead, "overlong encoding of ", code_point_hex(code_point), " in ", length,
                  " bytes (its shortest form must be used)");
    if (!is_valid_code_point(code_point))
        fail_utf8(offset, lead, "encodes ", code_point_hex(code_point), ", but ",
                  invalid_code_point_reason(code_point));
    return code_point;
}

}  // namespace detail

// The code points of a UTF-8 text; throws loom::Error on any invalid byte sequence.
inline std::vector<char32_t> utf8_decode(std::string_view bytes) {
    std::vector<char32_t> code_points;
    code_points.reserve(bytes.size());  // an upper bound: at least one byte per character
    std::size_t offset = 0;
    while (offset < bytes.size()) {
        std::size_t length = 0;
        code_points.push_back(detail::decode_utf8_character(bytes, offset, length));
        offset += length;
    }
    return code_points;
}

// The UTF-8 bytes of one code point; throws loom::Error for a surrogate or a
// value above U+10FFFF.
inline std::string utf8_encode(char32_t code_point) {
    if (!is_valid_code_point(code_point))
        detail::fail("loom::utf8_encode: cannot encode ", code_point_hex(code_point), ": ",
                     detail::invalid_code_point_reason(code_point));
    std::string out;
    detail::append_utf8(out, code_point);
    return out;
}

// The UTF-8 bytes of a sequence of code points; an invalid one is named with its index.
inline std::string utf8_encode(const std::vector<char32_t>& code_points) {
    std::string out;
    out.reserve(code_points.size());
    for (std::size_t i = 0; i < code_points.size(); ++i) {
        const char32_t code_point = code_points[i];
        // `if` + fail rather than check(): check's arguments, strings built by
        // code_point_hex() among them, would be evaluated for every character.
        if (!is_valid_code_point(code_point))
            detail::fail("loom::utf8_encode: cannot encode ", code_point_hex(code_point), " at index ", i, ": ",
                         detail::invalid_code_point_reason(code_point));
        detail::append_utf8(out, code_point);
    }
    return out;
}

// A code point as error messages show it: its U+ name, then the character in
// quotes when it can be shown, e.g. "U+0041 'A'", "U+4E2D '中'", "U+000A '\n'".
// Other control characters get "(control character)" instead, since printing
// them would garble the message.
inline std::string describe_code_point(char32_t code_point) {
    const std::string name = code_point_hex(code_point);
    switch (code_point) {
        case U'\n': return name + " '\\n'";
        case U'\r': return name + " '\\r'";
        case U'\t': return name + " '\\t'";
        default: break;
    }
    if (!is_valid_code_point(code_point)) return name + " (not a valid code point)";
    const bool control = code_point < 0x20 || (code_point >= 0x7F && code_point < 0xA0);
    if (control) return name + " (control character)";
    return name + " '" + utf8_encode(code_point) + "'";
}

}  // namespace loom
