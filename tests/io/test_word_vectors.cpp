#include "test_util.hpp"

// Tests for loom/io/word_vectors.hpp:
//   - save_text -> load_text gives back the same words and the same float bits
//     (shortest round-trip decimals, including -0, subnormals and the extremes),
//     with the header line and one line per word in the file;
//   - nearest() and analogy() on small hand-made vectors whose answers and
//     cosines are worked out here: order, ties, exclusions, zero rows;
//   - every damaged file load_text must refuse, each error naming the
//     function, the file and the line; what it must accept (fastText's trailing
//     space, "\r\n");
//   - save_text refuses words that the format cannot hold (white space, empty)
//     and writes nothing then; the constructor and the queries check their input.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <loom/io/word_vectors.hpp>
#include <loom/tensor/random.hpp>

namespace io_word_vectors_test {  // named, not anonymous: the test files are compiled together in unity batches

using loom::index_t;
using loom::WordVectors;
using loom_test::contains;
using loom_test::error_message;
using Matrix = WordVectors::Matrix;

std::uint32_t bits_of(float value) {
    std::uint32_t bits = 0;
    std::memcpy(&bits, &value, sizeof bits);
    return bits;
}

// Rows of a matrix written out by hand.
Matrix rows(const std::vector<std::vector<float>>& values) {
    Matrix matrix(static_cast<Eigen::Index>(values.size()), static_cast<Eigen::Index>(values.at(0).size()));
    for (std::size_t r = 0; r < values.size(); ++r)
        for (std::size_t c = 0; c < values[r].size(); ++c)
            matrix(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) = values[r][c];
    return matrix;
}

std::vector<std::string> words_of(const std::vector<WordVectors::Neighbour>& neighbours) {
    std::vector<std::string> words;
    for (const auto& neighbour : neighbours) words.push_back(neighbour.word);
    return words;
}

// The message load_text gives for a file with this text.
std::string load_error(const std::string& text, std::string* path_out = nullptr) {
    const std::string path = loom_test::unique_temp_path("loom_word_vectors_bad", ".vec");
    loom_test::write_text_file(path, text);
    const std::string message = error_message([&] { WordVectors::load_text(path); });
    std::filesystem::remove(path);
    if (path_out != nullptr) *path_out = path;
    return message;
}

TEST_CASE("WordVectors: save_text then load_text gives back every word and every float bit for bit",
          "[io][word_vectors]") {
    const float special[] = {0.1f, -0.0f, 0.0f, 1.0f / 3.0f, std::numeric_limits<float>::max(),
                             -std::numeric_limits<float>::max(), std::numeric_limits<float>::min(),
                             std::numeric_limits<float>::denorm_min(), -1e-40f, 16777217.0f, 123456.789f, -2.5e-7f};
    const index_t dimension = 12;
    const std::vector<std::string> words{"the", "king", "o'er", "été", "</s>", "<unk>", ",", "東京"};
    loom::Generator generator(7);
    Matrix vectors(static_cast<index_t>(words.size()), dimension);
    for (index_t r = 0; r < vectors.rows(); ++r)
        for (index_t c = 0; c < dimension; ++c)
            vectors(r, c) = r == 0 ? special[c] : static_cast<float>(generator.normal(0.0, r == 1 ? 1e-3 : 10.0));
    const WordVectors original(words, vectors);

    const std::string path = loom_test::unique_temp_path("loom_word_vectors", ".vec");
    original.save_text(path);
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));

    const std::string text = loom_test::read_text_file(path);
    CHECK(text.rfind("8 12\nthe 0.1 -0 0 0.33333334 3.4028235e+38 ", 0) == 0);
    CHECK(std::count(text.begin(), text.end(), '\n') == 9);  // the header and one line per word
    CHECK(text.back() == '\n');

    const WordVectors loaded = WordVectors::load_text(path);
    std::filesystem::remove(path);
    REQUIRE(loaded.size() == original.size());
    REQUIRE(loaded.dimension() == dimension);
    CHECK(loaded.words() == words);
    std::size_t differing_bits = 0;
    for (index_t r = 0; r < vectors.rows(); ++r)
        for (index_t c = 0; c < dimension; ++c)
            if (bits_of(loaded.matrix()(r, c)) != bits_of(vectors(r, c))) ++differing_bits;
    CHECK(differing_bits == 0);
    CHECK(std::signbit(loaded.vector(0)(1)));  // -0 stays negative zero
    CHECK(loaded.index_of("été") == 3);
    CHECK(loaded.index_of("absent") == -1);
    CHECK(loaded.word(7) == "東京");
}

