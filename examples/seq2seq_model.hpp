// examples/seq2seq_model.hpp — what examples/seq2seq takes from the library's
// encoder–decoder (loom/nn/seq2seq.hpp) and its decoding
// (loom/decode/seq2seq_decoder.hpp, loom/decode/beam_search.hpp).
//
// The float instantiations (the model's forward and backward graph with both
// cells and both attentions, ~30 s at -O3) are compiled once, in
// examples/seq2seq_model.cpp, into a library of its own (loom_examples_seq2seq),
// so the program itself compiles in seconds (the same arrangement as training.hpp).
#pragma once

#include <vector>

#include <loom/data/seq2seq_batch.hpp>
#include <loom/decode/beam_search.hpp>
#include <loom/decode/seq2seq_decoder.hpp>
#include <loom/nn/seq2seq.hpp>

#ifndef LOOM_EXAMPLES_SEQ2SEQ_MODEL_CPP
extern template class loom::Seq2Seq<float>;
extern template class loom::Seq2SeqDecoder<float>;
extern template std::vector<loom::Translation> loom::translate_greedy<float>(
    loom::Seq2Seq<float>&, const loom::IndexTensor&, const std::vector<loom::index_t>&, loom::index_t, loom::index_t,
    loom::index_t);
extern template std::vector<loom::Hypothesis> loom::beam_search<float>(loom::Decoder<float>&,
                                                                       const std::vector<loom::index_t>&,
                                                                       const loom::BeamSearchOptions&);
#endif
