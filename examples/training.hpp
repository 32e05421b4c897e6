// examples/training.hpp — the training loop the example programs share.
//
// An example supplies what is particular to its model (how to compute the loss
// of one micro-batch, how to evaluate, what extra state to checkpoint) as
// callbacks; TrainingLoop does the rest, the same way for every model:
//
//   for step = first .. steps:
//       lr = schedule(step);  zero_grad
//       loss = mean over k micro-batches of compute_loss(), each backward()ed
//              with its loss scaled by 1/k (gradient accumulation: the same
//              gradient as one batch k times larger)
//       norm = clip_grad_norm_(max_norm)     (the global norm, before clipping)
//       if loss or norm is not finite: stop, or restore the last checkpoint
//       optimizer.step()
//       progress line, CSV row, validation + keep-best, checkpoint, Ctrl-C
//
// Checkpoints (see include/loom/train/checkpoint.hpp) hold the model, the
// optimizer state, the step, every random generator and the example's own
// state (batcher position, carried hidden state), so --resume continues bit for
// bit: with one thread, an interrupted and resumed run ends with exactly the
// loss of an uninterrupted one (tests/examples/check_resume.cmake checks it).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <loom/autograd/engine.hpp>
#include <loom/ops/arithmetic.hpp>
#include <loom/optim/clip_grad.hpp>
#include <loom/optim/schedule.hpp>
#include <loom/train/checkpoint.hpp>

#include "cli.hpp"
#include "progress.hpp"
#include "training_options.hpp"

namespace training {

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// Ctrl-C. A signal handler may only set a flag of type volatile sig_atomic_t,
// and it must be reachable without arguments, so this one flag is global. The
// loop checks it after each step, saves a checkpoint and returns. A second
// Ctrl-C, while the first is being handled, stops the program at once.
// ---------------------------------------------------------------------------
namespace detail {
inline volatile std::sig_atomic_t interrupt_requested = 0;

extern "C" inline void on_interrupt(int) {
    interrupt_requested = 1;
    std::signal(SIGINT, SIG_DFL);
}
}  // namespace detail

class InterruptGuard {
public:
    InterruptGuard() {
        detail::interrupt_requested = 0;
        previous_ = std::signal(SIGINT, detail::on_interrupt);
    }
    ~InterruptGuard() { std::signal(SIGINT, previous_); }
    InterruptGuard(const InterruptGuard&) = delete;
    InterruptGuard& operator=(const InterruptGuard&) = delete;

    bool requested() const { return detail::interrupt_requested != 0; }

private:
    void (*previous_)(int) = SIG_DFL;
};

// ---------------------------------------------------------------------------
// The loop.
// ---------------------------------------------------------------------------
template <typename T>
struct LoopHooks {
    // One micro-batch: forward, returns the loss (a scalar with a graph). The
    // loop scales it by 1/accumulate and calls backward().
    std::function<loom::Tensor<T>()> compute_loss;
    // Validation loss in nats per token (no graph).
    std::function<double()> evaluate;
    // Called after a step (e.g. to print a sample); may be empty.
    std::function<void(std::int64_t step)> after_step;
    // The example's own state in and out of checkpoints (batcher position,
    // hidden state, generators that are not the model's); may be empty.
    std::function<void(loom::CheckpointWriter<T>&)> save_state;
    std::function<void(const loom::Checkpoint<T>&)> load_state;
    // Tokens per optimizer step, for tokens/s.
    std::int64_t tokens_per_step = 0;
    // Metadata that describes the model (kind, configuration, vocabulary), so a
    // checkpoint can be loaded without the command line that made it.
    std::map<std::string, std::string> model_metadata;
};

// How a run ended.
enum class LoopEnd { finished, interrupted, nonfinite };

template <typename T>
class TrainingLoop {
public:
    TrainingLoop(const LoopOptions& options, loom::Module<T>& model, loom::Optimizer<T>& optimizer,
                 LoopHooks<T> hooks)
        : o_(options),
          model_(model),
          optimizer_(optimizer),
          hooks_(std::move(hooks)),
          schedule_(make_schedule(options)),
          log_(options.out_dir + "/log.csv"),
          progress_(options.print_every) {
        check_loop_options(options);
        std::filesystem::create_directories(options.out_dir);
    }

    std::string last_path() const { return o_.out_dir + "/last.safetensors"; }
    std::string best_path() const { return o_.out_dir + "/best.safetensors"; }
    Progress& progress() { return progress_; }
    double final_validation_loss() const { return final_loss_; }
    double seconds() const { return seconds_; }

