// loom/optim/factory.hpp — an optimizer and a learning-rate schedule chosen by
// name, the way a training program's command line or config file names them.
//
//   loom::OptimizerOptions options;
//   options.optimizer = "adamw"; options.lr = 3e-4; options.weight_decay = 0.1;
//   options.schedule = "cosine"; options.warmup = 100;
//   auto optimizer = loom::make_optimizer<float>(options, model.parameters());
//   auto schedule  = loom::make_schedule(options, /*total_steps=*/5000);
//
// Nothing here computes anything: it maps names and numbers onto the classes in
// sgd.hpp, adam.hpp, rmsprop.hpp and schedule.hpp (whose headers have the math),
// and rejects unknown names with a message that lists the known ones.
#pragma once

#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "loom/optim/adam.hpp"
#include "loom/optim/rmsprop.hpp"
#include "loom/optim/schedule.hpp"
#include "loom/optim/sgd.hpp"
#include "loom/tensor/error.hpp"

namespace loom {

struct OptimizerOptions {
    std::string optimizer = "sgd";  // sgd, adam, adamw or rmsprop
    double lr = 0.0;                // peak learning rate; 0: default_lr()
    double momentum = 0.9, weight_decay = 0.0, beta1 = 0.9, beta2 = 0.999;
    std::string schedule = "constant";  // constant, step or cosine (linear warmup + cosine decay)
    std::int64_t warmup = 0, decay_steps = 0, lr_step = 1000;  // decay_steps 0: the run's total steps
    double min_lr = 0.0, lr_gamma = 0.5;

    // SGD's classic rate for the small recurrent models, the Adam family's otherwise.
    double default_lr() const {
        if (optimizer == "sgd") return 1.0;
        if (optimizer == "adam" || optimizer == "adamw" || optimizer == "rmsprop") return 2e-3;
        detail::fail("loom::make_optimizer: the optimizer must be sgd, adam, adamw or rmsprop, got '", optimizer, "'");
    }
    double learning_rate() const { return lr > 0.0 ? lr : default_lr(); }
};

// Throws for an unknown optimizer or schedule name.
inline void check_optimizer_options(const OptimizerOptions& o) {
    o.default_lr();
    detail::check(o.schedule == "constant" || o.schedule == "step" || o.schedule == "cosine",
                  "loom::make_schedule: the schedule must be constant, step or cosine, got '", o.schedule, "'");
}

// The optimizer the options name, over parameter groups (a group may set its
// own weight decay, e.g. none for biases and LayerNorm parameters).
template <typename T>
std::unique_ptr<Optimizer<T>> make_optimizer(const OptimizerOptions& o, std::vector<ParamGroup<T>> groups) {
    check_optimizer_options(o);
    const double lr = o.learning_rate();
    if (o.optimizer == "sgd") return std::make_unique<SGD<T>>(std::move(groups), lr, o.momentum, o.weight_decay);
    if (o.optimizer == "adam")
        return std::make_unique<Adam<T>>(std::move(groups), lr, o.beta1, o.beta2, 1e-8, o.weight_decay);
    if (o.optimizer == "adamw")
        return std::make_unique<AdamW<T>>(std::move(groups), lr, o.beta1, o.beta2, 1e-8, o.weight_decay);
    return std::make_unique<RMSprop<T>>(std::move(groups), lr, 0.99, 1e-8, o.weight_decay, o.momentum);
}

// The same with every parameter in one group.
template <typename T>
std::unique_ptr<Optimizer<T>> make_optimizer(const OptimizerOptions& o, std::vector<Tensor<T>> parameters) {
    return make_optimizer(o, std::vector<ParamGroup<T>>{ParamGroup<T>{std::move(parameters), {}, {}}});
}

// The schedule the options name; `total_steps` is where cosine decay ends when
// decay_steps is 0.
inline std::unique_ptr<LearningRateSchedule> make_schedule(const OptimizerOptions& o, std::int64_t total_steps) {
    check_optimizer_options(o);
    const double lr = o.learning_rate();
    if (o.schedule == "step") return std::make_unique<StepLR>(lr, o.lr_step, o.lr_gamma);
    if (o.schedule == "cosine")
        return std::make_unique<WarmupCosineLR>(lr, o.warmup, o.decay_steps > 0 ? o.decay_steps : total_steps,
                                                o.min_lr);
    return std::make_unique<ConstantLR>(lr);
}

// One line for a run's header: "adamw lr 0.0003, schedule cosine (warmup 100, min 0)".
inline std::string describe_optimizer(const OptimizerOptions& o) {
    std::ostringstream out;
    out << o.optimizer << " lr " << o.learning_rate();
    if (o.optimizer == "sgd" || o.optimizer == "rmsprop") out << " momentum " << o.momentum;
    if (o.weight_decay > 0) out << " weight decay " << o.weight_decay;
    out << ", schedule " << o.schedule;
    if (o.schedule == "cosine") out << " (warmup " << o.warmup << ", min " << o.min_lr << ")";
    return out.str();
}

}  // namespace loom
