// loom/train/checkpoint.hpp — everything needed to stop training and resume it
// later, bit for bit, in one safetensors file.
//
// A checkpoint is a safetensors file (loom/io/safetensors.hpp) holding
//   tensors:   the model's parameters under their PyTorch names
//              ("encoder.weight", "rnn.weight_ih_l0", …), so the same file loads
//              into the PyTorch model (load_state_dict(strict=False) there);
//              the optimizer's state as "optimizer.<index>.<buffer>"
//              ("optimizer.3.exp_avg", see loom/optim/optimizer.hpp);
//              and whatever else the training program adds ("train.state.h").
//   metadata:  "format" = "loom-checkpoint 1", "dtype" = F32 or F64;
//              "optimizer.kind" and "optimizer.step_count";
//              "rng.model.<name>" for every generator the model registered
//              (Module::named_generators, e.g. dropout);
//              and the program's own keys: model configuration, vocabulary,
//              step, its generators and data position.
//
//   loom::CheckpointWriter<float> writer;
//   writer.add_model(model);
//   writer.add_optimizer(optimizer);
//   writer.set("train.step", "1200");
//   writer.save("last.safetensors");          // atomic: old file or new, never half
//
//   const auto checkpoint = loom::Checkpoint<float>::load("last.safetensors");
//   checkpoint.restore_model(model);           // parameters + generators
//   checkpoint.restore_optimizer(optimizer);   // buffers + step counts
//   std::int64_t step = checkpoint.get_int("train.step");
//
// Restoring checks before it changes anything: every parameter present with
// its shape, no tensor outside the "optimizer." and "train." groups that is not
// a parameter, the optimizer of the same kind with matching buffers.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "loom/io/safetensors.hpp"
#include "loom/nn/module.hpp"
#include "loom/nn/quantized_state_dict.hpp"
#include "loom/nn/state_dict.hpp"
#include "loom/optim/optimizer.hpp"

namespace loom {

inline constexpr const char* checkpoint_format = "loom-checkpoint 1";

template <typename T>
class CheckpointWriter {
public:
    CheckpointWriter() {
        writer_.set_metadata("format", checkpoint_format);
        writer_.set_metadata("dtype", std::is_same_v<T, float> ? "F32" : "F64");
    }

    // The parameters under their own names, the generators as "rng.model.<name>".
    // A quantized model (nn/quantize.hpp) stores its converted weights as BF16
    // or I8 (+ ".scale"), see nn/quantized_state_dict.hpp.
    CheckpointWriter& add_model(const Module<T>& model) {
        add_quantized_state_dict(writer_, model);
        for (const auto& [name, generator] : model.named_generators())
            writer_.set_metadata("rng.model." + name, generator->state_string());
        return *this;
    }

    CheckpointWriter& add_optimizer(const Optimizer<T>& optimizer) {
        const OptimizerState<T> state = optimizer.state();
        writer_.set_metadata("optimizer.kind", state.kind);
        writer_.set_metadata("optimizer.step_count", std::to_string(state.step_count));
        for (const auto& [name, tensor] : state.tensors) writer_.add("optimizer." + name, tensor);
        return *this;
    }

    // A tensor of the training program's own; its name must not be taken.
    CheckpointWriter& add_tensor(const std::string& name, const Tensor<T>& tensor) {
        writer_.add(name, tensor);
        return *this;
    }

    CheckpointWriter& set(const std::string& key, const std::string& value) {
        writer_.set_metadata(key, value);
        return *this;
    }

    void save(const std::string& path) const { writer_.save(path); }

private:
    safetensors::Writer writer_;
};

template <typename T>
class Checkpoint {
public:
    // Reads and validates the file, and checks that it is a loom checkpoint.
    static Checkpoint load(const std::string& path) {
        Checkpoint checkpoint(safetensors::File::load(path));
        const std::string format = checkpoint.get("format");
        detail::check(format == checkpoint_format, "loom::Checkpoint: '", path, "' has format '", format,
                      "', expected '", checkpoint_format, "'");
        return checkpoint;
    }