    // Loads --resume if given; call before run().
    void resume_if_asked() {
        if (o_.resume.empty()) return;
        restore(o_.resume);
        log_.keep_existing_rows(step_);
        progress_.message("resumed from " + o_.resume + " at step " + std::to_string(step_));
    }

    LoopEnd run() {
        InterruptGuard interrupt;
        const auto start = Clock::now();
        auto window_start = start;
        std::int64_t window_steps = 0;
        double tokens_per_s = 0.0;
        const std::int64_t first_step = step_ + 1;
        for (std::int64_t step = first_step; step <= o_.steps; ++step) {
            optimizer_.set_learning_rate(schedule_->learning_rate(step - 1) * lr_scale_);
            optimizer_.zero_grad();
            const double train_loss = accumulate_gradients(step);
            const double norm = o_.clip > 0 ? loom::clip_grad_norm_(optimizer_.parameters(), o_.clip)
                                            : loom::clip_grad_norm_(optimizer_.parameters(),
                                                                    std::numeric_limits<double>::infinity());
            if (!std::isfinite(train_loss) || !std::isfinite(norm)) {
                if (!handle_nonfinite(step, train_loss, norm)) return LoopEnd::nonfinite;
                step = step_;  // restored: continue after the checkpoint's step
                continue;
            }
            optimizer_.step();
            step_ = step;

            const auto now = Clock::now();
            ++window_steps;
            const double window_seconds = std::chrono::duration<double>(now - window_start).count();
            if (window_seconds >= 1.0 || step == first_step) {  // tokens/s over about the last second
                tokens_per_s = static_cast<double>(window_steps * hooks_.tokens_per_step) / window_seconds;
                window_start = now;
                window_steps = 0;
            }
            const double elapsed = seconds_before_ + std::chrono::duration<double>(now - start).count();
            const double per_step = (elapsed - seconds_before_) / static_cast<double>(step - first_step + 1);
            progress_.update(step, o_.steps, train_loss, tokens_per_s, per_step * static_cast<double>(o_.steps - step));

            double val_loss = std::numeric_limits<double>::quiet_NaN();
            const bool evaluate_now = o_.eval_every > 0 && step % o_.eval_every == 0 && step != o_.steps;
            if (evaluate_now) val_loss = validate(step);
            if (evaluate_now || step % std::max<std::int64_t>(o_.print_every, 1) == 0)
                log_.add(step, train_loss, val_loss, tokens_per_s, elapsed);
            if (hooks_.after_step) hooks_.after_step(step);

            const bool interrupted = interrupt.requested() || step == o_.interrupt_at;
            seconds_ = elapsed;
            if (interrupted || (o_.checkpoint_every > 0 && step % o_.checkpoint_every == 0)) {
                save(last_path());
                log_.flush();
            } else if (evaluate_now) {
                log_.flush();
            }
            if (interrupted) {
                progress_.message("interrupted after step " + std::to_string(step) + "; saved " + last_path() +
                                  " (continue with --resume " + last_path() + ")");
                return LoopEnd::interrupted;
            }
        }

        final_loss_ = hooks_.evaluate();
        if (o_.keep_best && final_loss_ < best_loss_) save_best(final_loss_);
        log_.add(step_, std::numeric_limits<double>::quiet_NaN(), final_loss_, 0.0, seconds_);
        save(last_path());
        log_.flush();
        return LoopEnd::finished;
    }

private:
    double accumulate_gradients(std::int64_t step) {
        double total = 0.0;
        for (std::int64_t micro = 0; micro < o_.accumulate; ++micro) {
            loom::Tensor<T> loss = hooks_.compute_loss();
            if (step == o_.inject_nan_at && !nan_injected_) {  // once, like a transient fault
                loss = loom::mul(loss, std::numeric_limits<T>::quiet_NaN());
                nan_injected_ = true;
            }
            total += static_cast<double>(loss.item());
            if (o_.accumulate > 1) loss = loom::mul(loss, static_cast<T>(1.0 / static_cast<double>(o_.accumulate)));
            loss.backward();
        }
        return total / static_cast<double>(o_.accumulate);
    }

    double validate(std::int64_t step) {
        const double val_loss = hooks_.evaluate();
        std::ostringstream text;
        text << "step " << step << ": validation loss " << std::setprecision(4) << std::fixed << val_loss
             << " nats/char";
        if (o_.keep_best && val_loss < best_loss_) {
            save_best(val_loss);
            text << " (best so far, saved " << best_path() << ")";
        }
        progress_.message(text.str());
        return val_loss;
    }

