#include "test_util.hpp"

// Tests for examples/char_tagger_data.hpp: the tags derived from the play's
// layout, and rendering tags back into layout.

#include <string>
#include <vector>

#include "../../examples/char_tagger_data.hpp"

using loom::index_t;

namespace examples_char_tagger_test {

using namespace char_tagger;  // the tag names

std::string ascii(const std::vector<char32_t>& characters) {
    std::string out;
    for (char32_t c : characters) out += static_cast<char>(c);
    return out;
}

TEST_CASE("tag_play tags speaker lines and the words of speeches, dropping white space", "[char_tagger]") {
    const TaggedText tagged = tag_play("First Citizen:\nBefore we  go,\nhear me.\n\nAll:\nSpeak: speak.\n");
    CHECK(ascii(tagged.characters) == "FirstCitizen:Beforewego,hearme.All:Speak:speak.");
    const std::vector<index_t> expected{
        begin_speaker, inside_speaker, inside_speaker, inside_speaker, inside_speaker, inside_speaker,
        inside_speaker, inside_speaker, inside_speaker, inside_speaker, inside_speaker, inside_speaker,
        inside_speaker,                                                                       // FirstCitizen:
        begin_word, inside_word, inside_word, inside_word, inside_word, inside_word,          // Before
        begin_word, inside_word, begin_word, inside_word, inside_word,                        // we go,
        begin_word, inside_word, inside_word, inside_word, begin_word, inside_word, inside_word,  // hear me.
        begin_speaker, inside_speaker, inside_speaker, inside_speaker,                        // All:
        // "Speak:" ends with a colon but is not after a blank line, so it is speech
        begin_word, inside_word, inside_word, inside_word, inside_word, inside_word,
        begin_word, inside_word, inside_word, inside_word, inside_word, inside_word};
    CHECK(tagged.tags == expected);
    const auto spans = loom::bio_spans(tagged.tags, tag_scheme());
    REQUIRE(spans.size() == 9);
    CHECK(spans[0] == loom::TagSpan{0, 0, 12});
    CHECK(spans[6] == loom::TagSpan{0, 31, 34});
}

TEST_CASE("render lays tagged characters out again", "[char_tagger]") {
    const TaggedText tagged = tag_play("First Citizen:\nBefore we go.\n\nAll:\nSpeak.\n");
    CHECK(render(tagged.characters, tagged.tags) == "FirstCitizen:\nBefore we go.\n\nAll:\nSpeak.");
    CHECK(std::string(tag_name(inside_word)) == "I-WORD");
    CHECK(tag_play("").characters.empty());
}

}  // namespace examples_char_tagger_test
