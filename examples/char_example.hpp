// examples/char_example.hpp — what the character-level training programs
// (char_rnn, char_cnn, char_gpt) share besides the training loop: finding the
// bundled corpus, a prompt the vocabulary can encode, the closing report, and
// main()'s error handling.
#pragma once

#include <exception>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <loom/data/utf8.hpp>
#include <loom/data/vocabulary.hpp>

#include "cli.hpp"
#include "training.hpp"

namespace examples {

// The bundled corpus is found from the build tree too, not only from the
// repository root (LOOM_DATA_DIR is the repository's data/ folder).
inline std::string resolve_data_path(const std::string& path) {
    if (std::filesystem::exists(path)) return path;
#ifdef LOOM_DATA_DIR
    const std::string bundled = std::string(LOOM_DATA_DIR) + "/" + std::filesystem::path(path).filename().string();
    if (std::filesystem::exists(bundled)) return bundled;
#endif
    return path;  // CharDataset reports the missing file
}

// `prompt` if the vocabulary can encode it and it is not empty; otherwise the
// text's first character (a model needs one character to start from), with a note.
inline std::string usable_prompt(const std::string& prompt, const loom::Vocabulary& vocabulary,
                                 const std::vector<loom::index_t>& text_ids) {
    const std::string fallback = vocabulary.decode(text_ids.front());
    if (prompt.empty()) return fallback;
    for (char32_t c : loom::utf8_decode(prompt))
        if (!vocabulary.contains(c)) {
            std::cout << "prompt has characters outside the vocabulary; starting from "
                      << loom::describe_code_point(vocabulary.char_of(text_ids.front())) << "\n";
            return fallback;
        }
    return prompt;
}

// After loop.run(): the exit code for an interrupted (130, as the shell gives
// for Ctrl-C) or non-finite (2) end; otherwise prints the final validation loss
// and `count` characters from generate_text(), and returns 0.
inline int finish(training::TrainingLoop<float>& loop, training::LoopEnd end, const training::LoopOptions& options,
                  loom::index_t count, double temperature, const std::function<std::string()>& generate_text) {
    if (end == training::LoopEnd::interrupted) return 130;
    if (end == training::LoopEnd::nonfinite) return 2;
    std::ostringstream summary;
    summary << "final validation loss: " << std::setprecision(9) << loop.final_validation_loss() << " nats/char ("
            << training::format_duration(loop.seconds()) << " training)";
    loop.progress().message(summary.str());
    std::cout << "---- " << count << " characters, temperature " << temperature << " ----\n"
              << generate_text() << "\n----\n"
              << "log: " << options.out_dir << "/log.csv, checkpoint: " << loop.last_path()
              << ", vocabulary: " << options.out_dir << "/vocabulary.txt\n";
    return 0;
}

// main() of a training program: parse, run, and turn any exception into a
// one-line message "<program>: <what>" and exit code 1.
inline int run_main(const char* program, cli::Parser& parser, int argc, char** argv, const std::function<int()>& run) {
    try {
        if (!parser.parse(argc, argv)) return 0;  // --help
        return run();
    } catch (const std::exception& error) {
        std::cerr << program << ": " << error.what() << "\n";
        return 1;
    }
}

}  // namespace examples