    // A NaN or Inf loss or gradient norm. Returns false to stop the run.
    bool handle_nonfinite(std::int64_t step, double loss, double norm) {
        std::ostringstream text;
        text << "step " << step << ": non-finite " << (std::isfinite(loss) ? "gradient norm " : "loss ")
             << (std::isfinite(loss) ? norm : loss) << "; the update was not applied";
        optimizer_.zero_grad();
        const bool can_restore = o_.on_nonfinite == "restore" && restores_ < o_.max_restores &&
                                 std::filesystem::exists(last_path());
        if (!can_restore) {
            text << ". Stopping; " << (std::filesystem::exists(last_path()) ? last_path() + " holds the last good state"
                                                                              : "no checkpoint was written yet")
                 << " (--on-nonfinite restore continues from it with half the learning rate)";
            progress_.message(text.str());
            log_.flush();
            return false;
        }
        ++restores_;
        restore(last_path());
        lr_scale_ *= 0.5;  // after the restore, which reads the saved scale
        text << ". Restored " << last_path() << " (step " << step_ << "), learning rate scaled by " << lr_scale_
             << " (restore " << restores_ << " of at most " << o_.max_restores << ")";
        progress_.message(text.str());
        return true;
    }

    void save(const std::string& path) {
        loom::CheckpointWriter<T> writer;
        writer.add_model(model_);
        writer.add_optimizer(optimizer_);
        for (const auto& [key, value] : hooks_.model_metadata) writer.set(key, value);
        writer.set("train.step", std::to_string(step_));
        writer.set("train.best_val_loss", to_exact_text(best_loss_));
        writer.set("train.lr_scale", to_exact_text(lr_scale_));
        writer.set("train.seconds", to_exact_text(seconds_));
        if (hooks_.save_state) hooks_.save_state(writer);
        writer.save(path);
    }

    void save_best(double val_loss) {
        best_loss_ = val_loss;
        save(best_path());
    }

    void restore(const std::string& path) {
        const loom::Checkpoint<T> checkpoint = loom::Checkpoint<T>::load(path);
        for (const auto& [key, value] : hooks_.model_metadata) {
            const std::string saved = checkpoint.get(key);
            if (key != "model.vocabulary" && saved != value)
                throw loom::Error(path + ": the checkpoint's " + key + " is '" + saved + "' but this run's is '" +
                                  value + "' (resume with the same model options)");
            if (key == "model.vocabulary" && saved != value)
                throw loom::Error(path + ": the checkpoint's vocabulary differs from this run's data");
        }
        checkpoint.restore_model(model_);
        checkpoint.restore_optimizer(optimizer_);
        step_ = checkpoint.get_int("train.step");
        best_loss_ = checkpoint.get_double("train.best_val_loss");
        lr_scale_ = checkpoint.get_double("train.lr_scale");
        seconds_before_ = checkpoint.get_double("train.seconds");
        seconds_ = seconds_before_;
        if (hooks_.load_state) hooks_.load_state(checkpoint);
    }

    static std::string to_exact_text(double value) {
        std::ostringstream out;
        out << std::setprecision(17) << value;
        return out.str();
    }

    LoopOptions o_;
    loom::Module<T>& model_;
    loom::Optimizer<T>& optimizer_;
    LoopHooks<T> hooks_;
    std::unique_ptr<loom::LearningRateSchedule> schedule_;
    CsvLog log_;
    Progress progress_;
    std::int64_t step_ = 0;  // the last completed step
    double best_loss_ = std::numeric_limits<double>::infinity();
    double lr_scale_ = 1.0;
    double seconds_before_ = 0.0, seconds_ = 0.0, final_loss_ = 0.0;
    std::int64_t restores_ = 0;
    bool nan_injected_ = false;
};

}  // namespace training

// The float instantiations of the loop, the optimizer factory and the
// checkpoint classes (optimizers and the JSON reader are slow to compile) are
// compiled once, in examples/training.cpp, and linked into every example,
// instead of once per example.
#ifndef LOOM_EXAMPLES_TRAINING_CPP
extern template class training::TrainingLoop<float>;
extern template std::unique_ptr<loom::Optimizer<float>> training::make_optimizer<float>(
    const training::LoopOptions&, std::vector<loom::ParamGroup<float>>);
extern template class loom::Checkpoint<float>;
extern template class loom::CheckpointWriter<float>;
#endif
