// examples/word2vec.cpp — learn word vectors from a text file with word2vec's
// skip-gram model and negative sampling (Mikolov et al. 2013), then show the
// nearest neighbours of a few words.
//
//   word2vec                                    # data/tinyshakespeare.txt -> word2vec_out/vectors.vec
//   word2vec --dim 50 --epochs 10 --probe king,queen,death
//   word2vec --init word2vec_out --neighbours king,love   # query a trained model, no training
//   word2vec --help
//
// The model and its training (skip-gram with negative sampling, subsampling
// of frequent words, random windows, linear learning-rate decay, word2vec's
// initialisation) are loom::SkipGramModel in include/loom/train/skipgram.hpp,
// which has the objective and its gradients; docs/word2vec.md the derivation.
// This file is the command line: flags, reading the text, the progress line,
// --init and --neighbours, the report and the output files.
//
// Tokens come from loom::WordTokenizer (words and punctuation marks; a line
// break is the token "</s>" in the .vec file, word2vec's name for it). Words
// seen fewer than --min-count times become <unk>, which is dropped from the
// training text and gets no vector, as word2vec drops them.
//
// Output: a progress line (in place on a terminal, plain lines when piped),
// then the --probe words' neighbours, the --analogy, the wall time, and in
// --out: vectors.vec (input vectors, the word vectors; loom::WordVectors'
// text format), context_vectors.vec (output vectors, so that --init can
// continue a run), tokenizer.json. The loss on the progress line is each
// pair's loss just before its step, averaged since the line before; it can
// rise in late epochs as the learning rate falls, while the loss on fixed
// pairs still falls (docs/word2vec.md says why).
//
// Determinism: one thread, and the model's one loom::Generator seeded by --seed
// makes every random choice (initialisation, subsampling, window sizes,
// negatives), so the same data, flags and seed give the same vectors.vec bit
// for bit. word2vec's own threads update the shared tables without locks,
// which makes its result depend on the scheduling; this example stays
// single-threaded for that reason.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <loom/data/text_dataset.hpp>
#include <loom/data/word_tokenizer.hpp>
#include <loom/io/word_vectors.hpp>
#include <loom/tensor/error.hpp>
#include <loom/train/progress.hpp>
#include <loom/train/skipgram.hpp>

#include "cli.hpp"
#include "data_path.hpp"

namespace {

using loom::index_t;

struct Options {
    std::string data = "data/tinyshakespeare.txt";
    std::string out = "word2vec_out";
    std::string init;        // a directory written by --out, or a .vec file
    std::string neighbours;  // query mode: words to look up in --init, comma-separated
    std::string probe = "king,love,night,sword";
    std::string analogy = "he,his,she";
    std::int64_t min_count = 5, max_vocab = 0;
    bool lowercase = true;
    std::int64_t dim = 100, window = 5, negative = 5, epochs = 5, top = 8, print_every = 100000;
    double sample = 1e-3, lr = 0.025;
    std::uint64_t seed = 1;
};

cli::Parser make_parser(Options& o) {
    cli::Parser p("word2vec", "Learn word vectors with skip-gram and negative sampling, and show nearest neighbours.");
    p.add("--data", o.data, "training text (UTF-8)");
    p.add("--out", o.out, "directory for vectors.vec, context_vectors.vec and tokenizer.json");
    p.add("--init", o.init, "start from a saved run: its --out directory or a .vec file (same vocabulary)");
    p.add("--neighbours", o.neighbours, "no training: print these words' neighbours in --init's vectors");
    p.add("--min-count", o.min_count, "words seen fewer times become <unk> and are dropped");
    p.add("--max-vocab", o.max_vocab, "at most this many tokenizer ids, <unk> included (0: no limit)");
    p.add("--lowercase", o.lowercase, "fold A-Z to a-z before counting (also applied to queries)");
    p.add("--dim", o.dim, "vector dimension");
    p.add("--window", o.window, "largest distance between a centre and a context word");
    p.add("--negative", o.negative, "negative samples per (centre, context) pair");
    p.add("--sample", o.sample, "subsampling threshold t for frequent words (0: keep every word)");
    p.add("--epochs", o.epochs, "passes over the text");
    p.add("--lr", o.lr, "initial learning rate, decayed linearly to lr*1e-4");
    p.add("--seed", o.seed, "seed of every random choice");
    p.add("--probe", o.probe, "words whose neighbours are printed after training, comma-separated");
    p.add("--analogy", o.analogy, "a,b,c: the words nearest to b - a + c, shown with the neighbours (\"\": none)");
    p.add("--top", o.top, "neighbours to print per word");
    p.add("--print-every", o.print_every, "progress report interval, in words read");
    return p;
}

std::vector<std::string> split_list(const std::string& text) {
    std::vector<std::string> items;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, ',');)
        if (!item.empty()) items.push_back(item);
    return items;
}

