// loom/train/trainer.hpp — the training loop: a model, its loss, an optimizer
// and a schedule in; a trained model, checkpoints, a log and a plot out.
//
// What is particular to a model (how to compute the loss of one micro-batch,
// how to measure validation loss, what extra state to checkpoint) comes in a
// TrainingTask as callbacks; the Trainer does the rest, the same way for every
// model:
//
//   for step = first .. steps:
//       lr = schedule(step - 1) · lr_scale;  zero the gradients
//       loss = (1/k) Σ_{j<k} compute_loss()_j, each micro-batch backward()ed with
//              its loss scaled by 1/k (gradient accumulation: the gradient of one
//              batch k times larger)
//       norm = ‖∇‖₂ over all parameters, clipped to `clip` when clip > 0
//       loss or norm not finite → skip the update; stop, or reload the last
//              checkpoint and halve lr_scale ("restore")
//       optimizer step; progress line; CSV row
//       every eval_every steps: validation loss → best.safetensors when it is
//              the best so far; early stopping after `patience` evaluations
//              without an improvement of at least min_improvement
//       every checkpoint_every steps and on Ctrl-C: last.safetensors
//   at the end: validation loss, best/last checkpoints, log.csv, loss.svg
//
// Checkpoints (loom/train/checkpoint.hpp) hold the model, the optimizer, the
// step, the best loss, every generator and the task's own state (batch
// position, carried hidden state), so a resumed run continues bit for bit: on
// one thread, an interrupted and resumed run ends with exactly the loss of an
// uninterrupted one. Every file is written atomically (temporary + rename).
//
// Several processes can run one Trainer each over shards of every batch and
// train one model (TrainingTask::parallel, filled in by
// loom/distributed/data_parallel.hpp); then one of them writes all the files.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>

#include "loom/autograd/engine.hpp"
#include "loom/ops/arithmetic.hpp"
#include "loom/optim/clip_grad.hpp"
#include "loom/optim/schedule.hpp"
#include "loom/train/checkpoint.hpp"
#include "loom/train/csv_log.hpp"
#include "loom/train/data_parallel_hooks.hpp"
#include "loom/train/interrupt.hpp"
#include "loom/train/loss_plot.hpp"
#include "loom/train/progress.hpp"

