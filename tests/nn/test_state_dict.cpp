#include "test_util.hpp"

// Tests for loom/nn/state_dict.hpp: save_state_dict / load_state_dict round
// trips (values, metadata, parameters stay the same trainable leaves), the
// strict-mode errors (missing, unexpected, shape mismatch, non-float dtype)
// with what their messages name, that a failed load changes nothing, dtype
// conversion between float and double modules, and prefixes.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <loom/io/safetensors.hpp>
#include <loom/nn/embedding.hpp>
#include <loom/nn/linear.hpp>
#include <loom/nn/state_dict.hpp>

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;
namespace st = loom::safetensors;

namespace nn_state_dict_test {  // named, not anonymous: the test files are compiled together in unity batches

// encoder.weight [6, 3], head.weight [out, 3], head.bias [out]
template <typename T>
class Small : public loom::Module<T> {
public:
    Small(std::uint64_t seed, index_t out = 4) : generator(seed), encoder(6, 3, generator), head(3, out, generator) {
        this->register_module("encoder", encoder);
        this->register_module("head", head);
    }
    Tensor<T> forward(const loom::IndexTensor& ids) { return head(encoder(ids)); }

    loom::Generator generator;
    loom::Embedding<T> encoder;
    loom::Linear<T> head;
};

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        path = loom_test::unique_temp_path("loom_state_dict_test");
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
    std::string file(const std::string& name) const { return (path / name).string(); }
};

template <typename T>
bool same_parameters(const loom::Module<T>& a, const loom::Module<T>& b) {
    const auto pa = a.named_parameters(), pb = b.named_parameters();
    if (pa.size() != pb.size()) return false;
    for (std::size_t i = 0; i < pa.size(); ++i)
        if (pa[i].first != pb[i].first || pa[i].second.to_vector() != pb[i].second.to_vector()) return false;
    return true;
}

TEMPLATE_TEST_CASE("save_state_dict and load_state_dict round trip", "[state_dict]", float, double) {
    TempDir dir;
    const std::string path = dir.file("small.safetensors");
    Small<TestType> saved(1), loaded(2);
    REQUIRE_FALSE(same_parameters(saved, loaded));
    loom::save_state_dict(path, saved, {{"model", "small"}, {"step", "3"}});

    const st::File file = st::File::load(path);
    CHECK(file.names() == std::vector<std::string>{"encoder.weight", "head.bias", "head.weight"});
    CHECK(file.info("head.weight").dtype == st::dtype_of<TestType>());
    CHECK(file.metadata() == std::map<std::string, std::string>{{"model", "small"}, {"step", "3"}});

    const Tensor<TestType> weight_before = loaded.head.weight;
    loom::load_state_dict(loaded, path);
    CHECK(same_parameters(saved, loaded));
    // The parameters are the same tensors as before, still trainable leaves.
    CHECK(loaded.head.weight.impl_ptr() == weight_before.impl_ptr());
    for (const auto& named : loaded.named_parameters()) {
        CHECK(named.second.requires_grad());
        CHECK(named.second.is_leaf());
    }
    // And autograd works through them.
    Tensor<TestType> loss = loom::sum(loaded.forward(loom::IndexTensor{0, 5, 2}));
    loss.backward();
    CHECK(loaded.head.bias.grad().defined());
    CHECK(loaded.encoder.weight.grad().defined());
    CHECK(loaded.head.bias.grad().to_vector() == std::vector<TestType>(4, TestType(3)));
}

TEST_CASE("load_state_dict converts F64 to float, F32 to double and reads F16", "[state_dict]") {
    TempDir dir;
    Small<double> wide(1);
    loom::save_state_dict(dir.file("wide.safetensors"), wide);
    Small<float> narrow(2);
    loom::load_state_dict(narrow, dir.file("wide.safetensors"));
    for (const auto& [name, parameter] : wide.named_parameters()) {
        INFO(name);
        const Tensor<float> got = narrow.parameter(name);
        for (index_t i = 0; i < got.numel(); ++i) CHECK(got.data()[i] == static_cast<float>(parameter.data()[i]));
    }
    Small<double> back(3);
    loom::save_state_dict(dir.file("narrow.safetensors"), narrow);
    loom::load_state_dict(back, dir.file("narrow.safetensors"));
    for (const auto& [name, parameter] : narrow.named_parameters()) {
        const Tensor<double> got = back.parameter(name);
        for (index_t i = 0; i < got.numel(); ++i) CHECK(got.data()[i] == static_cast<double>(parameter.data()[i]));
    }

    // F16 for one tensor: 1.0 and -0.5 repeated.
    Small<float> half(4);
    st::Writer half_writer;
    for (const auto& [name, parameter] : narrow.named_parameters()) {
        if (name != "head.bias") {
            half_writer.add(name, parameter);
            continue;
        }
        std::vector<std::uint8_t> bytes;
        for (index_t i = 0; i < parameter.numel(); ++i) {
            const std::uint16_t bits = i % 2 ? 0xB800 : 0x3C00;
            bytes.push_back(static_cast<std::uint8_t>(bits & 0xff));
            bytes.push_back(static_cast<std::uint8_t>(bits >> 8));
        }
        half_writer.add_raw(name, st::Dtype::F16, parameter.shape().to_vector(), bytes.data(), bytes.size());
    }
    loom::load_state_dict(half, st::File::parse(half_writer.to_bytes()));
    CHECK(half.head.bias.to_vector() == std::vector<float>{1.0f, -0.5f, 1.0f, -0.5f});
}

