// examples/generate.cpp — write text with a model trained by char_rnn, char_cnn
// or char_gpt, from its checkpoint, with the decoding library (loom/decode/).
// The checkpoint's model.kind metadata says which model to rebuild; each comes
// with its own loom::Decoder (recurrent state, convolution ring buffers, or
// attention key/value caches), and the decoding code drives them all the same.
//
//   generate char_rnn_out/best.safetensors --prompt "ROMEO:" --method sample --temperature 0.8
//   generate ckpt.safetensors --method greedy --max-chars 300 --stop "\n\n"
//   generate ckpt.safetensors --method beam --beam 5 --n 3 --max-chars 80
//   generate ckpt.safetensors --input prompts.txt --method greedy --max-chars 200
//   generate --help
//
// Methods:
//   greedy  the most probable character each step (loom::greedy)
//   sample  draws from softmax(logits / temperature), restricted to the --top-k
//           most probable tokens and the smallest set with mass >= --top-p
//           (loom::sample); --seed fixes the text, --n writes several samples
//           one after another, separated by a line "---- sample k/n ----"
//   beam    beam search of width --beam (loom::beam_search); prints the --n
//           best hypotheses, best first, each under a line
//           "==== beam i/n score=<sum of log-probabilities> ===="
// Greedy and sample stream their text to stdout as it is produced (flushed per
// piece). --stop ends the text at a stop string (not printed); "\n", "\t" and
// "\\" in --prompt and --stop are escapes. At the end, stderr gets the speed
// (characters per second, milliseconds per character).
//
// The checkpoint's tokenizer (char, bpe or word; see loom/data/tokenizer.hpp)
// turns the prompt into ids and each generated id back into text. With a char
// tokenizer the prompt must consist of characters of the model's vocabulary;
// otherwise the error lists the others (U+XXXX and the character), or
// --drop-unknown drops them with a note. A bpe model takes any prompt (it has a
// token for every byte); a word model encodes unknown words as <unk>. --report-memory prints the resident set size
// (VmRSS, and its peak VmHWM, from /proc/self/status) after 1,000 and 10,000
// generated characters and at the end, to check that long generation runs in
// constant memory.
//
// --weights bf16|int8 converts the model's weight matrices at load time
// (loom::quantize, docs/quantization.md): fewer bytes per weight, faster
// generation at batch 1, slightly different numbers. A checkpoint written by
// examples/quantize --out is already converted and runs in its own format.
//
// Many prompts at once: --input FILE (or "-" for standard input) reads one
// prompt per line (the escapes above apply; a trailing "\r" is dropped) and
// generates them all together, one batch (loom::generate_batch, greedy or
// sample; beam is an error): each model step is one batched call over the
// prompts still running, so 64 prompts take little more time than a few.
// An empty line is an error naming its line number (a prompt needs at least one
// character), as is a line with characters outside the vocabulary. The outputs
// are printed in input order, each under a line "==== prompt k/N ====" (prompt
// k is line k) followed by the prompt and its text: the first output not yet
// printed in full streams live; the outputs after it are kept until their turn
// and then printed at once up to where they have got. Each prompt stops on its
// own (--max-chars, --stop). Sampling: prompt k draws from the seed
// --seed + k - 1, so it writes what `--prompt "<line k>" --seed <--seed + k - 1>`
// writes alone (to rounding: batched kernels sum in another order). --n and
// --prompt do not go with --input. char_gpt needs lines of one length (or of
// at least its block size). stderr gets the total speed over all prompts.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <loom/data/char_tokenizer.hpp>
#include <loom/data/tokenizer.hpp>
#include <loom/decode/batched_generation.hpp>
#include <loom/decode/beam_search.hpp>
#include <loom/decode/greedy.hpp>
#include <loom/decode/sample.hpp>
#include <loom/decode/stream.hpp>
#include <loom/tensor/parallel.hpp>

#include "cli.hpp"
#include "model_loader.hpp"

