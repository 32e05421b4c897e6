// examples/char_rnn.cpp — train a character-level language model (LSTM, GRU or
// vanilla RNN) on a text file, then write new text with it.
//
//   char_rnn                                   # LSTM on data/tinyshakespeare.txt
//   char_rnn --cell gru --hidden 128 --steps 500 --threads 1
//   char_rnn --help
//
// Training is truncated backpropagation through time: the corpus is cut into
// --batch contiguous streams read --seq characters at a time, and the hidden
// state is carried (detached) from one batch to the next, so the model sees
// context longer than one window (--batching random draws independent windows
// instead). Loss is cross-entropy in nats per character; the optimizer is SGD
// with momentum and gradient-norm clipping.
//
// Output: a progress line (in place on a terminal, plain lines when piped), the
// validation loss every --eval-every steps, a text sample every --sample-every
// steps, a CSV log, the vocabulary, and at the end the final validation loss and
// --generate characters sampled from --prompt.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <loom/autograd/engine.hpp>
#include <loom/data/batcher.hpp>
#include <loom/data/text_dataset.hpp>
#include <loom/decode/sample.hpp>
#include <loom/nn/loss.hpp>
#include <loom/optim/clip_grad.hpp>
#include <loom/optim/sgd.hpp>
#include <loom/tensor/parallel.hpp>

#include "char_model.hpp"
#include "cli.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using Model = char_model::CharModel<float>;
using State = char_model::State<float>;

struct Options {
    std::string data = "data/tinyshakespeare.txt";
    std::string cell = "lstm";
    loom::index_t hidden = 256, layers = 2, embedding = 64, seq = 64, batch = 32;
    double lr = 1.0, momentum = 0.9, clip = 5.0, dropout = 0.0, validation_fraction = 0.1;
    loom::index_t steps = 1000;
    std::uint64_t seed = 1234;
    int threads = 0;  // 0: all cores
    std::string batching = "stream";
    loom::index_t eval_every = 250, eval_batches = 0, sample_every = 500, sample_length = 200, print_every = 50;
    loom::index_t generate = 500;
    double temperature = 0.8;
    std::string prompt = "ROMEO:";
    std::string out_dir = "char_rnn_out";
};

cli::Parser make_parser(Options& o) {
    cli::Parser p("char_rnn", "Train a character-level RNN/LSTM/GRU language model and sample text from it.");
    p.add("--data", o.data, "training text (UTF-8)");
    p.add("--cell", o.cell, "recurrent cell: lstm, gru or rnn");
    p.add("--hidden", o.hidden, "hidden size H");
    p.add("--layers", o.layers, "stacked recurrent layers");
    p.add("--embedding", o.embedding, "character embedding size");
    p.add("--seq", o.seq, "characters per training window T (BPTT length)");
    p.add("--batch", o.batch, "windows per batch B");
    p.add("--lr", o.lr, "SGD learning rate");
    p.add("--momentum", o.momentum, "SGD momentum");
    p.add("--clip", o.clip, "clip the gradient norm to this (0: off)");
    p.add("--dropout", o.dropout, "dropout between recurrent layers");
    p.add("--steps", o.steps, "training steps (batches)");
    p.add("--seed", o.seed, "seed for initialisation, batching and sampling");
    p.add("--threads", o.threads, "threads (0: all cores)");
    p.add("--batching", o.batching, "stream (stateful truncated BPTT) or random (independent windows)");
    p.add("--validation", o.validation_fraction, "fraction of the text held out (its end)");
    p.add("--eval-every", o.eval_every, "validation loss every N steps (0: only at the end)");
    p.add("--eval-batches", o.eval_batches, "validation batches per evaluation (0: the whole split)");
    p.add("--sample-every", o.sample_every, "print a text sample every N steps (0: never)");
    p.add("--sample-length", o.sample_length, "characters per intermediate sample");
    p.add("--print-every", o.print_every, "progress lines every N steps when not on a terminal");
    p.add("--generate", o.generate, "characters to generate at the end");
    p.add("--temperature", o.temperature, "sampling temperature (0: greedy)");
    p.add("--prompt", o.prompt, "text to start generating from");
    p.add("--out", o.out_dir, "directory for log.csv and vocabulary.txt");
    return p;
}

// The bundled corpus is found from the build tree too, not only from the repository root.
std::string resolve_data_path(const std::string& path) {
    if (std::filesystem::exists(path)) return path;
#ifdef LOOM_DATA_DIR
    const std::string bundled = std::string(LOOM_DATA_DIR) + "/" + std::filesystem::path(path).filename().string();
    if (std::filesystem::exists(bundled)) return bundled;
#endif
    return path;  // CharDataset reports the missing file
}

std::string format_duration(double seconds) {
    const long total = static_cast<long>(seconds + 0.5);
    std::ostringstream out;
    if (total >= 3600) out << total / 3600 << "h";
    if (total >= 60) out << (total % 3600) / 60 << "m";
    out << total % 60 << "s";
    return out.str();
}

