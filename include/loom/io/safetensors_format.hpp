// loom/io/safetensors_format.hpp — the pieces of the safetensors format that
// reading and writing share: the dtypes and their sizes, where a tensor lives
// in a file (TensorInfo), little-endian byte access independent of the host's
// byte order, and the exact F16/BF16 → float conversions. See safetensors.hpp
// for the file layout.
#pragma once

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "loom/tensor/error.hpp"
#include "loom/tensor/index_tensor.hpp"
#include "loom/tensor/shape.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom::safetensors {

// Every dtype of the safetensors format (with the element size in bytes).
enum class Dtype { BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

inline const char* dtype_name(Dtype dtype) {
    switch (dtype) {
        case Dtype::BOOL: return "BOOL";
        case Dtype::U8: return "U8";
        case Dtype::I8: return "I8";
        case Dtype::F8_E5M2: return "F8_E5M2";
        case Dtype::F8_E4M3: return "F8_E4M3";
        case Dtype::I16: return "I16";
        case Dtype::U16: return "U16";
        case Dtype::F16: return "F16";
        case Dtype::BF16: return "BF16";
        case Dtype::I32: return "I32";
        case Dtype::U32: return "U32";
        case Dtype::F32: return "F32";
        case Dtype::F64: return "F64";
        case Dtype::I64: return "I64";
        case Dtype::U64: return "U64";
    }
    return "?";
}

inline std::size_t dtype_size(Dtype dtype) {
    switch (dtype) {
        case Dtype::BOOL: case Dtype::U8: case Dtype::I8: case Dtype::F8_E5M2: case Dtype::F8_E4M3: return 1;
        case Dtype::I16: case Dtype::U16: case Dtype::F16: case Dtype::BF16: return 2;
        case Dtype::I32: case Dtype::U32: case Dtype::F32: return 4;
        case Dtype::F64: case Dtype::I64: case Dtype::U64: return 8;
    }
    return 1;
}

// The dtype named `name` ("F32"); false if there is none.
inline bool parse_dtype(const std::string& name, Dtype& dtype) {
    for (int i = 0; i <= static_cast<int>(Dtype::U64); ++i) {
        if (name == dtype_name(static_cast<Dtype>(i))) {
            dtype = static_cast<Dtype>(i);
            return true;
        }
    }
    return false;
}

// F32 for float, F64 for double.
template <typename T>
constexpr Dtype dtype_of() {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "dtype_of: T must be float or double");
    return std::is_same_v<T, float> ? Dtype::F32 : Dtype::F64;
}

// Where one tensor lives in a file, and what it holds.
struct TensorInfo {
    std::string name;
    Dtype dtype = Dtype::F32;
    std::vector<std::int64_t> shape;  // any rank; loom tensors take rank <= Shape::max_rank
    std::int64_t numel = 0;
    std::uint64_t begin = 0, end = 0;  // byte offsets into the data buffer
    std::uint64_t byte_size() const { return end - begin; }
};

// I64 data: row-major values and their shape (any rank).
struct Int64Array {
    std::vector<std::int64_t> shape;
    std::vector<std::int64_t> values;
};

namespace detail {

constexpr std::uint64_t max_header_bytes = 100ull * 1000 * 1000;

inline std::uint16_t load_u16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
inline std::uint32_t load_u32(const std::uint8_t* p) {
    return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
           (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
inline std::uint64_t load_u64(const std::uint8_t* p) {
    return static_cast<std::uint64_t>(load_u32(p)) | (static_cast<std::uint64_t>(load_u32(p + 4)) << 32);
}
inline void store_u32(std::uint8_t* p, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
inline void store_u64(std::uint8_t* p, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

inline float bits_to_float(std::uint32_t bits) {
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}
inline double bits_to_double(std::uint64_t bits) {
    double value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

// IEEE binary16 -> binary32, exactly (every half is a float): zeros,
// subnormals (normalised), infinities and NaNs (payload kept) included.
inline float half_to_float(std::uint16_t half) {
    const std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000u) << 16;
    const std::uint32_t exponent = (half >> 10) & 0x1fu;
    std::uint32_t mantissa = half & 0x3ffu;
    if (exponent == 0) {
        if (mantissa == 0) return bits_to_float(sign);
        // Subnormal: mantissa · 2^-24. Shift until the implicit bit appears.
        std::uint32_t shift = 0;
        while ((mantissa & 0x400u) == 0) {
            mantissa <<= 1;
            ++shift;
        }
        mantissa &= 0x3ffu;
        return bits_to_float(sign | ((127u - 14u - shift) << 23) | (mantissa << 13));
    }
    if (exponent == 31) return bits_to_float(sign | 0x7f800000u | (mantissa << 13));
    return bits_to_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

// bfloat16 is the top half of a binary32.
inline float bfloat16_to_float(std::uint16_t value) { return bits_to_float(static_cast<std::uint32_t>(value) << 16); }

// A name or value quoted for a message: at most 80 bytes, control and
// non-ASCII bytes as \xNN, so that a hostile name cannot flood or garble it.
inline std::string quote(const std::string& text) {
    static const char* hex = "0123456789abcdef";
    std::string out = "'";
    const std::size_t shown = std::min<std::size_t>(text.size(), 80);
    for (std::size_t i = 0; i < shown; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    if (shown < text.size()) out += "...(" + std::to_string(text.size()) + " bytes)";
    return out + "'";
}

inline std::string shape_string(const std::vector<std::int64_t>& shape) {
    std::ostringstream out;
    out << '[';
    for (std::size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
    out << ']';
    return out.str();
}

}  // namespace detail

}  // namespace loom::safetensors
