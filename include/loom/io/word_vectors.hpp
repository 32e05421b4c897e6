// loom/io/word_vectors.hpp — a table of word vectors (word2vec, fastText, GloVe
// converted), its .vec text file, and nearest-neighbour queries by cosine.
//
// File format: the text format word2vec (-binary 0) and fastText write. The
// first line is "<count> <dimension>"; then one line per word, the word and its
// `dimension` values separated by single spaces:
//
//   3 4
//   king 0.125 -0.5 0.03125 1
//   queen 0.25 -0.375 0 0.75
//   </s> 0 0 0 0
//
// save_text() prints each float as the shortest decimal that reads back as the
// same float (std::to_chars), so save → load is bit-exact and does not depend
// on the locale. load_text() also accepts runs of spaces or tabs, the trailing
// space fastText puts after the last value, and "\r\n" line ends. A word cannot
// contain white space (the separator) or be empty: save_text() refuses one.
//
// Similarity is the cosine of the angle between two vectors,
//   cos(a, b) = a·b / (|a| |b|),
// 1 for the same direction, 0 for orthogonal, −1 for opposite. Every row is
// divided by its length once, when the table is built, so a query is one
// matrix-vector product of the unit rows with the unit query: scores = Û q̂.
// A zero row has no direction; it is never returned as a neighbour.
//
// analogy(a, b, c) answers "a is to b as c is to ?" ("man:king :: woman:?")
// with the word nearest to b̂ − â + ĉ (unit vectors, Mikolov et al. 2013's
// 3CosAdd), leaving out a, b and c themselves, which are usually nearest.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "loom/tensor/error.hpp"
#include "loom/tensor/shape.hpp"

namespace loom {

class WordVectors {
public:
    // One row per word.
    using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

    struct Neighbour {
        index_t index = -1;      // the word's row
        std::string word;
        float similarity = 0.f;  // cosine with the query, in [-1, 1]
    };

    WordVectors() = default;

    // Row i of `vectors` is the vector of words[i]. The words must be distinct,
    // the values finite and the dimension at least 1.
    WordVectors(std::vector<std::string> words, Matrix vectors)
        : words_(std::move(words)), vectors_(std::move(vectors)) {
        const char* const who = "loom::WordVectors";
        detail::check(static_cast<index_t>(words_.size()) == vectors_.rows(), who, ": ", words_.size(),
                      " words but ", vectors_.rows(), " rows of vectors");
        detail::check(vectors_.cols() >= 1, who, ": the dimension must be at least 1, got ", vectors_.cols());
        unit_vectors_ = vectors_;
        for (index_t row = 0; row < size(); ++row) {
            const std::string& word = words_[static_cast<std::size_t>(row)];
            detail::check(vectors_.row(row).allFinite(), who, ": the vector of \"", word, "\" (row ", row,
                          ") has a value that is NaN or infinite");
            if (!ids_.emplace(word, row).second)
                detail::fail(who, ": word \"", word, "\" is listed twice (rows ", ids_.at(word), " and ", row, ")");
            const float length = vectors_.row(row).norm();
            if (length > 0.f) unit_vectors_.row(row) /= length;
        }
    }

    index_t size() const { return static_cast<index_t>(words_.size()); }
    index_t dimension() const { return vectors_.cols(); }
    const std::vector<std::string>& words() const { return words_; }
    const Matrix& matrix() const { return vectors_; }

    const std::string& word(index_t index) const {
        check_index("loom::WordVectors::word", index);
        return words_[static_cast<std::size_t>(index)];
    }

    // The row of a word, or -1 if it is not in the table.
    index_t index_of(const std::string& word) const {
        const auto found = ids_.find(word);
        return found == ids_.end() ? -1 : found->second;
    }
    bool contains(const std::string& word) const { return ids_.count(word) > 0; }

    Matrix::ConstRowXpr vector(index_t index) const {
        check_index("loom::WordVectors::vector", index);
        return vectors_.row(index);
    }

    // Cosine similarity of two rows (0 if either is a zero vector).
    float similarity(index_t a, index_t b) const {
        check_index("loom::WordVectors::similarity", a);
        check_index("loom::WordVectors::similarity", b);
        return unit_vectors_.row(a).dot(unit_vectors_.row(b));
    }

    // The k rows most similar to `query` by cosine, most similar first (ties:
    // lower row first), leaving out zero rows and the words in `exclude`
    // (words not in the table are ignored). Fewer than k if fewer are left.
    std::vector<Neighbour> nearest(const Eigen::VectorXf& query, index_t k,
                                   const std::vector<std::string>& exclude = {}) const {
        return nearest_to(query, k, exclude, "loom::WordVectors::nearest");
    }