TEST_CASE("WordVectors: an empty table saves and loads", "[io][word_vectors]") {
    const std::string path = loom_test::unique_temp_path("loom_word_vectors_empty", ".vec");
    WordVectors({}, Matrix(0, 5)).save_text(path);
    CHECK(loom_test::read_text_file(path) == "0 5\n");
    const WordVectors loaded = WordVectors::load_text(path);
    std::filesystem::remove(path);
    CHECK(loaded.size() == 0);
    CHECK(loaded.dimension() == 5);
}

TEST_CASE("WordVectors: load_text accepts fastText's trailing space, CRLF line ends, runs of blanks",
          "[io][word_vectors]") {
    const std::string path = loom_test::unique_temp_path("loom_word_vectors_fasttext", ".vec");
    loom_test::write_text_file(path, "2 3 \r\nfoo 1 -2.5 3e-2 \r\nbar  0.5\t0.25 0.125 \r\n");
    const WordVectors loaded = WordVectors::load_text(path);
    std::filesystem::remove(path);
    REQUIRE(loaded.size() == 2);
    CHECK(loaded.words() == std::vector<std::string>{"foo", "bar"});
    CHECK(loaded.vector(0)(1) == -2.5f);
    CHECK(loaded.vector(0)(2) == 0.03f);
    CHECK(loaded.vector(1)(2) == 0.125f);
}

// Directions in 3-D: "up" is almost "north", "northeast" is 45° from it,
// "east" and "sky" are at 90° (a tie, broken by row), "south" is opposite,
// "nothing" is the zero vector.
WordVectors compass() {
    return WordVectors({"north", "east", "up", "south", "nothing", "northeast", "sky"},
                       rows({{0, 1, 0}, {1, 0, 0}, {0, 2, 0.1f}, {0, -3, 0}, {0, 0, 0}, {1, 1, 0}, {0, 0, 5}}));
}

TEST_CASE("WordVectors: nearest ranks by cosine, leaves out the word, zero rows and exclusions", "[io][word_vectors]") {
    const WordVectors table = compass();
    const auto neighbours = table.nearest("north", 10);
    // All but "north" itself and "nothing"; east and sky tie at 0, east is the lower row.
    CHECK(words_of(neighbours) == std::vector<std::string>{"up", "northeast", "east", "sky", "south"});
    REQUIRE(neighbours.size() == 5);
    CHECK(neighbours[0].index == 2);
    CHECK(neighbours[0].similarity == Approx(2.0 / std::sqrt(4.01)).epsilon(1e-6));
    CHECK(neighbours[1].similarity == Approx(1.0 / std::sqrt(2.0)).epsilon(1e-6));
    CHECK(neighbours[2].similarity == Approx(0.0).margin(1e-7));
    CHECK(neighbours[4].similarity == Approx(-1.0).epsilon(1e-6));

    CHECK(words_of(table.nearest("north", 2)) == std::vector<std::string>{"up", "northeast"});
    CHECK(table.nearest("north", 0).empty());
    CHECK(words_of(table.nearest("north", 2, {"up", "not a word"})) == std::vector<std::string>{"northeast", "east"});

    // A query vector: the length does not matter, only the direction.
    Eigen::VectorXf query(3);
    query << 100, 0, 1;
    CHECK(words_of(table.nearest(query, 3)) == std::vector<std::string>{"east", "northeast", "sky"});
    CHECK(words_of(table.nearest(query, 1, {"east"})) == std::vector<std::string>{"northeast"});
    CHECK(table.similarity(0, 5) == Approx(1.0 / std::sqrt(2.0)).epsilon(1e-6));
    CHECK(table.similarity(0, 4) == 0.0f);
}

