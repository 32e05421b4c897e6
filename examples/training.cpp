// examples/training.cpp — compiles the examples' training loop for float once
// (see the end of training.hpp); every example links it.
#define LOOM_EXAMPLES_TRAINING_CPP
#include "training.hpp"

template class training::TrainingLoop<float>;
template std::unique_ptr<loom::Optimizer<float>> training::make_optimizer<float>(const training::LoopOptions&,
                                                                                 std::vector<loom::ParamGroup<float>>);
template class loom::Checkpoint<float>;
template class loom::CheckpointWriter<float>;
