// loom/nn/module.hpp — the base class of layers and models, after PyTorch's nn.Module.
//
// A Module owns named parameters (tensors that require grad) and named child
// modules. named_parameters() walks the tree and joins names with dots, giving
// PyTorch's names — "encoder.weight", "rnn.weight_ih_l0" — so that weights can
// move between the two libraries by name. train()/eval() set a mode flag on the
// whole tree (dropout reads it). Modules that draw random numbers while they
// run (dropout) register their Generator, so named_generators() lets a
// checkpoint save and restore every random state of a model.
//
// Inference-only quantized weights (loom/nn/quantize.hpp): a layer marks the
// parameters that may be stored in bf16 or int8 (register_quantizable); once
// converted, such a weight is no longer a parameter — its fp32 tensor is
// released, the QuantizedMatrix takes its place under the same name, and the
// layer's forward reads it from quantized_weight(name).
//
// Children are registered by reference to members of the parent, so a Module
// can be neither copied nor moved (the references would dangle); build models in
// place, or hold them by std::unique_ptr.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "loom/quant/quantized_matrix.hpp"
#include "loom/tensor/error.hpp"
#include "loom/tensor/random.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

template <typename T>
class Module {
public:
    Module() = default;
    virtual ~Module() = default;
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;
    Module(Module&&) = delete;
    Module& operator=(Module&&) = delete;

    // All parameters of this module and its children, depth first, each named
    // by its dotted path.
    std::vector<std::pair<std::string, Tensor<T>>> named_parameters() const {
        std::vector<std::pair<std::string, Tensor<T>>> result;
        collect_parameters("", result);
        return result;
    }

    std::vector<Tensor<T>> parameters() const {
        std::vector<Tensor<T>> result;
        for (auto& named : named_parameters()) result.push_back(named.second);
        return result;
    }

    // The parameter with this dotted name; throws if there is none.
    Tensor<T> parameter(const std::string& name) const {
        for (auto& named : named_parameters())
            if (named.first == name) return named.second;
        detail::fail("loom::Module::parameter: no parameter named '", name, "'");
    }

    index_t parameter_count() const {
        index_t count = 0;
        for (const Tensor<T>& p : parameters()) count += p.numel();
        return count;
    }

    // Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)).
    void zero_grad() {
        for (Tensor<T> p : parameters()) p.zero_grad();
    }

    void train(bool on = true) {
        training_ = on;
        for (auto& child : children_) child.second->train(on);
    }
    void eval() { train(false); }
    bool is_training() const { return training_; }

    const std::vector<std::pair<std::string, Module<T>*>>& named_children() const { return children_; }

    // The generators this module and its children draw from while running,
    // named by dotted path like parameters ("rnn.dropout_generator").
    std::vector<std::pair<std::string, Generator*>> named_generators() const {
        std::vector<std::pair<std::string, Generator*>> result;
        collect_generators("", result);
        return result;
    }

    // ---- quantized weights (nn/quantize.hpp) ----

    // This module's own converted weight `name`, or nullptr.
    const QuantizedMatrix* quantized_weight(const std::string& name) const {
        for (auto& q : quantized_)
            if (q.first == name) return q.second.get();
        return nullptr;
    }
    bool has_quantized_weights() const { return !quantized_.empty(); }

    // The converted weights of this module and its children, by dotted name.
    std::vector<std::pair<std::string, const QuantizedMatrix*>> named_quantized_weights() const {
        std::vector<std::pair<std::string, const QuantizedMatrix*>> result;
        collect_quantized("", result);
        return result;
    }

    // This module's own parameters that may be converted (still fp32 ones only).
    std::vector<std::pair<std::string, Tensor<T>>> quantizable_parameters() const {
        std::vector<std::pair<std::string, Tensor<T>>> result;
        for (auto& q : quantizable_)
            if (q.second->defined()) result.emplace_back(q.first, *q.second);
        return result;
    }

