// examples/model_loader.cpp — load_model() (see model_loader.hpp): the three
// example models and their decoders, compiled once into the examples' library.
#include "model_loader.hpp"

#include <loom/nn/quantize.hpp>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "char_cnn_model.hpp"
#include "char_gpt_model.hpp"
#include "char_model.hpp"

namespace examples {

LoadedModel load_model(const std::string& path, loom::index_t context_keep, loom::WeightFormat weights) {
    const loom::Checkpoint<float> checkpoint = loom::Checkpoint<float>::load(path);
    const std::string kind = checkpoint.get("model.kind");
    const loom::WeightFormat stored = checkpoint.weight_format();
    if (stored != loom::WeightFormat::fp32 && weights != loom::WeightFormat::fp32 && weights != stored)
        throw loom::Error("'" + path + "' holds " + loom::to_string(stored) + " weights; converting them to " +
                          loom::to_string(weights) + " would round twice — convert the fp32 checkpoint instead");
    LoadedModel out;
    out.path = path;
    if (kind == "char_rnn") {
        auto loaded = char_model::load_char_model<float>(path);
        out.description = std::string(char_model::cell_name(loaded.config.cell)) + " " +
                          std::to_string(loaded.config.num_layers) + "x" + std::to_string(loaded.config.hidden_size);
        out.decoder = std::make_unique<char_model::CharDecoder<float>>(*loaded.model);
        out.tokenizer = std::move(loaded.tokenizer);
        out.module = loaded.model.get();
        out.model = std::shared_ptr<char_model::CharModel<float>>(std::move(loaded.model));
    } else if (kind == "char_cnn") {
        auto loaded = char_cnn::load_char_cnn_model<float>(path);
        out.description = "conv " + std::to_string(loaded.config.num_layers) + "x" + std::to_string(loaded.config.channels);
        out.decoder = std::make_unique<char_cnn::CharCnnDecoder<float>>(*loaded.model);
        out.tokenizer = std::move(loaded.tokenizer);
        out.module = loaded.model.get();
        out.model = std::shared_ptr<char_cnn::CharCnnModel<float>>(std::move(loaded.model));
    } else if (kind == "char_gpt") {
        auto loaded = char_gpt::load_char_gpt_model<float>(path);
        out.description = "gpt " + std::to_string(loaded.config.num_layers) + " layers d " +
                          std::to_string(loaded.config.embedding_dim) + " block " +
                          std::to_string(loaded.config.block_size);
        out.decoder = std::make_unique<char_gpt::CharGptDecoder<float>>(*loaded.model, context_keep);
        out.tokenizer = std::move(loaded.tokenizer);
        out.module = loaded.model.get();
        out.model = std::shared_ptr<char_gpt::CharGptModel<float>>(std::move(loaded.model));
    } else {
        throw loom::Error("'" + path + "': metadata 'model.kind' is '" + kind +
                          "', expected char_rnn, char_cnn or char_gpt");
    }
    if (stored == loom::WeightFormat::fp32) loom::quantize(*out.module, weights);
    out.weights = stored == loom::WeightFormat::fp32 ? weights : stored;
#if defined(__GLIBC__)
    // The released fp32 weights (of the fresh model a quantized checkpoint is
    // read into, or of the converted one) lie in the middle of the heap, where
    // glibc keeps freed memory for later; give it back to the system so that
    // the resident size reflects the quantized model.
    if (out.weights != loom::WeightFormat::fp32) malloc_trim(0);
#endif
    if (out.weights != loom::WeightFormat::fp32) out.description += std::string(", ") + loom::to_string(out.weights);
    return out;
}

void save_converted(const LoadedModel& model, const std::string& out_path) {
    const loom::Checkpoint<float> source = loom::Checkpoint<float>::load(model.path);
    loom::CheckpointWriter<float> writer;
    for (const auto& [key, value] : source.file().metadata())
        // Not the optimizer's: its tensors stay behind (this file is for inference).
        if (key != loom::quantized_weights_key && key.rfind("optimizer.", 0) != 0) writer.set(key, value);
    writer.add_model(*model.module);
    writer.save(out_path);
}

}  // namespace examples
