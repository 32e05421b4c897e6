// loom/quant/format.hpp — the weight formats of inference-only models.
//
//   fp32  the trained weights, unchanged (the default; nothing is converted)
//   bf16  bfloat16: fp32's sign and 8-bit exponent with 7 mantissa bits,
//         round-to-nearest-even; relative error ≤ 2⁻⁹ per weight, 2 bytes
//   int8  symmetric int8 per output row: W[n, k] ≈ scale[n] · q[n, k],
//         scale[n] = max_k |W[n, k]| / 127, q ∈ [−127, 127]; 1 byte + 4 bytes per row
// docs/quantization.md derives the error each format introduces.
#pragma once

#include <string>

#include "loom/tensor/error.hpp"

namespace loom {

enum class WeightFormat { fp32, bf16, int8 };

inline const char* to_string(WeightFormat format) {
    switch (format) {
        case WeightFormat::fp32: return "fp32";
        case WeightFormat::bf16: return "bf16";
        case WeightFormat::int8: return "int8";
    }
    return "unknown";
}

// "fp32", "bf16" or "int8"; anything else is an error that lists the three.
inline WeightFormat parse_weight_format(const std::string& name) {
    if (name == "fp32") return WeightFormat::fp32;
    if (name == "bf16") return WeightFormat::bf16;
    if (name == "int8") return WeightFormat::int8;
    detail::fail("loom::parse_weight_format: unknown weight format '", name, "' (expected fp32, bf16 or int8)");
}

// Bytes one weight takes in memory (int8's per-row scale not counted).
inline double bytes_per_weight(WeightFormat format) {
    return format == WeightFormat::fp32 ? 4.0 : format == WeightFormat::bf16 ? 2.0 : 1.0;
}

}  // namespace loom