TEST_CASE("WordVectors: analogy finds b - a + c and leaves out a, b and c", "[io][word_vectors]") {
    // Axes: person, royal, male, female.
    const WordVectors table({"man", "woman", "king", "queen", "girl", "throne", "void"},
                            rows({{1, 0, 1, 0}, {1, 0, 0, 1}, {1, 1, 1, 0}, {1, 1, 0, 1}, {0.9f, 0, 0, 1.1f},
                                  {0, 1, 0, 0}, {0, 0, 0, 0}}));
    const auto answer = table.analogy("man", "king", "woman", 3);
    CHECK(words_of(answer) == std::vector<std::string>{"queen", "girl", "throne"});

    // The cosine of queen with king/|king| - man/|man| + woman/|woman|, worked out in double.
    const double r2 = std::sqrt(2.0), r3 = std::sqrt(3.0);
    const double target[4] = {1 / r3 - 1 / r2 + 1 / r2, 1 / r3, 1 / r3 - 1 / r2, 1 / r2};
    const double queen[4] = {1 / r3, 1 / r3, 0, 1 / r3};
    double dot = 0, norm = 0;
    for (int i = 0; i < 4; ++i) {
        dot += target[i] * queen[i];
        norm += target[i] * target[i];
    }
    REQUIRE(!answer.empty());
    CHECK(answer[0].similarity == Approx(dot / std::sqrt(norm)).epsilon(1e-5));

    // Asked for everything: a, b, c and the zero row are still left out.
    CHECK(words_of(table.analogy("man", "king", "woman", 100)) ==
          std::vector<std::string>{"queen", "girl", "throne"});
    CHECK(words_of(table.analogy("king", "man", "queen", 1)) == std::vector<std::string>{"woman"});
}

TEST_CASE("WordVectors: the queries and the constructor check their input", "[io][word_vectors]") {
    const WordVectors table = compass();
    std::string message = error_message([&] { table.nearest("west", 3); });
    CHECK(contains(message, "loom::WordVectors::nearest"));
    CHECK(contains(message, "\"west\" is not one of the 7 words"));
    CHECK(contains(error_message([&] { table.analogy("north", "west", "east", 3); }), "loom::WordVectors::analogy"));
    CHECK(contains(error_message([&] { table.nearest("nothing", 3); }), "zero"));
    CHECK(contains(error_message([&] { table.nearest("north", -1); }), "k must not be negative"));
    CHECK(contains(error_message([&] { table.nearest(Eigen::VectorXf::Ones(4), 1); }), "the query has 4 values"));
    CHECK(contains(error_message([&] { table.vector(7); }), "row 7 is out of range for a table of 7 words"));
    CHECK(contains(error_message([&] { table.word(-1); }), "loom::WordVectors::word"));

    CHECK(contains(error_message([&] { WordVectors({"a", "b", "a"}, Matrix::Zero(3, 2)); }),
                   "word \"a\" is listed twice (rows 0 and 2)"));
    CHECK(contains(error_message([&] { WordVectors({"a", "b"}, Matrix::Zero(3, 2)); }), "2 words but 3 rows"));
    CHECK(contains(error_message([&] { WordVectors({"a"}, Matrix::Zero(1, 0)); }), "dimension must be at least 1"));
    Matrix with_nan = Matrix::Zero(2, 2);
    with_nan(1, 0) = std::numeric_limits<float>::quiet_NaN();
    CHECK(contains(error_message([&] { WordVectors({"a", "b"}, with_nan); }), "\"b\" (row 1) has a value that is NaN"));
}