    const safetensors::File& file() const { return file_; }
    const std::string& path() const { return file_.source(); }

    bool has(const std::string& key) const { return file_.metadata().count(key) != 0; }

    // A metadata value; throws naming the file and key if there is none.
    const std::string& get(const std::string& key) const {
        const auto found = file_.metadata().find(key);
        if (found == file_.metadata().end())
            detail::fail("loom::Checkpoint: '", path(), "' has no metadata entry '", key, "'");
        return found->second;
    }

    std::int64_t get_int(const std::string& key) const {
        const std::string& text = get(key);
        char* end = nullptr;
        errno = 0;
        const long long value = std::strtoll(text.c_str(), &end, 10);
        if (text.empty() || *end != '\0' || errno == ERANGE)
            detail::fail("loom::Checkpoint: '", path(), "': metadata '", key, "' = '", text, "' is not an integer");
        return value;
    }

    double get_double(const std::string& key) const {
        const std::string& text = get(key);
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0')
            detail::fail("loom::Checkpoint: '", path(), "': metadata '", key, "' = '", text, "' is not a number");
        return value;
    }

    bool has_tensor(const std::string& name) const { return file_.contains(name); }
    Tensor<T> tensor(const std::string& name) const { return file_.tensor<T>(name); }

    // The format of the model's weights in this file (metadata "loom.weights";
    // fp32 when absent).
    WeightFormat weight_format() const {
        return has(quantized_weights_key) ? parse_weight_format(get(quantized_weights_key)) : WeightFormat::fp32;
    }

    // Copies the parameters into `model` and restores its generators. Every
    // tensor outside the "optimizer." and "train." groups must be a parameter.
    // A checkpoint of a quantized model is loaded into the fresh fp32 `model`
    // by load_quantized_state_dict, which leaves it quantized the same way.
    void restore_model(Module<T>& model) const {
        const bool quantized = weight_format() != WeightFormat::fp32;
        std::vector<std::pair<Generator*, std::string>> generator_states;
        for (const auto& [name, generator] : model.named_generators())
            generator_states.emplace_back(generator, get("rng.model." + name));
        if (!quantized) {
            const auto parameters = model.named_parameters();
            for (const std::string& name : file_.names()) {
                if (starts_with(name, "optimizer.") || starts_with(name, "train.")) continue;
                bool known = false;
                for (const auto& parameter : parameters) known = known || parameter.first == name;
                detail::check(known, "loom::Checkpoint: '", path(), "' has a tensor '", name,
                              "' that is not a parameter of the model (a checkpoint of another model?)");
            }
        }
        // Generator states are checked by a throwaway generator first, so a bad
        // one leaves the model unchanged.
        for (const auto& entry : generator_states) Generator().set_state_string(entry.second);
        if (quantized) load_quantized_state_dict(model, file_);
        else load_state_dict(model, file_, /*strict=*/false);
        for (const auto& [generator, state] : generator_states) generator->set_state_string(state);
    }

    // Restores the optimizer's buffers and step counts (hyperparameters come
    // from the optimizer's constructor, not from the file).
    void restore_optimizer(Optimizer<T>& optimizer) const {
        OptimizerState<T> state;
        state.kind = get("optimizer.kind");
        state.step_count = get_int("optimizer.step_count");
        const std::string prefix = "optimizer.";
        for (const std::string& name : file_.names())
            if (starts_with(name, prefix)) state.tensors.emplace_back(name.substr(prefix.size()), tensor(name));
        optimizer.load_state(state);
    }

private:
    explicit Checkpoint(safetensors::File file) : file_(std::move(file)) {}

    static bool starts_with(const std::string& text, const std::string& prefix) {
        return text.compare(0, prefix.size(), prefix) == 0;
    }

    safetensors::File file_;
};

}  // namespace loom
