// loom/data/byte_bpe.hpp — byte-level byte-pair encoding (BPE), the tokenizer
// family of GPT-2 and its successors.
//
// Tokens. Ids 0..255 are the 256 byte values, so any byte string, valid UTF-8
// or not, can be encoded and decoding is lossless. Every further id is a merge:
// id 256 + i joins the pair merges[i] = (left, right) into one token whose
// bytes are bytes(left) + bytes(right).
//
// Chunks. Text is first cut into chunks and merges never cross a chunk
// boundary, so a token is never half a word and half a comma. Without regular
// expressions, the rule is by byte class — letters (ASCII letters and every
// byte >= 0x80, i.e. all non-ASCII characters), digits, spaces, other white
// space (line breaks, tabs), punctuation (everything else):
//   * a chunk is a run of one class;
//   * a space just before a letter, digit or punctuation run joins that run,
//     so " the" is one chunk and can become one token, as in GPT-2;
//   * a chunk is at most max_chunk_bytes long (longer runs are cut), which keeps
//     encoding linear in the text even for a file without spaces.
//   "To be,  or\n" → ["To", " be", ",", " ", " or", "\n"]
//
// Training (Sennrich et al. 2016) on the chunks of a text, counted once each:
//   repeat until vocab_size tokens (or no pair occurs twice):
//     (a, b) = the adjacent pair with the highest count, summed over chunk
//              occurrences; ties go to the smaller (a, b)
//     add token n = a·b; in every chunk replace each (a, b), left to right
//              and without overlap, by n
// Pair counts are updated only for the chunks that contain the merged pair, and
// the most frequent pair comes from a max-heap of (count, pair) entries: a
// changed count pushes a new entry, and an entry whose count is no longer the
// pair's current one is skipped when it reaches the top ("lazy deletion").
//
// Encoding applies the learned merges to each chunk, lowest id first: while some
// adjacent pair of the chunk is a merge, merge every occurrence of the pair
// with the smallest merge index. That reproduces exactly the segmentation
// training gave its own chunks. Each distinct chunk is encoded once per
// encode() call (a local cache — repeated words are the common case).
//
// File: {"format": "loom-tokenizer", "version": 1, "kind": "bpe",
//        "merges": [[left, right], ...]}   (merge i makes id 256 + i)
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "loom/data/tokenizer.hpp"
#include "loom/tensor/error.hpp"

namespace loom {

namespace detail {
enum class ByteClass { letter, digit, space, other_space, punctuation };

inline ByteClass byte_class(unsigned char byte) {
    if ((byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') || byte >= 0x80) return ByteClass::letter;
    if (byte >= '0' && byte <= '9') return ByteClass::digit;
    if (byte == ' ') return ByteClass::space;
    if (byte == '\n' || byte == '\r' || byte == '\t' || byte == '\v' || byte == '\f') return ByteClass::other_space;
    return ByteClass::punctuation;
}

// A pair of token ids as one hash key.
inline std::uint64_t pair_key(std::int32_t left, std::int32_t right) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
}
}  // namespace detail

class BpeTokenizer final : public Tokenizer {
public:
    static constexpr index_t byte_tokens = 256;
    static constexpr std::size_t max_chunk_bytes = 256;

    BpeTokenizer() { rebuild_tables(); }  // no merges: one token per byte

    // Learns merges from `text` until there are vocab_size tokens (>= 256).
    static BpeTokenizer train(std::string_view text, index_t vocab_size);

    // A tokenizer with the given merges, checked: merge i may only use ids below 256 + i.
    static BpeTokenizer from_merges(std::vector<std::pair<index_t, index_t>> merges) {
        BpeTokenizer tokenizer;
        for (std::size_t i = 0; i < merges.size(); ++i) {
            const auto [left, right] = merges[i];
            const index_t limit = byte_tokens + static_cast<index_t>(i);
            if (left < 0 || right < 0 || left >= limit || right >= limit)
                detail::fail("loom::BpeTokenizer: merge ", i, " is (", left, ", ", right,
                             "), but merge ", i, " may only join ids 0..", limit - 1, " (the tokens made before it)");
        }
        tokenizer.merges_ = std::move(merges);
        tokenizer.rebuild_tables();
        if (tokenizer.ranks_.size() != tokenizer.merges_.size())
            detail::fail("loom::BpeTokenizer: the merges list the same pair twice");
        return tokenizer;
    }