namespace loom {

struct TrainerOptions {
    std::int64_t steps = 1000;      // optimizer steps
    std::int64_t accumulate = 1;    // micro-batches per step
    double clip = 5.0;              // global gradient-norm clip (0: off)
    std::int64_t eval_every = 250;  // validation every N steps (0: only at the end)
    std::int64_t print_every = 50;  // plain progress lines when stdout is not a terminal
    std::string out_dir = "out";    // log.csv, loss.svg, last/best.safetensors
    std::int64_t checkpoint_every = 500;  // last.safetensors every N steps (0: only at the end)
    std::string resume;             // a checkpoint to continue from
    bool keep_best = true;          // best.safetensors at every new best validation loss
    std::int64_t patience = 0;      // early stopping after N evaluations without improvement (0: never)
    double min_improvement = 0.0;   // what counts as an improvement
    std::string on_nonfinite = "stop";  // NaN/Inf loss or norm: stop, or restore the last checkpoint
    std::int64_t max_restores = 3;
    bool plot = true;               // loss.svg next to log.csv at the end of the run
    std::string loss_unit = "nats/token";
    double bytes_per_token = 0.0;   // > 0: validation messages also give bits per byte
    std::int64_t interrupt_at = 0;  // testing: act as if Ctrl-C came after this step
    std::int64_t inject_nan_at = 0; // testing: make this step's loss NaN (once)
};

// Throws for options that cannot make a run.
inline void check_trainer_options(const TrainerOptions& o) {
    detail::check(o.steps > 0, "loom::Trainer: steps must be positive, got ", o.steps);
    detail::check(o.accumulate > 0, "loom::Trainer: accumulate must be positive, got ", o.accumulate);
    detail::check(o.clip >= 0.0, "loom::Trainer: clip must be >= 0, got ", o.clip);
    detail::check(o.patience >= 0, "loom::Trainer: patience must be >= 0, got ", o.patience);
    detail::check(o.on_nonfinite == "stop" || o.on_nonfinite == "restore",
                  "loom::Trainer: on_nonfinite must be stop or restore, got '", o.on_nonfinite, "'");
    detail::check(!o.out_dir.empty(), "loom::Trainer: out_dir is empty");
}

// What the progress callback is told after every step.
struct TrainingProgress {
    std::int64_t step = 0, total_steps = 0;
    double train_loss = 0.0, gradient_norm = 0.0, learning_rate = 0.0;
    double tokens_per_second = 0.0, elapsed_seconds = 0.0, eta_seconds = 0.0;
};

template <typename T>
struct TrainingTask {
    // One micro-batch: forward, returns the loss (a scalar with a graph).
    std::function<Tensor<T>()> compute_loss;
    // Validation loss (no graph needed; the Trainer runs it under NoGradGuard).
    std::function<double()> evaluate;
    // Tokens per micro-batch, for tokens/s.
    std::int64_t tokens_per_batch = 0;
    // Describes the model (kind, sizes, tokenizer): written into every
    // checkpoint, and a resumed run must have the same values.
    std::map<std::string, std::string> metadata;
    // The task's own state in and out of checkpoints; may be empty.
    std::function<void(CheckpointWriter<T>&)> save_state;
    std::function<void(const Checkpoint<T>&)> load_state;
    // After every step (e.g. to print a sample); may be empty.
    std::function<void(std::int64_t step)> after_step;
    // Replace the progress line and the printed messages; may be empty.
    std::function<void(const TrainingProgress&)> on_progress;
    std::function<void(const std::string&)> on_message;
    // Several processes training together; empty for one (see above).
    DataParallelHooks<T> parallel;
};

enum class TrainingEnd { finished, early_stopped, interrupted, nonfinite };

template <typename T>
class Trainer {
public:
    Trainer(Module<T>& model, Optimizer<T>& optimizer, std::unique_ptr<LearningRateSchedule> schedule,
            TrainingTask<T> task, TrainerOptions options)
        : options_(std::move(options)),
          model_(model),
          optimizer_(optimizer),
          schedule_(std::move(schedule)),
          task_(std::move(task)),
          log_(options_.out_dir + "/log.csv"),
          progress_line_(options_.print_every) {
        check_trainer_options(options_);
        detail::check(schedule_ != nullptr, "loom::Trainer: no learning-rate schedule");
        detail::check(static_cast<bool>(task_.compute_loss), "loom::Trainer: the task has no compute_loss");
        detail::check(static_cast<bool>(task_.evaluate), "loom::Trainer: the task has no evaluate");
        std::filesystem::create_directories(options_.out_dir);
    }

    std::string last_path() const { return options_.out_dir + "/last.safetensors"; }
    std::string best_path() const { return options_.out_dir + "/best.safetensors"; }
    std::string log_path() const { return log_.path(); }
    std::string plot_path() const { return options_.out_dir + "/loss.svg"; }
    std::int64_t step() const { return step_; }
    double final_validation_loss() const { return final_loss_; }
    double best_validation_loss() const { return best_loss_; }
    double seconds() const { return seconds_; }

    // A loss in nats per token as bits per byte of text (options.bytes_per_token
    // bytes per token): loss / (bytes_per_token · ln 2).
    double bits_per_byte(double loss) const { return loss / (options_.bytes_per_token * std::log(2.0)); }

    // Prints a line of its own, through on_message when the task has one.
    void message(const std::string& text) {
        if (!task_.parallel.writes_files) return;
        if (task_.on_message)
            task_.on_message(text);
        else
            progress_line_.message(text);
    }

    // Continues from options.resume when it is set, then trains.
    TrainingEnd fit() {
        if (!options_.resume.empty()) resume(options_.resume);
        const TrainingEnd end = run();
        if (options_.plot) write_plot();
        return end;
    }

