// loom/nn/quantize.hpp — converting a trained model's weights to bf16 or int8
// for inference (formats: quant/format.hpp; kernels: quant/quantized_gemm.hpp).
//
//   loom::quantize(model, loom::WeightFormat::int8);   // in place; model.eval()
//   loom::NoGradGuard no_grad;
//   logits = model.forward(...);                        // the quantized kernels run
//
// Every weight matrix a layer marked quantizable is converted — Linear and
// Embedding "weight", RNN/LSTM/GRU "weight_ih_l{k}"/"weight_hh_l{k}",
// MultiheadSelfAttention "in_proj_weight" (its out_proj is a Linear) — and its
// fp32 tensor released, so the model's memory shrinks. Biases, LayerNorm and
// everything else stay fp32. The converted weights are no longer parameters:
// an optimizer built afterwards does not see them, and forward refuses to
// record a graph. To go back, load the fp32 checkpoint into a new model.
//
// WeightFormat::fp32 changes nothing (the default path, bit for bit). A model
// that is already quantized is refused: quantizing bf16 weights to int8 would
// compound two roundings; start from the fp32 model.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "loom/nn/module.hpp"
#include "loom/quant/quantized_matrix.hpp"

namespace loom {

namespace detail {
// fn(module, dotted path prefix) for `module` and every module below it.
template <typename T, typename Fn>
void for_each_named_module(Module<T>& module, const std::string& path, Fn&& fn) {
    fn(module, path);
    for (auto& [name, child] : module.named_children()) for_each_named_module(*child, path + name + ".", fn);
}
}  // namespace detail

// The format of the model's converted weights, or nullopt if none is converted.
template <typename T>
std::optional<WeightFormat> quantized_format(const Module<T>& model) {
    const auto quantized = model.named_quantized_weights();
    if (quantized.empty()) return std::nullopt;
    return quantized.front().second->format();
}

template <typename T>
void quantize(Module<T>& model, WeightFormat format) {
    if (format == WeightFormat::fp32) return;
    if (const auto current = quantized_format(model))
        detail::fail("loom::quantize: the model is already quantized (", to_string(*current), ", ",
                     model.named_quantized_weights().size(),
                     " weights); quantize the fp32 model instead (load its checkpoint into a new model)");
    // Convert everything first, then swap in: an error (a non-finite weight)
    // leaves the model as it was.
    std::vector<std::pair<Module<T>*, std::pair<std::string, QuantizedMatrix>>> converted;
    detail::for_each_named_module(model, "", [&](Module<T>& module, const std::string&) {
        for (const auto& [name, weight] : module.quantizable_parameters())
            converted.push_back({&module, {name, QuantizedMatrix::quantize(weight, format)}});
    });
    detail::check(!converted.empty(), "loom::quantize: the model has no weights that can be quantized");
    for (auto& [module, entry] : converted) module->set_quantized_weight(entry.first, std::move(entry.second));
    model.eval();
}

// Bytes the model's weights take: fp32/fp64 parameters plus converted matrices.
template <typename T>
std::size_t weight_bytes(const Module<T>& model) {
    std::size_t bytes = 0;
    for (const Tensor<T>& p : model.parameters()) bytes += static_cast<std::size_t>(p.numel()) * sizeof(T);
    for (const auto& entry : model.named_quantized_weights()) bytes += entry.second->bytes();
    return bytes;
}

}  // namespace loom
