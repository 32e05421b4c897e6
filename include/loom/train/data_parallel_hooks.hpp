// loom/train/data_parallel_hooks.hpp — the Trainer's side of data-parallel
// training: plain functions it calls at fixed points of a step, so that the
// training loop needs no MPI (loom/distributed/ provides them).
#pragma once

#include <functional>

#include "loom/tensor/tensor.hpp"

namespace loom {

// What the Trainer calls so that N processes train one model together
// (loom/distributed/data_parallel.hpp fills these in; every member empty, the
// default, is one process). Each process computes the loss
// of its own shard of the batch; then
//   begin_step()              before the backward of a step's last micro-batch;
//   on_gradient_ready(p)      during that backward, as each parameter's
//                             gradient is complete (to start sending it);
//   synchronize_gradients()   after it: every gradient becomes the mean over
//                             the processes, so all take the same step;
//   mean(x)                   the mean of a number over the processes: the
//                             loss that is logged, the validation loss;
//   any(flag)                 true when any process says true (Ctrl-C on one
//                             of them stops all at the same step);
//   writes_files              true on one process only: it alone prints,
//                             writes the log, the plot and the checkpoints.
template <typename T>
struct DataParallelHooks {
    std::function<void()> begin_step;
    std::function<void(const Tensor<T>&)> on_gradient_ready;
    std::function<void()> synchronize_gradients;
    std::function<double(double)> mean;
    std::function<bool(bool)> any;
    bool writes_files = true;
    int processes = 1;  // tokens/s counts every process's tokens
};

}  // namespace loom
