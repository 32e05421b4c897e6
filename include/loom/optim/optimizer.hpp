// loom/optim/optimizer.hpp — what every optimizer shares: parameter groups,
// learning rates, per-parameter state buffers, and saving/restoring that state.
//
// An optimizer updates parameters p from their accumulated gradients g = p.grad():
//   p ← p − η · u(g, p, state)
// where η is the learning rate of p's parameter group and u the optimizer's rule
// (sgd.hpp, adam.hpp, rmsprop.hpp give theirs). As in torch.optim:
//   - a parameter whose grad() is undefined is skipped by step(): its value and
//     state stay as they were (Adam's per-parameter step counter does not move);
//   - state buffers are created the first time a parameter has a gradient;
//   - parameter groups share the rule but each has its own learning rate and
//     weight decay (a group that leaves them unset takes the optimizer's).
//
// Saving and resuming. state() deep-copies everything an optimizer accumulates
// into an OptimizerState: its kind ("SGD", "Adam", "AdamW", "RMSprop"), the
// number of step() calls, and named tensors
//   "<index>.<buffer>"   e.g. "0.momentum_buffer", "3.exp_avg", "3.step"
// where <index> counts parameters across groups in order (group 0's first
// parameter is 0) and <buffer> is PyTorch's name for the buffer. A parameter
// that never had a gradient has no entries. Per-parameter step counters are
// rank-0 tensors holding the count (exact up to 2^24 in float, 2^53 in double;
// state() refuses counts beyond). load_state() checks the kind, every name and
// shape before touching anything, so an optimizer built with the same
// parameters and hyperparameters continues bit for bit. Hyperparameters
// (learning rates included) are not part of the state: they come from the
// constructor, and a schedule sets the learning rate from the step count.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "loom/tensor/tensor.hpp"

namespace loom {

// A set of parameters with its own learning rate and weight decay; unset values
// fall back to the optimizer's constructor arguments. For example
//   loom::Adam<float> optimizer({loom::ParamGroup<float>{weights},
//                                loom::ParamGroup<float>{biases, 1e-2, 0.0}}, 1e-3);
template <typename T>
struct ParamGroup {
    std::vector<Tensor<T>> parameters;
    std::optional<double> learning_rate;
    std::optional<double> weight_decay;
};

// Everything an optimizer accumulates, deep-copied (see the top of this file).
template <typename T>
struct OptimizerState {
    std::string kind;
    std::int64_t step_count = 0;
    std::vector<std::pair<std::string, Tensor<T>>> tensors;
};

template <typename T>
class Optimizer {
public:
    virtual ~Optimizer() = default;

    // Updates every parameter that has a gradient, then counts the step.
    virtual void step() = 0;

    // Drops the gradients of all parameters (PyTorch's zero_grad(set_to_none=True)).
    void zero_grad() {
        for (Tensor<T>& p : parameters_) p.zero_grad();
    }

    const std::string& kind() const { return kind_; }
    std::size_t num_groups() const { return groups_.size(); }
    // Every group with its learning rate and weight decay filled in.
    const std::vector<ParamGroup<T>>& param_groups() const { return groups_; }
    // All parameters across groups, in the order state() numbers them.
    const std::vector<Tensor<T>>& parameters() const { return parameters_; }
    // The number of step() calls so far (or as restored by load_state).
    std::int64_t step_count() const { return step_count_; }

    double learning_rate(std::size_t group = 0) const { return *groups_[checked_group(group)].learning_rate; }
    double weight_decay(std::size_t group = 0) const { return *groups_[checked_group(group)].weight_decay; }

    // Sets the learning rate of every group.
    void set_learning_rate(double learning_rate) {
        check_learning_rate(learning_rate, "");
        for (ParamGroup<T>& group : groups_) group.learning_rate = learning_rate;
    }
    // Sets the learning rate of one group.
    void set_learning_rate(std::size_t group, double learning_rate) {
        check_learning_rate(learning_rate, " (parameter group " + std::to_string(group) + ")");
        groups_[checked_group(group)].learning_rate = learning_rate;
    }

    OptimizerState<T> state() const {
        OptimizerState<T> saved{kind_, step_count_, {}};
        for (std::size_t index = 0; index < parameters_.size(); ++index) {
            if (!has_state(index)) continue;
            const std::string prefix = std::to_string(index) + ".";
            for (std::size_t slot = 0; slot < buffer_names_.size(); ++slot)
                saved.tensors.emplace_back(prefix + buffer_names_[slot], buffers_[slot][index].clone());
            if (counts_parameter_steps_) {
                const std::int64_t count = parameter_steps_[index];
                detail::check(static_cast<std::int64_t>(static_cast<T>(count)) == count, "loom::", kind_,
                              "::state: parameter ", index, " has taken ", count,
                              " steps, more than this tensor type stores exactly");
                saved.tensors.emplace_back(prefix + "step", Tensor<T>::scalar(static_cast<T>(count)));
            }
        }
        return saved;
    }

