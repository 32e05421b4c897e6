// loom/io/safetensors_reader.hpp — safetensors::File: a safetensors file read
// into memory and validated as a whole before any tensor is handed out (the
// rules are listed at the top of safetensors.hpp).
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

#include "loom/io/safetensors_format.hpp"
#include "loom/tensor/error.hpp"
#include "loom/tensor/index_tensor.hpp"
#include "loom/tensor/shape.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom::safetensors {

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

}  // namespace loom::safetensors
