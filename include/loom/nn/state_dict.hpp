// loom/nn/state_dict.hpp — saving a Module's parameters to a safetensors file and
// loading them back, by name, as PyTorch's state_dict()/load_state_dict() do.
//
// Names are those of Module::named_parameters(), which are PyTorch's
// ("encoder.weight", "rnn.weight_ih_l0", "decoder.bias"), so a file saved here
// loads into the PyTorch model with the same structure and the other way round
// (docs/checkpoints.md). Tensors are stored as F32 for Module<float> and F64 for
// Module<double>; loading converts from F16, BF16, F32 or F64.
//
//   loom::save_state_dict("model.safetensors", model, {{"step", "1200"}});
//   loom::load_state_dict(model, "model.safetensors");            // strict
//   loom::load_state_dict(model, file, /*strict=*/false);          // a File already read
//
// With a prefix, the parameters are stored as prefix + name, so that a
// checkpoint can hold a model next to other tensors (optimizer state):
//   loom::add_state_dict(writer, model, "model.");
//   loom::load_state_dict(model, file, true, "model.");
// Loading checks everything first (every parameter present with its shape and
// a float dtype; in strict mode no other tensor under the prefix) and only then
// copies, so a failed load leaves the module unchanged. The copy goes into each
// parameter's own storage under NoGradGuard: parameters stay the same leaf
// tensors (requires_grad, shared with optimizers), without history.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "loom/autograd/grad_mode.hpp"
#include "loom/io/safetensors.hpp"
#include "loom/nn/module.hpp"

namespace loom {

// Adds every parameter of `module` to `writer` as prefix + name.
template <typename T>
void add_state_dict(safetensors::Writer& writer, const Module<T>& module, const std::string& prefix = "") {
    for (const auto& [name, parameter] : module.named_parameters()) writer.add(prefix + name, parameter);
}

// Writes module.named_parameters() and `metadata` to `path` (atomically).
template <typename T>
void save_state_dict(const std::string& path, const Module<T>& module,
                     const std::map<std::string, std::string>& metadata = {}) {
    safetensors::Writer writer;
    add_state_dict(writer, module, "");
    writer.set_metadata(metadata);
    writer.save(path);
}

// Copies the tensors named prefix + parameter name in `file` into the
// module's parameters. Errors (loom::Error, naming the file and tensor): a
// parameter with no tensor, a shape that differs, a dtype that is not F16,
// BF16, F32 or F64, and in strict mode a tensor under the prefix that is no
// parameter. Nothing is copied unless everything fits.
template <typename T>
void load_state_dict(Module<T>& module, const safetensors::File& file, bool strict = true,
                     const std::string& prefix = "") {
    const char* who = "loom::load_state_dict";
    const auto parameters = module.named_parameters();
    std::vector<std::pair<Tensor<T>, Tensor<T>>> copies;  // (parameter, value read)
    copies.reserve(parameters.size());
    for (const auto& [name, parameter] : parameters) {
        const std::string key = prefix + name;
        if (!file.contains(key))
            detail::fail(who, ": '", file.source(), "' has no tensor '", key, "' for the parameter of shape ",
                         parameter.shape());
        const safetensors::TensorInfo& info = file.info(key);
        const bool same_shape = info.shape == parameter.shape().to_vector();
        if (!same_shape)
            detail::fail(who, ": tensor '", key, "' in '", file.source(), "' has shape ",
                         safetensors::detail::shape_string(info.shape), ", but the module expects ",
                         parameter.shape());
        copies.emplace_back(parameter, file.tensor<T>(key));
    }
    if (strict) {
        std::set<std::string> known;
        for (const auto& named : parameters) known.insert(prefix + named.first);
        std::vector<std::string> unexpected;
        for (const std::string& name : file.names())
            if (name.compare(0, prefix.size(), prefix) == 0 && known.count(name) == 0) unexpected.push_back(name);
        if (!unexpected.empty()) {
            std::string list;
            for (std::size_t i = 0; i < unexpected.size() && i < 5; ++i)
                list += (i ? ", " : "") + safetensors::detail::quote(unexpected[i]);
            if (unexpected.size() > 5) list += ", ... (" + std::to_string(unexpected.size()) + " in all)";
            detail::fail(who, ": '", file.source(), "' has tensors that are not parameters of the module: ", list,
                         " (load with strict = false to ignore them)");
        }
    }
    NoGradGuard no_grad;
    for (auto& [parameter, value] : copies) parameter.copy_(value);
}

// Reads `path` (validating it, see loom/io/safetensors.hpp), then loads it as above.
template <typename T>
void load_state_dict(Module<T>& module, const std::string& path, bool strict = true, const std::string& prefix = "") {
    load_state_dict(module, safetensors::File::load(path), strict, prefix);
}

}  // namespace loom
