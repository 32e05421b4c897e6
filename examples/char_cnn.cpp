// examples/char_cnn.cpp — train a WaveNet-style character model (a stack of
// causal dilated convolutions with residual connections) on a text file, then
// write new text with it.
//
//   char_cnn                                   # 4 layers x 128 channels on data/tinyshakespeare.txt
//   char_cnn --layers 8 --kernel 2 --activation gelu --steps 2000
//   char_cnn --help
//
// The model (examples/char_cnn_model.hpp):
//   Embedding(V → C) → L × [h + act(causal Conv1d(C → C, K, dilation 2^(l mod cycle))(h))] → Linear(C → V)
// A convolution carries no state from one batch to the next, so training
// draws --batch independent random windows of --seq characters per step; every
// output position sees at most the receptive field R = 1 + Σ_l (K−1)·d_l
// characters (printed at the start). Loss is cross-entropy in nats per
// character; the default optimizer is Adam (lr 2e-3), which trains this
// unnormalised residual stack more steadily than SGD. Generation steps one character at a time through per-layer ring
// buffers of past inputs (CharCnnDecoder), never recomputing the past.
//
// Output, flags and files are those of char_rnn: a progress line, the
// validation loss every --eval-every steps, a sample every --sample-every
// steps, a CSV log, the vocabulary, checkpoints (--resume), and at the end the
// final validation loss and --generate characters sampled from --prompt. The
// loop itself is loom::Trainer (include/loom/train/trainer.hpp).
// Tokens: --tokenizer char (default: one token per character), bpe (byte-level
// BPE with --bpe-vocab tokens, learned from the training part) or word
// (--word-min-count); the tokenizer is saved as <out>/tokenizer.json and in the
// checkpoints. Validation loss is also given in bits per byte, which compares
// models with different tokenizers.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <loom/autograd/engine.hpp>
#include <loom/data/batcher.hpp>
#include <loom/data/text_dataset.hpp>
#include <loom/decode/sample.hpp>
#include <loom/nn/loss.hpp>
#include <loom/tensor/parallel.hpp>

#include "char_cnn_model.hpp"
#include "char_example.hpp"
#include "cli.hpp"
#include "training.hpp"

namespace {

using Model = char_cnn::CharCnnModel<float>;

struct Options {
    std::string data = "data/tinyshakespeare.txt";
    loom::index_t channels = 128, layers = 4, kernel = 3, dilation_cycle = 4, seq = 64, batch = 32;
    std::string activation = "relu";
    double validation_fraction = 0.1;
    std::uint64_t seed = 1234;
    int threads = 0;  // 0: all cores
    loom::index_t eval_batches = 0, sample_every = 500, sample_length = 200;
    loom::index_t generate = 500;
    double temperature = 0.8;
    std::string prompt = "ROMEO:";
    loom::TokenizerSettings tokenizer;
    training::LoopOptions loop;

