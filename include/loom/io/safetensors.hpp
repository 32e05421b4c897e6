// loom/io/safetensors.hpp — reading and writing tensors in the safetensors format
// (https://github.com/huggingface/safetensors), the format PyTorch, JAX and
// Hugging Face tools use for checkpoints that are safe to open.
//
// Layout of a file:
//   bytes 0..7      N, the header length: an unsigned 64-bit little-endian integer
//   bytes 8..8+N    the header: a JSON object (UTF-8), padded with spaces
//                     { "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
//                       ...,
//                       "__metadata__": {"<key>": "<string value>", ...} }
//   bytes 8+N..end  the data buffer: every tensor's elements, row-major and
//                   little-endian, at [begin, end) relative to the buffer start
//
// Reading (File::load / File::parse) checks the whole file before anything is
// used, so that a damaged or hostile file gives a loom::Error that names the
// file and the problem, never a crash or an out-of-bounds read:
//   - the file holds the 8 length bytes, and N is at most 100 MB and fits in the file;
//   - the header is JSON, an object, with no duplicate keys;
//   - each tensor entry is an object with exactly dtype (a known dtype name),
//     shape (non-negative integers whose product, and its size in bytes, do not
//     overflow) and data_offsets ([begin, end], begin <= end <= buffer size,
//     end - begin = elements · dtype size);
//   - the tensors cover the data buffer exactly: sorted by offset, each starts
//     where the previous one ends (no overlap, no gap), the first at 0 and the
//     last ending at the end of the file (no trailing bytes);
//   - __metadata__, if present, maps strings to strings.
// Then tensor<float>/tensor<double> convert F16, BF16, F32 and F64 data, and
// int64() reads I64 data; other dtypes are listed and their raw bytes readable,
// but not converted.
//
// Writing (Writer) collects named tensors (copied when added) and a string map
// of metadata, and save() replaces the file atomically: it writes
// "<path>.tmp.<pid>.<n>", flushes and syncs it, then renames it over <path>; on
// any failure the temporary file is removed and loom::Error thrown, so <path>
// is either the old file or the complete new one. The header is padded with
// spaces to a multiple of 8 bytes, and tensors are laid out by decreasing
// element size (then by name), so every tensor is aligned to its element size.
//
// Bytes are assembled with shifts, so the code is independent of the host's
// byte order.
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

#include <nlohmann/json.hpp>

#include "loom/tensor/error.hpp"
#include "loom/tensor/index_tensor.hpp"
#include "loom/tensor/shape.hpp"
#include "loom/tensor/tensor.hpp"

#if defined(_WIN32)
#include <process.h>
#else
#include <unistd.h>
#endif

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

// A safetensors file read into memory and validated (see the top of this file).
class File {
public:
    // Reads and validates the file at `path`.
    static File load(const std::string& path) {
        std::FILE* in = std::fopen(path.c_str(), "rb");
        if (in == nullptr) {
            const int error = errno;
            loom::detail::fail("loom::safetensors: cannot open '", path, "' for reading: ", std::strerror(error));
        }
        std::vector<std::uint8_t> bytes;
        std::uint8_t chunk[1 << 16];
        bool failed = false;
        while (true) {
            const std::size_t got = std::fread(chunk, 1, sizeof chunk, in);
            bytes.insert(bytes.end(), chunk, chunk + got);
            if (got < sizeof chunk) {
                failed = std::ferror(in) != 0;
                break;
            }
        }
        const int error = errno;
        std::fclose(in);
        if (failed) loom::detail::fail("loom::safetensors: error while reading '", path, "': ", std::strerror(error));
        return File(std::move(bytes), path);
    }

    // Validates `size` bytes in memory; `source` names them in error messages.
    static File parse(const void* bytes, std::size_t size, const std::string& source = "<memory>") {
        const auto* begin = static_cast<const std::uint8_t*>(bytes);
        return File(std::vector<std::uint8_t>(begin, begin + size), source);
    }
    static File parse(std::vector<std::uint8_t> bytes, const std::string& source = "<memory>") {
        return File(std::move(bytes), source);
    }

