// loom/distributed/data_parallel.hpp — a Trainer (loom/train/trainer.hpp) run
// by N processes as one: DataParallel fills in TrainingTask::parallel.
//
//   loom::distributed::Context context(&argc, &argv);
//   Model model(config, generator);
//   loom::distributed::DataParallel<float> parallel(context, model.parameters());  // rank 0's θ everywhere
//   task.compute_loss = [&] { Batch b = shard_batch(windows.next(), context.rank(), context.world_size()); … };
//   parallel.attach(task);
//   loom::Trainer<float> trainer(model, optimizer, schedule, std::move(task), options);
//
// Each step, every process runs forward and backward on its shard; the
// gradients are averaged (overlapped with backward through GradientReducer, or
// with one allreduce_gradients() after it when overlap is off); the train and
// validation losses the Trainer logs and acts on are the processes' means;
// only rank 0 prints and writes files. With shards of equal size the step is
// the step of one process on the whole batch: the same gradient up to the
// order of floating-point sums (see docs/distributed.md for what is bit-exact).
#pragma once

#include <mpi.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include "loom/distributed/collectives.hpp"
#include "loom/distributed/context.hpp"
#include "loom/distributed/gradient_reducer.hpp"
#include "loom/train/trainer.hpp"

namespace loom::distributed {

struct DataParallelOptions {
    bool overlap = true;                            // send buckets during backward
    std::size_t bucket_bytes = std::size_t(1) << 20;  // GradientReducer's bucket size
};

template <typename T>
class DataParallel {
public:
    // Broadcasts rank 0's parameter values to every process.
    DataParallel(const Context& context, const std::vector<Tensor<T>>& parameters, DataParallelOptions options = {})
        : context_(context), parameters_(parameters), options_(options) {
        broadcast_parameters(parameters_, context_);
        if (options_.overlap)
            reducer_ = std::make_unique<GradientReducer<T>>(context_, parameters_, options_.bucket_bytes);
    }

    DataParallel(const DataParallel&) = delete;
    DataParallel& operator=(const DataParallel&) = delete;

    // Makes task a share of a data-parallel run (see the top of this file).
    // The DataParallel must outlive the Trainer that runs the task.
    void attach(TrainingTask<T>& task) {
        DataParallelHooks<T>& hooks = task.parallel;
        if (reducer_) {
            hooks.begin_step = [this] { reducer_->begin_step(); };
            hooks.on_gradient_ready = reducer_->hook();
        }
        hooks.synchronize_gradients = [this] { synchronize(); };
        hooks.mean = [this](double value) { return allreduce_mean(value, context_); };
        hooks.any = [this](bool flag) { return any_process(flag, context_); };
        hooks.writes_files = context_.is_root();
        hooks.processes = context_.world_size();
    }

    // The mean gradient; what attach() makes the Trainer call after backward.
    void synchronize() {
        const auto start = std::chrono::steady_clock::now();
        if (reducer_) {
            reducer_->finish();
        } else {
            allreduce_gradients(parameters_, context_);
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        last_wait_seconds_ = seconds;
        total_wait_seconds_ += seconds;
        ++steps_;
    }

    // Time spent waiting for gradients after backward (the communication
    // backward did not hide): the last step's, and the total over all steps.
    double last_wait_seconds() const { return last_wait_seconds_; }
    double total_wait_seconds() const { return total_wait_seconds_; }
    std::int64_t steps() const { return steps_; }
    const GradientReducer<T>* reducer() const { return reducer_.get(); }

private:
    const Context& context_;
    std::vector<Tensor<T>> parameters_;
    DataParallelOptions options_;
    std::unique_ptr<GradientReducer<T>> reducer_;
    double last_wait_seconds_ = 0.0, total_wait_seconds_ = 0.0;
    std::int64_t steps_ = 0;
};

}  // namespace loom::distributed