    // Restores what state() saved. Checks everything first: on error it throws
    // loom::Error and leaves this optimizer unchanged.
    void load_state(const OptimizerState<T>& saved) {
        const std::string where = "loom::" + kind_ + "::load_state: ";
        detail::check(saved.kind == kind_, where, "the state is from a ", saved.kind.empty() ? "nameless" : saved.kind,
                      " optimizer, this one is ", kind_);
        detail::check(saved.step_count >= 0, where, "step_count must be >= 0, got ", saved.step_count);

        // Per parameter, which of its entries (buffers, then "step") are present.
        const std::size_t entries_per_parameter = buffer_names_.size() + (counts_parameter_steps_ ? 1 : 0);
        std::vector<std::vector<const Tensor<T>*>> found(parameters_.size(),
                                                         std::vector<const Tensor<T>*>(entries_per_parameter, nullptr));
        for (const auto& [name, tensor] : saved.tensors) {
            const auto [index, entry] = parse_name(name, where);
            detail::check(found[index][entry] == nullptr, where, "the state has '", name, "' twice");
            detail::check(tensor.defined(), where, "'", name, "' is an undefined tensor");
            if (entry < buffer_names_.size()) {
                detail::check(tensor.shape() == parameters_[index].shape(), where, "'", name, "' has shape ",
                              tensor.shape(), " but parameter ", index, " has shape ", parameters_[index].shape());
            } else {
                detail::check(tensor.numel() == 1, where, "'", name, "' must hold one number, it has shape ",
                              tensor.shape());
                const double count = static_cast<double>(tensor.data()[0]);
                detail::check(count >= 0 && count == std::floor(count) && count <= static_cast<double>(saved.step_count),
                              where, "'", name, "' must be a whole number of steps in [0, step_count = ",
                              saved.step_count, "], got ", count);
            }
            found[index][entry] = &tensor;
        }
        for (std::size_t index = 0; index < parameters_.size(); ++index) {
            std::size_t present = 0;
            for (const Tensor<T>* tensor : found[index]) present += tensor != nullptr;
            if (present == 0 || present == entries_per_parameter) continue;
            for (std::size_t entry = 0; entry < entries_per_parameter; ++entry)
                detail::check(found[index][entry] != nullptr, where, "the state has some entries for parameter ",
                              index, " but not '", index, ".", entry_name(entry), "'");
        }

        // All checked: replace the state.
        step_count_ = saved.step_count;
        for (std::size_t index = 0; index < parameters_.size(); ++index) {
            initialised_[index] = found[index].empty() ? false : found[index][0] != nullptr;
            for (std::size_t slot = 0; slot < buffer_names_.size(); ++slot)
                buffers_[slot][index] = initialised_[index] ? found[index][slot]->clone() : Tensor<T>();
            if (counts_parameter_steps_)
                parameter_steps_[index] =
                    initialised_[index] ? static_cast<std::int64_t>(found[index].back()->data()[0]) : 0;
        }
    }

protected:
    // kind: the class name, used in state() and in error messages.
    Optimizer(std::string kind, std::vector<ParamGroup<T>> groups, double default_learning_rate,
              double default_weight_decay)
        : kind_(std::move(kind)), groups_(std::move(groups)) {
        detail::check(!groups_.empty(), "loom::", kind_, ": needs at least one parameter group");
        check_learning_rate(default_learning_rate, "");
        check_weight_decay(default_weight_decay, "");
        std::set<const void*> seen;
        for (std::size_t g = 0; g < groups_.size(); ++g) {
            ParamGroup<T>& group = groups_[g];
            const std::string in_group = groups_.size() > 1 ? " (parameter group " + std::to_string(g) + ")" : "";
            if (!group.learning_rate) group.learning_rate = default_learning_rate;
            if (!group.weight_decay) group.weight_decay = default_weight_decay;
            check_learning_rate(*group.learning_rate, in_group);
            check_weight_decay(*group.weight_decay, in_group);
            for (const Tensor<T>& p : group.parameters) {
                detail::check(p.defined() && p.is_leaf(), "loom::", kind_,
                              ": parameters must be defined leaf tensors", in_group);
                detail::check(seen.insert(p.impl_ptr()).second, "loom::", kind_,
                              ": a parameter of shape ", p.shape(), " appears twice", in_group);
                parameters_.push_back(p);
            }
        }
        initialised_.assign(parameters_.size(), false);
    }