namespace {

struct Options {
    std::string checkpoint;
    std::string prompt = "ROMEO:";
    std::string method = "sample";
    loom::index_t beam = 5;
    double temperature = 0.8;
    loom::index_t top_k = 40;
    double top_p = 0.95;
    loom::index_t max_chars = 500;
    std::uint64_t seed = 1;
    loom::index_t n = 1;
    std::string stop;
    std::string input;           // --input: a file of prompts, one per line ("-": stdin)
    bool prompt_given = false;   // --prompt was on the command line (it does not go with --input)
    bool drop_unknown = false;
    bool report_memory = false;
    int threads = 0;  // 0: all cores
    std::string weights = "fp32";  // --weights: fp32 | bf16 | int8 (loom::quantize at load)
    loom::index_t context_keep = 0;  // char_gpt only
};

cli::Parser make_parser(Options& o) {
    cli::Parser p("generate <checkpoint.safetensors>",
                  "Write text with a char_rnn (lstm, gru, rnn), char_cnn or char_gpt model from its checkpoint: greedy, "
                  "sampling or beam search.\n--drop-unknown and --report-memory are switches (no value needed).");
    p.add("--prompt", o.prompt, "text to start from (escapes \\n \\t \\\\)");
    p.add("--method", o.method, "greedy, sample or beam");
    p.add("--beam", o.beam, "beam width (beam)");
    p.add("--temperature", o.temperature, "sampling temperature, > 0 (sample)");
    p.add("--top-k", o.top_k, "keep the k most probable tokens, 0: all (sample)");
    p.add("--top-p", o.top_p, "keep the smallest set with probability mass >= p, 1: all (sample)");
    p.add("--max-chars", o.max_chars, "tokens to generate after the prompt (characters for a char model)");
    p.add("--seed", o.seed, "seed of the sampling generator (sample)");
    p.add("--context-keep", o.context_keep,
          "char_gpt: characters re-read when the context is full (0: block/2; the block size: sliding window)");
    p.add("--n", o.n, "samples to write one after another (sample), or best beams to print (beam)");
    p.add("--stop", o.stop, "stop at this text, which is not printed (escapes \\n \\t \\\\); \"\": never");
    p.add("--input", o.input,
          "generate for every line of this file (\"-\": stdin) as one batch (greedy or sample); outputs in input "
          "order under \"==== prompt k/N ====\", the first unfinished one streamed live, later ones shown when their "
          "turn comes; an empty line is an error; prompt k samples with seed --seed + k - 1");
    p.add("--drop-unknown", o.drop_unknown, "drop prompt characters outside the vocabulary instead of failing");
    p.add("--report-memory", o.report_memory, "print VmRSS/VmHWM after 1,000 and 10,000 characters and at the end");
    p.add("--threads", o.threads, "threads (0: all cores)");
    p.add("--weights", o.weights,
          "fp32, bf16 or int8: convert the weights at load (loom::quantize); a checkpoint saved quantized "
          "(examples/quantize --out) runs in its own format");
    return p;
}

// "\n", "\t", "\\" → newline, tab, backslash; any other backslash stays as it is.
std::string unescape(const std::string& text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) {
            const char next = text[i + 1];
            if (next == 'n' || next == 't' || next == '\\') {
                out += next == 'n' ? '\n' : next == 't' ? '\t' : '\\';
                ++i;
                continue;
            }
        }
        out += text[i];
    }
    return out;
}

// The prompt as character ids. Characters outside the vocabulary are an error
// listing them all, or (drop) left out with a note on stderr. `source` names
// the prompt in messages ("the prompt", "--input line 3").
std::vector<loom::index_t> encode_characters(const loom::Vocabulary& vocabulary, const std::string& prompt, bool drop,
                                             std::string& kept_text, const std::string& source) {
    const std::vector<char32_t> characters = loom::utf8_decode(prompt);
    std::vector<char32_t> unknown;
    std::vector<loom::index_t> ids;
    kept_text.clear();
    for (const char32_t c : characters) {
        if (vocabulary.contains(c)) {
            ids.push_back(vocabulary.id_of(c));
            loom::detail::append_utf8(kept_text, c);
        } else if (std::find(unknown.begin(), unknown.end(), c) == unknown.end()) {
            unknown.push_back(c);
        }
    }
    if (!unknown.empty()) {
        std::string list;
        for (const char32_t c : unknown) list += (list.empty() ? "" : ", ") + loom::describe_code_point(c);
        if (!drop)
            throw loom::Error(source + " has " + std::to_string(unknown.size()) +
                              " character(s) outside the model's vocabulary (" + vocabulary.summary() + "): " + list +
                              " (--drop-unknown leaves them out)");
        std::cerr << "generate: note: dropped prompt character(s) outside the vocabulary"
                  << (source == "the prompt" ? "" : " in " + source) << ": " << list << "\n";
    }
    if (ids.empty())
        throw loom::Error(source + " is empty" + std::string(unknown.empty() ? "" : " after dropping unknown characters") +
                          "; the model needs at least one character to start from");
    return ids;
}