std::string lowercase_ascii(std::string word) {
    for (char& c : word)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return word;
}

// The .vec file's words: tokenizer ids 1..V-1 in order (<unk>, id 0, has no
// vector), with the line break, which the format cannot hold, as "</s>".
std::vector<std::string> vector_words(const loom::WordTokenizer& tokenizer) {
    std::vector<std::string> words;
    for (index_t id = 1; id < tokenizer.vocab_size(); ++id)
        words.push_back(tokenizer.word(id) == "\n" ? "</s>" : tokenizer.word(id));
    return words;
}

// Prints "  word  0.873" lines for each neighbour.
void print_neighbours(const std::vector<loom::WordVectors::Neighbour>& neighbours) {
    std::cout << std::fixed << std::setprecision(3);
    for (const auto& n : neighbours) std::cout << "  " << std::left << std::setw(16) << n.word << n.similarity << "\n";
    std::cout.unsetf(std::ios::floatfield);
    std::cout << std::right;
}

// The .vec files of --init: a directory from --out (its vectors.vec, and its
// context_vectors.vec if there) or one .vec file.
struct InitFiles {
    std::string vectors, context;
};
InitFiles init_files(const std::string& init) {
    if (!std::filesystem::is_directory(init)) return {init, ""};
    const std::string context = init + "/context_vectors.vec";
    return {init + "/vectors.vec", std::filesystem::exists(context) ? context : ""};
}

// Reads a .vec file of --init, which must hold exactly the tokenizer's words
// (rows 1..V-1) in its order, with vectors of --dim values.
loom::WordVectors load_init(const std::string& path, const std::vector<std::string>& words, index_t dim) {
    loom::WordVectors saved = loom::WordVectors::load_text(path);
    if (saved.dimension() != dim)
        throw loom::Error("--init '" + path + "' has vectors of dimension " +
                          std::to_string(saved.dimension()) + ", --dim is " + std::to_string(dim));
    if (saved.words() != words) {
        std::size_t row = 0;
        while (row < words.size() && row < saved.words().size() && words[row] == saved.words()[row]) ++row;
        std::ostringstream message;
        message << "--init '" << path << "' has a different vocabulary: " << saved.size()
                << " words, the tokenizer of --data has " << words.size() << "; first difference at row " << row
                << " ('" << (row < saved.words().size() ? saved.words()[row] : "<end>") << "' vs '"
                << (row < words.size() ? words[row] : "<end>")
                << "'). Use the --data, --min-count, --max-vocab and --lowercase of the run that wrote it.";
        throw loom::Error(message.str());
    }
    return saved;
}

// What was learned: the neighbours of each word of `probes` (a word not in the
// vectors is an error if `strict`, else skipped) and the --analogy if its three
// words are in the vectors. Words are folded like the text if --lowercase.
void report(const loom::WordVectors& vectors, const std::string& probes, bool strict, const Options& o,
            const std::string& source) {
    const auto fold = [&](const std::string& word) { return o.lowercase ? lowercase_ascii(word) : word; };
    for (const std::string& asked : split_list(probes)) {
        const std::string word = fold(asked);
        if (!vectors.contains(word)) {
            if (strict) throw loom::Error("'" + word + "' is not in " + source);
            continue;
        }
        std::cout << "nearest to " << word << ":\n";
        print_neighbours(vectors.nearest(word, o.top));
    }
    std::vector<std::string> abc = split_list(o.analogy);
    for (std::string& word : abc) word = fold(word);
    if (abc.size() == 3 && vectors.contains(abc[0]) && vectors.contains(abc[1]) && vectors.contains(abc[2])) {
        std::cout << abc[0] << " : " << abc[1] << " :: " << abc[2] << " : ?\n";
        print_neighbours(vectors.analogy(abc[0], abc[1], abc[2], std::min<std::int64_t>(o.top, 5)));
    }
}

