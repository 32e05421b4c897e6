#include "test_util.hpp"

// Tests for loom/io/safetensors.hpp:
//   - Writer -> bytes/file -> File round trips of F32, F64 and I64 tensors and
//     metadata, with the byte layout checked (header length, padding to 8,
//     alignment, little-endian data);
//   - F16 and BF16 data built by hand (normals, subnormals, ±0, ±inf, NaN),
//     F32 <-> F64 conversion, and the errors for dtypes that are not converted;
//   - every kind of damaged or hostile file: each must throw loom::Error naming
//     the file and the problem;
//   - save() is atomic: a failed save leaves the old file, and no temporary file.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <loom/io/safetensors.hpp>
// The three parts it bundles, each exercised here: the format's dtypes and
// header rules, the validating reader, the atomic writer.
#include <loom/io/safetensors_format.hpp>
#include <loom/io/safetensors_reader.hpp>
#include <loom/io/safetensors_writer.hpp>

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;
namespace st = loom::safetensors;

namespace io_safetensors_test {  // named, not anonymous: the test files are compiled together in unity batches

using Bytes = std::vector<std::uint8_t>;

// 8-byte little-endian length, the header text, then the data.
Bytes make_file(const std::string& header, const Bytes& data = {}) {
    Bytes bytes(8);
    const std::uint64_t length = header.size();
    for (int i = 0; i < 8; ++i) bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(length >> (8 * i));
    bytes.insert(bytes.end(), header.begin(), header.end());
    bytes.insert(bytes.end(), data.begin(), data.end());
    return bytes;
}

Bytes u16_bytes(const std::vector<std::uint16_t>& values) {
    Bytes bytes;
    for (std::uint16_t v : values) {
        bytes.push_back(static_cast<std::uint8_t>(v & 0xff));
        bytes.push_back(static_cast<std::uint8_t>(v >> 8));
    }
    return bytes;
}

Bytes f32_bytes(const std::vector<float>& values) {
    Bytes bytes;
    for (float v : values) {
        std::uint32_t bits;
        std::memcpy(&bits, &v, 4);
        for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<std::uint8_t>(bits >> (8 * i)));
    }
    return bytes;
}

std::string parse_error(const Bytes& bytes) {
    return error_message([&] { st::File::parse(bytes, "bad.safetensors"); });
}

// The message must name the file and contain `problem`.
void check_rejected(const Bytes& bytes, const std::string& problem) {
    const std::string message = parse_error(bytes);
    INFO("message: " << message);
    CHECK(contains(message, "'bad.safetensors'"));
    CHECK(contains(message, problem));
}

// A header for one F32 tensor "a" with the given fields (JSON text).
std::string one_entry(const std::string& fields) { return "{\"a\": {" + fields + "}}"; }