    // The path (or the name given to parse()).
    const std::string& source() const { return source_; }

    // Every tensor name, sorted.
    std::vector<std::string> names() const {
        std::vector<std::string> result;
        result.reserve(tensors_.size());
        for (const auto& entry : tensors_) result.push_back(entry.first);
        return result;
    }
    std::size_t size() const { return tensors_.size(); }
    bool contains(const std::string& name) const { return tensors_.count(name) != 0; }

    // Dtype, shape and offsets of a tensor; throws if there is no such tensor.
    const TensorInfo& info(const std::string& name) const {
        const auto found = tensors_.find(name);
        if (found == tensors_.end())
            loom::detail::fail("loom::safetensors: '", source_, "' has no tensor ", detail::quote(name));
        return found->second;
    }

    // The __metadata__ map (empty if the file has none).
    const std::map<std::string, std::string>& metadata() const { return metadata_; }

    // The raw little-endian bytes of a tensor, byte_size() of them.
    const std::uint8_t* raw_data(const std::string& name) const { return buffer() + info(name).begin; }

    // A tensor as Tensor<float> or Tensor<double>, converted from F16, BF16, F32
    // or F64 (F64 to float rounds to nearest). Its rank must be at most
    // Shape::max_rank.
    template <typename T>
    Tensor<T> tensor(const std::string& name) const {
        static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "tensor<T>: T must be float or double");
        const TensorInfo& entry = info(name);
        const Shape shape = loom_shape(entry, "tensor");
        const std::uint8_t* in = buffer() + entry.begin;
        Tensor<T> result = Tensor<T>::empty(shape);
        T* out = result.data();
        const index_t count = entry.numel;
        switch (entry.dtype) {
            case Dtype::F16:
                for (index_t i = 0; i < count; ++i) out[i] = static_cast<T>(detail::half_to_float(detail::load_u16(in + 2 * i)));
                break;
            case Dtype::BF16:
                for (index_t i = 0; i < count; ++i)
                    out[i] = static_cast<T>(detail::bfloat16_to_float(detail::load_u16(in + 2 * i)));
                break;
            case Dtype::F32:
                for (index_t i = 0; i < count; ++i) out[i] = static_cast<T>(detail::bits_to_float(detail::load_u32(in + 4 * i)));
                break;
            case Dtype::F64:
                for (index_t i = 0; i < count; ++i) out[i] = static_cast<T>(detail::bits_to_double(detail::load_u64(in + 8 * i)));
                break;
            default:
                loom::detail::fail("loom::safetensors: '", source_, "': tensor ", detail::quote(name), " has dtype ",
                                   dtype_name(entry.dtype), ", which cannot be read as ",
                                   std::is_same_v<T, float> ? "float" : "double", " (F16, BF16, F32 or F64 can)");
        }
        return result;
    }

    // An I64 tensor's values and shape (any rank).
    Int64Array int64(const std::string& name) const {
        const TensorInfo& entry = info(name);
        if (entry.dtype != Dtype::I64)
            loom::detail::fail("loom::safetensors: '", source_, "': tensor ", detail::quote(name), " has dtype ",
                               dtype_name(entry.dtype), ", not I64");
        Int64Array result;
        result.shape = entry.shape;
        result.values.resize(static_cast<std::size_t>(entry.numel));
        const std::uint8_t* in = buffer() + entry.begin;
        for (std::size_t i = 0; i < result.values.size(); ++i)
            result.values[i] = static_cast<std::int64_t>(detail::load_u64(in + 8 * i));
        return result;
    }

    // An I64 tensor as an IndexTensor (rank at most Shape::max_rank).
    IndexTensor index_tensor(const std::string& name) const {
        const Shape shape = loom_shape(info(name), "index_tensor");
        return IndexTensor(int64(name).values, shape);
    }