    // The chunks of a text (the rule above), as views into it.
    static std::vector<std::string_view> split_chunks(std::string_view text) {
        std::vector<std::string_view> chunks;
        std::size_t at = 0;
        while (at < text.size()) {
            const std::size_t end = chunk_end(text, at);
            chunks.push_back(text.substr(at, end - at));
            at = end;
        }
        return chunks;
    }

    std::string kind() const override { return "bpe"; }
    index_t vocab_size() const override { return byte_tokens + static_cast<index_t>(merges_.size()); }
    const std::vector<std::pair<index_t, index_t>>& merges() const { return merges_; }

    // The bytes token `id` stands for.
    const std::string& token_bytes(index_t id) const {
        check_id("loom::BpeTokenizer::token_bytes", id);
        return bytes_[static_cast<std::size_t>(id)];
    }

    std::vector<index_t> encode(std::string_view text) const override {
        std::vector<index_t> ids;
        ids.reserve(text.size() / 3);
        std::unordered_map<std::string_view, std::vector<std::int32_t>> seen;  // chunk → its tokens
        std::vector<std::int32_t> scratch;
        for (const std::string_view chunk : split_chunks(text)) {
            auto found = seen.find(chunk);
            if (found == seen.end()) {
                encode_chunk(chunk, scratch);
                found = seen.emplace(chunk, scratch).first;
            }
            ids.insert(ids.end(), found->second.begin(), found->second.end());
        }
        return ids;
    }

    std::string decode(const std::vector<index_t>& ids) const override {
        std::string text;
        for (const index_t id : ids) text += token_bytes(id);
        return text;
    }

    std::string piece(index_t id, index_t /*previous: a token's bytes do not depend on it*/) const override {
        return token_bytes(id);
    }

    nlohmann::json to_json() const override {
        nlohmann::json json = json_header();
        nlohmann::json merges = nlohmann::json::array();
        for (const auto& [left, right] : merges_) merges.push_back({left, right});
        json["merges"] = std::move(merges);
        return json;
    }

    static BpeTokenizer from_json(const nlohmann::json& json) {
        const char* const who = "loom::BpeTokenizer::from_json";
        const nlohmann::json& merges = detail::tokenizer_field(json, "merges", who);
        if (!merges.is_array()) detail::fail(who, ": \"merges\" must be an array, got ", merges.type_name());
        std::vector<std::pair<index_t, index_t>> pairs;
        for (std::size_t i = 0; i < merges.size(); ++i) {
            const nlohmann::json& merge = merges[i];
            // An id of 2^31 or more cannot be a token, and get<> would wrap it (negative
            // ids pass here; from_merges names them).
            const auto is_id = [](const nlohmann::json& id) {
                if (id.is_number_unsigned()) return id.get<std::uint64_t>() < (1ull << 31);
                return id.is_number_integer() && id.get<std::int64_t>() < (1ll << 31);
            };
            if (!merge.is_array() || merge.size() != 2 || !is_id(merge[0]) || !is_id(merge[1]))
                detail::fail(who, ": merge ", i, " must be a pair of integer ids, got ", merge.dump());
            pairs.emplace_back(merge[0].get<index_t>(), merge[1].get<index_t>());
        }
        return from_merges(std::move(pairs));
    }

private:
    // Where the chunk starting at `at` ends (the rule in the header comment).
    static std::size_t chunk_end(std::string_view text, std::size_t at) {
        using detail::ByteClass;
        const auto class_at = [&](std::size_t i) { return detail::byte_class(static_cast<unsigned char>(text[i])); };
        std::size_t end = at;
        ByteClass run = class_at(at);
        if (run == ByteClass::space) {
            while (end < text.size() && class_at(end) == ByteClass::space) ++end;
            const bool joins_next = end < text.size() && class_at(end) != ByteClass::other_space;
            if (!joins_next) return std::min(end, at + max_chunk_bytes);
            if (end - at > 1) return std::min(end - 1, at + max_chunk_bytes);  // all spaces but the last
            run = class_at(end);  // a single space: it starts the next run's chunk
        }
        while (end < text.size() && class_at(end) == run) ++end;
        return std::min(end, at + max_chunk_bytes);
    }

