#include "test_util.hpp"

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <loom/nn/quantize.hpp>
#include <loom/nn/quantized_state_dict.hpp>
#include <loom/quant/quantized_linear.hpp>
#include <loom/quant/quantized_recurrent.hpp>

namespace quant_quantize_test {

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom::WeightFormat;
using loom_test::contains;
using loom_test::error_message;

// Embedding → LSTM|GRU|RNN (2 layers) → Linear: the char models' shape.
template <typename T>
struct TinyModel : loom::Module<T> {
    TinyModel(const std::string& cell, loom::Generator& generator)
        : embedding(11, 8, generator), head(16, 11, generator) {
        this->register_module("encoder", embedding);
        if (cell == "lstm") this->register_module("rnn", *(lstm = std::make_unique<loom::LSTM<T>>(8, 16, 2, generator)));
        if (cell == "gru") this->register_module("rnn", *(gru = std::make_unique<loom::GRU<T>>(8, 16, 2, generator)));
        if (cell == "rnn") this->register_module("rnn", *(rnn = std::make_unique<loom::RNN<T>>(8, 16, 2, generator)));
        this->register_module("decoder", head);
    }
    // Whole sequence: ids [B, L] -> logits [B, L, V].
    Tensor<T> forward(const loom::IndexTensor& ids) {
        const Tensor<T> x = embedding(ids);
        const Tensor<T> h = lstm ? lstm->forward(x).output : gru ? gru->forward(x).output : rnn->forward(x).output;
        return head(h);
    }
    // The same through step(): [B, L, V].
    Tensor<T> forward_by_steps(const loom::IndexTensor& ids) {
        const index_t B = ids.shape()[0], L = ids.shape()[1], V = 11;
        Tensor<T> out = Tensor<T>::empty(Shape{B, L, V});
        loom::LstmState<T> state;
        Tensor<T> h;
        for (index_t t = 0; t < L; ++t) {
            std::vector<index_t> column;
            for (index_t b = 0; b < B; ++b) column.push_back(ids.values()[static_cast<std::size_t>(b * L + t)]);
            const Tensor<T> x = embedding(loom::IndexTensor(column, Shape{B}));
            if (lstm) h = (state = lstm->step(x, state)).h;
            else h = gru ? gru->step(x, h) : rnn->step(x, h);
            const Tensor<T> logits = head(h.share_storage(Shape{B, 16}, B * 16));  // the last layer's row
            for (index_t b = 0; b < B; ++b)
                std::copy(logits.data() + b * V, logits.data() + (b + 1) * V, out.data() + (b * L + t) * V);
        }
        return out;
    }
    loom::Embedding<T> embedding;
    std::unique_ptr<loom::LSTM<T>> lstm;
    std::unique_ptr<loom::GRU<T>> gru;
    std::unique_ptr<loom::RNN<T>> rnn;
    loom::Linear<T> head;
};

loom::IndexTensor some_ids() {
    return loom::IndexTensor({1, 4, 2, 9, 0, 3, 10, 5, 7, 7, 6, 8}, Shape{2, 6});
}

template <typename T>
double max_difference(const Tensor<T>& a, const Tensor<T>& b) {
    REQUIRE(a.shape() == b.shape());
    double largest = 0;
    for (index_t i = 0; i < a.numel(); ++i) largest = std::max(largest, std::fabs(double(a.data()[i]) - double(b.data()[i])));
    return largest;
}

TEMPLATE_TEST_CASE("quantize: LSTM/GRU/RNN models stay close to fp32, sequence and step agree", "[quant]", float, double) {
    using T = TestType;
    loom::NoGradGuard no_grad;
    for (const std::string cell : {"lstm", "gru", "rnn"})
        for (const WeightFormat format : {WeightFormat::bf16, WeightFormat::int8}) {
            loom::Generator g1(3), g2(3);
            TinyModel<T> reference(cell, g1), model(cell, g2);
            const Tensor<T> want = reference.forward(some_ids());
            const std::size_t fp32_bytes = loom::weight_bytes(model);
            loom::quantize(model, format);
            INFO(cell << " " << loom::to_string(format));
            CHECK(loom::quantized_format(model) == format);
            CHECK(model.named_quantized_weights().size() == 6);  // embedding, 2 × (ih, hh), decoder
            CHECK(model.parameters().size() == 5);               // the 4 LSTM biases and the decoder's
            CHECK(!model.embedding.weight.defined());
            // (Tiny layers: the 16-row panels and per-row scales are a large share.)
            CHECK(loom::weight_bytes(model) < fp32_bytes * (format == WeightFormat::int8 ? 0.6 : 0.7));
            const Tensor<T> got = model.forward(some_ids());
            // Logits are O(1); bf16 keeps ~3 digits, int8 ~2.
            CHECK(max_difference(got, want) < (format == WeightFormat::bf16 ? 0.03 : 0.1));
            CHECK(max_difference(model.forward_by_steps(some_ids()), got) == 0.0);
        }
}

TEST_CASE("quantize: attention's in_proj_weight and out_proj, the causal step path", "[quant]") {
    loom::NoGradGuard no_grad;
    loom::Generator g1(5), g2(5), data(6);
    loom::MultiheadSelfAttention<float> reference(16, 4, g1, true), attention(16, 4, g2, true);
    const Tensor<float> x = Tensor<float>::normal(Shape{2, 5, 16}, 0.0f, 1.0f, data);
    loom::quantize(attention, WeightFormat::int8);
    CHECK(attention.named_quantized_weights().size() == 2);
    CHECK(max_difference(attention(x), reference(x)) < 0.05);
    loom::KeyValueCache<float> cache;
    const Tensor<float> first = attention.step(x.share_storage(Shape{1, 16}, 0), cache, 8);
    CHECK(first.shape() == Shape{1, 16});
}

TEST_CASE("quantize: LSTMCell::step and GRUCell::step run the quantized kernels", "[quant]") {
    loom::NoGradGuard no_grad;
    loom::Generator g1(7), g2(7), data(8);
    loom::LSTMCell<float> lstm_reference(8, 16, g1), lstm(8, 16, g2);
    loom::GRUCell<float> gru_reference(8, 16, g1), gru(8, 16, g2);
    const Tensor<float> x = Tensor<float>::normal(Shape{3, 8}, 0.0f, 1.0f, data);
    const Tensor<float> h = Tensor<float>::normal(Shape{3, 16}, 0.0f, 0.5f, data);
    loom::quantize(lstm, WeightFormat::int8);
    loom::quantize(gru, WeightFormat::int8);
    CHECK(lstm.named_quantized_weights().size() == 2);
    // States are O(1); int8 weights keep about two digits.
    CHECK(max_difference(lstm.step(x, {h, h}).h, lstm_reference.step(x, {h, h}).h) < 0.05);
    CHECK(max_difference(gru.step(x, h), gru_reference.step(x, h)) < 0.05);
    CHECK(max_difference(lstm.step(x, {h, h}).h, lstm_reference.step(x, {h, h}).h) > 0.0);  // the int8 path ran
}

TEST_CASE("quantize: fp32 changes nothing; twice, training and empty models are refused", "[quant]") {
    loom::Generator generator(1);
    TinyModel<float> model("lstm", generator);
    const auto before = model.named_parameters().size();
    loom::quantize(model, WeightFormat::fp32);
    CHECK(model.named_parameters().size() == before);
    CHECK(!loom::quantized_format(model));

    loom::quantize(model, WeightFormat::bf16);
    CHECK(contains(error_message([&] { loom::quantize(model, WeightFormat::int8); }),
                   "loom::quantize: the model is already quantized (bf16"));
    // Grad mode on and an input that wants a gradient: the quantized path records nothing, so it says so.
    loom::Linear<float> linear(4, 3, generator);
    loom::quantize(linear, WeightFormat::int8);
    Tensor<float> x = Tensor<float>::ones(Shape{2, 4});
    x.requires_grad_(true);
    CHECK(contains(error_message([&] { linear(x); }), "quantized weights are for inference"));
    loom::LayerNorm<float> norm(4);
    CHECK(contains(error_message([&] { loom::quantize(norm, WeightFormat::int8); }), "no weights that can be quantized"));
}

TEST_CASE("quantize: a non-finite weight is refused and leaves the model unchanged", "[quant]") {
    loom::Generator generator(2);
    TinyModel<float> model("gru", generator);
    model.head.weight.data()[3] = std::nanf("");
    CHECK(contains(error_message([&] { loom::quantize(model, WeightFormat::int8); }), "weight [0, 3]"));
    CHECK(!loom::quantized_format(model));
    CHECK(model.embedding.weight.defined());
}

TEST_CASE("quantized state dict: save, load into a fresh model, identical outputs; bad files", "[quant]") {
    loom::NoGradGuard no_grad;
    const loom_test::TempDir dir("quantized_state_dict");
    for (const WeightFormat format : {WeightFormat::bf16, WeightFormat::int8}) {
        loom::Generator g1(7), g2(99);
        TinyModel<float> model("lstm", g1), fresh("lstm", g2);
        loom::quantize(model, format);
        const std::string path = dir.file(std::string(loom::to_string(format)) + ".safetensors");
        loom::save_quantized_state_dict(path, model);
        const auto file = loom::safetensors::File::load(path);
        CHECK(file.metadata().at("loom.weights") == loom::to_string(format));
        CHECK(file.info("rnn.weight_ih_l0").dtype ==
              (format == WeightFormat::bf16 ? loom::safetensors::Dtype::BF16 : loom::safetensors::Dtype::I8));
        CHECK(file.info("rnn.bias_ih_l0").dtype == loom::safetensors::Dtype::F32);
        CHECK(file.contains("decoder.weight.scale") == (format == WeightFormat::int8));
        loom::load_quantized_state_dict(fresh, file);
        CHECK(loom::quantized_format(fresh) == format);
        CHECK(max_difference(fresh.forward(some_ids()), model.forward(some_ids())) == 0.0);
        CHECK(contains(error_message([&] { loom::load_quantized_state_dict(fresh, file); }), "already quantized"));
    }
    // I8 weights whose scales are missing.
    loom::Generator g(8);
    TinyModel<float> model("rnn", g), fresh("rnn", g);
    loom::quantize(model, WeightFormat::int8);
    loom::safetensors::Writer writer;
    loom::add_quantized_state_dict(writer, model);
    const auto bytes = writer.to_bytes();
    auto file = loom::safetensors::File::parse(bytes);
    // Re-write without one scale tensor.
    loom::safetensors::Writer without;
    for (const std::string& name : file.names()) {
        if (name == "rnn.weight_hh_l1.scale") continue;
        const auto& info = file.info(name);
        without.add_raw(name, info.dtype, info.shape, file.raw_data(name), info.byte_size());
    }
    const auto broken = loom::safetensors::File::parse(without.to_bytes());
    CHECK(contains(error_message([&] { loom::load_quantized_state_dict(fresh, broken); }),
                   "int8 weight 'rnn.weight_hh_l1' in '<memory>' has no scales"));
}

}  // namespace quant_quantize_test