private:
    File(std::vector<std::uint8_t> bytes, std::string source) : bytes_(std::move(bytes)), source_(std::move(source)) {
        validate();
    }

    const std::uint8_t* buffer() const { return bytes_.data() + data_start_; }

    template <typename... Parts>
    [[noreturn]] void fail(Parts&&... parts) const {
        loom::detail::fail("loom::safetensors: '", source_, "': ", std::forward<Parts>(parts)...);
    }

    Shape loom_shape(const TensorInfo& entry, const char* what) const {
        if (entry.shape.size() > static_cast<std::size_t>(Shape::max_rank))
            fail("tensor ", detail::quote(entry.name), " has shape ", detail::shape_string(entry.shape), ", rank ",
                 entry.shape.size(), " is above loom's maximum of ", Shape::max_rank, " (", what, ")");
        return Shape(entry.shape);
    }

    // Records the first duplicate key of any object in the header (nlohmann
    // keeps the last value of a repeated key silently).
    struct DuplicateKeyFinder {
        std::vector<std::set<std::string>> open_objects;
        std::string duplicate;
        bool found = false;

        bool operator()(int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
            using Event = nlohmann::json::parse_event_t;
            if (event == Event::object_start) {
                open_objects.emplace_back();
            } else if (event == Event::object_end) {
                if (!open_objects.empty()) open_objects.pop_back();
            } else if (event == Event::key && !open_objects.empty() && parsed.is_string()) {
                const std::string& key = parsed.get_ref<const std::string&>();
                if (!open_objects.back().insert(key).second && !found) {
                    found = true;
                    duplicate = key;
                }
            }
            return true;
        }
    };

    void validate() {
        const std::uint64_t file_size = bytes_.size();
        if (file_size < 8)
            fail("the file is ", file_size, " bytes long, too short for the 8-byte header length");
        const std::uint64_t header_size = detail::load_u64(bytes_.data());
        if (header_size > detail::max_header_bytes)
            fail("header length ", header_size, " is above the limit of ", detail::max_header_bytes, " bytes");
        if (header_size > file_size - 8)
            fail("header length ", header_size, " is more than the ", file_size - 8, " bytes after the length field");
        data_start_ = static_cast<std::size_t>(8 + header_size);
        const std::uint64_t buffer_size = file_size - 8 - header_size;

        const char* header_begin = reinterpret_cast<const char*>(bytes_.data() + 8);
        nlohmann::json header;
        DuplicateKeyFinder duplicates;
        try {
            header = nlohmann::json::parse(header_begin, header_begin + header_size, std::ref(duplicates));
        } catch (const nlohmann::json::exception& error) {
            std::string message = error.what();
            if (message.size() > 200) message = message.substr(0, 200) + "...";
            fail("the header is not valid JSON: ", message);
        }
        if (!header.is_object()) fail("the header is a JSON ", header.type_name(), ", not an object");
        if (duplicates.found) fail("the header repeats the key ", detail::quote(duplicates.duplicate));

        for (auto& item : header.items()) {
            const std::string& name = item.key();
            const nlohmann::json& value = item.value();
            if (name == "__metadata__") {
                read_metadata(value);
                continue;
            }
            tensors_.emplace(name, read_entry(name, value, buffer_size));
        }
        check_coverage(buffer_size);
    }

    void read_metadata(const nlohmann::json& value) {
        if (!value.is_object()) fail("__metadata__ is a JSON ", value.type_name(), ", not an object of strings");
        for (auto& item : value.items()) {
            if (!item.value().is_string())
                fail("__metadata__ value of ", detail::quote(item.key()), " is a JSON ", item.value().type_name(),
                     ", not a string");
            metadata_.emplace(item.key(), item.value().get<std::string>());
        }
    }

    // A non-negative JSON integer, or a failure naming `what`.
    std::uint64_t read_unsigned(const nlohmann::json& value, const std::string& name, const char* what) const {
        if (value.is_number_unsigned()) return value.get<std::uint64_t>();
        if (value.is_number_integer()) {  // signed: a negative integer, or "-0"
            const std::int64_t signed_value = value.get<std::int64_t>();
            if (signed_value >= 0) return static_cast<std::uint64_t>(signed_value);
            fail("tensor ", detail::quote(name), ": ", what, " ", signed_value, " is negative");
        }
        fail("tensor ", detail::quote(name), ": ", what, " is a JSON ", value.type_name(),
             ", not a non-negative integer");
    }

    TensorInfo read_entry(const std::string& name, const nlohmann::json& value, std::uint64_t buffer_size) const {
        const std::string quoted = detail::quote(name);
        if (!value.is_object()) fail("tensor ", quoted, " is a JSON ", value.type_name(), ", not an object");
        for (auto& field : value.items()) {
            const std::string& key = field.key();
            if (key != "dtype" && key != "shape" && key != "data_offsets")
                fail("tensor ", quoted, " has an unexpected field ", detail::quote(key),
                     " (expected dtype, shape, data_offsets)");
        }
        for (const char* key : {"dtype", "shape", "data_offsets"})
            if (!value.contains(key)) fail("tensor ", quoted, " has no field '", key, "'");

        TensorInfo info;
        info.name = name;
        const nlohmann::json& dtype = value["dtype"];
        if (!dtype.is_string()) fail("tensor ", quoted, ": dtype is a JSON ", dtype.type_name(), ", not a string");
        if (!parse_dtype(dtype.get<std::string>(), info.dtype))
            fail("tensor ", quoted, " has unknown dtype ", detail::quote(dtype.get<std::string>()),
                 " (known: BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64)");

        const nlohmann::json& shape = value["shape"];
        if (!shape.is_array()) fail("tensor ", quoted, ": shape is a JSON ", shape.type_name(), ", not an array");
        constexpr auto max_count = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        std::uint64_t count = 1;
        bool has_zero = false, overflow = false;
        for (const nlohmann::json& size_json : shape) {
            const std::uint64_t size = read_unsigned(size_json, name, "shape size");
            if (size > max_count) fail("tensor ", quoted, ": shape size ", size, " is too large");
            info.shape.push_back(static_cast<std::int64_t>(size));
            // A zero anywhere makes 0 elements, however large the other sizes.
            if (size == 0) has_zero = true;
            else if (count > max_count / size) overflow = true;
            else count *= size;
        }
        if (has_zero) count = 0;
        else if (overflow)
            fail("tensor ", quoted, ": shape ", detail::shape_string(info.shape), " has more elements than fit in 64 bits");
        const std::size_t element_size = dtype_size(info.dtype);
        if (count > std::numeric_limits<std::uint64_t>::max() / element_size)
            fail("tensor ", quoted, ": shape ", detail::shape_string(info.shape), " of ", dtype_name(info.dtype),
                 " has a byte size above 2^64");
        info.numel = static_cast<std::int64_t>(count);
        const std::uint64_t byte_size = count * element_size;

        const nlohmann::json& offsets = value["data_offsets"];
        if (!offsets.is_array() || offsets.size() != 2)
            fail("tensor ", quoted, ": data_offsets must be an array [begin, end], got a JSON ", offsets.type_name(),
                 offsets.is_array() ? " of " + std::to_string(offsets.size()) + " elements" : std::string());
        info.begin = read_unsigned(offsets[0], name, "data_offsets begin");
        info.end = read_unsigned(offsets[1], name, "data_offsets end");
        if (info.end < info.begin)
            fail("tensor ", quoted, ": data_offsets end ", info.end, " is before begin ", info.begin);
        if (info.end > buffer_size)
            fail("tensor ", quoted, ": data_offsets [", info.begin, ", ", info.end, "] reach past the ",
                 buffer_size, "-byte data buffer");
        if (info.end - info.begin != byte_size)
            fail("tensor ", quoted, ": data_offsets [", info.begin, ", ", info.end, "] hold ", info.end - info.begin,
                 " bytes, but shape ", detail::shape_string(info.shape), " of ", dtype_name(info.dtype), " needs ",
                 byte_size);
        return info;
    }

    // The tensors must tile the data buffer: no overlap, no gap, no trailing bytes.
    void check_coverage(std::uint64_t buffer_size) const {
        std::vector<const TensorInfo*> order;
        order.reserve(tensors_.size());
        for (const auto& entry : tensors_) order.push_back(&entry.second);
        std::sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) {
            return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
        });
        std::uint64_t covered = 0;
        const TensorInfo* previous = nullptr;
        for (const TensorInfo* entry : order) {
            if (entry->begin < covered)
                fail("tensor ", detail::quote(entry->name), " at [", entry->begin, ", ", entry->end,
                     "] overlaps tensor ", detail::quote(previous->name), " at [", previous->begin, ", ",
                     previous->end, "]");
            if (entry->begin > covered)
                fail("the data buffer has a gap: bytes [", covered, ", ", entry->begin,
                     ") belong to no tensor (before tensor ", detail::quote(entry->name), ")");
            covered = entry->end;
            previous = entry;
        }
        if (covered != buffer_size)
            fail(buffer_size - covered, " trailing bytes after the tensor data (bytes [", covered, ", ", buffer_size,
                 ") of the data buffer belong to no tensor)");
    }

    std::vector<std::uint8_t> bytes_;  // the whole file
    std::string source_;
    std::size_t data_start_ = 0;  // 8 + header length
    std::map<std::string, TensorInfo> tensors_;
    std::map<std::string, std::string> metadata_;
};