    void resume(const std::string& path) {
        restore(path);
        if (task_.parallel.writes_files) log_.keep_existing_rows(step_);
        message("resumed from " + path + " at step " + std::to_string(step_));
    }

    // Redraws loss.svg from log.csv.
    void write_plot() const {
        if (!task_.parallel.writes_files || !std::filesystem::exists(log_path())) return;
        save_loss_plot(read_loss_log(log_path()), plot_path(), "training loss", options_.loss_unit);
    }

private:
    using Clock = std::chrono::steady_clock;

    TrainingEnd run() {
        InterruptGuard interrupt;
        const auto start = Clock::now();
        auto window_start = start;
        std::int64_t window_steps = 0;
        double tokens_per_s = 0.0;
        const std::int64_t first_step = step_ + 1;
        for (std::int64_t step = first_step; step <= options_.steps; ++step) {
            const double learning_rate = schedule_->learning_rate(step - 1) * lr_scale_;
            optimizer_.set_learning_rate(learning_rate);
            optimizer_.zero_grad();
            const double train_loss = accumulate_gradients(step);
            // With clipping off the norm is still measured (the NaN guard needs it).
            const double max_norm = options_.clip > 0 ? options_.clip : std::numeric_limits<double>::infinity();
            const double norm = clip_grad_norm_(optimizer_.parameters(), max_norm);
            if (!std::isfinite(train_loss) || !std::isfinite(norm)) {
                if (!handle_nonfinite(step, train_loss, norm)) return TrainingEnd::nonfinite;
                step = step_;  // restored: continue after the checkpoint's step
                continue;
            }
            optimizer_.step();
            step_ = step;

            // tokens/s over about the last second, so the number follows the machine's load.
            const auto now = Clock::now();
            ++window_steps;
            const double window_seconds = std::chrono::duration<double>(now - window_start).count();
            if (window_seconds >= 1.0 || step == first_step) {
                const auto tokens = window_steps * task_.tokens_per_batch * options_.accumulate * task_.parallel.processes;
                tokens_per_s = static_cast<double>(tokens) / window_seconds;
                window_start = now;
                window_steps = 0;
            }
            const double run_seconds = std::chrono::duration<double>(now - start).count();
            seconds_ = seconds_before_ + run_seconds;
            const double per_step = run_seconds / static_cast<double>(step - first_step + 1);
            report_progress({step, options_.steps, train_loss, norm, learning_rate, tokens_per_s, seconds_,
                             per_step * static_cast<double>(options_.steps - step)});

            double val_loss = std::numeric_limits<double>::quiet_NaN();
            const bool evaluate_now = options_.eval_every > 0 && step % options_.eval_every == 0 &&
                                      step != options_.steps;
            if (evaluate_now) val_loss = validate(step);
            if (evaluate_now || step % std::max<std::int64_t>(options_.print_every, 1) == 0)
                add_log_row(step, train_loss, val_loss, tokens_per_s);
            if (task_.after_step) task_.after_step(step);

            const bool stop_early = options_.patience > 0 && evaluations_without_improvement_ >= options_.patience;
            bool interrupted = interrupt.requested() || step == options_.interrupt_at;
            if (task_.parallel.any) interrupted = task_.parallel.any(interrupted);
            if (stop_early || interrupted || (options_.checkpoint_every > 0 && step % options_.checkpoint_every == 0)) {
                save(last_path());
                flush_log();
            } else if (evaluate_now) {
                flush_log();
            }
            if (interrupted) {
                message("interrupted after step " + std::to_string(step) + "; saved " + last_path() +
                        " (continue with --resume " + last_path() + ")");
                return TrainingEnd::interrupted;
            }
            if (stop_early) {
                final_loss_ = val_loss;
                message("early stopping at step " + std::to_string(step) + ": no improvement in " +
                        std::to_string(options_.patience) + " evaluations; best " + describe_loss(best_loss_) +
                        " in " + best_path());
                return TrainingEnd::early_stopped;
            }
        }

        final_loss_ = evaluate();
        if (options_.keep_best && final_loss_ < best_loss_) save_best(final_loss_);
        add_log_row(step_, std::numeric_limits<double>::quiet_NaN(), final_loss_, 0.0);
        save(last_path());
        flush_log();
        return TrainingEnd::finished;
    }

