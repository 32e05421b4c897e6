// examples/model_loader.hpp — any example's model from its checkpoint, behind
// the decoding interface.
//
// load_model() reads the checkpoint's model.kind (char_rnn, char_cnn or
// char_gpt), rebuilds that model with its configuration and weights, and
// returns it as a loom::Decoder<float> with its tokenizer. A program that only
// decodes (examples/generate) then never sees a model class: the models are
// compiled once, in model_loader.cpp, into the examples' library, instead of
// into every program that loads one.
#pragma once

#include <memory>
#include <string>

#include <loom/data/tokenizer.hpp>
#include <loom/decode/decoder.hpp>
#include <loom/nn/module.hpp>
#include <loom/quant/format.hpp>

namespace examples {

struct LoadedModel {
    std::shared_ptr<void> model;  // owns the model the decoder refers to
    std::unique_ptr<loom::Decoder<float>> decoder;
    std::shared_ptr<const loom::Tokenizer> tokenizer;
    loom::Module<float>* module = nullptr;  // the same model, for quantization and saving
    std::string path;                      // the checkpoint it came from
    loom::WeightFormat weights = loom::WeightFormat::fp32;
    std::string description;  // for reports, e.g. "lstm 2x256"
};

// context_keep: char_gpt's re-read length when its context is full (0: half
// the block; see examples/char_gpt_model.hpp). weights: the format to run in —
// an fp32 checkpoint is converted by loom::quantize; a checkpoint written
// quantized (save_converted) loads as it is and asks for its own format (or
// fp32, meaning "as stored"). Errors name the file.
LoadedModel load_model(const std::string& path, loom::index_t context_keep = 0,
                       loom::WeightFormat weights = loom::WeightFormat::fp32);

// Writes the loaded model (quantized or not) as a checkpoint that load_model
// reads back: the original file's metadata (model kind, configuration,
// tokenizer) with the weights in their current format. Atomic.
void save_converted(const LoadedModel& model, const std::string& out_path);

}  // namespace examples