    Options() {
        loop.out_dir = "char_cnn_out";
        loop.steps = 1000;
        loop.optimizer = "adam";
    }
};

cli::Parser make_parser(Options& o) {
    cli::Parser p("char_cnn", "Train a WaveNet-style causal convolution character model and sample text from it.");
    p.add("--data", o.data, "training text (UTF-8)");
    p.add("--channels", o.channels, "channels C (embedding size and width of every layer)");
    p.add("--layers", o.layers, "causal convolution layers L");
    p.add("--kernel", o.kernel, "kernel size K");
    p.add("--dilation-cycle", o.dilation_cycle, "dilations 1, 2, ..., 2^(cycle-1), repeated");
    p.add("--activation", o.activation, "relu or gelu");
    p.add("--seq", o.seq, "characters per training window T");
    p.add("--batch", o.batch, "windows per micro-batch B");
    p.add("--seed", o.seed, "seed for initialisation, batching and sampling");
    p.add("--threads", o.threads, "threads (0: all cores)");
    p.add("--validation", o.validation_fraction, "fraction of the text held out (its end)");
    p.add("--eval-batches", o.eval_batches, "validation batches per evaluation (0: the whole split)");
    p.add("--sample-every", o.sample_every, "print a text sample every N steps (0: never)");
    p.add("--sample-length", o.sample_length, "characters per intermediate sample");
    p.add("--generate", o.generate, "characters to generate at the end");
    p.add("--temperature", o.temperature, "sampling temperature (0: greedy)");
    p.add("--prompt", o.prompt, "text to start generating from");
    examples::add_tokenizer_options(p, o.tokenizer);
    training::add_loop_options(p, o.loop);
    return p;
}

// Mean cross-entropy (nats/char) over consecutive validation windows of --seq
// characters, each read on its own as in training.
double evaluate(Model& model, const std::vector<loom::index_t>& ids, const Options& o) {
    loom::NoGradGuard no_grad;
    model.eval();
    loom::StreamBatcher batcher(ids, o.batch, o.seq);
    const loom::index_t batches =
        o.eval_batches > 0 ? std::min(o.eval_batches, batcher.batches_per_epoch()) : batcher.batches_per_epoch();
    double total = 0.0;
    for (loom::index_t k = 0; k < batches; ++k) {
        const loom::Batch batch = batcher.next();
        total += loom::cross_entropy(model.forward(batch.inputs), batch.targets).item();
    }
    model.train();
    return total / static_cast<double>(batches);
}

// Reads the prompt, then samples `length` characters one at a time through the
// ring-buffer step path.
std::string generate(Model& model, const loom::Tokenizer& tokenizer, const std::vector<loom::index_t>& prompt,
                     loom::index_t length, double temperature, loom::Generator& generator) {
    char_cnn::CharCnnDecoder<float> decoder(model);
    loom::Tensor<float> log_probs = decoder.start(prompt, 1);
    std::vector<loom::index_t> generated;
    for (loom::index_t i = 0; i < length; ++i) {
        // log_softmax only shifts the logits, so sampling from log-probs is sampling from the logits.
        const loom::index_t next = loom::sample_last_row(log_probs, temperature, generator);
        generated.push_back(next);
        log_probs = decoder.advance({next});
    }
    return examples::prompt_and_continuation(tokenizer, prompt, generated);
}

int run(const Options& o) {
    if (o.threads > 0) loom::set_num_threads(o.threads);
    training::check_loop_options(o.loop);

    training::LoopOptions loop = o.loop;
    const examples::Corpus corpus = examples::load_corpus(o.data, o.tokenizer, o.validation_fraction, loop);
    const loom::Tokenizer& tokenizer = corpus.tokenizer();
    const loom::TokenizedCorpus& split = corpus.data;

    loom::Generator generator(o.seed);
    char_cnn::Config config;
    config.vocabulary_size = tokenizer.vocab_size();
    config.channels = o.channels;
    config.num_layers = o.layers;
    config.kernel_size = o.kernel;
    config.dilation_cycle = o.dilation_cycle;
    config.activation = char_cnn::parse_activation(o.activation);
    Model model(config, generator);
    const std::unique_ptr<loom::Optimizer<float>> optimizer = loom::make_optimizer<float>(o.loop, model.parameters());

    std::string dilations;
    for (loom::index_t l = 0; l < config.num_layers; ++l)
        dilations += (l > 0 ? "," : "") + std::to_string(config.dilation(l));
    std::cout << examples::describe_corpus(corpus) << "\n"
              << "model: " << o.layers << " causal conv layers x " << o.channels << " channels, kernel " << o.kernel
              << ", dilations " << dilations << ", " << o.activation << ", receptive field "
              << config.receptive_field() << " characters, " << model.parameter_count() << " parameters\n"
              << "training: " << o.loop.steps << " steps of " << o.batch << "x" << o.seq << " (random windows), "
              << training::describe_optimizer(o.loop) << ", threads " << loom::get_num_threads() << "\n";

    const std::vector<loom::index_t> prompt = examples::usable_prompt(o.prompt, corpus);

    loom::RandomWindowBatcher windows(split.train, o.batch, o.seq, generator.next_u64());
    loom::Generator sampler(o.seed + 1);

    loom::TrainingTask<float> task;
    task.tokens_per_batch = o.batch * o.seq;
    task.metadata = char_cnn::model_metadata(config, tokenizer);
    task.compute_loss = [&] {
        const loom::Batch batch = windows.next();
        return loom::cross_entropy(model.forward(batch.inputs), batch.targets);
    };
    task.evaluate = [&] { return evaluate(model, split.validation, o); };
    loom::Trainer<float>* trainer_pointer = nullptr;
    task.after_step = [&](std::int64_t step) {
        if (o.sample_every > 0 && step % o.sample_every == 0 && step != o.loop.steps)
            trainer_pointer->message("---- sample at step " + std::to_string(step) + " ----\n" +
                                             generate(model, tokenizer, prompt, o.sample_length, o.temperature, sampler) +
                                             "\n----");
    };
    task.save_state = [&](loom::CheckpointWriter<float>& writer) {
        writer.set("rng.windows", windows.generator().state_string());
        writer.set("rng.sampler", sampler.state_string());
    };
    task.load_state = [&](const loom::Checkpoint<float>& checkpoint) {
        windows.generator().set_state_string(checkpoint.get("rng.windows"));
        sampler.set_state_string(checkpoint.get("rng.sampler"));
    };

    loom::Trainer<float> trainer(model, *optimizer, loom::make_schedule(o.loop, o.loop.steps), std::move(task), loop);
    trainer_pointer = &trainer;
    const loom::TrainingEnd end = trainer.fit();
    return examples::finish(trainer, end, loop, o.generate, o.temperature,
                            [&] { return generate(model, tokenizer, prompt, o.generate, o.temperature, sampler); });
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    cli::Parser parser = make_parser(options);
    return examples::run_main("char_cnn", parser, argc, argv, [&] { return run(options); });
}
