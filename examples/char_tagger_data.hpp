// examples/char_tagger_data.hpp — the tagging task of examples/char_tagger:
// Shakespeare with every space and line break taken out, to be tagged back.
//
// tinyshakespeare is a list of speeches separated by blank lines; the first
// line of each speech is its speaker's name and a colon ("First Citizen:"),
// the lines after it the speech. From that layout alone, deterministically,
// every character that is not white space gets one of four tags:
//   B-SPEAKER  the first character of a speaker line      "F" of "FirstCitizen:"
//   I-SPEAKER  the rest of that line                      "irstCitizen:"
//   B-WORD     the first character of a word of a speech  "B" of "Before"
//   I-WORD     the rest of the word                       "efore"
// and the white space is dropped. The input is then one run of characters,
//   FirstCitizen:Beforeweproceedanyfurther,hearmespeak.All:Speak,speak.
// and a tagger must find the speaker names (capitals and a colon, but also
// "All:" and "Second Servingman:") and the word boundaries (which needs
// knowledge of English words: word segmentation, as for Chinese or hashtags).
// Spans are maximal B I … I runs (loom/data/tag_spans.hpp); I after the other
// type is impossible in gold data, which is the structure a CRF can learn.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <loom/data/tag_spans.hpp>
#include <loom/data/utf8.hpp>

namespace char_tagger {

enum Tag : loom::index_t { begin_speaker = 0, inside_speaker = 1, begin_word = 2, inside_word = 3 };
constexpr loom::index_t num_tags = 4;

inline std::vector<loom::BioTag> tag_scheme() { return {{0, true}, {0, false}, {1, true}, {1, false}}; }
inline std::vector<std::string> span_type_names() { return {"speaker", "word"}; }
inline const char* tag_name(loom::index_t tag) {
    static constexpr const char* names[] = {"B-SPEAKER", "I-SPEAKER", "B-WORD", "I-WORD"};
    return tag >= 0 && tag < num_tags ? names[tag] : "?";
}

struct TaggedText {
    std::vector<char32_t> characters;  // the text without white space
    std::vector<loom::index_t> tags;   // one per character
};

inline bool is_space(char32_t c) { return c == U' ' || c == U'\t' || c == U'\n' || c == U'\r'; }

// The tags of a play in tinyshakespeare's layout (see the top of the file).
inline TaggedText tag_play(std::string_view utf8) {
    const std::vector<char32_t> text = loom::utf8_decode(utf8);
    TaggedText tagged;
    bool after_blank = true;  // the file starts like a new speech
    std::size_t line_start = 0;
    while (line_start < text.size()) {
        std::size_t line_end = line_start;
        while (line_end < text.size() && text[line_end] != U'\n') ++line_end;
        std::size_t last = line_end;  // one past the last non-space character
        while (last > line_start && is_space(text[last - 1])) --last;
        const bool blank = last == line_start;
        const bool speaker = !blank && after_blank && text[last - 1] == U':';
        bool word_start = true, speaker_start = true;
        for (std::size_t i = line_start; i < last; ++i) {
            if (is_space(text[i])) {
                word_start = true;
                continue;
            }
            tagged.characters.push_back(text[i]);
            if (speaker) tagged.tags.push_back(speaker_start ? begin_speaker : inside_speaker);
            else tagged.tags.push_back(word_start ? begin_word : inside_word);
            speaker_start = word_start = false;
        }
        after_blank = blank;
        line_start = line_end + 1;
    }
    return tagged;
}

// The characters back with the tags read as layout: a line break before a
// speaker, a colon-ended speaker line, and a space before every later word.
inline std::string render(const std::vector<char32_t>& characters, const std::vector<loom::index_t>& tags) {
    std::string out;
    for (std::size_t i = 0; i < characters.size(); ++i) {
        if (i > 0 && tags[i] == begin_speaker) out += "\n\n";
        else if (i > 0 && tags[i] == begin_word) out += tags[i - 1] <= inside_speaker ? "\n" : " ";
        out += loom::utf8_encode(characters[i]);
    }
    return out;
}

}  // namespace char_tagger