    // The same for a word's vector; the word itself is always left out.
    std::vector<Neighbour> nearest(const std::string& word, index_t k,
                                   const std::vector<std::string>& exclude = {}) const {
        const char* const who = "loom::WordVectors::nearest";
        const index_t row = checked_index_of(who, word);
        std::vector<std::string> left_out = exclude;
        left_out.push_back(word);
        return nearest_to(vectors_.row(row).transpose(), k, left_out, who);
    }

    // "a is to b as c is to ?": the k words nearest to b̂ − â + ĉ, without a, b, c.
    std::vector<Neighbour> analogy(const std::string& a, const std::string& b, const std::string& c,
                                   index_t k) const {
        const char* const who = "loom::WordVectors::analogy";
        const index_t row_a = checked_index_of(who, a), row_b = checked_index_of(who, b),
                      row_c = checked_index_of(who, c);
        const Eigen::VectorXf target =
            (unit_vectors_.row(row_b) - unit_vectors_.row(row_a) + unit_vectors_.row(row_c)).transpose();
        return nearest_to(target, k, {a, b, c}, who);
    }

    // Writes the .vec text file atomically: to "<path>.tmp", then renamed over
    // `path`, so a failed save never leaves a half-written file.
    void save_text(const std::string& path) const {
        const char* const who = "loom::WordVectors::save_text";
        for (index_t row = 0; row < size(); ++row) {
            const std::string& word = words_[static_cast<std::size_t>(row)];
            detail::check(!word.empty(), who, ": '", path, "': the word of row ", row,
                          " is empty, which the .vec format cannot hold");
            detail::check(word.find_first_of(white_space) == std::string::npos, who, ": '", path, "': word \"", word,
                          "\" (row ", row, ") contains white space, which separates the fields of a .vec file");
        }
        const std::string temporary = path + ".tmp";
        {
            std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
            detail::check(static_cast<bool>(out), who, ": cannot open '", temporary, "' for writing");
            out << size() << ' ' << dimension() << '\n';
            std::string line;
            char number[32];
            for (index_t row = 0; row < size() && out; ++row) {
                line = words_[static_cast<std::size_t>(row)];
                for (index_t column = 0; column < dimension(); ++column) {
                    // The shortest text that reads back as this float; '.' whatever the locale.
                    const auto [end, error] = std::to_chars(number, number + sizeof number, vectors_(row, column));
                    (void)error;  // 32 characters hold any float
                    line += ' ';
                    line.append(number, end);
                }
                line += '\n';
                out.write(line.data(), static_cast<std::streamsize>(line.size()));
            }
            out.close();
            if (out.fail()) {
                std::error_code ignored;
                std::filesystem::remove(temporary, ignored);
                detail::fail(who, ": error while writing '", temporary, "'");
            }
        }
        std::error_code error;
        std::filesystem::rename(temporary, path, error);
        if (error) {
            std::error_code ignored;
            std::filesystem::remove(temporary, ignored);
            detail::fail(who, ": cannot rename '", temporary, "' to '", path, "': ", error.message());
        }
    }

    // Reads a .vec text file. Every problem (a header that is not two numbers,
    // a row with too few or too many values or a value that is not a finite
    // float, a word listed twice, more or fewer rows than the header says)
    // throws loom::Error naming this function, the file and the line.
    static WordVectors load_text(const std::string& path) {
        const char* const who = "loom::WordVectors::load_text";
        std::ifstream in(path, std::ios::binary);
        detail::check(static_cast<bool>(in), who, ": cannot open '", path, "' for reading");
        std::size_t line_number = 0;
        const auto fail_at = [&](auto&&... parts) {
            detail::fail(who, ": '", path, "' line ", line_number, ": ", parts...);
        };

        std::string line;
        ++line_number;
        if (!std::getline(in, line)) fail_at("the file is empty; expected a header \"<count> <dimension>\"");
        std::vector<std::string_view> fields = split_fields(line);
        std::int64_t count = 0, dimension = 0;
        if (fields.size() != 2 || !parse_integer(fields[0], count) || !parse_integer(fields[1], dimension))
            fail_at("expected a header \"<count> <dimension>\", found ", excerpt(line));
        if (dimension < 1) fail_at("the dimension must be at least 1, got ", dimension);

        std::vector<std::string> words;
        std::vector<float> values;
        // The header may be wrong or hostile: reserve no more than a modest table.
        const std::int64_t reserved = std::min<std::int64_t>(count, (std::int64_t{1} << 24) / dimension);
        words.reserve(static_cast<std::size_t>(reserved));
        values.reserve(static_cast<std::size_t>(reserved * dimension));
        std::unordered_map<std::string, std::size_t> first_line;  // word -> the line it was on
        while (std::getline(in, line)) {
            ++line_number;
            if (static_cast<std::int64_t>(words.size()) == count)
                fail_at("more rows than the ", count, " words the header announces");
            fields = split_fields(line);
            if (fields.empty()) fail_at("empty line; expected a word and ", dimension, " values");
            std::string word(fields[0]);
            const std::int64_t found = static_cast<std::int64_t>(fields.size()) - 1;
            if (found != dimension)
                fail_at("expected ", dimension, " values after the word ", excerpt(word), ", found ", found);
            for (std::size_t column = 1; column < fields.size(); ++column) {
                float value = 0.f;
                const std::string_view text = fields[column];
                const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
                if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value))
                    fail_at("value ", column, " of ", excerpt(word), " is not a finite float: ", excerpt(text));
                values.push_back(value);
            }
            const auto [previous, inserted] = first_line.emplace(word, line_number);
            if (!inserted) fail_at("word ", excerpt(word), " is listed twice (first on line ", previous->second, ")");
            words.push_back(std::move(word));
        }
        detail::check(!in.bad(), who, ": error while reading '", path, "'");
        if (static_cast<std::int64_t>(words.size()) != count)
            detail::fail(who, ": '", path, "': the header (line 1) announces ", count, " words but the file has ",
                         words.size(), " (it ends after line ", line_number, ")");

