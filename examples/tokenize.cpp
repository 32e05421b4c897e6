// examples/tokenize.cpp — train a tokenizer on a text file and save it, or
// use a saved one to show how a text is cut into tokens.
//
//   tokenize --kind bpe --vocab 1024 --data data/tinyshakespeare.txt --out tokenizer.json
//   tokenize --load tokenizer.json --text "To be, or not to be"
//   tokenize --load char_rnn_out/tokenizer.json --data some.txt     # statistics only
//
// Training prints the vocabulary size, the time it took, and for the whole
// file: tokens, bytes per token, encode and decode speed (MB/s of text, best
// of --repeat runs) and whether decode(encode(text)) gave the text back (it
// must for char and bpe; word is lossy by design). --text prints each token
// of a text as [piece] with its id. The file --out writes is the JSON that
// loom::load_tokenizer reads and the training examples save; bench/bpe_reference.py
// --compare checks a bpe file against an independent Python implementation.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <loom/data/text_dataset.hpp>
#include <loom/data/tokenizer_file.hpp>

#include "cli.hpp"
#include "data_path.hpp"

namespace {

struct Options {
    std::string data = "data/tinyshakespeare.txt";
    std::string kind = "bpe";
    std::int64_t vocab = 1024;
    std::int64_t min_count = 2;
    std::string out;
    std::string load;
    std::string text;
    std::int64_t repeat = 3;
};

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Trains (or loads) the tokenizer; prints how long training took.
std::shared_ptr<const loom::Tokenizer> make_tokenizer(const Options& o, const std::string& corpus) {
    if (!o.load.empty()) return loom::load_tokenizer(o.load);
    loom::WordTokenizerOptions word;
    word.min_count = o.min_count;
    double best = 1e300;
    std::shared_ptr<const loom::Tokenizer> tokenizer;
    for (std::int64_t run = 0; run < o.repeat; ++run) {
        const auto start = Clock::now();
        tokenizer = loom::train_tokenizer(o.kind, corpus, o.vocab, word);
        best = std::min(best, seconds_since(start));
    }
    std::printf("trained a %s tokenizer of %lld tokens in %.3f s (best of %lld)\n", tokenizer->kind().c_str(),
                static_cast<long long>(tokenizer->vocab_size()), best, static_cast<long long>(o.repeat));
    return tokenizer;
}

// Tokens, bytes per token, encode/decode speed and the round trip on the whole file.
void print_statistics(const loom::Tokenizer& tokenizer, const std::string& corpus, std::int64_t repeat) {
    double encode_best = 1e300, decode_best = 1e300;
    std::vector<loom::index_t> ids;
    std::string decoded;
    for (std::int64_t run = 0; run < repeat; ++run) {
        auto start = Clock::now();
        ids = tokenizer.encode(corpus);
        encode_best = std::min(encode_best, seconds_since(start));
        start = Clock::now();
        decoded = tokenizer.decode(ids);
        decode_best = std::min(decode_best, seconds_since(start));
    }
    const double megabytes = static_cast<double>(corpus.size()) / 1e6;
    std::printf("%zu bytes -> %zu tokens (%.3f bytes/token); encode %.1f MB/s, decode %.1f MB/s; round trip %s\n",
                corpus.size(), ids.size(), static_cast<double>(corpus.size()) / static_cast<double>(ids.size()),
                megabytes / encode_best, megabytes / decode_best,
                decoded == corpus ? "exact" : "differs (expected for word)");
}

void print_tokens(const loom::Tokenizer& tokenizer, const std::string& text) {
    loom::index_t previous = -1;
    for (const loom::index_t id : tokenizer.encode(text)) {
        std::printf("[%s]%lld ", tokenizer.piece(id, previous).c_str(), static_cast<long long>(id));
        previous = id;
    }
    std::printf("\n");
}

int run(const Options& o) {
    if (o.repeat < 1) throw loom::Error("--repeat must be >= 1, got " + std::to_string(o.repeat));
    const bool have_data = o.load.empty() || o.text.empty();
    const std::string corpus = have_data ? loom::read_file_bytes(examples::resolve_data_path(o.data)) : "";
    const std::shared_ptr<const loom::Tokenizer> tokenizer = make_tokenizer(o, corpus);
    if (have_data) print_statistics(*tokenizer, corpus, o.repeat);
    if (!o.text.empty()) print_tokens(*tokenizer, o.text);
    if (!o.out.empty()) {
        tokenizer->save(o.out);
        std::printf("wrote %s\n", o.out.c_str());
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    cli::Parser p("tokenize", "Train a tokenizer on a text file and save it, or show how a saved one cuts a text.");
    p.add("--data", o.data, "text file to train on / measure (UTF-8)");
    p.add("--kind", o.kind, "char, bpe (byte-level BPE) or word");
    p.add("--vocab", o.vocab, "bpe: vocabulary size (256 bytes + merges)");
    p.add("--min-count", o.min_count, "word: words seen fewer times become <unk>");
    p.add("--out", o.out, "write the tokenizer here (JSON)");
    p.add("--load", o.load, "use this saved tokenizer instead of training one");
    p.add("--text", o.text, "print the tokens of this text");
    p.add("--repeat", o.repeat, "time training/encoding as the best of this many runs");
    try {
        if (!p.parse(argc, argv)) return 0;  // --help
        return run(o);
    } catch (const std::exception& error) {
        std::cerr << "tokenize: " << error.what() << "\n";
        return 1;
    }
}
