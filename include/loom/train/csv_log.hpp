// loom/train/csv_log.hpp — the training log as CSV, one row per reported step:
//
//   step,train_loss,val_loss,tokens_per_s,seconds
//   50,2.41032815,,81234.5,3.1
//   250,1.98213458,2.01544893,80321.2,15.6
//
// An empty field means "not measured at this step" (validation runs every N
// steps, the final row has no training loss). Losses carry 9 significant
// digits, enough to hold a float exactly. flush() rewrites the whole file
// atomically (a temporary file renamed over the log), so a crash never leaves
// half a row; on resume, keep_existing_rows() keeps the earlier run's rows up
// to the checkpoint's step, so the log reads as if the run had never stopped.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <locale>
#include <sstream>
#include <string>
#include <utility>

#include "loom/tensor/error.hpp"

namespace loom {

class CsvLog {
public:
    static constexpr const char* header = "step,train_loss,val_loss,tokens_per_s,seconds";

    explicit CsvLog(std::string path) : path_(std::move(path)) {}

    const std::string& path() const { return path_; }

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

    // NaN marks a loss that was not measured.
    void add(std::int64_t step, double train_loss, double val_loss, double tokens_per_s, double seconds) {
        std::ostringstream row;
        row.imbue(std::locale::classic());  // "1.5", never "1,5": a global locale must not break the CSV
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
            detail::check(static_cast<bool>(out), "loom::CsvLog: cannot write the log '", temp, "'");
        }
        std::filesystem::rename(temp, path_);
    }

private:
    std::string path_;
    std::string rows_;
};

}  // namespace loom
