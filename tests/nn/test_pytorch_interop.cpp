#include "test_util.hpp"

// Weights moving between PyTorch and loom through safetensors files, both ways:
//   - PyTorch -> loom: tests/data/interop_char_lstm.safetensors (made by
//     tests/fixtures/make_interop_fixtures.py) holds a PyTorch char model
//     Embedding(11, 8) -> LSTM(8, 16, 2 layers) -> Linear(16, 11) and its
//     logits for a fixed prompt; the same model built from loom layers loads it
//     by name and must give the same logits (1e-5 relative, float and double).
//   - loom -> PyTorch: "loom char LSTM is written for PyTorch" saves a freshly
//     seeded loom model with its logits. ctest runs it (label pytorch) with
//     LOOM_PYTORCH_INTEROP_FILE set and then
//     tests/fixtures/check_loom_safetensors.py on that file, which loads it into
//     the PyTorch model and compares the logits (tests/CMakeLists.txt). Without
//     the variable the file goes to a temporary path and is only checked here.

#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include <loom/io/safetensors.hpp>
#include <loom/nn/embedding.hpp>
#include <loom/nn/linear.hpp>
#include <loom/nn/lstm.hpp>
#include <loom/nn/state_dict.hpp>

#include "fixture_reader.hpp"

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;
namespace st = loom::safetensors;

namespace nn_pytorch_interop_test {  // named, not anonymous: the test files are compiled together in unity batches

// The model of make_interop_fixtures.py / check_loom_safetensors.py, with
// PyTorch's parameter names.
template <typename T>
class CharLstm : public loom::Module<T> {
public:
    explicit CharLstm(loom::Generator& generator)
        : encoder(11, 8, generator), rnn(8, 16, 2, generator), decoder(16, 11, generator) {
        this->register_module("encoder", encoder);
        this->register_module("rnn", rnn);
        this->register_module("decoder", decoder);
    }
    // ids [B, T] -> logits [B, T, 11], from a zero state.
    Tensor<T> forward(const loom::IndexTensor& ids) { return decoder(rnn(encoder(ids)).output); }

    loom::Embedding<T> encoder;
    loom::LSTM<T> rnn;
    loom::Linear<T> decoder;
};

std::string fixture_path() { return std::string(LOOM_TEST_DATA_DIR) + "/interop_char_lstm.safetensors"; }

// The largest |got - want| / max(1, |want|).
template <typename T, typename U>
double max_relative_error(const Tensor<T>& got, const Tensor<U>& want) {
    REQUIRE(got.shape() == want.shape());
    double worst = 0.0;
    for (index_t i = 0; i < got.numel(); ++i) {
        const double w = static_cast<double>(want.data()[i]);
        worst = std::max(worst, std::abs(static_cast<double>(got.data()[i]) - w) / std::max(1.0, std::abs(w)));
    }
    return worst;
}

TEMPLATE_TEST_CASE("PyTorch char LSTM loads from safetensors and gives the same logits", "[interop][safetensors]",
                   float, double) {
    const st::File file = st::File::load(fixture_path());
    loom::Generator generator(7);
    CharLstm<TestType> model(generator);

    // The file holds exactly the model's parameters plus the two test tensors.
    std::set<std::string> expected{"test.prompt_ids", "test.logits"};
    for (const auto& named : model.named_parameters()) expected.insert(named.first);
    const std::vector<std::string> names = file.names();
    CHECK(std::set<std::string>(names.begin(), names.end()) == expected);
    CHECK(file.info("rnn.weight_hh_l1").dtype == st::Dtype::F32);
    CHECK(file.metadata().at("format") == "pt");

    // Strict loading rejects the test tensors; non-strict ignores them.
    CHECK(contains(error_message([&] { loom::load_state_dict(model, file); }), "'test.logits'"));
    loom::load_state_dict(model, file, /*strict=*/false);
    CHECK(model.rnn.parameter("weight_ih_l1").to_vector() ==
          file.tensor<TestType>("rnn.weight_ih_l1").to_vector());

    const loom::IndexTensor prompt = file.index_tensor("test.prompt_ids");
    REQUIRE(prompt.shape() == Shape{2, 7});
    const Tensor<float> want = file.tensor<float>("test.logits");
    REQUIRE(want.shape() == Shape{2, 7, 11});
    loom::NoGradGuard no_grad;
    const Tensor<TestType> logits = model.forward(prompt);
    const double error = max_relative_error(logits, want);
    INFO("max relative error " << error);
    CHECK(error <= 1e-5);
    // Not trivially equal: the logits vary.
    CHECK(std::abs(want.at({0, 0, 0}) - want.at({1, 6, 10})) > 1e-3);
}

TEST_CASE("loom char LSTM is written for PyTorch", "[interop][safetensors]") {
    const char* requested = std::getenv("LOOM_PYTORCH_INTEROP_FILE");
    const bool keep = requested != nullptr && *requested != '\0';
    const std::string path =
        keep ? std::string(requested) : loom_test::unique_temp_path("loom_interop", ".safetensors");

    loom::Generator generator(20241);
    CharLstm<float> model(generator);
    const loom::IndexTensor prompt(std::vector<index_t>{0, 10, 3, 3, 7, 1, 2, 9, 4, 4, 5, 6, 8, 0, 1}, Shape{3, 5});
    Tensor<float> logits;
    {
        loom::NoGradGuard no_grad;
        logits = model.forward(prompt);
    }
    st::Writer writer;
    loom::add_state_dict(writer, model);
    writer.add("test.prompt_ids", prompt);
    writer.add("test.logits", logits);
    writer.set_metadata({{"format", "pt"}, {"source", "tests/nn/test_pytorch_interop.cpp"}});
    writer.save(path);

    // Read back here too: the same model from the file gives the same logits.
    const st::File file = st::File::load(path);
    loom::Generator other_seed(1);
    CharLstm<float> reloaded(other_seed);
    loom::load_state_dict(reloaded, file, false);
    loom::NoGradGuard no_grad;
    CHECK(reloaded.forward(file.index_tensor("test.prompt_ids")).to_vector() == logits.to_vector());
    CHECK(file.tensor<float>("test.logits").to_vector() == logits.to_vector());
    if (!keep) std::filesystem::remove(path);
}

}  // namespace nn_pytorch_interop_test