    // Replaces the quantizable parameter `name` by `matrix` (same shape) and
    // releases the fp32 tensor: it is no longer a parameter.
    void set_quantized_weight(const std::string& name, QuantizedMatrix matrix) {
        auto slot = std::find_if(quantizable_.begin(), quantizable_.end(), [&](auto& q) { return q.first == name; });
        detail::check(slot != quantizable_.end(), "loom::Module::set_quantized_weight: '", name,
                      "' is not a weight this layer can quantize");
        detail::check(slot->second->defined(), "loom::Module::set_quantized_weight: '", name, "' is already ",
                      quantized_weight(name) != nullptr ? to_string(quantized_weight(name)->format()) : "released");
        const Shape shape = slot->second->shape();
        detail::check(shape == Shape{matrix.rows(), matrix.cols()}, "loom::Module::set_quantized_weight: '", name,
                      "' is ", shape, ", the quantized matrix is ", matrix.rows(), " x ", matrix.cols());
        quantized_.emplace_back(name, std::make_unique<QuantizedMatrix>(std::move(matrix)));
        parameters_.erase(std::remove_if(parameters_.begin(), parameters_.end(), [&](auto& p) { return p.first == name; }),
                          parameters_.end());
        *slot->second = Tensor<T>();  // the last reference: the fp32 storage is freed
    }

protected:
    // Marks the parameter `name` (already registered, held in `member`) as one
    // that quantize() may convert. `member` must outlive the module's use of it
    // (a member of the layer, as parameters are).
    void register_quantizable(const std::string& name, Tensor<T>& member) {
        detail::check(std::any_of(parameters_.begin(), parameters_.end(), [&](auto& p) { return p.first == name; }),
                      "loom::Module::register_quantizable: '", name, "' is not a parameter");
        quantizable_.emplace_back(name, &member);
    }

    // Marks `value` as a parameter (requires_grad) named `name` and returns it.
    Tensor<T> register_parameter(const std::string& name, Tensor<T> value) {
        check_new_name(name);
        value.requires_grad_(true);
        parameters_.emplace_back(name, value);
        return value;
    }

    // Registers a member module as the child `name`.
    template <typename Child>
    Child& register_module(const std::string& name, Child& child) {
        check_new_name(name);
        children_.emplace_back(name, &child);
        return child;
    }

    // Registers a member generator that forward() draws from (e.g. for dropout).
    Generator& register_generator(const std::string& name, Generator& generator) {
        check_new_name(name);
        generators_.emplace_back(name, &generator);
        return generator;
    }

private:
    void check_new_name(const std::string& name) const {
        detail::check(!name.empty() && name.find('.') == std::string::npos,
                      "loom::Module: invalid name '", name, "' (must be non-empty, without dots)");
        for (auto& p : parameters_)
            detail::check(p.first != name, "loom::Module: name '", name, "' is already a parameter");
        for (auto& c : children_)
            detail::check(c.first != name, "loom::Module: name '", name, "' is already a child module");
        for (auto& g : generators_)
            detail::check(g.first != name, "loom::Module: name '", name, "' is already a generator");
    }

    void collect_generators(const std::string& prefix, std::vector<std::pair<std::string, Generator*>>& out) const {
        for (auto& g : generators_) out.emplace_back(prefix + g.first, g.second);
        for (auto& c : children_) c.second->collect_generators(prefix + c.first + ".", out);
    }

    void collect_parameters(const std::string& prefix, std::vector<std::pair<std::string, Tensor<T>>>& out) const {
        for (auto& p : parameters_) out.emplace_back(prefix + p.first, p.second);
        for (auto& c : children_) c.second->collect_parameters(prefix + c.first + ".", out);
    }

    void collect_quantized(const std::string& prefix,
                           std::vector<std::pair<std::string, const QuantizedMatrix*>>& out) const {
        for (auto& q : quantized_) out.emplace_back(prefix + q.first, q.second.get());
        for (auto& c : children_) c.second->collect_quantized(prefix + c.first + ".", out);
    }

    std::vector<std::pair<std::string, Tensor<T>>> parameters_;
    std::vector<std::pair<std::string, Tensor<T>*>> quantizable_;
    std::vector<std::pair<std::string, std::unique_ptr<QuantizedMatrix>>> quantized_;
    std::vector<std::pair<std::string, Module<T>*>> children_;
    std::vector<std::pair<std::string, Generator*>> generators_;
    bool training_ = true;
};

}  // namespace loom
