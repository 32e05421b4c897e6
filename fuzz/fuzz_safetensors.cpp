// fuzz/fuzz_safetensors.cpp — libFuzzer target for loom/io/safetensors.hpp.
//
// Any input must either be rejected with loom::Error or parse into a File
// whose every tensor can be read without a crash, sanitizer report or any
// other exception. A parsed file is also written back with Writer (raw bytes
// of every tensor plus the metadata) and parsed again: the copy must hold the
// same names, dtypes, shapes, bytes and metadata. Nothing touches the disk.
//
// Build and run: scripts/fuzz.sh [seconds]
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <loom/io/safetensors.hpp>

namespace {

[[noreturn]] void die(const char* what, const std::string& name) {
    std::fprintf(stderr, "fuzz_safetensors: %s (tensor %s)\n", what, name.c_str());
    std::abort();
}

template <typename Fn>
void expect_only_loom_errors(Fn&& fn) {
    try {
        fn();
    } catch (const loom::Error&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace st = loom::safetensors;
    try {
        const st::File file = st::File::parse(data, size, "fuzz-input");

        st::Writer writer;
        writer.set_metadata(file.metadata());
        for (const std::string& name : file.names()) {
            const st::TensorInfo& info = file.info(name);
            if (info.end < info.begin || info.end > size) die("offsets outside the input", name);
            expect_only_loom_errors([&] { (void)file.tensor<float>(name); });
            expect_only_loom_errors([&] { (void)file.tensor<double>(name); });
            expect_only_loom_errors([&] { (void)file.int64(name); });
            expect_only_loom_errors([&] { (void)file.index_tensor(name); });
            writer.add_raw(name, info.dtype, info.shape, file.raw_data(name), static_cast<std::size_t>(info.byte_size()));
        }

        // Names and metadata keys came out of valid JSON, so they are valid
        // UTF-8 and the copy must be writable.
        const st::File copy = st::File::parse(writer.to_bytes(), "fuzz-copy");
        if (copy.names() != file.names()) die("the copy has other names", "");
        if (copy.metadata() != file.metadata()) die("the copy has other metadata", "");
        for (const std::string& name : file.names()) {
            const st::TensorInfo& a = file.info(name);
            const st::TensorInfo& b = copy.info(name);
            if (a.dtype != b.dtype || a.shape != b.shape || a.byte_size() != b.byte_size()) die("the copy differs", name);
            if (a.byte_size() != 0 &&
                std::memcmp(file.raw_data(name), copy.raw_data(name), static_cast<std::size_t>(a.byte_size())) != 0)
                die("the copy has other bytes", name);
        }
    } catch (const loom::Error&) {
        // Rejected with a message: the expected outcome for most inputs.
    }
    return 0;
}
