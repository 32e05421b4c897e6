// examples/training_options.hpp — the command-line options every training
// example shares (optimizer, schedule, accumulation, clipping, length,
// checkpoints, the NaN guard) and the optimizer and schedule they build.
#pragma once

#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <loom/optim/adam.hpp>
#include <loom/optim/rmsprop.hpp>
#include <loom/optim/schedule.hpp>
#include <loom/optim/sgd.hpp>

#include "cli.hpp"

namespace training {

struct LoopOptions {
    // optimizer and schedule
    std::string optimizer = "sgd";
    double lr = 0.0;  // 0: the optimizer's default below
    double momentum = 0.9, weight_decay = 0.0, beta1 = 0.9, beta2 = 0.999, clip = 5.0;
    std::string schedule = "constant";
    std::int64_t warmup = 0, decay_steps = 0, lr_step = 1000;
    double min_lr = 0.0, lr_gamma = 0.5;
    std::int64_t accumulate = 1;
    // length, reporting
    std::int64_t steps = 1000, eval_every = 250, print_every = 50;
    // safety
    std::string out_dir = "out";
    std::int64_t checkpoint_every = 500;
    std::string resume;
    bool keep_best = true;
    std::string on_nonfinite = "stop";
    std::int64_t max_restores = 3;
    std::int64_t interrupt_at = 0;     // testing: raise SIGINT after this step
    std::int64_t inject_nan_at = 0;    // testing: make this step's loss NaN

    double default_lr() const {
        if (optimizer == "sgd") return 1.0;
        if (optimizer == "adam" || optimizer == "adamw" || optimizer == "rmsprop") return 2e-3;
        throw loom::Error("--optimizer must be sgd, adam, adamw or rmsprop, got '" + optimizer + "'");
    }
    double learning_rate() const { return lr > 0.0 ? lr : default_lr(); }
};

inline void add_loop_options(cli::Parser& p, LoopOptions& o) {
    p.add("--optimizer", o.optimizer, "sgd, adam, adamw or rmsprop");
    p.add("--lr", o.lr, "peak learning rate (0: 1.0 for sgd, 2e-3 otherwise)");
    p.add("--momentum", o.momentum, "SGD/RMSprop momentum");
    p.add("--weight-decay", o.weight_decay, "weight decay (decoupled for adamw, L2 otherwise)");
    p.add("--beta1", o.beta1, "Adam/AdamW beta1");
    p.add("--beta2", o.beta2, "Adam/AdamW beta2");
    p.add("--clip", o.clip, "clip the global gradient norm to this (0: off)");
    p.add("--schedule", o.schedule, "learning-rate schedule: constant, step or cosine (warmup + cosine decay)");
    p.add("--warmup", o.warmup, "cosine: linear warmup steps");
    p.add("--decay-steps", o.decay_steps, "cosine: step where the decay reaches --min-lr (0: --steps)");
    p.add("--min-lr", o.min_lr, "cosine: final learning rate");
    p.add("--lr-step", o.lr_step, "step: multiply the rate by --lr-gamma every this many steps");
    p.add("--lr-gamma", o.lr_gamma, "step: the factor");
    p.add("--accumulate", o.accumulate, "micro-batches per optimizer step (gradient accumulation)");
    p.add("--steps", o.steps, "optimizer steps");
    p.add("--eval-every", o.eval_every, "validation loss every N steps (0: only at the end)");
    p.add("--print-every", o.print_every, "progress lines every N steps when not on a terminal");
    p.add("--out", o.out_dir, "directory for log.csv and the checkpoints last/best.safetensors");
    p.add("--checkpoint-every", o.checkpoint_every, "save last.safetensors every N steps (0: only at the end)");
    p.add("--resume", o.resume, "continue training from this checkpoint");
    p.add("--keep-best", o.keep_best, "save best.safetensors whenever the validation loss improves");
    p.add("--on-nonfinite", o.on_nonfinite, "NaN/Inf loss or gradient: stop, or restore the last checkpoint");
    p.add("--max-restores", o.max_restores, "restore: give up after this many restores");
    p.add("--interrupt-at", o.interrupt_at, "testing: act as if Ctrl-C came after this step (0: never)");
    p.add("--inject-nan-at", o.inject_nan_at, "testing: make the loss of this step NaN (0: never)");
}

inline void check_loop_options(const LoopOptions& o) {
    o.default_lr();  // validates --optimizer
    auto require = [](bool ok, const std::string& what) {
        if (!ok) throw loom::Error(what);
    };
    require(o.steps > 0, "--steps must be positive");
    require(o.accumulate > 0, "--accumulate must be positive");
    require(o.clip >= 0.0, "--clip must be >= 0");
    require(o.on_nonfinite == "stop" || o.on_nonfinite == "restore",
            "--on-nonfinite must be stop or restore, got '" + o.on_nonfinite + "'");
    require(o.schedule == "constant" || o.schedule == "step" || o.schedule == "cosine",
            "--schedule must be constant, step or cosine, got '" + o.schedule + "'");
}

// The optimizer the options name, over parameter groups (a group may set its
// own weight decay, e.g. none for biases and LayerNorm parameters).
template <typename T>
std::unique_ptr<loom::Optimizer<T>> make_optimizer(const LoopOptions& o, std::vector<loom::ParamGroup<T>> groups) {
    const double lr = o.learning_rate();
    if (o.optimizer == "sgd") return std::make_unique<loom::SGD<T>>(std::move(groups), lr, o.momentum, o.weight_decay);
    if (o.optimizer == "adam")
        return std::make_unique<loom::Adam<T>>(std::move(groups), lr, o.beta1, o.beta2, 1e-8, o.weight_decay);
    if (o.optimizer == "adamw")
        return std::make_unique<loom::AdamW<T>>(std::move(groups), lr, o.beta1, o.beta2, 1e-8, o.weight_decay);
    return std::make_unique<loom::RMSprop<T>>(std::move(groups), lr, 0.99, 1e-8, o.weight_decay, o.momentum);
}

// The same with every parameter in one group.
template <typename T>
std::unique_ptr<loom::Optimizer<T>> make_optimizer(const LoopOptions& o, std::vector<loom::Tensor<T>> parameters) {
    return make_optimizer(o, std::vector<loom::ParamGroup<T>>{loom::ParamGroup<T>{std::move(parameters), {}, {}}});
}

inline std::unique_ptr<loom::LearningRateSchedule> make_schedule(const LoopOptions& o) {
    const double lr = o.learning_rate();
    if (o.schedule == "step") return std::make_unique<loom::StepLR>(lr, o.lr_step, o.lr_gamma);
    if (o.schedule == "cosine")
        return std::make_unique<loom::WarmupCosineLR>(lr, o.warmup, o.decay_steps > 0 ? o.decay_steps : o.steps,
                                                      o.min_lr);
    return std::make_unique<loom::ConstantLR>(lr);
}

inline std::string describe_optimizer(const LoopOptions& o) {
    std::ostringstream out;
    out << o.optimizer << " lr " << o.learning_rate();
    if (o.optimizer == "sgd" || o.optimizer == "rmsprop") out << " momentum " << o.momentum;
    if (o.weight_decay > 0) out << " weight decay " << o.weight_decay;
    out << ", schedule " << o.schedule;
    if (o.schedule == "cosine") out << " (warmup " << o.warmup << ", min " << o.min_lr << ")";
    out << ", clip " << o.clip;
    if (o.accumulate > 1) out << ", " << o.accumulate << " micro-batches per step";
    return out.str();
}

}  // namespace training
