// loom/decode/stream.hpp — turning generated tokens into text as it is produced.
//
// A generator appends the text of each new token (the caller's token → text
// function, e.g. a vocabulary's decode) to a TextStream. The stream
//   1. appends the piece to the generated text t,
//   2. looks for a stop string in the tail of t: only the bytes that could
//      overlap the new piece, t[max(0, |t_old| - (longest stop - 1)) ..], so a
//      stop string spread over two or more tokens is found as soon as its last
//      byte arrives. On a match at position p, t is cut to t[0, p): the stop
//      string and anything after it are neither kept nor emitted,
//   3. otherwise emits, through the callback, everything not yet emitted except
//      a held-back tail:
//        hold = max(bytes of an incomplete UTF-8 character at the end of t,
//                   longest suffix of t that is a proper prefix of a stop string)
//      so the callback only ever sees whole UTF-8 characters (tokens may be
//      single bytes of a multi-byte character) and never the beginning of a
//      stop string that may still complete,
//   4. reports "stop" when a stop string matched or the callback returned false.
// At the end (finish), the held-back tail is emitted. If the text ends inside a
// character (the model stopped after, say, 2 of 3 bytes), those bytes are
// replaced by U+FFFD (the replacement character) in both the text and the last
// piece, so the pieces are always whole characters and their concatenation is
// always the final text — unless the callback stopped generation, in which case
// it saw a prefix of the text and nothing more.
//
// Bytes that are not valid UTF-8 in the middle of the text (a stray
// continuation byte, say) are passed through unchanged: the stream only
// guarantees that it never splits a character that the bytes do form.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "loom/tensor/error.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

// The text of one token id (e.g. Vocabulary::decode of a single id).
using TokenText = std::function<std::string(index_t token)>;
// Receives each new piece of text; return false to stop generation.
using TextCallback = std::function<bool(const std::string& piece)>;

namespace detail {

// How many bytes at the end of `text` are the start of a UTF-8 character whose
// remaining bytes have not arrived yet (0 when the text ends on a whole character).
inline std::size_t incomplete_utf8_tail(const std::string& text) {
    const std::size_t size = text.size();
    for (std::size_t back = 1; back <= std::min<std::size_t>(3, size); ++back) {
        const auto byte = static_cast<unsigned char>(text[size - back]);
        if ((byte & 0xC0) == 0x80) continue;  // a continuation byte: look further back
        const std::size_t needed = byte < 0xC0 ? 1 : byte < 0xE0 ? 2 : byte < 0xF0 ? 3 : byte < 0xF8 ? 4 : 1;
        return needed > back ? back : 0;
    }
    return 0;  // no lead byte in the last three: a whole 4-byte character, or bytes no character starts with
}

}  // namespace detail

class TextStream {
public:
    explicit TextStream(std::vector<std::string> stop_strings = {}, TextCallback on_text = nullptr)
        : stop_strings_(std::move(stop_strings)), on_text_(std::move(on_text)) {
        for (const std::string& stop : stop_strings_) {
            if (stop.empty()) detail::fail("loom::TextStream: a stop string is empty (it would match before any text)");
            longest_stop_ = std::max(longest_stop_, stop.size());
        }
    }

    // Adds the text of one token. Returns false when generation must stop:
    // a stop string matched (stopped_by_stop_string) or the callback returned
    // false (stopped_by_callback).
    bool append(const std::string& piece) {
        if (stopped()) detail::fail("loom::TextStream::append: the stream has already stopped");
        const std::size_t old_size = text_.size();
        text_ += piece;
        if (find_stop_string(old_size)) {
            emit(text_.size());
            return false;
        }
        const std::size_t hold = std::max(detail::incomplete_utf8_tail(text_), stop_prefix_tail());
        emit(std::max(emitted_, text_.size() - hold));
        return !stopped();
    }

    // End of generation: emits the held-back tail (an unfinished character at
    // the very end becomes U+FFFD). Calling it twice does nothing more.
    void finish() {
        if (finished_) return;
        finished_ = true;
        if (const std::size_t cut = detail::incomplete_utf8_tail(text_); cut > 0) {
            text_.resize(text_.size() - cut);
            text_ += "\xEF\xBF\xBD";  // U+FFFD
        }
        if (!stopped_by_callback_) emit(text_.size());
    }

    // The generated text: without the stop string and anything after it.
    const std::string& text() const { return text_; }
    bool stopped_by_stop_string() const { return stopped_by_stop_string_; }
    bool stopped_by_callback() const { return stopped_by_callback_; }
    bool stopped() const { return stopped_by_stop_string_ || stopped_by_callback_; }
    // The stop string that matched ("" if none).
    const std::string& matched_stop_string() const { return matched_; }

private:
    // Looks for the earliest stop string that overlaps the bytes from `old_size`
    // on; cuts the text there.
    bool find_stop_string(std::size_t old_size) {
        if (stop_strings_.empty()) return false;
        const std::size_t from = old_size >= longest_stop_ - 1 ? old_size - (longest_stop_ - 1) : 0;
        std::size_t earliest = std::string::npos;
        for (const std::string& stop : stop_strings_) {
            const std::size_t at = text_.find(stop, from);
            if (at < earliest) {
                earliest = at;
                matched_ = stop;
            }
        }
        if (earliest == std::string::npos) return false;
        text_.resize(earliest);
        stopped_by_stop_string_ = true;
        return true;
    }

    // Longest suffix of the text that is a proper prefix of some stop string.
    std::size_t stop_prefix_tail() const {
        std::size_t hold = 0;
        for (const std::string& stop : stop_strings_)
            for (std::size_t length = std::min(stop.size() - 1, text_.size()); length > hold; --length)
                if (text_.compare(text_.size() - length, length, stop, 0, length) == 0) {
                    hold = length;
                    break;
                }
        return hold;
    }

    void emit(std::size_t end) {
        if (end <= emitted_ || stopped_by_callback_) return;
        const std::string piece = text_.substr(emitted_, end - emitted_);
        emitted_ = end;
        if (on_text_ && !on_text_(piece)) stopped_by_callback_ = true;
    }

    std::vector<std::string> stop_strings_;
    TextCallback on_text_;
    std::size_t longest_stop_ = 0;
    std::string text_;
    std::size_t emitted_ = 0;  // bytes of text_ already given to the callback
    std::string matched_;
    bool stopped_by_stop_string_ = false;
    bool stopped_by_callback_ = false;
    bool finished_ = false;
};

}  // namespace loom