// Query mode: the report for --init's vectors, without training.
int query(const Options& o) {
    if (o.init.empty()) throw loom::Error("--neighbours needs --init (a directory or .vec file to query)");
    const std::string path = init_files(o.init).vectors;
    const loom::WordVectors vectors = loom::WordVectors::load_text(path);
    std::cout << path << ": " << vectors.size() << " words, dimension " << vectors.dimension() << "\n";
    report(vectors, o.neighbours, true, o, path);
    return 0;
}

// The flags, named as the user typed them (loom::SkipGramOptions::check()
// checks the training ones again, under the library's names).
void check_options(const Options& o) {
    const auto require = [](bool ok, const std::string& what, auto value) {
        if (ok) return;
        std::ostringstream message;
        message << what << ", got " << value;
        throw loom::Error(message.str());
    };
    require(o.dim >= 1, "--dim must be at least 1", o.dim);
    require(o.window >= 1, "--window must be at least 1", o.window);
    require(o.negative >= 1, "--negative must be at least 1", o.negative);
    require(o.epochs >= 1, "--epochs must be at least 1", o.epochs);
    require(o.lr > 0 && std::isfinite(o.lr), "--lr must be positive", o.lr);
    require(o.sample >= 0 && std::isfinite(o.sample), "--sample must be 0 (off) or positive", o.sample);
    require(o.top >= 1, "--top must be at least 1", o.top);
    require(o.print_every >= 1, "--print-every must be at least 1", o.print_every);
}

// The training text: its tokenizer and the text as ids, <unk> included (the
// model drops it before it makes windows, as word2vec drops the words below
// its min count); `words` leaves <unk> out.
struct Corpus {
    std::string path;
    std::size_t bytes;
    loom::WordTokenizer tokenizer;
    std::vector<index_t> ids;
    std::size_t words = 0;
};

Corpus read_corpus(const Options& o) {
    const std::string path = examples::resolve_data_path(o.data);
    const std::string text = loom::read_file_bytes(path);
    loom::WordTokenizerOptions options;
    options.min_count = o.min_count;
    options.max_vocab = o.max_vocab;
    options.lowercase = o.lowercase;
    Corpus corpus{path, text.size(), [&] {
                      try {
                          return loom::WordTokenizer::train(text, options);
                      } catch (const loom::Error& error) {
                          throw loom::Error("'" + path + "': " + error.what());
                      }
                  }(),
                  {}};
    corpus.ids = corpus.tokenizer.encode(text);
    corpus.words = static_cast<std::size_t>(std::count_if(corpus.ids.begin(), corpus.ids.end(), [](index_t id) {
        return id != loom::WordTokenizer::unknown_id();
    }));
    if (corpus.tokenizer.vocab_size() < 3 || corpus.words < 2)
        throw loom::Error("'" + path + "' has too few words seen --min-count times to learn from");
    return corpus;
}

// Prints the model's progress reports (every --print-every words read):
//   epoch 3/5 |  57.4% | loss 2.5051 | lr 0.0107 | 667.8k words/s | ETA 1s
// with the mean loss per (centre, context) pair since the line before.
class Progress {
public:
    Progress() : on_terminal_(isatty(fileno(stdout)) != 0), start_(Clock::now()) {}

