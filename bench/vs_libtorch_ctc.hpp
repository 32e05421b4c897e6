// bench/vs_libtorch_ctc.hpp — the ctc_loss workload of bench/vs_libtorch.cpp:
// logits [T=200, B=32, C=60] → log_softmax → CTC loss (blank 0, reduction
// mean) against targets of S = 40 labels (1..59), input lengths 200 and
// target lengths 40 for every sequence, then backward to the logits. Both
// sides read the same logits and targets (loom::Generator, fixed seed).
// loom: loom::log_softmax + loom::ctc_loss (ops/ctc.hpp); libtorch:
// torch::log_softmax + torch::ctc_loss (its CPU kernel, aten/LossCTC.cpp).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include <loom/ops/ctc.hpp>
#include <loom/ops/softmax.hpp>
#include <loom/tensor/random.hpp>

namespace vs_libtorch_ctc {

constexpr loom::index_t time_steps = 200, batch_size = 32, classes = 60, target_length = 40;

struct Data {
    std::vector<float> logits;           // [T, B, C]
    std::vector<loom::index_t> targets;  // [B, S]
    Data() {
        loom::Generator generator(21);
        logits.resize(static_cast<std::size_t>(time_steps * batch_size * classes));
        for (float& value : logits) value = static_cast<float>(generator.normal());
        targets.resize(static_cast<std::size_t>(batch_size * target_length));
        for (auto& label : targets) label = 1 + static_cast<loom::index_t>(generator.below(classes - 1));
    }
};

struct LoomCtc {
    Data data;
    loom::Tensor<float> logits = loom::Tensor<float>::from_vector(data.logits, loom::Shape{time_steps, batch_size, classes});
    loom::IndexTensor targets{data.targets, loom::Shape{batch_size, target_length}};
    std::vector<loom::index_t> input_lengths = std::vector<loom::index_t>(batch_size, time_steps);
    std::vector<loom::index_t> target_lengths = std::vector<loom::index_t>(batch_size, target_length);

    LoomCtc() { logits.requires_grad_(true); }
    void step() {
        logits.zero_grad();
        loom::ctc_loss(loom::log_softmax(logits), targets, input_lengths, target_lengths).backward();
    }
};

struct TorchCtc {
    Data data;
    torch::Tensor logits = torch::from_blob(data.logits.data(), {time_steps, batch_size, classes}, torch::kFloat)
                               .clone()
                               .requires_grad_(true);
    torch::Tensor targets =
        torch::from_blob(data.targets.data(), {batch_size, target_length}, torch::kLong).clone();
    std::vector<int64_t> input_lengths = std::vector<int64_t>(batch_size, time_steps);
    std::vector<int64_t> target_lengths = std::vector<int64_t>(batch_size, target_length);

    void step() {
        logits.mutable_grad() = torch::Tensor();
        torch::ctc_loss(torch::log_softmax(logits, 2), targets, input_lengths, target_lengths).backward();
    }
};

}  // namespace vs_libtorch_ctc
