// examples/seq2seq_model.cpp — compiles the encoder–decoder and its decoding
// for float once (see seq2seq_model.hpp); examples/seq2seq links it.
#define LOOM_EXAMPLES_SEQ2SEQ_MODEL_CPP
#include "seq2seq_model.hpp"

template class loom::Seq2Seq<float>;
template class loom::Seq2SeqDecoder<float>;
template std::vector<loom::Translation> loom::translate_greedy<float>(loom::Seq2Seq<float>&, const loom::IndexTensor&,
                                                                      const std::vector<loom::index_t>&, loom::index_t,
                                                                      loom::index_t, loom::index_t);
template std::vector<loom::Hypothesis> loom::beam_search<float>(loom::Decoder<float>&,
                                                                const std::vector<loom::index_t>&,
                                                                const loom::BeamSearchOptions&);