    double accumulate_gradients(std::int64_t step) {
        const DataParallelHooks<T>& parallel = task_.parallel;
        double total = 0.0;
        for (std::int64_t micro = 0; micro < options_.accumulate; ++micro) {
            Tensor<T> loss = task_.compute_loss();
            detail::check(loss.numel() == 1, "loom::Trainer: compute_loss must return a scalar, got shape ",
                          loss.shape());
            if (step == options_.inject_nan_at && !nan_injected_) {  // once, like a transient fault
                loss = mul(loss, std::numeric_limits<T>::quiet_NaN());
                nan_injected_ = true;
            }
            total += static_cast<double>(loss.item());
            if (options_.accumulate > 1) loss = mul(loss, static_cast<T>(1.0 / static_cast<double>(options_.accumulate)));
            const bool last = micro + 1 == options_.accumulate;
            if (last && parallel.begin_step) parallel.begin_step();
            if (last && parallel.on_gradient_ready)
                backward_with_hook(loss, parallel.on_gradient_ready);
            else
                loss.backward();
        }
        if (parallel.synchronize_gradients) parallel.synchronize_gradients();
        const double mean_loss = total / static_cast<double>(options_.accumulate);
        return parallel.mean ? parallel.mean(mean_loss) : mean_loss;
    }

    void add_log_row(std::int64_t step, double train_loss, double val_loss, double tokens_per_s) {
        if (task_.parallel.writes_files) log_.add(step, train_loss, val_loss, tokens_per_s, seconds_);
    }

    void flush_log() {
        if (task_.parallel.writes_files) log_.flush();
    }

    void report_progress(const TrainingProgress& progress) {
        if (!task_.parallel.writes_files) return;
        if (task_.on_progress)
            task_.on_progress(progress);
        else
            progress_line_.update(progress.step, progress.total_steps, progress.train_loss,
                                  progress.tokens_per_second, progress.eta_seconds);
    }

    // Every process evaluates; their mean is the one loss all of them act on
    // (early stopping, keep-best), even if their validation data differ.
    double evaluate() {
        NoGradGuard no_grad;
        const double loss = task_.evaluate();
        return task_.parallel.mean ? task_.parallel.mean(loss) : loss;
    }

    // The validation loss, keep-best and the early-stopping count.
    double validate(std::int64_t step) {
        const double val_loss = evaluate();
        std::ostringstream text;
        text << "step " << step << ": validation loss " << describe_loss(val_loss);
        const bool improved = val_loss < best_loss_ - options_.min_improvement;
        evaluations_without_improvement_ = improved ? 0 : evaluations_without_improvement_ + 1;
        if (val_loss < best_loss_) {
            best_loss_ = val_loss;
            if (options_.keep_best) {
                save(best_path());
                text << " (best so far, saved " << best_path() << ")";
            }
        }
        message(text.str());
        return val_loss;
    }

    // "1.4821 nats/token (2.1382 bits/byte)"
    std::string describe_loss(double loss) const {
        std::ostringstream text;
        text << std::setprecision(4) << std::fixed << loss << " " << options_.loss_unit;
        if (options_.bytes_per_token > 0) text << " (" << bits_per_byte(loss) << " bits/byte)";
        return text.str();
    }

