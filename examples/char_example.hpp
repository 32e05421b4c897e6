// examples/char_example.hpp — what the training programs (char_rnn, char_cnn,
// char_gpt) share besides the library's training loop: finding the bundled
// corpus, tokenizing it (--tokenizer char|bpe|word), a prompt the tokenizer can
// encode, the closing report, and main()'s error handling.
#pragma once

#include <exception>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <loom/data/char_tokenizer.hpp>
#include <loom/data/text_dataset.hpp>
#include <loom/data/tokenized_corpus.hpp>
#include <loom/data/tokenizer.hpp>
#include <loom/data/word_tokenizer.hpp>
#include <loom/io/word_vectors.hpp>
#include <loom/nn/pretrained_embedding.hpp>

#include "cli.hpp"
#include "data_parallel.hpp"
#include "data_path.hpp"
#include "training.hpp"

namespace examples {

// --tokenizer and its settings, shared by the three training programs.
inline void add_tokenizer_options(cli::Parser& p, loom::TokenizerSettings& settings) {
    p.add("--tokenizer", settings.kind, "char (code points), bpe (byte-level BPE) or word");
    p.add("--bpe-vocab", settings.bpe_vocab_size, "bpe: vocabulary size (256 bytes + merges)");
    p.add("--word-min-count", settings.word.min_count, "word: words seen fewer times become <unk>");
}

// The training text, tokenized and split (loom/data/tokenized_corpus.hpp).
struct Corpus {
    std::string path;
    std::size_t bytes = 0;
    loom::TokenizedCorpus data;
    const loom::Tokenizer& tokenizer() const { return *data.tokenizer; }
};

// Reads and tokenizes the corpus, saves its tokenizer as <out_dir>/tokenizer.json
// (and, for char, the vocabulary as vocabulary.txt), and sets the loss unit and
// the bits-per-byte factor of the run's messages. Under mpirun only rank 0
// writes the files (write_files).
inline Corpus load_corpus(const std::string& data, const loom::TokenizerSettings& settings, double validation_fraction,
                          training::LoopOptions& loop, bool write_files = true) {
    Corpus corpus;
    corpus.path = resolve_data_path(data);
    const std::string text = loom::read_file_bytes(corpus.path);
    corpus.bytes = text.size();
    try {
        corpus.data = loom::tokenize_corpus(text, settings, validation_fraction);
    } catch (const loom::Error& error) {
        throw loom::Error("'" + corpus.path + "': " + error.what());
    }
    std::filesystem::create_directories(loop.out_dir);
    if (write_files) {
        corpus.tokenizer().save(loop.out_dir + "/tokenizer.json");
        if (const auto* chars = dynamic_cast<const loom::CharTokenizer*>(corpus.data.tokenizer.get()))
            chars->vocabulary().save(loop.out_dir + "/vocabulary.txt");
    }
    loop.loss_unit = settings.kind == "char" ? "nats/char" : "nats/token";
    loop.bytes_per_token = corpus.data.validation_bytes_per_token();
    return corpus;
}

// "data: <path> (1115394 bytes, bpe tokenizer, vocabulary 1024, train 260811 tokens, validation 29012 tokens)"
inline std::string describe_corpus(const Corpus& corpus) {
    std::ostringstream out;
    out << "data: " << corpus.path << " (" << corpus.bytes << " bytes, " << corpus.tokenizer().kind()
        << " tokenizer, vocabulary " << corpus.tokenizer().vocab_size() << ", train " << corpus.data.train.size()
        << " tokens, validation " << corpus.data.validation.size() << " tokens, " << std::setprecision(3)
        << corpus.data.validation_bytes_per_token() << " bytes/token)";
    return out.str();
}

// --embedding-init: a word model's embedding starts from word vectors in the
// .vec text format (examples/word2vec writes them; so do word2vec and
// fastText). A line break, which the format cannot hold, is "</s>" there.
inline void init_embedding(loom::Embedding<float>& embedding, const loom::Tokenizer& tokenizer,
                           const std::string& path) {
    const auto* words = dynamic_cast<const loom::WordTokenizer*>(&tokenizer);
    if (words == nullptr)
        throw loom::Error("--embedding-init needs --tokenizer word (word vectors are per word), the tokenizer is " +
                          tokenizer.kind());
    std::vector<std::string> words_by_id;
    for (loom::index_t id = 0; id < words->vocab_size(); ++id)
        words_by_id.push_back(words->word(id) == "\n" ? "</s>" : words->word(id));
    const loom::PretrainedReport report = loom::load_word_vectors(embedding, loom::WordVectors::load_text(path), words_by_id);
    std::cout << "embedding: " << report.found << " of " << report.total << " words start from " << path << "\n";
}

// `prompt` as ids if the tokenizer can encode it and it is not empty; otherwise
// the corpus's first token (a model needs one token to start from), with a note.
inline std::vector<loom::index_t> usable_prompt(const std::string& prompt, const Corpus& corpus) {
    const std::vector<loom::index_t> fallback{corpus.data.train.front()};
    if (prompt.empty()) return fallback;
    try {
        std::vector<loom::index_t> ids = corpus.tokenizer().encode(prompt);
        if (!ids.empty()) return ids;
    } catch (const loom::Error& error) {
        std::cout << "prompt cannot be encoded (" << error.what() << "); starting from the corpus's first token\n";
    }
    return fallback;
}

// The prompt's text followed by what each generated token adds after the one before.
inline std::string prompt_and_continuation(const loom::Tokenizer& tokenizer, const std::vector<loom::index_t>& prompt,
                                           const std::vector<loom::index_t>& generated) {
    return tokenizer.decode(prompt) + tokenizer.decode_after(prompt.empty() ? -1 : prompt.back(), generated);
}

// After trainer.fit(): the exit code for an interrupted (130, as the shell
// gives for Ctrl-C) or non-finite (2) end; otherwise prints the final
// validation loss and `count` characters from generate_text(), and returns 0.
inline int finish(loom::Trainer<float>& trainer, loom::TrainingEnd end, const training::LoopOptions& options,
                  loom::index_t count, double temperature, const std::function<std::string()>& generate_text) {
    if (end == loom::TrainingEnd::interrupted) return 130;
    if (end == loom::TrainingEnd::nonfinite) return 2;
    std::ostringstream summary;
    summary << "final validation loss: " << std::setprecision(9) << trainer.final_validation_loss() << " "
            << options.loss_unit;
    if (options.bytes_per_token > 0)
        summary << " (" << std::setprecision(5)
                << trainer.bits_per_byte(trainer.final_validation_loss()) << " bits/byte)";
    summary << " (" << loom::format_duration(trainer.seconds()) << " training)";
    trainer.message(summary.str());
    std::cout << "---- " << count << (options.loss_unit == "nats/char" ? " characters" : " tokens") << ", temperature " << temperature << " ----\n"
              << generate_text() << "\n----\n"
              << "log: " << trainer.log_path() << (options.plot ? ", plot: " + trainer.plot_path() : std::string())
              << ", checkpoint: " << trainer.last_path() << ", tokenizer: " << options.out_dir
              << "/tokenizer.json\n";
    return 0;
}

// main() of a training program: parse, run, and turn any exception into a
// one-line message "<program>: <what>" and exit code 1. Under mpirun
// (`parallel` given and distributed) the message names the rank and the whole
// job ends, since the other processes cannot go on without this one.
inline int run_main(const char* program, cli::Parser& parser, int argc, char** argv, const std::function<int()>& run,
                    const DataParallelRun* parallel = nullptr) {
    try {
        if (!parser.parse(argc, argv)) return 0;  // --help
        return run();
    } catch (const std::exception& error) {
        if (parallel != nullptr && parallel->distributed()) parallel->fail(program, error.what());
        std::cerr << program << ": " << error.what() << "\n";
        return 1;
    }
}

}  // namespace examples
