// loom/train/progress.hpp — the training progress line:
//
//   step 1200/5000 | loss 1.4821 | 81.3k tok/s | ETA 2m41s
//
// On a terminal the line is rewritten in place ('\r' and "erase to end of
// line"); when the output is a file or a pipe, a plain line is printed every
// `print_every` steps instead, so logs stay readable. message() prints a line
// of its own (validation results, samples) without garbling the progress line.
#pragma once

#include <cstdint>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>

#include <unistd.h>

namespace loom {

// "1h2m5s", "3m0s", "42s": whole seconds, rounded.
inline std::string format_duration(double seconds) {
    const long total = static_cast<long>(seconds + 0.5);
    std::ostringstream out;
    if (total >= 3600) out << total / 3600 << "h";
    if (total >= 60) out << (total % 3600) / 60 << "m";
    out << total % 60 << "s";
    return out.str();
}

class ProgressLine {
public:
    // Writes to stdout, in place if stdout is a terminal.
    explicit ProgressLine(std::int64_t print_every)
        : ProgressLine(print_every, std::cout, isatty(fileno(stdout)) != 0) {}
    ProgressLine(std::int64_t print_every, std::ostream& out, bool on_terminal)
        : out_(&out), on_terminal_(on_terminal), print_every_(print_every) {}

    void update(std::int64_t step, std::int64_t total, double loss, double tokens_per_s, double eta_seconds) {
        std::ostringstream line;
        line << "step " << step << "/" << total << " | loss " << std::fixed << std::setprecision(4) << loss << " | "
             << std::setprecision(1) << tokens_per_s / 1000.0 << "k tok/s | ETA " << format_duration(eta_seconds);
        if (on_terminal_) {
            *out_ << '\r' << line.str() << "\033[K" << std::flush;
            line_open_ = true;
        } else if (print_every_ > 0 && (step % print_every_ == 0 || step == total)) {
            *out_ << line.str() << std::endl;
        }
    }

    // A full line of its own (ending the progress line first).
    void message(const std::string& text) {
        if (line_open_) *out_ << '\n';
        line_open_ = false;
        *out_ << text << std::endl;
    }

private:
    std::ostream* out_;
    bool on_terminal_;
    std::int64_t print_every_;
    bool line_open_ = false;
};

}  // namespace loom