    // A NaN or Inf loss or gradient norm. Returns false to stop the run.
    bool handle_nonfinite(std::int64_t step, double loss, double norm) {
        std::ostringstream text;
        text << "step " << step << ": non-finite " << (std::isfinite(loss) ? "gradient norm " : "loss ")
             << (std::isfinite(loss) ? norm : loss) << "; the update was not applied";
        optimizer_.zero_grad();
        bool have_checkpoint = std::filesystem::exists(last_path());
        if (task_.parallel.any) have_checkpoint = !task_.parallel.any(!have_checkpoint);  // all must read it
        if (options_.on_nonfinite != "restore" || restores_ >= options_.max_restores || !have_checkpoint) {
            text << ". Stopping; "
                 << (have_checkpoint ? last_path() + " holds the last good state" : "no checkpoint was written yet")
                 << " (--on-nonfinite restore continues from it with half the learning rate)";
            message(text.str());
            flush_log();
            return false;
        }
        ++restores_;
        restore(last_path());
        lr_scale_ *= 0.5;  // after the restore, which reads the saved scale
        text << ". Restored " << last_path() << " (step " << step_ << "), learning rate scaled by " << lr_scale_
             << " (restore " << restores_ << " of at most " << options_.max_restores << ")";
        message(text.str());
        return true;
    }

    void save(const std::string& path) {
        if (!task_.parallel.writes_files) return;
        CheckpointWriter<T> writer;
        writer.add_model(model_);
        writer.add_optimizer(optimizer_);
        for (const auto& [key, value] : task_.metadata) writer.set(key, value);
        writer.set("train.step", std::to_string(step_));
        writer.set("train.best_val_loss", exact_text(best_loss_));
        writer.set("train.evaluations_without_improvement", std::to_string(evaluations_without_improvement_));
        writer.set("train.lr_scale", exact_text(lr_scale_));
        writer.set("train.seconds", exact_text(seconds_));
        if (task_.save_state) task_.save_state(writer);
        writer.save(path);
    }

    void save_best(double val_loss) {
        best_loss_ = val_loss;
        save(best_path());
    }

    void restore(const std::string& path) {
        const Checkpoint<T> checkpoint = Checkpoint<T>::load(path);
        for (const auto& [key, value] : task_.metadata) {
            const std::string saved = checkpoint.has(key) ? checkpoint.get(key) : std::string("(missing)");
            if (saved == value) continue;
            // Long values (a vocabulary, a tokenizer) are named, not printed.
            if (saved.size() + value.size() > 200)
                detail::fail("loom::Trainer: ", path, ": the checkpoint's ", key,
                             " differs from this run's (resume with the same model and data options)");
            detail::fail("loom::Trainer: ", path, ": the checkpoint's ", key, " is '", saved, "' but this run's is '",
                         value, "' (resume with the same model options)");
        }
        checkpoint.restore_model(model_);
        checkpoint.restore_optimizer(optimizer_);
        step_ = checkpoint.get_int("train.step");
        best_loss_ = checkpoint.get_double("train.best_val_loss");
        if (checkpoint.has("train.evaluations_without_improvement"))
            evaluations_without_improvement_ = checkpoint.get_int("train.evaluations_without_improvement");
        lr_scale_ = checkpoint.get_double("train.lr_scale");
        seconds_before_ = checkpoint.get_double("train.seconds");
        seconds_ = seconds_before_;
        if (task_.load_state) task_.load_state(checkpoint);
    }

    // 17 significant digits: a double read back is the same double.
    static std::string exact_text(double value) {
        std::ostringstream out;
        out << std::setprecision(17) << value;
        return out.str();
    }

    TrainerOptions options_;
    Module<T>& model_;
    Optimizer<T>& optimizer_;
    std::unique_ptr<LearningRateSchedule> schedule_;
    TrainingTask<T> task_;
    CsvLog log_;
    ProgressLine progress_line_;
    std::int64_t step_ = 0;  // the last completed step
    double best_loss_ = std::numeric_limits<double>::infinity();
    std::int64_t evaluations_without_improvement_ = 0;
    double lr_scale_ = 1.0;
    double seconds_before_ = 0.0, seconds_ = 0.0, final_loss_ = std::numeric_limits<double>::quiet_NaN();
    std::int64_t restores_ = 0;
    bool nan_injected_ = false;
};

}  // namespace loom