namespace detail {

// Writes a file atomically: `write` fills "<path>.tmp.<pid>.<n>" (returning
// false on an I/O error), which is then flushed, synced, closed and renamed over
// `path`. On any failure the temporary file is removed and loom::Error thrown.
template <typename WriteFn>
void write_file_atomically(const std::string& path, const char* who, WriteFn&& write) {
    static std::atomic<unsigned> counter{0};
#if defined(_WIN32)
    const long pid = static_cast<long>(_getpid());
#else
    const long pid = static_cast<long>(::getpid());
#endif
    const std::string temporary = path + ".tmp." + std::to_string(pid) + "." + std::to_string(counter++);
    std::FILE* out = std::fopen(temporary.c_str(), "wb");
    if (out == nullptr) {
        const int error = errno;
        loom::detail::fail(who, ": cannot create '", temporary, "' to write '", path, "': ", std::strerror(error));
    }
    auto discard = [&](const std::string& problem) {
        std::error_code ignored;
        std::filesystem::remove(temporary, ignored);
        loom::detail::fail(who, ": ", problem);
    };
    bool ok = false;
    try {
        ok = write(out);
    } catch (...) {
        std::fclose(out);
        std::error_code ignored;
        std::filesystem::remove(temporary, ignored);
        throw;
    }
    int error = ok ? 0 : errno;
    if (ok && std::fflush(out) != 0) {
        ok = false;
        error = errno;
    }
#if !defined(_WIN32)
    if (ok && ::fsync(::fileno(out)) != 0) {
        ok = false;
        error = errno;
    }
#endif
    if (std::fclose(out) != 0 && ok) {
        ok = false;
        error = errno;
    }
    if (!ok) discard("error while writing '" + temporary + "' (for '" + path + "'): " + std::strerror(error));
    std::error_code rename_error;
    // std::filesystem::rename replaces an existing file in one step (POSIX rename(2)).
    std::filesystem::rename(temporary, path, rename_error);
    if (rename_error) discard("cannot rename '" + temporary + "' to '" + path + "': " + rename_error.message());
}

}  // namespace detail