// Mean cross-entropy (nats/char) over validation batches, carrying the state
// through the streams as in training.
double evaluate(Model& model, const std::vector<loom::index_t>& ids, const Options& o) {
    loom::NoGradGuard no_grad;
    model.eval();
    loom::StreamBatcher batcher(ids, o.batch, o.seq);
    const loom::index_t batches =
        o.eval_batches > 0 ? std::min(o.eval_batches, batcher.batches_per_epoch()) : batcher.batches_per_epoch();
    State state;
    double total = 0.0;
    for (loom::index_t k = 0; k < batches; ++k) {
        const loom::Batch batch = batcher.next();
        total += loom::cross_entropy(model.forward(batch.inputs, state), batch.targets).item();
    }
    model.train();
    return total / static_cast<double>(batches);
}

// Feeds the prompt, then samples `length` characters one at a time.
std::string generate(Model& model, const loom::Vocabulary& vocabulary, const std::string& prompt,
                     loom::index_t length, double temperature, loom::Generator& generator) {
    loom::NoGradGuard no_grad;
    model.eval();
    std::vector<loom::index_t> prompt_ids = vocabulary.encode(prompt);
    State state;
    loom::Tensor<float> logits =
        model.forward(loom::IndexTensor(prompt_ids, loom::Shape{1, static_cast<loom::index_t>(prompt_ids.size())}), state);
    std::vector<loom::index_t> generated;
    for (loom::index_t i = 0; i < length; ++i) {
        const loom::index_t next = loom::sample_last_row(logits, temperature, generator);
        generated.push_back(next);
        logits = model.step(loom::IndexTensor({next}), state);
    }
    model.train();
    return prompt + vocabulary.decode(generated);
}

// The CSV log, rewritten whole (atomically: temp file, then rename) whenever it changes.
class CsvLog {
public:
    explicit CsvLog(std::string path) : path_(std::move(path)) {}

    void add(loom::index_t step, double train_loss, double val_loss, double tokens_per_s, double seconds) {
        std::ostringstream row;
        row << step << ',';
        if (train_loss >= 0) row << train_loss;
        row << ',';
        if (val_loss >= 0) row << val_loss;
        row << ',' << tokens_per_s << ',' << seconds << '\n';
        rows_ += row.str();
    }

    void flush() const {
        const std::string temp = path_ + ".tmp";
        {
            std::ofstream out(temp, std::ios::trunc);
            out << "step,train_loss,val_loss,tokens_per_s,seconds\n" << rows_;
            out.flush();
            if (!out) throw loom::Error("char_rnn: cannot write " + temp);
        }
        std::filesystem::rename(temp, path_);
    }

private:
    std::string path_;
    std::string rows_;
};

// The in-place progress line on a terminal; plain lines otherwise.
class Progress {
public:
    explicit Progress(loom::index_t print_every) : tty_(isatty(fileno(stdout)) != 0), print_every_(print_every) {}

    void update(loom::index_t step, loom::index_t total, double loss, double tokens_per_s, double eta_seconds) {
        std::ostringstream line;
        line << "step " << step << "/" << total << " | loss " << std::fixed;
        line.precision(4);
        line << loss << " | ";
        line.precision(1);
        line << tokens_per_s / 1000.0 << "k tok/s | ETA " << format_duration(eta_seconds);
        if (tty_) {
            std::cout << '\r' << line.str() << "\033[K" << std::flush;
            line_open_ = true;
        } else if (print_every_ > 0 && (step % print_every_ == 0 || step == total)) {
            std::cout << line.str() << std::endl;
        }
    }

    // Prints a full line of its own (ending the progress line first).
    void message(const std::string& text) {
        if (line_open_) std::cout << '\n';
        line_open_ = false;
        std::cout << text << std::endl;
    }

private:
    bool tty_;
    loom::index_t print_every_;
    bool line_open_ = false;
};

