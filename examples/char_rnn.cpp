// examples/char_rnn.cpp — train a character-level language model (LSTM, GRU or
// vanilla RNN) on a text file, then write new text with it.
//
//   char_rnn                                   # LSTM on data/tinyshakespeare.txt
//   char_rnn --cell gru --hidden 128 --steps 500 --threads 1
//   char_rnn --tokenizer word --embedding-init word2vec_out/vectors.vec --embedding 100
//   char_rnn --help
//
// Training is truncated backpropagation through time: the corpus is cut into
// --batch contiguous streams read --seq characters at a time, and the hidden
// state is carried (detached) from one batch to the next, so the model sees
// context longer than one window (--batching random draws independent windows
// instead). Loss is cross-entropy in nats per character; the optimizer is SGD
// with momentum and gradient-norm clipping.
//
// Output: a progress line (in place on a terminal, plain lines when piped), the
// validation loss every --eval-every steps, a text sample every --sample-every
// steps, a CSV log, the vocabulary, and at the end the final validation loss and
// --generate characters sampled from --prompt.
//
// The loop itself (optimizers, schedules, gradient accumulation, clipping,
// checkpoints every --checkpoint-every steps and on Ctrl-C, --resume,
// keep-best, early stopping, the NaN/Inf guard, loss.svg) is loom::Trainer
// (include/loom/train/trainer.hpp); examples/training_options.hpp maps the
// flags onto it.
//
// Tokens: --tokenizer char (default: one token per character), bpe (byte-level
// BPE with --bpe-vocab tokens, learned from the training part) or word
// (--word-min-count); the tokenizer is saved as <out>/tokenizer.json and in the
// checkpoints. Validation loss is also given in bits per byte, which compares
// models with different tokenizers.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <loom/autograd/engine.hpp>
#include <loom/data/batcher.hpp>
#include <loom/data/text_dataset.hpp>
#include <loom/decode/sample.hpp>
#include <loom/nn/loss.hpp>
#include <loom/tensor/parallel.hpp>

#include "char_model.hpp"
#include "char_example.hpp"
#include "cli.hpp"
#include "training.hpp"

namespace {

using Model = char_model::CharModel<float>;
using State = char_model::State<float>;

struct Options {
    std::string data = "data/tinyshakespeare.txt";
    std::string cell = "lstm";
    loom::index_t hidden = 256, layers = 2, embedding = 64, seq = 64, batch = 32;
    double dropout = 0.0, validation_fraction = 0.1;
    std::uint64_t seed = 1234;
    int threads = 0;  // 0: all cores
    std::string batching = "stream";
    loom::index_t eval_batches = 0, sample_every = 500, sample_length = 200;
    loom::index_t generate = 500;
    double temperature = 0.8;
    std::string prompt = "ROMEO:";
    std::string embedding_init;
    loom::TokenizerSettings tokenizer;
    training::LoopOptions loop;