        Matrix vectors = Eigen::Map<const Matrix>(values.data(), count, dimension);
        return WordVectors(std::move(words), std::move(vectors));
    }

private:
    static constexpr const char* white_space = " \t\n\r\v\f";

    void check_index(const char* who, index_t index) const {
        if (index < 0 || index >= size())
            detail::fail(who, ": row ", index, " is out of range for a table of ", size(), " words");
    }

    index_t checked_index_of(const char* who, const std::string& word) const {
        const index_t row = index_of(word);
        if (row < 0) detail::fail(who, ": \"", word, "\" is not one of the ", size(), " words");
        return row;
    }

    std::vector<Neighbour> nearest_to(const Eigen::VectorXf& query, index_t k, const std::vector<std::string>& exclude,
                                      const char* who) const {
        detail::check(k >= 0, who, ": k must not be negative, got ", k);
        detail::check(query.size() == dimension(), who, ": the query has ", query.size(),
                      " values but the vectors have ", dimension());
        const float length = query.norm();
        detail::check(length > 0.f && std::isfinite(length), who,
                      ": the query vector is zero or not finite, so it has no direction to compare");
        const Eigen::VectorXf scores = unit_vectors_ * (query / length);

        std::unordered_set<index_t> left_out;
        for (const std::string& word : exclude)
            if (const index_t row = index_of(word); row >= 0) left_out.insert(row);
        std::vector<index_t> candidates;
        candidates.reserve(static_cast<std::size_t>(size()));
        for (index_t row = 0; row < size(); ++row)
            if (left_out.count(row) == 0 && unit_vectors_.row(row).squaredNorm() > 0.f) candidates.push_back(row);

        const auto kept = std::min<std::size_t>(static_cast<std::size_t>(k), candidates.size());
        std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(kept), candidates.end(),
                          [&](index_t a, index_t b) { return scores(a) != scores(b) ? scores(a) > scores(b) : a < b; });
        std::vector<Neighbour> neighbours;
        for (std::size_t i = 0; i < kept; ++i)
            neighbours.push_back(
                {candidates[i], words_[static_cast<std::size_t>(candidates[i])], scores(candidates[i])});
        return neighbours;
    }

    // The fields of a line separated by spaces or tabs; a trailing '\r' or
    // trailing blanks (fastText writes one) make no empty field.
    static std::vector<std::string_view> split_fields(std::string_view line) {
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        std::vector<std::string_view> fields;
        std::size_t at = 0;
        while (at < line.size()) {
            if (line[at] == ' ' || line[at] == '\t') {
                ++at;
                continue;
            }
            const std::size_t end = std::min(line.find_first_of(" \t", at), line.size());
            fields.push_back(line.substr(at, end - at));
            at = end;
        }
        return fields;
    }

    // A decimal integer of digits only (no sign).
    static bool parse_integer(std::string_view text, std::int64_t& value) {
        if (text.empty() || text[0] == '-') return false;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        return error == std::errc() && end == text.data() + text.size();
    }

    // Text quoted for an error message, cut short if long (it may come from a binary file).
    static std::string excerpt(std::string_view text) {
        const std::size_t shown = 40;
        return "\"" + std::string(text.substr(0, shown)) + (text.size() > shown ? "...\"" : "\"");
    }

    std::vector<std::string> words_;
    Matrix vectors_;
    Matrix unit_vectors_;  // each nonzero row divided by its length
    std::unordered_map<std::string, index_t> ids_;
};

}  // namespace loom
