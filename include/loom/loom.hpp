// loom/loom.hpp — everything in one include.
//
// The layers, each including only those above it in this list:
//   tensor/    Shape, Storage, Tensor<T>, IndexTensor, Generator, printing, threads
//   io/        safetensors files, word-vector (.vec) files (need only tensor/)
//   autograd/  graph nodes, the backward engine, NoGradGuard, gradcheck
//   ops/       differentiable operations (each with its backward)
//   quant/     inference-only bf16 and int8 weight matrices and their product kernels
//   nn/        Module and layers: Linear, Embedding, LayerNorm, Dropout, Conv1d, RNN/LSTM/GRU (+ cells),
//              MultiheadSelfAttention (+ KeyValueCache), TransformerBlock, ModuleList, losses,
//              state_dict save/load, pretrained word vectors into an Embedding,
//              quantize (bf16/int8 weights for inference) and its checkpoints
//   optim/     SGD, Adam/AdamW, RMSprop, gradient clipping, learning-rate schedules, both by name
//   train/     checkpoints (model + optimizer + random state, for exact resume), the Trainer
//              (evaluation, best/last checkpoints, early stopping, NaN guard, Ctrl-C), its
//              progress line, CSV log and SVG loss plot; skip-gram word vectors (word2vec)
//   decode/    the Decoder interface, greedy, sampling (temperature, top-k, top-p),
//              beam search, streaming text with stop strings, many prompts in one batch
//   data/      UTF-8 text, vocabularies, tokenizers (characters, byte-level BPE, words),
//              mini-batches (needs only tensor/)
// Each header also works on its own.
#pragma once

#include "loom/version.hpp"

#include "loom/tensor/error.hpp"
#include "loom/tensor/index_tensor.hpp"
#include "loom/tensor/parallel.hpp"
#include "loom/tensor/print.hpp"
#include "loom/tensor/random.hpp"
#include "loom/tensor/shape.hpp"
#include "loom/tensor/storage.hpp"
#include "loom/tensor/tensor.hpp"

#include "loom/io/safetensors.hpp"
#include "loom/io/word_vectors.hpp"

#include "loom/autograd/engine.hpp"
#include "loom/autograd/grad_mode.hpp"
#include "loom/autograd/gradcheck.hpp"
#include "loom/autograd/node.hpp"

#include "loom/ops/activation.hpp"
#include "loom/ops/arithmetic.hpp"
#include "loom/ops/attention.hpp"
#include "loom/ops/broadcast.hpp"
#include "loom/ops/concat.hpp"
#include "loom/ops/conv1d.hpp"
#include "loom/ops/cross_entropy.hpp"
#include "loom/ops/crf.hpp"
#include "loom/ops/ctc.hpp"
#include "loom/ops/dropout.hpp"
#include "loom/ops/embedding.hpp"
#include "loom/ops/flip.hpp"
#include "loom/ops/memory_attention.hpp"
#include "loom/ops/gemm.hpp"
#include "loom/ops/layer_norm.hpp"
#include "loom/ops/linear.hpp"
#include "loom/ops/masked_fill.hpp"
#include "loom/ops/matmul.hpp"
#include "loom/ops/pointwise.hpp"
#include "loom/ops/reduce.hpp"
#include "loom/ops/reduction.hpp"
#include "loom/ops/reshape.hpp"
#include "loom/ops/slice.hpp"
#include "loom/ops/softmax.hpp"
#include "loom/ops/transpose.hpp"
#include "loom/ops/unary.hpp"
#include "loom/ops/viterbi.hpp"
#include "loom/ops/packed_gemm.hpp"
#include "loom/ops/recurrent_common.hpp"
#include "loom/ops/lstm.hpp"
#include "loom/ops/gru.hpp"
#include "loom/ops/rnn.hpp"

#include "loom/quant/format.hpp"
#include "loom/quant/bf16.hpp"
#include "loom/quant/quantized_matrix.hpp"
#include "loom/quant/quantized_gemm.hpp"
#include "loom/quant/quantized_linear.hpp"
#include "loom/quant/quantized_recurrent.hpp"
#include "loom/nn/module.hpp"
#include "loom/nn/embedding.hpp"
#include "loom/nn/layer_norm.hpp"
#include "loom/nn/conv1d.hpp"
#include "loom/nn/dropout.hpp"
#include "loom/nn/module_list.hpp"
#include "loom/nn/attention.hpp"
#include "loom/nn/memory_attention.hpp"
#include "loom/nn/transformer.hpp"
#include "loom/nn/linear.hpp"
#include "loom/nn/loss.hpp"
#include "loom/nn/crf.hpp"
#include "loom/nn/recurrent_base.hpp"
#include "loom/nn/lstm.hpp"
#include "loom/nn/gru.hpp"
#include "loom/nn/rnn.hpp"
#include "loom/nn/state_dict.hpp"
#include "loom/nn/quantize.hpp"
#include "loom/nn/quantized_state_dict.hpp"
#include "loom/nn/pretrained_embedding.hpp"
#include "loom/nn/seq2seq.hpp"

#include "loom/optim/optimizer.hpp"
#include "loom/optim/sgd.hpp"
#include "loom/optim/adam.hpp"
#include "loom/optim/rmsprop.hpp"
#include "loom/optim/clip_grad.hpp"
#include "loom/optim/schedule.hpp"
#include "loom/optim/factory.hpp"

#include "loom/train/checkpoint.hpp"
#include "loom/train/csv_log.hpp"
#include "loom/train/interrupt.hpp"
#include "loom/train/progress.hpp"
#include "loom/train/loss_plot.hpp"
#include "loom/train/data_parallel_hooks.hpp"
#include "loom/train/trainer.hpp"
#include "loom/train/skipgram.hpp"

#include "loom/decode/decoder.hpp"
#include "loom/decode/stream.hpp"
#include "loom/decode/generation.hpp"
#include "loom/decode/sample.hpp"
#include "loom/decode/greedy.hpp"
#include "loom/decode/beam_search.hpp"
#include "loom/decode/batched_generation.hpp"
#include "loom/decode/ctc_decode.hpp"
#include "loom/decode/seq2seq_decoder.hpp"

#include "loom/data/utf8.hpp"
#include "loom/data/vocabulary.hpp"
#include "loom/data/seq2seq_batch.hpp"
#include "loom/data/text_dataset.hpp"
#include "loom/data/batcher.hpp"
#include "loom/data/tokenizer.hpp"
#include "loom/data/char_tokenizer.hpp"
#include "loom/data/byte_bpe.hpp"
#include "loom/data/word_tokenizer.hpp"
#include "loom/data/tokenizer_file.hpp"
#include "loom/data/tokenized_corpus.hpp"
#include "loom/data/tag_spans.hpp"
#include "loom/data/masked_lm.hpp"
