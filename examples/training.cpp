// examples/training.cpp — compiles the library's training loop for float once
// (see training.hpp); every example links it.
#define LOOM_EXAMPLES_TRAINING_CPP
#include "training.hpp"

template class loom::Trainer<float>;
template std::unique_ptr<loom::Optimizer<float>> loom::make_optimizer<float>(const loom::OptimizerOptions&,
                                                                             std::vector<loom::ParamGroup<float>>);
template class loom::Checkpoint<float>;
template class loom::CheckpointWriter<float>;