// Collects named tensors and metadata, then writes them as one safetensors file.
// Tensors are copied when added, so later changes to them are not saved.
class Writer {
public:
    // A float or double tensor, stored as F32 or F64.
    template <typename T>
    Writer& add(const std::string& name, const Tensor<T>& tensor) {
        static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "Writer::add: T must be float or double");
        loom::detail::check(tensor.defined(), "loom::safetensors::Writer::add: tensor ", detail::quote(name),
                            " is undefined");
        const std::vector<index_t> shape = tensor.shape().to_vector();
        std::vector<std::uint8_t> bytes(static_cast<std::size_t>(tensor.numel()) * sizeof(T));
        const T* in = tensor.data();
        for (index_t i = 0; i < tensor.numel(); ++i) {
            if constexpr (std::is_same_v<T, float>) {
                std::uint32_t bits;
                std::memcpy(&bits, &in[i], 4);
                detail::store_u32(bytes.data() + 4 * i, bits);
            } else {
                std::uint64_t bits;
                std::memcpy(&bits, &in[i], 8);
                detail::store_u64(bytes.data() + 8 * i, bits);
            }
        }
        return insert(name, dtype_of<T>(), shape, std::move(bytes));
    }

    // int64 values of any shape, stored as I64.
    Writer& add_int64(const std::string& name, const std::vector<std::int64_t>& values,
                      const std::vector<std::int64_t>& shape) {
        const std::uint64_t count = checked_count(name, shape, 8);
        loom::detail::check(count == values.size(), "loom::safetensors::Writer::add_int64: tensor ",
                            detail::quote(name), " has ", values.size(), " values for shape ",
                            detail::shape_string(shape));
        std::vector<std::uint8_t> bytes(values.size() * 8);
        for (std::size_t i = 0; i < values.size(); ++i)
            detail::store_u64(bytes.data() + 8 * i, static_cast<std::uint64_t>(values[i]));
        return insert(name, Dtype::I64, shape, std::move(bytes));
    }
    // A rank-1 list of int64 values.
    Writer& add_int64(const std::string& name, const std::vector<std::int64_t>& values) {
        return add_int64(name, values, {static_cast<std::int64_t>(values.size())});
    }
    Writer& add(const std::string& name, const IndexTensor& tensor) {
        return add_int64(name, tensor.values(), tensor.shape().to_vector());
    }

    // Any dtype, from its little-endian bytes (byte_count = elements · dtype size).
    Writer& add_raw(const std::string& name, Dtype dtype, const std::vector<std::int64_t>& shape, const void* data,
                    std::size_t byte_count) {
        const std::uint64_t count = checked_count(name, shape, dtype_size(dtype));
        loom::detail::check(count * dtype_size(dtype) == byte_count, "loom::safetensors::Writer::add_raw: tensor ",
                            detail::quote(name), " has ", byte_count, " bytes, but shape ",
                            detail::shape_string(shape), " of ", dtype_name(dtype), " needs ",
                            count * dtype_size(dtype));
        const auto* begin = static_cast<const std::uint8_t*>(data);
        return insert(name, dtype, shape, std::vector<std::uint8_t>(begin, begin + byte_count));
    }

    // One metadata entry (replacing an earlier value of the same key), or several.
    Writer& set_metadata(const std::string& key, const std::string& value) {
        metadata_[key] = value;
        return *this;
    }
    Writer& set_metadata(const std::map<std::string, std::string>& entries) {
        for (const auto& entry : entries) metadata_[entry.first] = entry.second;
        return *this;
    }

    bool contains(const std::string& name) const { return entries_.count(name) != 0; }
    std::vector<std::string> names() const {
        std::vector<std::string> result;
        for (const auto& entry : entries_) result.push_back(entry.first);
        return result;
    }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }

    // The whole file in memory.
    std::vector<std::uint8_t> to_bytes() const {
        const std::vector<const Entry*> order = layout();
        const std::string header = header_text(order);
        std::vector<std::uint8_t> bytes(8 + header.size());
        detail::store_u64(bytes.data(), header.size());
        std::memcpy(bytes.data() + 8, header.data(), header.size());
        for (const Entry* entry : order) bytes.insert(bytes.end(), entry->bytes.begin(), entry->bytes.end());
        return bytes;
    }

    // Writes the file atomically (see the top of this file).
    void save(const std::string& path) const {
        const std::vector<const Entry*> order = layout();
        const std::string header = header_text(order);
        detail::write_file_atomically(path, "loom::safetensors::Writer::save", [&](std::FILE* out) {
            std::uint8_t length[8];
            detail::store_u64(length, header.size());
            if (std::fwrite(length, 1, 8, out) != 8) return false;
            if (std::fwrite(header.data(), 1, header.size(), out) != header.size()) return false;
            for (const Entry* entry : order)
                if (!entry->bytes.empty() &&
                    std::fwrite(entry->bytes.data(), 1, entry->bytes.size(), out) != entry->bytes.size())
                    return false;
            return true;
        });
    }