    Options() {
        loop.out_dir = "char_rnn_out";
        loop.steps = 1000;
    }
};

cli::Parser make_parser(Options& o) {
    cli::Parser p("char_rnn", "Train a character-level RNN/LSTM/GRU language model and sample text from it.");
    p.add("--data", o.data, "training text (UTF-8)");
    p.add("--cell", o.cell, "recurrent cell: lstm, gru or rnn");
    p.add("--hidden", o.hidden, "hidden size H");
    p.add("--layers", o.layers, "stacked recurrent layers");
    p.add("--embedding", o.embedding, "character embedding size");
    p.add("--embedding-init", o.embedding_init, "word models: start the embedding from a .vec file (see word2vec)");
    p.add("--seq", o.seq, "characters per training window T (BPTT length)");
    p.add("--batch", o.batch, "windows per micro-batch B");
    p.add("--dropout", o.dropout, "dropout between recurrent layers");
    p.add("--seed", o.seed, "seed for initialisation, batching and sampling");
    p.add("--threads", o.threads, "threads (0: all cores)");
    p.add("--batching", o.batching, "stream (stateful truncated BPTT) or random (independent windows)");
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

// Mean cross-entropy (nats/char) over validation batches, carrying the state
// through the streams as in training.
double evaluate(Model& model, const std::vector<loom::index_t>& ids, const Options& o) {
    loom::NoGradGuard no_grad;
    model.eval();
    loom::StreamBatcher batcher(ids, o.batch, o.seq);
    const loom::index_t batches =
        o.eval_batches > 0 ? std::min(o.eval_batches, batcher.batches_per_epoch()) : batcher.batches_per_epoch();
    State state;
    double total = 0.0;
    for (loom::index_t k = 0; k < batches; ++k) {
        const loom::Batch batch = batcher.next();
        total += loom::cross_entropy(model.forward(batch.inputs, state), batch.targets).item();
    }
    model.train();
    return total / static_cast<double>(batches);
}

// Feeds the prompt, then samples `length` tokens one at a time.
std::string generate(Model& model, const loom::Tokenizer& tokenizer, const std::vector<loom::index_t>& prompt_ids,
                     loom::index_t length, double temperature, loom::Generator& generator) {
    loom::NoGradGuard no_grad;
    model.eval();
    State state;
    loom::Tensor<float> logits =
        model.forward(loom::IndexTensor(prompt_ids, loom::Shape{1, static_cast<loom::index_t>(prompt_ids.size())}), state);
    std::vector<loom::index_t> generated;
    for (loom::index_t i = 0; i < length; ++i) {
        const loom::index_t next = loom::sample_last_row(logits, temperature, generator);
        generated.push_back(next);
        logits = model.step(loom::IndexTensor({next}), state);
    }
    model.train();
    return examples::prompt_and_continuation(tokenizer, prompt_ids, generated);
}

// What describes the model in its checkpoints: enough to rebuild it.
std::map<std::string, std::string> model_metadata(const char_model::Config& config, const loom::Tokenizer& tokenizer) {
    std::map<std::string, std::string> metadata{{"model.kind", "char_rnn"},
            {"model.cell", char_model::cell_name(config.cell)},
            {"model.vocabulary_size", std::to_string(config.vocabulary_size)},
            {"model.embedding_dim", std::to_string(config.embedding_dim)},
            {"model.hidden_size", std::to_string(config.hidden_size)},
            {"model.num_layers", std::to_string(config.num_layers)},
            {"model.dropout", std::to_string(config.dropout)}};
    metadata.merge(examples::tokenizer_metadata(tokenizer));
    return metadata;
}

int run(const Options& o, examples::DataParallelRun& parallel) {
    parallel.set_threads(o.threads);
    parallel.check_batch(o.batch);
    const bool stream_batching = o.batching == "stream";
    if (!stream_batching && o.batching != "random")
        throw loom::Error("--batching must be stream or random, got '" + o.batching + "'");
    training::check_loop_options(o.loop);

    training::LoopOptions loop = o.loop;
    const examples::Corpus corpus = examples::load_corpus(o.data, o.tokenizer, o.validation_fraction, loop, parallel.rank() == 0);
    const loom::Tokenizer& tokenizer = corpus.tokenizer();
    const loom::TokenizedCorpus& split = corpus.data;

    loom::Generator generator(o.seed);
    char_model::Config config;
    config.vocabulary_size = tokenizer.vocab_size();
    config.embedding_dim = o.embedding;
    config.hidden_size = o.hidden;
    config.num_layers = o.layers;
    config.cell = char_model::parse_cell(o.cell);
    config.dropout = o.dropout;
    Model model(config, generator);
    if (!o.embedding_init.empty()) examples::init_embedding(model.encoder, tokenizer, o.embedding_init);
    const std::unique_ptr<loom::Optimizer<float>> optimizer = loom::make_optimizer<float>(o.loop, model.parameters());

    std::cout << examples::describe_corpus(corpus) << "\n"
              << "model: " << char_model::cell_name(config.cell) << " " << o.layers << "x" << o.hidden
              << ", embedding " << o.embedding << ", " << model.parameter_count() << " parameters\n"
              << "training: " << o.loop.steps << " steps of " << o.batch << "x" << o.seq << " (" << o.batching
              << "), " << training::describe_optimizer(o.loop) << ", threads " << loom::get_num_threads() << "\n"
              << parallel.describe(o.batch);

    const std::vector<loom::index_t> prompt = examples::usable_prompt(o.prompt, corpus);

    loom::StreamBatcher stream(split.train, o.batch, o.seq);
    loom::RandomWindowBatcher windows(split.train, o.batch, o.seq, generator.next_u64());
    loom::Generator sampler(o.seed + 1);
    State state;  // carried from batch to batch in stream batching

    loom::TrainingTask<float> task;
    task.tokens_per_batch = o.batch / parallel.processes() * o.seq;  // this process's rows
    task.metadata = model_metadata(config, tokenizer);
    task.compute_loss = [&] {
        if (stream_batching && stream.batch_in_epoch() == 0) state = State();  // the streams start afresh
        // Every process draws the same batch and keeps its rows (with stream
        // batching, its streams, whose hidden state it carries).
        const loom::Batch batch = parallel.shard(stream_batching ? stream.next() : windows.next());
        if (!stream_batching) state = State();
        state = state.detached();  // truncated BPTT: no gradient into the previous batch
        return loom::cross_entropy(model.forward(batch.inputs, state), batch.targets);
    };
    task.evaluate = [&] { return evaluate(model, split.validation, o); };
    loom::Trainer<float>* trainer_pointer = nullptr;
    task.after_step = [&](std::int64_t step) {
        if (parallel.rank() == 0 && o.sample_every > 0 && step % o.sample_every == 0 && step != o.loop.steps)
            trainer_pointer->message("---- sample at step " + std::to_string(step) + " ----\n" +
                                             generate(model, tokenizer, prompt, o.sample_length, o.temperature, sampler) +
                                             "\n----");
    };
    task.save_state = [&](loom::CheckpointWriter<float>& writer) {
        writer.set("train.stream_epoch", std::to_string(stream.epoch()));
        writer.set("train.stream_batch", std::to_string(stream.batch_in_epoch()));
        writer.set("rng.windows", windows.generator().state_string());
        writer.set("rng.sampler", sampler.state_string());
        if (state.h.defined()) writer.add_tensor("train.state.h", state.h);
        if (state.c.defined()) writer.add_tensor("train.state.c", state.c);
    };
    task.load_state = [&](const loom::Checkpoint<float>& checkpoint) {
        stream.seek(checkpoint.get_int("train.stream_epoch"), checkpoint.get_int("train.stream_batch"));
        windows.generator().set_state_string(checkpoint.get("rng.windows"));
        sampler.set_state_string(checkpoint.get("rng.sampler"));
        state = State();
        // The saved state is rank 0's rows only: under mpirun every process
        // starts its streams' state afresh after a resume.
        if (parallel.distributed()) return;
        if (checkpoint.has_tensor("train.state.h")) state.h = checkpoint.tensor("train.state.h");
        if (checkpoint.has_tensor("train.state.c")) state.c = checkpoint.tensor("train.state.c");
    };

    parallel.attach(task, model.parameters());  // rank 0's initial weights everywhere
    loom::Trainer<float> trainer(model, *optimizer, loom::make_schedule(o.loop, o.loop.steps), std::move(task), loop);
    trainer_pointer = &trainer;
    const loom::TrainingEnd end = trainer.fit();
    if (parallel.distributed()) trainer.message(parallel.communication_report(trainer.seconds()));
    return examples::finish(trainer, end, loop, o.generate, o.temperature,
                            [&] { return generate(model, tokenizer, prompt, o.generate, o.temperature, sampler); });
}

}  // namespace

int main(int argc, char** argv) {
    examples::DataParallelRun parallel(argc, argv);  // under mpirun: one of several processes
    Options options;
    cli::Parser parser = make_parser(options);
    parallel.add_options(parser);
    return examples::run_main("char_rnn", parser, argc, argv, [&] { return run(options, parallel); }, &parallel);
}
