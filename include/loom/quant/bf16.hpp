// loom/quant/bf16.hpp — bfloat16 conversions.
//
// A bfloat16 is the upper half of an IEEE fp32: sign, the same 8-bit exponent,
// 7 of the 23 mantissa bits. Converting back is exact (append 16 zero bits);
// converting to bf16 rounds to the nearest value, ties to even, like the
// hardware's VCVTNEPS2BF16:
//   bits(x) + 0x7FFF + (bit 16 of bits(x)), then keep the upper 16 bits.
// Relative error |bf16(x) − x| ≤ 2⁻⁹ |x| for normal x. NaN stays NaN (quiet);
// values above the largest bf16 round to ±inf, as they must.
#pragma once

#include <cstdint>
#include <cstring>

namespace loom {

inline std::uint16_t float_to_bf16(float value) {
    std::uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x0040u);  // NaN: quiet
    const std::uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
    return static_cast<std::uint16_t>((bits + rounding) >> 16);
}

inline float bf16_to_float(std::uint16_t value) {
    const std::uint32_t bits = static_cast<std::uint32_t>(value) << 16;
    float result;
    std::memcpy(&result, &bits, sizeof result);
    return result;
}

// The nearest bf16 value, as a float.
inline float round_to_bf16(float value) { return bf16_to_float(float_to_bf16(value)); }

}  // namespace loom
