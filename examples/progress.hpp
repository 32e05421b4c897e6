// examples/progress.hpp — how the examples report training: a progress line
// refreshed in place on a terminal (plain lines every --print-every steps when
// the output is piped), and a CSV log (step, train_loss, val_loss,
// tokens_per_s, seconds) rewritten whole, atomically, whenever it is flushed.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>

#include <unistd.h>

#include <loom/tensor/error.hpp>

namespace training {

inline std::string format_duration(double seconds) {
    const long total = static_cast<long>(seconds + 0.5);
    std::ostringstream out;
    if (total >= 3600) out << total / 3600 << "h";
    if (total >= 60) out << (total % 3600) / 60 << "m";
    out << total % 60 << "s";
    return out.str();
}

// ---------------------------------------------------------------------------
class Progress {
public:
    explicit Progress(std::int64_t print_every) : tty_(isatty(fileno(stdout)) != 0), print_every_(print_every) {}

    void update(std::int64_t step, std::int64_t total, double loss, double tokens_per_s, double eta_seconds) {
        std::ostringstream line;
        line << "step " << step << "/" << total << " | loss " << std::fixed << std::setprecision(4) << loss << " | "
             << std::setprecision(1) << tokens_per_s / 1000.0 << "k tok/s | ETA " << format_duration(eta_seconds);
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
    std::int64_t print_every_;
    bool line_open_ = false;
};

class CsvLog {
public:
    static constexpr const char* header = "step,train_loss,val_loss,tokens_per_s,seconds";

    explicit CsvLog(std::string path) : path_(std::move(path)) {}

    // On resume: keeps the rows of the earlier run up to `last_step`, so the
    // log reads as if the run had never stopped.
    void keep_existing_rows(std::int64_t last_step) {
        std::ifstream in(path_);
        std::string line;
        if (!std::getline(in, line) || line != header) return;
        while (std::getline(in, line)) {
            const std::int64_t step = std::atoll(line.c_str());
            if (step > last_step) break;
            rows_ += line + '\n';
        }
    }

    // Losses with 9 significant digits (a float exactly); NaN marks "not measured".
    void add(std::int64_t step, double train_loss, double val_loss, double tokens_per_s, double seconds) {
        std::ostringstream row;
        row << step << ',' << std::setprecision(9);
        if (!std::isnan(train_loss)) row << train_loss;
        row << ',';
        if (!std::isnan(val_loss)) row << val_loss;
        row << std::setprecision(6) << ',' << tokens_per_s << ',' << seconds << '\n';
        rows_ += row.str();
    }

    void flush() const {
        const std::string temp = path_ + ".tmp";
        {
            std::ofstream out(temp, std::ios::trunc);
            out << header << '\n' << rows_;
            out.flush();
            if (!out) throw loom::Error("cannot write the log " + temp);
        }
        std::filesystem::rename(temp, path_);
    }

private:
    std::string path_;
    std::string rows_;
};

}  // namespace training