private:
    struct Entry {
        std::string name;
        Dtype dtype;
        std::vector<std::int64_t> shape;
        std::vector<std::uint8_t> bytes;
    };

    static std::uint64_t checked_count(const std::string& name, const std::vector<std::int64_t>& shape,
                                       std::size_t element_size) {
        for (const std::int64_t size : shape)
            if (size < 0)
                loom::detail::fail("loom::safetensors::Writer: tensor ", detail::quote(name), " has shape ",
                                   detail::shape_string(shape), " with a negative size");
        for (const std::int64_t size : shape)
            if (size == 0) return 0;
        std::uint64_t count = 1;
        for (const std::int64_t size : shape) {
            if (count > std::numeric_limits<std::uint64_t>::max() / element_size / static_cast<std::uint64_t>(size))
                loom::detail::fail("loom::safetensors::Writer: tensor ", detail::quote(name), " has shape ",
                                   detail::shape_string(shape), ", too large to store");
            count *= static_cast<std::uint64_t>(size);
        }
        return count;
    }

    Writer& insert(const std::string& name, Dtype dtype, const std::vector<std::int64_t>& shape,
                   std::vector<std::uint8_t> bytes) {
        loom::detail::check(name != "__metadata__",
                            "loom::safetensors::Writer: '__metadata__' is reserved and cannot name a tensor");
        loom::detail::check(entries_.count(name) == 0, "loom::safetensors::Writer: a tensor named ",
                            detail::quote(name), " was already added");
        entries_.emplace(name, Entry{name, dtype, shape, std::move(bytes)});
        return *this;
    }

    // Larger elements first, then by name: with the header padded to 8 bytes,
    // every tensor starts at a multiple of its element size.
    std::vector<const Entry*> layout() const {
        std::vector<const Entry*> order;
        for (const auto& entry : entries_) order.push_back(&entry.second);
        std::stable_sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
            return dtype_size(a->dtype) > dtype_size(b->dtype);
        });
        return order;
    }

    std::string header_text(const std::vector<const Entry*>& order) const {
        nlohmann::json header = nlohmann::json::object();
        std::uint64_t offset = 0;
        for (const Entry* entry : order) {
            const std::uint64_t end = offset + entry->bytes.size();
            header[entry->name] = {{"dtype", dtype_name(entry->dtype)},
                                   {"shape", entry->shape},
                                   {"data_offsets", {offset, end}}};
            offset = end;
        }
        if (!metadata_.empty()) header["__metadata__"] = metadata_;
        std::string text;
        try {
            text = header.dump();
        } catch (const nlohmann::json::exception& error) {
            loom::detail::fail("loom::safetensors::Writer: cannot write the header (names and metadata must be "
                               "valid UTF-8): ",
                               error.what());
        }
        text.append((8 - text.size() % 8) % 8, ' ');
        return text;
    }

    std::map<std::string, Entry> entries_;
    std::map<std::string, std::string> metadata_;
};

}  // namespace loom::safetensors