// The prompt as ids of the model's tokenizer; kept_text is the prompt as the model sees it.
std::vector<loom::index_t> encode_prompt(const loom::Tokenizer& tokenizer, const std::string& prompt, bool drop,
                                         std::string& kept_text, const std::string& source = "the prompt") {
    if (const auto* chars = dynamic_cast<const loom::CharTokenizer*>(&tokenizer))
        return encode_characters(chars->vocabulary(), prompt, drop, kept_text, source);
    std::vector<loom::index_t> ids = tokenizer.encode(prompt);
    if (ids.empty()) throw loom::Error(source + " is empty; the model needs at least one token to start from");
    kept_text = tokenizer.decode(ids);  // differs from the prompt where a word tokenizer made <unk>
    return ids;
}

// The text of each new token after `previous` (the last prompt token to begin
// with): a tokenizer's piece depends on the token before it (data/tokenizer.hpp).
struct PieceText {
    const loom::Tokenizer* tokenizer;
    loom::index_t previous;

    std::string operator()(loom::index_t id) {
        std::string text = tokenizer->piece(id, previous);
        previous = id;
        return text;
    }
};


// "VmRSS 12345 kB, VmHWM 12400 kB" from /proc/self/status ("" where there is none).
std::string memory_report() {
    std::ifstream status("/proc/self/status");
    std::string line, rss, hwm;
    const auto value = [](const std::string& l) {
        std::string v = l.substr(l.find(':') + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        return v;
    };
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) rss = value(line);
        if (line.rfind("VmHWM:", 0) == 0) hwm = value(line);
    }
    if (rss.empty()) return "VmRSS/VmHWM not available (no /proc/self/status)";
    return "VmRSS " + rss + ", VmHWM " + hwm;
}

std::size_t count_characters(const std::string& utf8) {
    std::size_t count = 0;
    for (const char byte : utf8) count += (static_cast<unsigned char>(byte) & 0xC0) != 0x80;
    return count;
}

// Writes each piece to stdout at once; counts characters; reports memory at
// 1,000 and 10,000 characters when asked.
struct Printer {
    bool report_memory = false;
    std::size_t characters = 0;

    bool operator()(const std::string& piece) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
        const std::size_t before = characters;
        characters += count_characters(piece);
        if (report_memory)
            for (const std::size_t mark : {std::size_t{1000}, std::size_t{10000}})
                if (before < mark && characters >= mark)
                    std::cerr << "generate: memory after " << characters << " characters: " << memory_report() << "\n";
        return true;
    }
};