TEST_CASE("WordVectors: save_text refuses a word the format cannot hold, and writes nothing", "[io][word_vectors]") {
    const std::string path = loom_test::unique_temp_path("loom_word_vectors_refused", ".vec");
    for (const std::string bad : {"new york", "tab\there", "line\nbreak", "carriage\r"}) {
        INFO("word: " << bad);
        const WordVectors table({"fine", bad}, Matrix::Ones(2, 3));
        const std::string message = error_message([&] { table.save_text(path); });
        CHECK(contains(message, "loom::WordVectors::save_text"));
        CHECK(contains(message, path));
        CHECK(contains(message, "\"" + bad + "\" (row 1) contains white space"));
        CHECK_FALSE(std::filesystem::exists(path));
        CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
    }
    const WordVectors empty_word({"fine", ""}, Matrix::Ones(2, 3));
    CHECK(contains(error_message([&] { empty_word.save_text(path); }), "the word of row 1 is empty"));
    CHECK_FALSE(std::filesystem::exists(path));

    const std::string missing_dir = path + "_no_such_dir/vectors.vec";
    const std::string message = error_message([&] { compass().save_text(missing_dir); });
    CHECK(contains(message, "cannot open '" + missing_dir + ".tmp' for writing"));
}

TEST_CASE("WordVectors: load_text names the function, the file and the line of every error", "[io][word_vectors]") {
    const std::string function = "loom::WordVectors::load_text: '";
    std::string path;
    struct Case {
        const char* text;
        const char* where;  // "line N"
        const char* what;
    };
    const Case cases[] = {
        {"", "line 1", "the file is empty"},
        {"3\n", "line 1", "expected a header \"<count> <dimension>\", found \"3\""},
        {"three 4\nking 1 2 3 4\n", "line 1", "expected a header"},
        {"1 2 3\nking 1 2\n", "line 1", "expected a header"},
        {"-1 2\n", "line 1", "expected a header"},
        {"1 0\nking\n", "line 1", "the dimension must be at least 1, got 0"},
        {"2 4\nking 1 2 3 4\nqueen 1 2 3\n", "line 3", "expected 4 values after the word \"queen\", found 3"},
        {"2 4\nking 1 2 3 4\nqueen 1 2 3 4 5\n", "line 3", "expected 4 values after the word \"queen\", found 5"},
        {"2 2\nking 1 2\n\n", "line 3", "empty line"},
        {"1 3\nking 0.5 x 1\n", "line 2", "value 2 of \"king\" is not a finite float: \"x\""},
        {"1 3\nking 0.5 1 2.5abc\n", "line 2", "value 3 of \"king\" is not a finite float: \"2.5abc\""},
        {"1 3\nking 0.5 1e50 1\n", "line 2", "is not a finite float: \"1e50\""},
        {"1 3\nking nan 1 1\n", "line 2", "is not a finite float: \"nan\""},
        {"1 3\nking 1 inf 1\n", "line 2", "is not a finite float: \"inf\""},
        {"1 2\nking 1,5 2\n", "line 2", "is not a finite float: \"1,5\""},
        {"3 2\nking 1 2\nqueen 3 4\nking 5 6\n", "line 4", "word \"king\" is listed twice (first on line 2)"},
        {"1 2\nking 1 2\nqueen 3 4\n", "line 3", "more rows than the 1 words the header announces"},
    };
    for (const Case& bad : cases) {
        INFO("file text: " << bad.text);
        const std::string message = load_error(bad.text, &path);
        INFO("message: " << message);
        CHECK(contains(message, function + path + "' " + bad.where + ": "));
        CHECK(contains(message, bad.what));
    }

    // Too few rows: the header is wrong, which is found at the end.
    const std::string message = load_error("3 2\nking 1 2\nqueen 3 4\n", &path);
    CHECK(contains(message, function + path + "': the header (line 1) announces 3 words but the file has 2"));
    CHECK(contains(message, "ends after line 3"));

    const std::string missing = loom_test::unique_temp_path("loom_word_vectors_missing", ".vec");
    CHECK(error_message([&] { WordVectors::load_text(missing); }) ==
          "loom::WordVectors::load_text: cannot open '" + missing + "' for reading");
}

}  // namespace io_word_vectors_test