struct TempDir {
    std::filesystem::path path;
    explicit TempDir(const std::string& name) {
        path = loom_test::unique_temp_path("loom_test_" + name);
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
    std::string file(const std::string& name) const { return (path / name).string(); }
    // Names of the files in the directory.
    std::vector<std::string> entries() const {
        std::vector<std::string> names;
        for (const auto& entry : std::filesystem::directory_iterator(path)) names.push_back(entry.path().filename().string());
        std::sort(names.begin(), names.end());
        return names;
    }
};

Bytes read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST_CASE("safetensors round trip of F32 F64 and I64 tensors with metadata", "[safetensors]") {
    const Tensor<float> weight = loom_test::random_tensor<float>(Shape{3, 5}, 1);
    const Tensor<double> bias = loom_test::random_tensor<double>(Shape{7}, 2);
    const Tensor<float> scalar = Tensor<float>::scalar(-2.5f);
    const Tensor<float> empty = Tensor<float>::zeros(Shape{0, 4});
    const std::vector<std::int64_t> ids = {0, -1, std::numeric_limits<std::int64_t>::max(),
                                           std::numeric_limits<std::int64_t>::min(), 42, 7};

    st::Writer writer;
    writer.add("layer.weight", weight).add("layer.bias", bias).add("scalar", scalar).add("empty", empty);
    writer.add_int64("ids", ids, {2, 3});
    writer.set_metadata("format", "pt").set_metadata({{"step", "12"}, {"note", "ünïcode ✓"}});
    CHECK_THROWS_AS(writer.add("ids", weight), loom::Error);
    CHECK(contains(error_message([&] { writer.add("__metadata__", weight); }), "reserved"));

    const Bytes bytes = writer.to_bytes();
    const st::File file = st::File::parse(bytes, "memory");
    CHECK(file.names() == std::vector<std::string>{"empty", "ids", "layer.bias", "layer.weight", "scalar"});
    CHECK(file.metadata() == std::map<std::string, std::string>{{"format", "pt"}, {"note", "ünïcode ✓"}, {"step", "12"}});

    CHECK(file.info("layer.weight").dtype == st::Dtype::F32);
    CHECK(file.info("layer.bias").dtype == st::Dtype::F64);
    CHECK(file.info("ids").dtype == st::Dtype::I64);
    CHECK(file.info("scalar").shape.empty());
    CHECK(file.info("empty").shape == std::vector<std::int64_t>{0, 4});

    CHECK(file.tensor<float>("layer.weight").to_vector() == weight.to_vector());
    CHECK(file.tensor<float>("layer.weight").shape() == weight.shape());
    CHECK(file.tensor<double>("layer.bias").to_vector() == bias.to_vector());  // bit-exact
    CHECK(file.tensor<float>("scalar").shape() == Shape{});
    CHECK(file.tensor<float>("scalar").item() == -2.5f);
    CHECK(file.tensor<float>("empty").shape() == Shape{0, 4});
    const st::Int64Array read_ids = file.int64("ids");
    CHECK(read_ids.values == ids);
    CHECK(read_ids.shape == std::vector<std::int64_t>{2, 3});
    CHECK(file.index_tensor("ids").shape() == Shape{2, 3});
    CHECK(file.index_tensor("ids").values() == ids);

    // Byte layout: header length padded to 8, tensors aligned to their element
    // size, little-endian data.
    std::uint64_t header_length = 0;
    for (int i = 0; i < 8; ++i) header_length |= static_cast<std::uint64_t>(bytes[static_cast<std::size_t>(i)]) << (8 * i);
    CHECK(header_length % 8 == 0);
    CHECK(bytes[8] == '{');
    for (const std::string& name : file.names())
        CHECK(file.info(name).begin % st::dtype_size(file.info(name).dtype) == 0);
    const st::TensorInfo& w = file.info("layer.weight");
    const Bytes expected = f32_bytes(weight.to_vector());
    CHECK(Bytes(bytes.begin() + static_cast<std::ptrdiff_t>(8 + header_length + w.begin),
                bytes.begin() + static_cast<std::ptrdiff_t>(8 + header_length + w.end)) == expected);
    CHECK(std::memcmp(file.raw_data("layer.weight"), expected.data(), expected.size()) == 0);

    // The same through a file on disk.
    TempDir dir("round_trip");
    const std::string path = dir.file("model.safetensors");
    writer.save(path);
    CHECK(read_bytes(path) == bytes);
    const st::File loaded = st::File::load(path);
    CHECK(loaded.source() == path);
    CHECK(loaded.tensor<double>("layer.bias").to_vector() == bias.to_vector());
    CHECK(loaded.int64("ids").values == ids);
    CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("safetensors writes an empty file and raw tensors of any dtype", "[safetensors]") {
    const Bytes empty = st::Writer().to_bytes();
    CHECK(empty.size() == 16);  // length + "{}" padded to 8
    CHECK(st::File::parse(empty).size() == 0);

    st::Writer writer;
    const std::uint8_t flags[5] = {1, 0, 1, 1, 0};
    writer.add_raw("flags", st::Dtype::BOOL, {5}, flags, 5);
    CHECK(contains(error_message([&] { writer.add_raw("x", st::Dtype::F16, {3}, flags, 5); }), "needs 6"));
    CHECK(contains(error_message([&] { writer.add_raw("x", st::Dtype::U8, {-1}, flags, 5); }), "negative"));
    CHECK(contains(error_message([&] { writer.add_int64("x", {1, 2, 3}, {2, 2}); }), "3 values"));
    CHECK(contains(error_message([&] { writer.add_raw("x", st::Dtype::U8, {1ll << 62, 8}, flags, 5); }),
                   "too large to store"));
    const st::File file = st::File::parse(writer.to_bytes());
    CHECK(std::memcmp(file.raw_data("flags"), flags, 5) == 0);
    // BOOL is listed but not converted.
    const std::string message = error_message([&] { file.tensor<float>("flags"); });
    CHECK(contains(message, "'flags'"));
    CHECK(contains(message, "BOOL"));
    CHECK(contains(error_message([&] { file.int64("flags"); }), "not I64"));
    CHECK(contains(error_message([&] { file.info("missing"); }), "no tensor 'missing'"));
}

TEST_CASE("safetensors reads F16 and BF16 exactly, including subnormals, infinities and NaN", "[safetensors]") {
    const float inf = std::numeric_limits<float>::infinity();
    const std::vector<std::uint16_t> half_bits = {0x3C00, 0xC000, 0x0001, 0x03FF, 0x0400, 0x7BFF, 0x3555,
                                                  0x8000, 0x7C00, 0xFC00, 0x7E00, 0x8001};
    const std::vector<float> half_values = {1.0f, -2.0f, std::ldexp(1.0f, -24), std::ldexp(1023.0f, -24),
                                            std::ldexp(1.0f, -14), 65504.0f, 0.333251953125f, -0.0f, inf, -inf,
                                            0.0f /* NaN */, -std::ldexp(1.0f, -24)};
    const std::vector<std::uint16_t> bf16_bits = {0x3F80, 0xC040, 0x4049, 0x0001, 0x8000, 0x7F80, 0xFF80, 0x7FC0};
    const std::vector<float> bf16_values = {1.0f, -3.0f, 3.140625f, std::ldexp(1.0f, -133), -0.0f, inf, -inf,
                                            0.0f /* NaN */};

    Bytes data = u16_bytes(half_bits);
    const Bytes bf16_data = u16_bytes(bf16_bits);
    data.insert(data.end(), bf16_data.begin(), bf16_data.end());
    const std::string header = "{\"h\": {\"dtype\": \"F16\", \"shape\": [3, 4], \"data_offsets\": [0, 24]}, "
                               "\"b\": {\"dtype\": \"BF16\", \"shape\": [8], \"data_offsets\": [24, 40]}}";
    const st::File file = st::File::parse(make_file(header, data));

    const Tensor<float> h = file.tensor<float>("h");
    const Tensor<double> hd = file.tensor<double>("h");
    REQUIRE(h.shape() == Shape{3, 4});
    for (std::size_t i = 0; i < half_values.size(); ++i) {
        INFO("half " << i);
        const float got = h.data()[i];
        if (i == 10) {
            CHECK(std::isnan(got));
            CHECK(std::isnan(hd.data()[i]));
            continue;
        }
        CHECK(got == half_values[i]);
        CHECK(std::signbit(got) == std::signbit(half_values[i]));
        CHECK(hd.data()[i] == static_cast<double>(half_values[i]));
    }
    const Tensor<float> b = file.tensor<float>("b");
    for (std::size_t i = 0; i < bf16_values.size(); ++i) {
        INFO("bf16 " << i);
        if (i == 7) {
            CHECK(std::isnan(b.data()[i]));
            continue;
        }
        CHECK(b.data()[i] == bf16_values[i]);
        CHECK(std::signbit(b.data()[i]) == std::signbit(bf16_values[i]));
    }
    CHECK(contains(error_message([&] { file.int64("h"); }), "F16, not I64"));
}

TEST_CASE("safetensors converts between F32 and F64", "[safetensors]") {
    st::Writer writer;
    writer.add("d", Tensor<double>::from_vector({0.1, -1e300, 1.0 / 3.0}));
    writer.add("f", Tensor<float>::from_vector({0.1f, -7.0f}));
    writer.add_int64("i", {1, 2});
    const st::File file = st::File::parse(writer.to_bytes(), "conv.safetensors");
    const Tensor<float> d = file.tensor<float>("d");
    CHECK(d.data()[0] == 0.1f);
    CHECK(std::isinf(d.data()[1]));
    CHECK(d.data()[2] == static_cast<float>(1.0 / 3.0));
    const Tensor<double> f = file.tensor<double>("f");
    CHECK(f.data()[0] == static_cast<double>(0.1f));
    CHECK(f.data()[1] == -7.0);
    const std::string message = error_message([&] { file.tensor<double>("i"); });
    CHECK(contains(message, "'conv.safetensors'"));
    CHECK(contains(message, "'i'"));
    CHECK(contains(message, "I64"));
}

TEST_CASE("safetensors rejects files too short for their header", "[safetensors]") {
    check_rejected({}, "0 bytes long");
    check_rejected({1, 2, 3, 4, 5, 6, 7}, "7 bytes long");
    Bytes long_header = make_file("{}");
    long_header[0] = 3;  // one byte more than follows
    check_rejected(long_header, "header length 3 is more than the 2 bytes");
    Bytes huge = make_file("{}");
    huge[7] = 0x80;  // 2^63 + 2
    check_rejected(huge, "above the limit");
    Bytes big = make_file("{}");
    big[3] = 0x10;  // 256 MiB + 2: above 100 MB
    check_rejected(big, "above the limit");
}

TEST_CASE("safetensors rejects headers that are not a JSON object", "[safetensors]") {
    check_rejected(make_file("not json"), "not valid JSON");
    check_rejected(make_file("{\"a\": "), "not valid JSON");
    check_rejected(make_file(""), "not valid JSON");
    check_rejected(make_file("[1, 2]"), "array, not an object");
    check_rejected(make_file("42"), "number, not an object");
    check_rejected(make_file("{} {}"), "not valid JSON");
    check_rejected(make_file(std::string("{\"\xff\": 1}")), "not valid JSON");  // not UTF-8
    check_rejected(make_file(std::string(100000, '[')), "not valid JSON");        // deep, unterminated
    // Padding with spaces is allowed.
    CHECK(st::File::parse(make_file("{}      ")).size() == 0);
}

TEST_CASE("safetensors rejects malformed tensor entries", "[safetensors]") {
    const Bytes four = f32_bytes({1.0f});
    check_rejected(make_file("{\"a\": 5}", four), "'a' is a JSON number, not an object");
    check_rejected(make_file(one_entry("\"shape\": [1], \"data_offsets\": [0, 4]"), four), "no field 'dtype'");
    check_rejected(make_file(one_entry("\"dtype\": \"F32\", \"data_offsets\": [0, 4]"), four), "no field 'shape'");
    check_rejected(make_file(one_entry("\"dtype\": \"F32\", \"shape\": [1]"), four), "no field 'data_offsets'");
    check_rejected(make_file(one_entry("\"dtype\": 5, \"shape\": [1], \"data_offsets\": [0, 4]"), four),
                   "dtype is a JSON number");
    check_rejected(make_file(one_entry("\"dtype\": \"F128\", \"shape\": [1], \"data_offsets\": [0, 4]"), four),
                   "unknown dtype 'F128'");
    check_rejected(make_file(one_entry("\"dtype\": \"f32\", \"shape\": [1], \"data_offsets\": [0, 4]"), four),
                   "unknown dtype 'f32'");
    check_rejected(make_file(one_entry("\"dtype\": \"F32\", \"shape\": \"1\", \"data_offsets\": [0, 4]"), four),
                   "shape is a JSON string");
    check_rejected(make_file(one_entry("\"dtype\": \"F32\", \"shape\": [1.0], \"data_offsets\": [0, 4]"), four),
                   "shape size is a JSON number");
    check_rejected(make_file(one_entry("\"dtype\": \"F32\", \"shape\": [\"1\"], \"data_offsets\": [0, 4]"), four),
                   "shape size is a JSON string");
    check_rejected(make_file(one_entry("\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": \"0,4\""), four),
                   "data_offsets must be an array");
    check_rejected(make_file(one_entry("\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]"), four),
                   "of 1 elements");
    check_rejected(make_file(one_entry("\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]"), four),
                   "of 3 elements");
    check_rejected(make_file(one_entry("\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4.0]"), four),
                   "data_offsets end is a JSON number");
    check_rejected(make_file(one_entry("\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 4]"), four),
                   "data_offsets begin -4 is negative");
    check_rejected(make_file(one_entry("\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4], \"x\": 1"), four),
                   "unexpected field 'x'");
}

TEST_CASE("safetensors rejects negative and overflowing shapes", "[safetensors]") {
    const Bytes four = f32_bytes({1.0f});
    check_rejected(make_file(one_entry("\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]"), four),
                   "shape size -1 is negative");
    check_rejected(
        make_file(one_entry("\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 4]"), four),
        "more elements than fit in 64 bits");
    check_rejected(
        make_file(one_entry("\"dtype\": \"F64\", \"shape\": [4611686018427387904], \"data_offsets\": [0, 4]"), four),
        "byte size above 2^64");
    check_rejected(
        make_file(one_entry("\"dtype\": \"U8\", \"shape\": [18446744073709551615], \"data_offsets\": [0, 4]"), four),
        "is too large");
    check_rejected(
        make_file(one_entry("\"dtype\": \"U8\", \"shape\": [18446744073709551616], \"data_offsets\": [0, 4]"), four),
        "shape size is a JSON number");
    // "-0" is an integer zero.
    CHECK(st::File::parse(make_file(one_entry("\"dtype\": \"F32\", \"shape\": [-0], \"data_offsets\": [0, 0]")))
              .info("a")
              .numel == 0);
    // A zero anywhere makes an empty tensor, however large the other sizes.
    const st::File empty = st::File::parse(
        make_file(one_entry("\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 0], \"data_offsets\": [0, 0]")));
    CHECK(empty.info("a").numel == 0);
    // Rank above loom's 4 is readable as raw data, but not as a loom tensor.
    const st::File rank5 = st::File::parse(
        make_file(one_entry("\"dtype\": \"F32\", \"shape\": [1, 1, 1, 1, 1], \"data_offsets\": [0, 4]"), four),
        "rank5.safetensors");
    CHECK(rank5.info("a").shape.size() == 5);
    const std::string message = error_message([&] { rank5.tensor<float>("a"); });
    CHECK(contains(message, "'rank5.safetensors'"));
    CHECK(contains(message, "rank 5"));
}

TEST_CASE("safetensors rejects data offsets that do not tile the data buffer", "[safetensors]") {
    const Bytes eight = f32_bytes({1.0f, 2.0f});
    const Bytes twelve = f32_bytes({1.0f, 2.0f, 3.0f});
    check_rejected(make_file(one_entry("\"dtype\": \"F32\", \"shape\": [25], \"data_offsets\": [0, 100]"), eight),
                   "reach past the 8-byte data buffer");
    check_rejected(make_file(one_entry("\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]"), eight),
                   "end 0 is before begin 8");
    check_rejected(make_file(one_entry("\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]"), eight),
                   "hold 8 bytes, but shape [3] of F32 needs 12");
    check_rejected(make_file("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
                             "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
                             twelve),
                   "overlaps");
    check_rejected(make_file("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
                             "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}",
                             eight),
                   "overlaps");
    check_rejected(make_file("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
                             "\"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}}",
                             twelve),
                   "gap: bytes [4, 8)");
    check_rejected(make_file(one_entry("\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]"), eight),
                   "gap: bytes [0, 4)");
    check_rejected(make_file(one_entry("\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]"), eight),
                   "4 trailing bytes");
    check_rejected(make_file("{}", eight), "8 trailing bytes");
    // Order in the header does not matter, only the offsets.
    const st::File file =
        st::File::parse(make_file("{\"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}, "
                                  "\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
                                  eight));
    CHECK(file.tensor<float>("b").item() == 2.0f);
}

TEST_CASE("safetensors rejects duplicate names and bad metadata", "[safetensors]") {
    const Bytes eight = f32_bytes({1.0f, 2.0f});
    check_rejected(make_file("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
                             "\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
                             eight),
                   "repeats the key 'a'");
    check_rejected(make_file(one_entry("\"dtype\": \"F32\", \"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]"),
                             eight),
                   "repeats the key 'dtype'");
    check_rejected(make_file("{\"__metadata__\": {\"k\": 1}}"), "value of 'k' is a JSON number, not a string");
    check_rejected(make_file("{\"__metadata__\": {\"k\": null}}"), "not a string");
    check_rejected(make_file("{\"__metadata__\": [\"k\"]}"), "__metadata__ is a JSON array");
    check_rejected(make_file("{\"__metadata__\": {\"k\": \"v\", \"k\": \"w\"}}"), "repeats the key 'k'");
    // A hostile name is shortened and escaped in the message.
    const std::string long_name(5000, 'x');
    const std::string message = parse_error(make_file("{\"" + long_name + "\": 1}"));
    CHECK(message.size() < 400);
    CHECK(contains(message, "(5000 bytes)"));
}

TEST_CASE("safetensors load names the path in its errors", "[safetensors]") {
    TempDir dir("load_errors");
    const std::string path = dir.file("broken.safetensors");
    {
        std::ofstream out(path, std::ios::binary);
        out << "abc";
    }
    const std::string message = error_message([&] { st::File::load(path); });
    CHECK(contains(message, path));
    CHECK(contains(message, "3 bytes long"));
    CHECK(contains(error_message([&] { st::File::load(dir.file("missing.safetensors")); }), "cannot open"));
    CHECK(contains(error_message([&] { st::File::load(dir.path.string()); }), dir.path.string()));
}

TEST_CASE("safetensors save is atomic and leaves no temporary file", "[safetensors]") {
    TempDir dir("atomic");
    const std::string path = dir.file("ckpt.safetensors");
    st::Writer first;
    first.add("x", Tensor<float>::from_vector({1.0f, 2.0f}));
    first.save(path);
    const Bytes old_bytes = read_bytes(path);

    // Replacing works and leaves only the file.
    st::Writer second;
    second.add("x", Tensor<float>::from_vector({3.0f, 4.0f, 5.0f}));
    second.save(path);
    CHECK(st::File::load(path).tensor<float>("x").to_vector() == std::vector<float>{3.0f, 4.0f, 5.0f});
    CHECK(dir.entries() == std::vector<std::string>{"ckpt.safetensors"});
    first.save(path);
    CHECK(read_bytes(path) == old_bytes);

    // A header that cannot be written (a name that is not UTF-8) fails before
    // the old file is touched.
    st::Writer bad_name;
    bad_name.add(std::string("bad\xff"), Tensor<float>::from_vector({9.0f}));
    CHECK(contains(error_message([&] { bad_name.save(path); }), "UTF-8"));
    CHECK(read_bytes(path) == old_bytes);
    CHECK(dir.entries() == std::vector<std::string>{"ckpt.safetensors"});

    // The rename fails (the target is a non-empty directory): the temporary
    // file, fully written, is removed and the directory is left as it was.
    const std::string blocked = dir.file("blocked.safetensors");
    std::filesystem::create_directories(blocked);
    { std::ofstream(blocked + "/keep") << "keep"; }
    const std::string message = error_message([&] { second.save(blocked); });
    CHECK(contains(message, "cannot rename"));
    CHECK(contains(message, blocked));
    CHECK(dir.entries() == std::vector<std::string>{"blocked.safetensors", "ckpt.safetensors"});
    CHECK(std::filesystem::exists(blocked + "/keep"));

    // The temporary file cannot be created (no such directory).
    const std::string nowhere = dir.file("no/such/dir/x.safetensors");
    CHECK(contains(error_message([&] { second.save(nowhere); }), "cannot create"));
    CHECK(read_bytes(path) == old_bytes);
    CHECK(dir.entries() == std::vector<std::string>{"blocked.safetensors", "ckpt.safetensors"});
}

}  // namespace io_safetensors_test
