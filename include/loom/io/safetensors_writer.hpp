// loom/io/safetensors_writer.hpp — safetensors::Writer: collects named tensors
// and metadata and saves them as one file, atomically (a temporary file that
// is flushed, synced and renamed over the target).
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

#if defined(_WIN32)
#include <process.h>
#else
#include <unistd.h>
#endif

#include <nlohmann/json.hpp>

#include "loom/io/safetensors_format.hpp"
#include "loom/tensor/error.hpp"
#include "loom/tensor/index_tensor.hpp"
#include "loom/tensor/shape.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom::safetensors {

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
