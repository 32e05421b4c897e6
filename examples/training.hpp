// examples/training.hpp — what the training examples take from the library's
// training loop (loom/train/trainer.hpp) and their shared flags
// (training_options.hpp).
//
// The float instantiations of the Trainer, the optimizers and the checkpoint
// classes (the optimizers and the JSON reader are slow to compile) are
// compiled once, in examples/training.cpp, and linked into every example,
// instead of once per example.
#pragma once

#include <loom/optim/factory.hpp>
#include <loom/train/checkpoint.hpp>
#include <loom/train/trainer.hpp>

#include "training_options.hpp"

#ifndef LOOM_EXAMPLES_TRAINING_CPP
extern template class loom::Trainer<float>;
extern template std::unique_ptr<loom::Optimizer<float>> loom::make_optimizer<float>(
    const loom::OptimizerOptions&, std::vector<loom::ParamGroup<float>>);
extern template class loom::Checkpoint<float>;
extern template class loom::CheckpointWriter<float>;
#endif