void print_text(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

// Beam search (no streaming: the best hypothesis is known only at the end);
// prints the --n best, best first. Stop strings cut each printed text (beam
// search itself has none). Returns the characters of the best hypothesis
// before any stop string cut it.
std::size_t run_beam(loom::Decoder<float>& decoder, const loom::Tokenizer& tokenizer,
                     const std::vector<loom::index_t>& prompt_ids, const std::string& prompt, const Options& o,
                     const std::vector<std::string>& stop_strings) {
    loom::BeamSearchOptions options;
    options.beam_width = o.beam;
    options.max_new_tokens = o.max_chars;
    options.num_results = o.n;
    const std::vector<loom::Hypothesis> best = loom::beam_search(decoder, prompt_ids, options);
    std::size_t best_characters = 0;
    for (std::size_t i = 0; i < best.size(); ++i) {
        std::string text = tokenizer.decode_after(prompt_ids.back(), best[i].tokens);
        if (i == 0) best_characters = count_characters(text);
        for (const std::string& stop : stop_strings)
            if (const std::size_t at = text.find(stop); at != std::string::npos) text.resize(at);
        char head[128];
        std::snprintf(head, sizeof head, "==== beam %zu/%zu score=%.6f ====\n", i + 1, best.size(), best[i].score);
        print_text(head + prompt + text + "\n");
    }
    return best_characters;
}

// The prompts of --input, one per line ("-": standard input), with the
// escapes of --prompt applied and a trailing "\r" (a CRLF file) dropped. An
// empty line is an error naming its number: every line is a prompt, and a
// prompt needs at least one character.
std::vector<std::string> read_prompt_lines(const std::string& path) {
    const std::string name = path == "-" ? "standard input" : "'" + path + "'";
    std::ifstream file;
    if (path != "-") {
        file.open(path);
        if (!file) throw loom::Error("--input " + name + " cannot be read");
    }
    std::istream& in = path == "-" ? std::cin : file;
    std::vector<std::string> prompts;
    std::string line;
    for (std::size_t number = 1; std::getline(in, line); ++number) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty())
            throw loom::Error("--input " + name + ": line " + std::to_string(number) +
                              " is empty (every line is a prompt, and a prompt needs at least one character)");
        prompts.push_back(unescape(line));
    }
    if (prompts.empty()) throw loom::Error("--input " + name + " has no lines, so no prompts");
    return prompts;
}

// The outputs of --input in input order while they are all being generated:
// output k prints live once every output before it is complete; the outputs
// after it collect their pieces until their turn, then print them at once and
// go on live. Each output is "==== prompt k/N ====", the prompt, its text, "\n".
class BatchPrinter {
public:
    BatchPrinter(std::vector<std::string> prompts, bool report_memory)
        : prompts_(std::move(prompts)), pending_(prompts_.size()), finished_(prompts_.size(), false),
          printer_{report_memory} {
        print_head();
    }

    void piece(std::size_t prompt, const std::string& text) {
        if (prompt == current_) printer_(text);
        else pending_[prompt] += text;
    }

    void finished(std::size_t prompt) {
        finished_[prompt] = true;
        while (current_ < prompts_.size() && finished_[current_]) {
            print_text("\n");
            if (++current_ == prompts_.size()) break;
            print_head();
            if (!pending_[current_].empty()) printer_(pending_[current_]);
            std::string().swap(pending_[current_]);  // printed: free it
        }
    }

    std::size_t characters() const { return printer_.characters; }  // generated characters printed

private:
    void print_head() {
        print_text("==== prompt " + std::to_string(current_ + 1) + "/" + std::to_string(prompts_.size()) + " ====\n" +
                   prompts_[current_]);
    }

    std::vector<std::string> prompts_;   // as the model sees them
    std::vector<std::string> pending_;   // text of the outputs after current_, not printed yet
    std::vector<bool> finished_;
    std::size_t current_ = 0;            // the output printing live
    Printer printer_;
};

