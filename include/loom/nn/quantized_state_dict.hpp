// loom/nn/quantized_state_dict.hpp — saving a quantized model (nn/quantize.hpp)
// and loading it back, in safetensors.
//
// The file holds, under the names of the fp32 checkpoint:
//   fp32 parameters      F32 (F64 for Module<double>), as save_state_dict writes them
//   a bf16 weight        BF16 [rows, cols]  — the values themselves, which
//                        PyTorch also reads (torch.bfloat16)
//   an int8 weight       I8 [rows, cols] (q ∈ [−127, 127]) and
//                        "<name>.scale" F32 [rows], W ≈ scale[:, None] · q
// and the metadata "loom.weights" = "bf16" or "int8". (The fp32 checkpoint is
// the one to give PyTorch: it loads with load_state_dict as before.)
//
// load_quantized_state_dict fills an fp32 model of the same structure (fresh,
// not quantized): each quantizable weight stored as BF16 or I8 becomes a
// quantized matrix without ever holding fp32 values, any other tensor is
// loaded as by load_state_dict (non-strict: the extra ".scale" tensors and the
// converted weights are not parameters any more). Errors name the file and the
// tensor: I8 without its scales, scales of the wrong shape or dtype, shapes
// that differ, a model that is already quantized.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "loom/io/safetensors.hpp"
#include "loom/nn/quantize.hpp"
#include "loom/nn/state_dict.hpp"

namespace loom {

inline constexpr const char* quantized_weights_key = "loom.weights";

template <typename T>
void add_quantized_state_dict(safetensors::Writer& writer, const Module<T>& model, const std::string& prefix = "") {
    add_state_dict(writer, model, prefix);
    for (const auto& [name, matrix] : model.named_quantized_weights()) {
        const std::vector<std::int64_t> shape = {matrix->rows(), matrix->cols()};
        if (matrix->format() == WeightFormat::bf16) {
            const std::vector<std::uint16_t> values = matrix->bf16_values();
            std::vector<std::uint8_t> bytes(values.size() * 2);
            for (std::size_t i = 0; i < values.size(); ++i) {  // little-endian, whatever the host
                bytes[2 * i] = static_cast<std::uint8_t>(values[i] & 0xff);
                bytes[2 * i + 1] = static_cast<std::uint8_t>(values[i] >> 8);
            }
            writer.add_raw(prefix + name, safetensors::Dtype::BF16, shape, bytes.data(), bytes.size());
        } else {
            const std::vector<std::int8_t> values = matrix->int8_values();
            writer.add_raw(prefix + name, safetensors::Dtype::I8, shape, values.data(), values.size());
            writer.add(prefix + name + ".scale",
                       Tensor<float>::from_vector(matrix->scales(), Shape{matrix->rows()}));
        }
    }
    if (const auto format = quantized_format(model)) writer.set_metadata(quantized_weights_key, to_string(*format));
}

template <typename T>
void save_quantized_state_dict(const std::string& path, const Module<T>& model,
                               const std::map<std::string, std::string>& metadata = {}) {
    safetensors::Writer writer;
    add_quantized_state_dict(writer, model);
    writer.set_metadata(metadata);
    writer.save(path);
}

namespace detail {
// The quantized matrix stored under `key`, checked against the weight's shape.
inline QuantizedMatrix read_quantized_matrix(const safetensors::File& file, const std::string& key, const Shape& shape) {
    const char* who = "loom::load_quantized_state_dict";
    const safetensors::TensorInfo& info = file.info(key);
    if (info.shape != shape.to_vector())
        fail(who, ": tensor '", key, "' in '", file.source(), "' has shape ", safetensors::detail::shape_string(info.shape),
             ", but the model expects ", shape);
    const index_t rows = shape[0], cols = shape[1];
    const std::uint8_t* bytes = file.raw_data(key);
    if (info.dtype == safetensors::Dtype::BF16) {
        std::vector<std::uint16_t> values(static_cast<std::size_t>(rows * cols));
        for (std::size_t i = 0; i < values.size(); ++i)
            values[i] = static_cast<std::uint16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8));
        return QuantizedMatrix::from_bf16(values, rows, cols);
    }
    const std::string scale_key = key + ".scale";
    if (!file.contains(scale_key))
        fail(who, ": int8 weight '", key, "' in '", file.source(), "' has no scales (expected an F32 tensor '", scale_key,
             "' of shape [", rows, "])");
    const safetensors::TensorInfo& scale_info = file.info(scale_key);
    if (scale_info.dtype != safetensors::Dtype::F32 || scale_info.shape != std::vector<std::int64_t>{rows})
        fail(who, ": scales '", scale_key, "' in '", file.source(), "' must be F32 [", rows, "], got ",
             safetensors::dtype_name(scale_info.dtype), " ", safetensors::detail::shape_string(scale_info.shape));
    const Tensor<float> scales = file.tensor<float>(scale_key);
    std::vector<std::int8_t> values(static_cast<std::size_t>(rows * cols));
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<std::int8_t>(bytes[i]);
    return QuantizedMatrix::from_int8(values, std::vector<float>(scales.data(), scales.data() + rows), rows, cols);
}
}  // namespace detail

template <typename T>
void load_quantized_state_dict(Module<T>& model, const safetensors::File& file, const std::string& prefix = "") {
    const char* who = "loom::load_quantized_state_dict";
    if (const auto current = quantized_format(model))
        detail::fail(who, ": the model is already quantized (", to_string(*current), "); load into a fresh fp32 model");
    std::vector<std::pair<Module<T>*, std::pair<std::string, QuantizedMatrix>>> converted;
    detail::for_each_named_module(model, prefix, [&](Module<T>& module, const std::string& path) {
        for (const auto& [name, weight] : module.quantizable_parameters()) {
            const std::string key = path + name;
            if (!file.contains(key)) continue;  // load_state_dict below reports it
            const safetensors::Dtype dtype = file.info(key).dtype;
            if (dtype != safetensors::Dtype::BF16 && dtype != safetensors::Dtype::I8) continue;  // an fp32 weight
            converted.push_back({&module, {name, detail::read_quantized_matrix(file, key, weight.shape())}});
        }
    });
    for (auto& [module, entry] : converted) module->set_quantized_weight(entry.first, std::move(entry.second));
    load_state_dict(model, file, /*strict=*/false, prefix);
    model.eval();
}

template <typename T>
void load_quantized_state_dict(Module<T>& model, const std::string& path) {
    load_quantized_state_dict(model, safetensors::File::load(path));
}

}  // namespace loom