    // The tokens of one chunk: merges applied lowest index first.
    void encode_chunk(std::string_view chunk, std::vector<std::int32_t>& tokens) const {
        tokens.assign(chunk.begin(), chunk.end());
        for (std::int32_t& token : tokens) token = static_cast<unsigned char>(token);
        while (tokens.size() >= 2) {
            std::int32_t best_rank = std::numeric_limits<std::int32_t>::max();
            for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
                const auto found = ranks_.find(detail::pair_key(tokens[i], tokens[i + 1]));
                if (found != ranks_.end() && found->second < best_rank) best_rank = found->second;
            }
            if (best_rank == std::numeric_limits<std::int32_t>::max()) return;
            const auto [left, right] = merges_[static_cast<std::size_t>(best_rank)];
            merge_pair(tokens, static_cast<std::int32_t>(left), static_cast<std::int32_t>(right),
                       static_cast<std::int32_t>(byte_tokens + best_rank));
        }
    }

    // Replaces each (left, right) in `tokens`, left to right without overlap, by `merged`.
    static void merge_pair(std::vector<std::int32_t>& tokens, std::int32_t left, std::int32_t right,
                           std::int32_t merged) {
        std::size_t out = 0;
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            if (i + 1 < tokens.size() && tokens[i] == left && tokens[i + 1] == right) {
                tokens[out++] = merged;
                ++i;
            } else {
                tokens[out++] = tokens[i];
            }
        }
        tokens.resize(out);
    }

    // bytes_ and ranks_ from merges_.
    void rebuild_tables() {
        bytes_.assign(static_cast<std::size_t>(byte_tokens), std::string());
        for (index_t byte = 0; byte < byte_tokens; ++byte)
            bytes_[static_cast<std::size_t>(byte)] = std::string(1, static_cast<char>(byte));
        ranks_.clear();
        for (std::size_t i = 0; i < merges_.size(); ++i) {
            const auto [left, right] = merges_[i];
            bytes_.push_back(bytes_[static_cast<std::size_t>(left)] + bytes_[static_cast<std::size_t>(right)]);
            ranks_.emplace(detail::pair_key(static_cast<std::int32_t>(left), static_cast<std::int32_t>(right)),
                           static_cast<std::int32_t>(i));
        }
    }

    friend class BpeTrainer;

    std::vector<std::pair<index_t, index_t>> merges_;
    std::vector<std::string> bytes_;                          // token id → its bytes
    std::unordered_map<std::uint64_t, std::int32_t> ranks_;  // pair → merge index
};

// The training loop of BpeTokenizer::train, as its own small class: the state
// is the distinct chunks with their counts and the pair counts over them.
class BpeTrainer {
public:
    explicit BpeTrainer(std::string_view text) {
        std::unordered_map<std::string_view, std::int64_t> chunk_counts;
        for (const std::string_view chunk : BpeTokenizer::split_chunks(text)) ++chunk_counts[chunk];
        for (const auto& [chunk, count] : chunk_counts) {
            std::vector<std::int32_t> tokens;
            for (const char byte : chunk) tokens.push_back(static_cast<unsigned char>(byte));
            words_.push_back(std::move(tokens));
            word_counts_.push_back(count);
        }
        // Sorted so that the word indices, and the `where_` lists built from them, do not depend on hashing.
        std::vector<std::size_t> order(words_.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return words_[a] < words_[b]; });
        permute(order);
        for (std::size_t w = 0; w < words_.size(); ++w) add_pairs(w, +1, true);
        for (const auto& [key, count] : pair_counts_) heap_.push({count, key});
        touched_.clear();
        stamp_.assign(words_.size(), -1);
    }

    // Learns merges until the vocabulary has vocab_size tokens or no pair occurs twice.
    std::vector<std::pair<index_t, index_t>> run(index_t vocab_size) {
        std::vector<std::pair<index_t, index_t>> merges;
        while (BpeTokenizer::byte_tokens + static_cast<index_t>(merges.size()) < vocab_size) {
            const auto [key, count] = most_frequent_pair();
            if (count < 2) break;
            const auto left = static_cast<std::int32_t>(key >> 32), right = static_cast<std::int32_t>(key & 0xFFFFFFFFu);
            const auto merged = static_cast<std::int32_t>(BpeTokenizer::byte_tokens + static_cast<index_t>(merges.size()));
            apply_merge(key, left, right, merged, static_cast<std::int64_t>(merges.size()));
            merges.emplace_back(left, right);
        }
        return merges;
    }