// --input: all prompts as one batch (loom::generate_batch). Returns the
// generated characters; `stop_reasons` says how many prompts stopped for each reason.
std::size_t run_batch(loom::Decoder<float>& decoder, const loom::Tokenizer& tokenizer,
                      const std::vector<std::vector<loom::index_t>>& prompt_ids,
                      const std::vector<std::string>& prompt_texts, const Options& o, std::string& stop_reasons) {
    loom::BatchGenerationOptions options;
    options.method = o.method == "greedy" ? loom::BatchMethod::greedy : loom::BatchMethod::sample;
    options.max_new_tokens = o.max_chars;
    if (!o.stop.empty()) options.stop_strings = {unescape(o.stop)};
    options.temperature = o.temperature;
    options.top_k = o.top_k;
    options.top_p = o.top_p;
    options.seed = o.seed;  // prompt k (from 0) draws from seed + k
    std::vector<PieceText> pieces;  // per prompt: a tokenizer's piece depends on the token before it
    for (const auto& ids : prompt_ids) pieces.push_back({&tokenizer, ids.back()});
    options.token_text = [&pieces](loom::index_t prompt, loom::index_t id) {
        return pieces[static_cast<std::size_t>(prompt)](id);
    };
    BatchPrinter printer(prompt_texts, o.report_memory);
    options.on_text = [&printer](loom::index_t prompt, const std::string& piece) {
        printer.piece(static_cast<std::size_t>(prompt), piece);
        return true;
    };
    options.on_finish = [&printer](loom::index_t prompt, const loom::GenerationResult&) {
        printer.finished(static_cast<std::size_t>(prompt));
    };
    const std::vector<loom::GenerationResult> results = loom::generate_batch(decoder, prompt_ids, options);
    std::map<std::string, std::size_t> prompts_per_reason;
    for (const loom::GenerationResult& result : results) ++prompts_per_reason[loom::to_string(result.stop_reason)];
    for (const auto& [reason, prompts] : prompts_per_reason)
        stop_reasons += std::string(stop_reasons.empty() ? "" : ", ") + reason + " (" + std::to_string(prompts) +
                        (prompts == 1 ? " prompt)" : " prompts)");
    return printer.characters();
}

