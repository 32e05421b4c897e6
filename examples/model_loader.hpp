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

namespace examples {

struct LoadedModel {
    std::shared_ptr<void> model;  // owns the model the decoder refers to
    std::unique_ptr<loom::Decoder<float>> decoder;
    std::shared_ptr<const loom::Tokenizer> tokenizer;
    std::string description;  // for reports, e.g. "lstm 2x256"
};

// context_keep: char_gpt's re-read length when its context is full (0: half
// the block; see examples/char_gpt_model.hpp). Errors name the file.
LoadedModel load_model(const std::string& path, loom::index_t context_keep = 0);

}  // namespace examples
