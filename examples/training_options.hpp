// examples/training_options.hpp — the command-line flags every training example
// shares, mapped onto the library's options: the training loop's
// (loom::TrainerOptions, loom/train/trainer.hpp) and the optimizer's and
// schedule's (loom::OptimizerOptions, loom/optim/factory.hpp).
#pragma once

#include <sstream>
#include <string>

#include <loom/optim/factory.hpp>
#include <loom/train/trainer.hpp>

#include "cli.hpp"

namespace training {

// Both option sets in one struct, so a program has one `o.loop` to fill from
// its flags and passes it where either is wanted (the two share no field name).
struct LoopOptions : loom::TrainerOptions, loom::OptimizerOptions {};

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
    p.add("--out", o.out_dir, "directory for log.csv, loss.svg and the checkpoints last/best.safetensors");
    p.add("--checkpoint-every", o.checkpoint_every, "save last.safetensors every N steps (0: only at the end)");
    p.add("--resume", o.resume, "continue training from this checkpoint");
    p.add("--keep-best", o.keep_best, "save best.safetensors whenever the validation loss improves");
    p.add("--patience", o.patience, "early stopping after N evaluations without improvement (0: never)");
    p.add("--min-improvement", o.min_improvement, "early stopping: the smallest decrease that counts");
    p.add("--plot", o.plot, "draw loss.svg (train and validation loss against step and time) at the end");
    p.add("--on-nonfinite", o.on_nonfinite, "NaN/Inf loss or gradient: stop, or restore the last checkpoint");
    p.add("--max-restores", o.max_restores, "restore: give up after this many restores");
    p.add("--interrupt-at", o.interrupt_at, "testing: act as if Ctrl-C came after this step (0: never)");
    p.add("--inject-nan-at", o.inject_nan_at, "testing: make the loss of this step NaN (0: never)");
}

// The option errors a run would otherwise meet only after loading its data.
inline void check_loop_options(const LoopOptions& o) {
    loom::check_trainer_options(o);
    loom::check_optimizer_options(o);
}

inline std::string describe_optimizer(const LoopOptions& o) {
    std::ostringstream text;
    text << loom::describe_optimizer(o) << ", clip " << o.clip;
    if (o.accumulate > 1) text << ", " << o.accumulate << " micro-batches per step";
    return text.str();
}

}  // namespace training