int run(const Options& o) {
    if (o.threads > 0) loom::set_num_threads(o.threads);
    const bool stream_batching = o.batching == "stream";
    if (!stream_batching && o.batching != "random")
        throw loom::Error("char_rnn: --batching must be stream or random, got '" + o.batching + "'");

    const std::string data_path = resolve_data_path(o.data);
    const loom::CharDataset dataset = loom::CharDataset::from_file(data_path);
    const loom::Vocabulary& vocabulary = dataset.vocabulary();
    const loom::TrainValidationSplit split = loom::split_train_validation(dataset.ids(), o.validation_fraction);
    std::filesystem::create_directories(o.out_dir);
    vocabulary.save(o.out_dir + "/vocabulary.txt");

    loom::Generator generator(o.seed);
    char_model::Config config;
    config.vocabulary_size = vocabulary.size();
    config.embedding_dim = o.embedding;
    config.hidden_size = o.hidden;
    config.num_layers = o.layers;
    config.cell = char_model::parse_cell(o.cell);
    config.dropout = o.dropout;
    Model model(config, generator);
    loom::SGD<float> optimizer(model.parameters(), o.lr, o.momentum);

    std::cout << "data: " << data_path << " (" << dataset.size() << " characters, vocabulary " << vocabulary.size()
              << ", train " << split.train.size() << ", validation " << split.validation.size() << ")\n"
              << "model: " << char_model::cell_name(config.cell) << " " << o.layers << "x" << o.hidden
              << ", embedding " << o.embedding << ", " << model.parameter_count() << " parameters\n"
              << "training: " << o.steps << " steps of " << o.batch << "x" << o.seq << " (" << o.batching
              << "), SGD lr " << o.lr << " momentum " << o.momentum << ", clip " << o.clip << ", threads "
              << loom::get_num_threads() << "\n";

    std::string prompt = o.prompt;
    for (char32_t c : loom::utf8_decode(prompt))
        if (!vocabulary.contains(c)) {
            prompt = vocabulary.decode(dataset.ids().front());  // the prompt cannot be encoded: start from the text's first character
            std::cout << "prompt has characters outside the vocabulary; starting from " << loom::describe_code_point(vocabulary.char_of(dataset.ids().front())) << "\n";
            break;
        }

    loom::StreamBatcher stream(split.train, o.batch, o.seq);
    loom::RandomWindowBatcher windows(split.train, o.batch, o.seq, generator.next_u64());
    loom::Generator sampler(o.seed + 1);
    CsvLog log(o.out_dir + "/log.csv");
    Progress progress(o.print_every);
    State state;

    const auto start = Clock::now();
    auto window_start = start;
    loom::index_t window_steps = 0;
    double tokens_per_s = 0.0;
    for (loom::index_t step = 1; step <= o.steps; ++step) {
        if (stream_batching && stream.batch_in_epoch() == 0) state = State();  // the streams start afresh
        const loom::Batch batch = stream_batching ? stream.next() : windows.next();
        if (!stream_batching) state = State();

        state = state.detached();  // truncated BPTT: no gradient into the previous batch
        const loom::Tensor<float> loss = loom::cross_entropy(model.forward(batch.inputs, state), batch.targets);
        optimizer.zero_grad();
        loss.backward();
        if (o.clip > 0) loom::clip_grad_norm_(optimizer.parameters(), o.clip);
        optimizer.step();

        const double train_loss = loss.item();
        const auto now = Clock::now();
        ++window_steps;
        const double window_seconds = std::chrono::duration<double>(now - window_start).count();
        if (window_seconds >= 1.0 || step == 1) {  // tokens/s over the last second or so
            tokens_per_s = static_cast<double>(window_steps * o.batch * o.seq) / window_seconds;
            window_start = now;
            window_steps = 0;
        }
        const double elapsed = std::chrono::duration<double>(now - start).count();
        const double eta = elapsed / static_cast<double>(step) * static_cast<double>(o.steps - step);
        progress.update(step, o.steps, train_loss, tokens_per_s, eta);

        const bool evaluate_now = o.eval_every > 0 && step % o.eval_every == 0 && step != o.steps;
        double val_loss = -1.0;
        if (evaluate_now) {
            val_loss = evaluate(model, split.validation, o);
            std::ostringstream text;
            text << "step " << step << ": validation loss " << val_loss << " nats/char";
            progress.message(text.str());
        }
        if (evaluate_now || step % std::max<loom::index_t>(o.print_every, 1) == 0)
            log.add(step, train_loss, val_loss, tokens_per_s, elapsed);
        if (evaluate_now) log.flush();
        if (o.sample_every > 0 && step % o.sample_every == 0 && step != o.steps)
            progress.message("---- sample at step " + std::to_string(step) + " ----\n" +
                             generate(model, vocabulary, prompt, o.sample_length, o.temperature, sampler) + "\n----");
    }

    const double final_loss = evaluate(model, split.validation, o);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    log.add(o.steps, -1.0, final_loss, static_cast<double>(o.steps * o.batch * o.seq) / seconds, seconds);
    log.flush();
    std::ostringstream summary;
    summary << "final validation loss: " << final_loss << " nats/char (" << format_duration(seconds) << " training, "
            << static_cast<long>(static_cast<double>(o.steps * o.batch * o.seq) / seconds) << " tokens/s)";
    progress.message(summary.str());
    std::cout << "---- " << o.generate << " characters, temperature " << o.temperature << " ----\n"
              << generate(model, vocabulary, prompt, o.generate, o.temperature, sampler) << "\n----\n"
              << "log: " << o.out_dir << "/log.csv, vocabulary: " << o.out_dir << "/vocabulary.txt\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    cli::Parser parser = make_parser(options);
    try {
        if (!parser.parse(argc, argv)) return 0;  // --help
        return run(options);
    } catch (const std::exception& error) {
        std::cerr << "char_rnn: " << error.what() << "\n";
        return 1;
    }
}