int run(const Options& o) {
    if (o.threads > 0) loom::set_num_threads(o.threads);
    if (o.checkpoint.empty()) throw loom::Error("no checkpoint given (usage: generate <checkpoint.safetensors> [options])");
    if (!std::filesystem::exists(o.checkpoint))
        throw loom::Error("checkpoint '" + o.checkpoint + "' does not exist");
    if (o.method != "greedy" && o.method != "sample" && o.method != "beam")
        throw loom::Error("--method must be greedy, sample or beam, got '" + o.method + "'");
    if (o.max_chars < 0) throw loom::Error("--max-chars must be >= 0, got " + std::to_string(o.max_chars));
    if (o.n < 1) throw loom::Error("--n must be >= 1, got " + std::to_string(o.n));
    if (o.method == "beam" && o.beam < 1) throw loom::Error("--beam must be >= 1, got " + std::to_string(o.beam));
    if (o.method == "beam" && o.n > o.beam)
        throw loom::Error("--n " + std::to_string(o.n) + " is more than the beam width " + std::to_string(o.beam));
    const bool batch = !o.input.empty();
    std::vector<std::string> input_lines;
    if (batch) {
        if (o.method == "beam")
            throw loom::Error("--input works with --method greedy or sample; beam search decodes one prompt at a time");
        if (o.n != 1) throw loom::Error("--n does not go with --input (repeat a line to get several samples of it)");
        if (o.prompt_given) throw loom::Error("--prompt does not go with --input (the prompts are its lines)");
        input_lines = read_prompt_lines(o.input);  // before loading: a bad file fails fast
    }

    examples::LoadedModel loaded =
        examples::load_model(o.checkpoint, o.context_keep, loom::parse_weight_format(o.weights));
    const loom::Tokenizer& tokenizer = *loaded.tokenizer;
    std::string prompt;
    std::vector<loom::index_t> prompt_ids;
    std::vector<std::vector<loom::index_t>> input_ids;  // --input: one prompt per line
    std::vector<std::string> input_texts;               // ... as the model sees them
    if (batch) {
        for (std::size_t k = 0; k < input_lines.size(); ++k) {
            input_ids.push_back(encode_prompt(tokenizer, input_lines[k], o.drop_unknown, prompt,
                                              "--input line " + std::to_string(k + 1)));
            input_texts.push_back(prompt);
        }
    } else {
        prompt_ids = encode_prompt(tokenizer, unescape(o.prompt), o.drop_unknown, prompt);
    }
    loom::Decoder<float>& decoder = *loaded.decoder;
    if (o.report_memory) std::cerr << "generate: memory after loading: " << memory_report() << "\n";

    loom::GenerationOptions options;
    options.max_new_tokens = o.max_chars;
    if (!o.stop.empty()) options.stop_strings = {unescape(o.stop)};
    options.temperature = o.temperature;
    options.top_k = o.top_k;
    options.top_p = o.top_p;
    options.seed = o.seed;
    PieceText pieces{&tokenizer, batch ? 0 : prompt_ids.back()};  // --input: run_batch keeps one per prompt
    options.token_text = [&pieces](loom::index_t id) { return pieces(id); };

    std::size_t generated = 0;
    std::string stop_reasons;  // why each text ended
    const auto start = std::chrono::steady_clock::now();
    if (batch) {
        generated = run_batch(decoder, tokenizer, input_ids, input_texts, o, stop_reasons);
    } else if (o.method == "beam") {
        generated = run_beam(decoder, tokenizer, prompt_ids, prompt, o, options.stop_strings);
    } else {
        Printer printer{o.report_memory};
        options.on_text = [&printer](const std::string& piece) { return printer(piece); };
        loom::Generator generator(o.seed);
        for (loom::index_t k = 0; k < o.n; ++k) {
            if (k > 0) print_text("\n---- sample " + std::to_string(k + 1) + "/" + std::to_string(o.n) + " ----\n");
            print_text(prompt);
            pieces.previous = prompt_ids.back();  // each sample continues the prompt afresh
            const loom::GenerationResult result = o.method == "greedy"
                                                      ? loom::greedy(decoder, prompt_ids, options)
                                                      : loom::sample(decoder, prompt_ids, options, generator);
            stop_reasons += std::string(stop_reasons.empty() ? "" : ", ") + loom::to_string(result.stop_reason);
        }
        print_text("\n");
        generated = printer.characters;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string method = o.method;  // for the report
    if (batch)
        method += ", one batch of " + std::to_string(input_ids.size()) + (input_ids.size() == 1 ? " prompt" : " prompts");
    if (o.report_memory) std::cerr << "generate: memory at the end (" << generated << " characters): " << memory_report() << "\n";
    std::ostringstream speed;
    speed.setf(std::ios::fixed);
    speed.precision(1);
    speed << "generate: " << generated << " characters in ";
    speed.precision(3);
    speed << seconds << " s: ";
    speed.precision(1);
    speed
          << (seconds > 0 ? static_cast<double>(generated) / seconds : 0.0) << " chars/s, ";
    speed.precision(3);
    speed << (generated > 0 ? 1000.0 * seconds / static_cast<double>(generated) : 0.0) << " ms per char ("
          << method << ", " << loaded.description << ", threads " << loom::get_num_threads() << ")\n";
    if (!stop_reasons.empty()) speed << "generate: stopped by " << stop_reasons << "\n";
    std::cerr << speed.str();
    return 0;
}

// The checkpoint is the one positional argument; bare switches become "=true".
// prompt_given: whether --prompt is among them (it does not go with --input).
std::vector<std::string> prepare_arguments(int argc, char** argv, std::string& checkpoint, bool& prompt_given) {
    std::vector<std::string> args{argv[0]};
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--prompt" || arg.rfind("--prompt=", 0) == 0) prompt_given = true;
        if (arg == "--drop-unknown" || arg == "--report-memory") {
            args.push_back(arg + "=true");
        } else if (arg.rfind("--", 0) == 0 || arg == "-h") {
            args.push_back(arg);
            if (arg.find('=') == std::string::npos && arg != "--help" && arg != "-h" && i + 1 < argc)
                args.push_back(argv[++i]);  // its value, even if it starts with '-'
        } else if (checkpoint.empty()) {
            checkpoint = arg;
        } else {
            throw std::invalid_argument("unexpected argument '" + arg + "' (the checkpoint is already '" + checkpoint +
                                        "')");
        }
    }
    return args;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    cli::Parser parser = make_parser(options);
    try {
        std::vector<std::string> args = prepare_arguments(argc, argv, options.checkpoint, options.prompt_given);
        std::vector<char*> pointers;
        for (std::string& arg : args) pointers.push_back(arg.data());
        if (!parser.parse(static_cast<int>(pointers.size()), pointers.data())) return 0;  // --help
        return run(options);
    } catch (const std::exception& error) {
        std::fflush(stdout);
        std::cerr << "generate: " << error.what() << "\n";
        return 1;
    }
}