    static std::vector<ParamGroup<T>> one_group(std::vector<Tensor<T>> parameters) {
        return {ParamGroup<T>{std::move(parameters), std::nullopt, std::nullopt}};
    }

    Optimizer(const Optimizer&) = delete;  // a copy would share the state buffers
    Optimizer& operator=(const Optimizer&) = delete;
    Optimizer(Optimizer&&) = default;
    Optimizer& operator=(Optimizer&&) = default;

    // Declares a state buffer (called by derived constructors); returns its slot.
    std::size_t add_buffer(std::string name) {
        buffer_names_.push_back(std::move(name));
        buffers_.emplace_back(parameters_.size());
        return buffers_.size() - 1;
    }
    // Declares that each parameter counts its own steps (saved as "<index>.step").
    void count_parameter_steps() {
        counts_parameter_steps_ = true;
        parameter_steps_.assign(parameters_.size(), 0);
    }

    // Calls fn(index, group, parameter, gradient) for every parameter that has a
    // gradient, where index numbers parameters across groups.
    template <typename Fn>
    void for_each_parameter_with_grad(Fn&& fn) {
        std::size_t index = 0;
        for (const ParamGroup<T>& group : groups_) {
            for (const Tensor<T>& handle : group.parameters) {
                Tensor<T> parameter = handle;
                const Tensor<T> gradient = parameter.grad();
                if (gradient.defined()) fn(index, group, parameter, gradient);
                ++index;
            }
        }
    }

    bool has_state(std::size_t index) const { return initialised_[index]; }
    // Creates parameter `index`'s buffers, zero-filled (the only allocation:
    // later steps update them in place).
    void initialise_state(std::size_t index) {
        for (auto& slot : buffers_) slot[index] = Tensor<T>::zeros(parameters_[index].shape());
        initialised_[index] = true;
    }
    Tensor<T>& buffer(std::size_t slot, std::size_t index) { return buffers_[slot][index]; }
    std::int64_t& parameter_steps(std::size_t index) { return parameter_steps_[index]; }
    void count_step() { ++step_count_; }

    void check_learning_rate(double learning_rate, const std::string& in_group) const {
        detail::check(learning_rate >= 0.0 && std::isfinite(learning_rate), "loom::", kind_,
                      ": learning rate must be >= 0, got ", learning_rate, in_group);
    }
    void check_weight_decay(double weight_decay, const std::string& in_group) const {
        detail::check(weight_decay >= 0.0 && std::isfinite(weight_decay), "loom::", kind_,
                      ": weight_decay must be >= 0, got ", weight_decay, in_group);
    }

private:
    std::size_t checked_group(std::size_t group) const {
        detail::check(group < groups_.size(), "loom::", kind_, ": no parameter group ", group, ", there are ",
                      groups_.size());
        return group;
    }

    std::string entry_name(std::size_t entry) const {
        return entry < buffer_names_.size() ? buffer_names_[entry] : std::string("step");
    }

    // "<index>.<entry>" → (parameter index, entry number); throws on anything else.
    std::pair<std::size_t, std::size_t> parse_name(const std::string& name, const std::string& where) const {
        const std::size_t dot = name.find('.');
        const std::string digits = name.substr(0, dot);
        bool is_number = !digits.empty() && digits.size() <= 18;
        for (char c : digits) is_number = is_number && c >= '0' && c <= '9';
        detail::check(dot != std::string::npos && is_number, where, "'", name,
                      "' is not a name of the form <parameter index>.<buffer>");
        const std::size_t index = static_cast<std::size_t>(std::stoll(digits));
        detail::check(index < parameters_.size(), where, "'", name, "' is for parameter ", index,
                      " but this optimizer has ", parameters_.size(), " parameters");
        const std::string entry = name.substr(dot + 1);
        const std::size_t entries = buffer_names_.size() + (counts_parameter_steps_ ? 1 : 0);
        for (std::size_t e = 0; e < entries; ++e)
            if (entry_name(e) == entry) return {index, e};
        std::string expected;
        for (std::size_t e = 0; e < entries; ++e) expected += (e ? ", " : "") + entry_name(e);
        detail::fail(where, "'", name, "': ", kind_, " with these settings keeps ",
                     expected.empty() ? "no buffers" : expected, ", not '", entry, "'");
    }

    std::string kind_;
    std::vector<ParamGroup<T>> groups_;
    std::vector<Tensor<T>> parameters_;
    std::int64_t step_count_ = 0;
    std::vector<std::string> buffer_names_;
    std::vector<std::vector<Tensor<T>>> buffers_;  // [slot][parameter index]; undefined until first used
    std::vector<bool> initialised_;                // [parameter index]
    bool counts_parameter_steps_ = false;
    std::vector<std::int64_t> parameter_steps_;    // [parameter index], if counted
};

}  // namespace loom