private:
    void permute(const std::vector<std::size_t>& order) {
        std::vector<std::vector<std::int32_t>> words;
        std::vector<std::int64_t> counts;
        for (const std::size_t i : order) {
            words.push_back(std::move(words_[i]));
            counts.push_back(word_counts_[i]);
        }
        words_ = std::move(words);
        word_counts_ = std::move(counts);
    }

    // Adds (sign = +1) or removes (-1) word w's pairs from the counts; when
    // adding, records w under each pair (all of them, or only new ones that
    // contain `only_with`).
    void add_pairs(std::size_t w, int sign, bool record_all, std::int32_t only_with = -1) {
        const std::vector<std::int32_t>& tokens = words_[w];
        for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
            const std::uint64_t key = detail::pair_key(tokens[i], tokens[i + 1]);
            std::int64_t& count = pair_counts_[key];
            count += sign * word_counts_[w];
            touched_.push_back(key);
            if (count == 0) pair_counts_.erase(key);
            if (sign > 0 && (record_all || tokens[i] == only_with || tokens[i + 1] == only_with))
                where_[key].push_back(static_cast<std::int32_t>(w));
        }
    }

    // The pair with the highest count (ties: the smaller pair), from the heap.
    std::pair<std::uint64_t, std::int64_t> most_frequent_pair() {
        while (!heap_.empty()) {
            const HeapEntry top = heap_.top();
            const auto found = pair_counts_.find(top.key);
            if (found != pair_counts_.end() && found->second == top.count) return {top.key, top.count};
            heap_.pop();  // stale: the pair's count changed after this entry was pushed
        }
        return {0, 0};
    }

    void push_current_counts(const std::vector<std::uint64_t>& keys) {
        for (const std::uint64_t key : keys)
            if (const auto found = pair_counts_.find(key); found != pair_counts_.end())
                heap_.push({found->second, key});
    }

    void apply_merge(std::uint64_t key, std::int32_t left, std::int32_t right, std::int32_t merged,
                     std::int64_t merge_index) {
        const std::vector<std::int32_t> words = std::move(where_[key]);
        where_.erase(key);
        touched_.clear();
        for (const std::int32_t w : words) {
            // A word is listed once per occurrence of the pair; handle it once per merge.
            if (stamp_[static_cast<std::size_t>(w)] == merge_index) continue;
            stamp_[static_cast<std::size_t>(w)] = merge_index;
            add_pairs(static_cast<std::size_t>(w), -1, false);
            BpeTokenizer::merge_pair(words_[static_cast<std::size_t>(w)], left, right, merged);
            add_pairs(static_cast<std::size_t>(w), +1, false, merged);
        }
        std::sort(touched_.begin(), touched_.end());
        touched_.erase(std::unique(touched_.begin(), touched_.end()), touched_.end());
        push_current_counts(touched_);
    }

    std::vector<std::vector<std::int32_t>> words_;            // each distinct chunk's current tokens
    std::vector<std::int64_t> word_counts_;                   // how often each chunk occurs
    std::unordered_map<std::uint64_t, std::int64_t> pair_counts_;
    std::unordered_map<std::uint64_t, std::vector<std::int32_t>> where_;  // pair → words that had it
    std::vector<std::int64_t> stamp_;                         // the last merge that touched each word

    struct HeapEntry {
        std::int64_t count;
        std::uint64_t key;
        // std::priority_queue puts the largest on top: higher count, then the smaller pair.
        bool operator<(const HeapEntry& other) const {
            return count != other.count ? count < other.count : key > other.key;
        }
    };
    std::priority_queue<HeapEntry> heap_;
    std::vector<std::uint64_t> touched_;  // pairs whose count changed in the current merge
};

inline BpeTokenizer BpeTokenizer::train(std::string_view text, index_t vocab_size) {
    if (vocab_size < byte_tokens)
        detail::fail("loom::BpeTokenizer::train: vocab_size must be at least ", byte_tokens,
                     " (one token per byte), got ", vocab_size);
    return from_merges(BpeTrainer(text).run(vocab_size));
}

}  // namespace loom