    void operator()(const loom::SkipGramProgress& p) const {
        const bool last = p.words_read >= p.total_words;
        const double speed = p.words_read / std::max(seconds(), 1e-9);
        std::ostringstream line;
        line << "epoch " << p.epoch + 1 << "/" << p.epochs << " | " << std::fixed << std::setprecision(1)
             << std::setw(5) << 100.0 * p.words_read / p.total_words << "% | loss " << std::setprecision(4) << p.loss
             << " | lr " << std::defaultfloat << std::setprecision(3) << p.learning_rate << " | " << std::fixed
             << std::setprecision(1) << speed / 1000.0 << "k words/s | ETA "
             << loom::format_duration((p.total_words - p.words_read) / speed);
        if (on_terminal_)
            std::cout << '\r' << line.str() << "\033[K" << (last ? "\n" : "") << std::flush;
        else
            std::cout << line.str() << "\n";
    }

    double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

private:
    using Clock = std::chrono::steady_clock;
    bool on_terminal_;
    Clock::time_point start_;
};

loom::SkipGramOptions skipgram_options(const Options& o) {
    loom::SkipGramOptions options;
    options.dimension = o.dim;
    options.window = o.window;
    options.negative = o.negative;
    options.sample = o.sample;
    options.epochs = o.epochs;
    options.learning_rate = o.lr;
    options.seed = o.seed;
    return options;
}

// After the model's random start: both tables from --init, or its input
// vectors only (a .vec file). Returns the note for the summary line.
std::string load_init_files(loom::SkipGramModel& model, const std::vector<std::string>& words, const Options& o) {
    if (o.init.empty()) return "";
    const InitFiles files = init_files(o.init);
    model.set_input_vectors(load_init(files.vectors, words, o.dim), 1);
    std::string note = ", input vectors from " + files.vectors;
    if (files.context.empty()) return note + " (output vectors from zero)";
    model.set_output_vectors(load_init(files.context, words, o.dim), 1);
    return note + ", output vectors from " + files.context;
}

int train(const Options& o) {
    const auto start = std::chrono::steady_clock::now();
    check_options(o);
    const Corpus corpus = read_corpus(o);
    const std::vector<std::string> words = vector_words(corpus.tokenizer);
    loom::SkipGramModel model(corpus.tokenizer.vocab_size(), skipgram_options(o));
    const std::string init_note = load_init_files(model, words, o);

    std::cout << "data: " << corpus.path << " (" << corpus.bytes << " bytes, " << corpus.words
              << " words in a vocabulary of " << corpus.tokenizer.vocab_size() - 1 << ", min count " << o.min_count
              << (o.lowercase ? ", lowercased" : "") << ")\n"
              << "training: skip-gram, dim " << o.dim << ", window " << o.window << ", " << o.negative
              << " negatives, sample " << o.sample << ", epochs " << o.epochs << ", lr " << o.lr << ", seed " << o.seed
              << init_note << "\n";
    const double total_words = static_cast<double>(corpus.words) * static_cast<double>(o.epochs);
    const Progress progress;
    model.train(corpus.ids, {loom::WordTokenizer::unknown_id()}, std::cref(progress),
                static_cast<double>(o.print_every));
    const double training_seconds = progress.seconds();

    const loom::WordVectors vectors = model.input_vectors(words, 1);
    std::filesystem::create_directories(o.out);
    vectors.save_text(o.out + "/vectors.vec");
    model.output_vectors(words, 1).save_text(o.out + "/context_vectors.vec");
    corpus.tokenizer.save(o.out + "/tokenizer.json");

    report(vectors, o.probe, false, o, o.out + "/vectors.vec");
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << std::fixed << std::setprecision(2) << "trained in " << training_seconds << " s ("
              << std::setprecision(0) << total_words / training_seconds << " words/s), " << std::setprecision(2)
              << seconds << " s in all; wrote " << o.out << "/vectors.vec, context_vectors.vec and tokenizer.json\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    cli::Parser parser = make_parser(options);
    try {
        if (!parser.parse(argc, argv)) return 0;  // --help
        return options.neighbours.empty() ? train(options) : query(options);
    } catch (const std::exception& error) {
        std::cerr << "word2vec: " << error.what() << "\n";
        return 1;
    }
}