TEST_CASE("load_state_dict reports missing, unexpected and mismatched tensors", "[state_dict]") {
    Small<float> model(1);
    const std::vector<float> before = model.head.weight.to_vector();

    SECTION("a parameter with no tensor") {
        st::Writer writer;
        writer.add("encoder.weight", model.encoder.weight).add("head.weight", model.head.weight);
        const std::string message =
            error_message([&] { loom::load_state_dict(model, st::File::parse(writer.to_bytes(), "ckpt.st")); });
        CHECK(contains(message, "'ckpt.st'"));
        CHECK(contains(message, "no tensor 'head.bias'"));
        CHECK(contains(message, "[4]"));
    }
    SECTION("an extra tensor: an error when strict, ignored otherwise") {
        st::Writer writer;
        loom::add_state_dict(writer, Small<float>(9));
        writer.add("head.extra", Tensor<float>::zeros(Shape{2}));
        writer.add_int64("optimizer.step", {5});
        const st::File file = st::File::parse(writer.to_bytes(), "ckpt.st");
        const std::string message = error_message([&] { loom::load_state_dict(model, file); });
        CHECK(contains(message, "'ckpt.st'"));
        CHECK(contains(message, "'head.extra'"));
        CHECK(contains(message, "'optimizer.step'"));
        CHECK(contains(message, "strict"));
        CHECK(model.head.weight.to_vector() == before);  // nothing was copied
        loom::load_state_dict(model, file, false);
        CHECK(model.head.weight.to_vector() == Small<float>(9).head.weight.to_vector());
    }
    SECTION("a shape that differs") {
        st::Writer writer;
        loom::add_state_dict(writer, Small<float>(9, 5));  // head [5, 3], bias [5]
        const std::string message =
            error_message([&] { loom::load_state_dict(model, st::File::parse(writer.to_bytes(), "ckpt.st")); });
        CHECK(contains(message, "'ckpt.st'"));
        CHECK(contains(message, "'head.weight'"));
        CHECK(contains(message, "has shape [5, 3]"));
        CHECK(contains(message, "expects [4, 3]"));
        // encoder.weight fitted, but a failed load copies nothing.
        CHECK(model.encoder.weight.to_vector() != Small<float>(9, 5).encoder.weight.to_vector());
        CHECK(model.head.weight.to_vector() == before);
    }
    SECTION("a tensor that is not floating point") {
        st::Writer writer;
        writer.add("encoder.weight", model.encoder.weight).add("head.weight", model.head.weight);
        writer.add_int64("head.bias", {1, 2, 3, 4});
        const std::string message =
            error_message([&] { loom::load_state_dict(model, st::File::parse(writer.to_bytes(), "ckpt.st")); });
        CHECK(contains(message, "'ckpt.st'"));
        CHECK(contains(message, "'head.bias'"));
        CHECK(contains(message, "I64"));
    }
    SECTION("a file that does not exist") {
        CHECK(contains(error_message([&] { loom::load_state_dict(model, "/nonexistent/x.safetensors"); }),
                       "/nonexistent/x.safetensors"));
    }
}

TEST_CASE("state dicts under a prefix share a file with other tensors", "[state_dict]") {
    Small<float> model(1), other(2);
    st::Writer writer;
    loom::add_state_dict(writer, model, "model.");
    writer.add("optimizer.exp_avg.0", Tensor<float>::zeros(Shape{6, 3}));
    writer.set_metadata("vocabulary", "abc");
    const st::File file = st::File::parse(writer.to_bytes(), "checkpoint");
    CHECK(file.contains("model.head.bias"));
    loom::load_state_dict(other, file, true, "model.");  // strict only under the prefix
    CHECK(same_parameters(model, other));
    CHECK(contains(error_message([&] { loom::load_state_dict(other, file); }), "no tensor 'encoder.weight'"));
}

}  // namespace nn_state_dict_test
