// examples/char_gpt.cpp — train a GPT-style character model (nanoGPT's "baby
// GPT") on a text file, then write new text with it.
//
//   char_gpt                                  # 4 layers, 4 heads, 128 dims, block 64, batch 12
//   char_gpt --steps 500 --threads 1
//   char_gpt --help
//
// The defaults are nanoGPT's CPU configuration for shakespeare_char: AdamW
// (lr 1e-3, betas 0.9/0.99, weight decay 0.1 on matrices and embeddings only),
// 100 warmup steps then cosine decay to 1e-4 at step 2000, gradient clipping at
// 1.0, dropout 0, 2000 steps of 12 random 64-character windows.
// bench/char_gpt_reference.py is the same recipe in PyTorch.
//
// Output as examples/char_rnn: a progress line, the validation loss every
// --eval-every steps (the mean over --eval-batches random validation windows,
// the same windows every time), samples, a CSV log, checkpoints (resumable),
// and at the end the final validation loss and --generate sampled characters.
// The training loop is loom::Trainer (include/loom/train/trainer.hpp); the
// model and its key/value-cache decoder are examples/char_gpt_model.hpp.
// Tokens: --tokenizer char (default: one token per character), bpe (byte-level
// BPE with --bpe-vocab tokens, learned from the training part) or word
// (--word-min-count); the tokenizer is saved as <out>/tokenizer.json and in the
// checkpoints. Validation loss is also given in bits per byte, which compares
// models with different tokenizers.
#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <loom/data/batcher.hpp>
#include <loom/data/text_dataset.hpp>
#include <loom/decode/sample.hpp>
#include <loom/nn/loss.hpp>
#include <loom/tensor/parallel.hpp>

#include "char_gpt_model.hpp"
#include "char_example.hpp"
#include "cli.hpp"
#include "training.hpp"

namespace {

using Model = char_gpt::CharGptModel<float>;

struct Options {
    std::string data = "data/tinyshakespeare.txt";
    loom::index_t layers = 4, heads = 4, embedding = 128, block = 64, batch = 12, feedforward = 0;
    double dropout = 0.0, validation_fraction = 0.1;
    bool tie_weights = false;
    std::uint64_t seed = 1337;
    int threads = 0;  // 0: all cores
    loom::index_t eval_batches = 200, sample_every = 500, sample_length = 200, generate = 500, context_keep = 0;
    double temperature = 0.8;
    std::string prompt = "ROMEO:";
    loom::TokenizerSettings tokenizer;
    training::LoopOptions loop;

    Options() {
        loop.out_dir = "char_gpt_out";
        loop.optimizer = "adamw";
        loop.lr = 1e-3;
        loop.beta2 = 0.99;
        loop.weight_decay = 0.1;
        loop.clip = 1.0;
        loop.schedule = "cosine";
        loop.warmup = 100;
        loop.decay_steps = 2000;
        loop.min_lr = 1e-4;
        loop.steps = 2000;
        loop.eval_every = 250;
    }
};

cli::Parser make_parser(Options& o) {
    cli::Parser p("char_gpt", "Train a GPT-style character-level Transformer and sample text from it.");
    p.add("--data", o.data, "training text (UTF-8)");
    p.add("--layers", o.layers, "Transformer blocks");
    p.add("--heads", o.heads, "attention heads per block");
    p.add("--embedding", o.embedding, "model width d (embedding size)");
    p.add("--feedforward", o.feedforward, "MLP hidden size (0: 4 * embedding)");
    p.add("--block", o.block, "context length: characters per training window, and the longest context");
    p.add("--batch", o.batch, "windows per micro-batch");
    p.add("--dropout", o.dropout, "dropout (embeddings, attention weights, residual branches, MLP)");
    p.add("--tie-weights", o.tie_weights, "use the token embedding as the output layer's weight");
    p.add("--seed", o.seed, "seed for initialisation, batching and sampling");
    p.add("--threads", o.threads, "threads (0: all cores)");
    p.add("--validation", o.validation_fraction, "fraction of the text held out (its end)");
    p.add("--eval-batches", o.eval_batches, "random validation windows (x --batch) per evaluation");
    p.add("--sample-every", o.sample_every, "print a text sample every N steps (0: never)");
    p.add("--sample-length", o.sample_length, "characters per intermediate sample");
    p.add("--generate", o.generate, "characters to generate at the end");
    p.add("--temperature", o.temperature, "sampling temperature (0: greedy)");
    p.add("--prompt", o.prompt, "text to start generating from");
    p.add("--context-keep", o.context_keep,
          "generation: characters re-read when the context is full (0: block/2; block: nanoGPT's sliding window)");
    examples::add_tokenizer_options(p, o.tokenizer);
    training::add_loop_options(p, o.loop);
    return p;
}

// Mean cross-entropy (nats/char) over eval_batches random windows of the
// validation text; the windows come from a fixed seed, so every evaluation
// scores the same text and the curve is not noisy from the choice of windows.
double evaluate(Model& model, const std::vector<loom::index_t>& ids, const Options& o) {
    loom::NoGradGuard no_grad;
    model.eval();
    loom::RandomWindowBatcher windows(ids, o.batch, o.block, o.seed ^ 0x5eed);
    double total = 0.0;
    for (loom::index_t k = 0; k < o.eval_batches; ++k) {
        const loom::Batch batch = windows.next();
        total += loom::cross_entropy(model(batch.inputs), batch.targets).item();
    }
    model.train();
    return total / static_cast<double>(o.eval_batches);
}

// Samples `length` characters after the prompt through the key/value-cache decoder.
std::string generate(Model& model, const loom::Tokenizer& tokenizer, const std::vector<loom::index_t>& prompt, loom::index_t length,
                     double temperature, loom::index_t context_keep, loom::Generator& generator) {
    char_gpt::CharGptDecoder<float> decoder(model, context_keep);
    loom::Tensor<float> log_probs = decoder.start(prompt, 1);
    std::vector<loom::index_t> generated;
    for (loom::index_t i = 0; i < length; ++i) {
        const loom::index_t next = loom::sample_last_row(log_probs, temperature, generator);
        generated.push_back(next);
        log_probs = decoder.advance({next});
    }
    model.train();
    return examples::prompt_and_continuation(tokenizer, prompt, generated);
}

int run(const Options& o, examples::DataParallelRun& parallel) {
    parallel.set_threads(o.threads);
    parallel.check_batch(o.batch);
    training::check_loop_options(o.loop);
    if (o.eval_batches < 1) throw loom::Error("--eval-batches must be >= 1, got " + std::to_string(o.eval_batches));

    training::LoopOptions loop = o.loop;
    const examples::Corpus corpus = examples::load_corpus(o.data, o.tokenizer, o.validation_fraction, loop, parallel.rank() == 0);
    const loom::Tokenizer& tokenizer = corpus.tokenizer();
    const loom::TokenizedCorpus& split = corpus.data;

    loom::Generator generator(o.seed);
    char_gpt::Config config;
    config.vocabulary_size = tokenizer.vocab_size();
    config.block_size = o.block;
    config.embedding_dim = o.embedding;
    config.num_heads = o.heads;
    config.num_layers = o.layers;
    config.feedforward_dim = o.feedforward;
    config.dropout = o.dropout;
    config.tie_weights = o.tie_weights;
    Model model(config, generator);
    const std::unique_ptr<loom::Optimizer<float>> optimizer =
        loom::make_optimizer<float>(o.loop, model.optimizer_groups(o.loop.weight_decay));

    std::cout << examples::describe_corpus(corpus) << "\n"
              << "model: gpt " << o.layers << " layers, " << o.heads << " heads, d " << o.embedding << ", block "
              << o.block << (o.tie_weights ? ", tied head" : "") << ", " << model.parameter_count() << " parameters\n"
              << "training: " << o.loop.steps << " steps of " << o.batch << "x" << o.block << " (random windows), "
              << training::describe_optimizer(o.loop) << ", threads " << loom::get_num_threads() << "\n"
              << parallel.describe(o.batch);

    const std::vector<loom::index_t> prompt = examples::usable_prompt(o.prompt, corpus);

    loom::RandomWindowBatcher windows(split.train, o.batch, o.block, generator.next_u64());
    loom::Generator sampler(o.seed + 1);

    loom::TrainingTask<float> task;
    task.tokens_per_batch = o.batch / parallel.processes() * o.block;  // this process's rows
    task.metadata = char_gpt::model_metadata(config, tokenizer);
    task.compute_loss = [&] {
        const loom::Batch batch = parallel.shard(windows.next());  // every process draws the same windows
        return loom::cross_entropy(model(batch.inputs), batch.targets);
    };
    task.evaluate = [&] { return evaluate(model, split.validation, o); };
    loom::Trainer<float>* trainer_pointer = nullptr;
    task.after_step = [&](std::int64_t step) {
        if (parallel.rank() == 0 && o.sample_every > 0 && step % o.sample_every == 0 && step != o.loop.steps)
            trainer_pointer->message(
                "---- sample at step " + std::to_string(step) + " ----\n" +
                generate(model, tokenizer, prompt, o.sample_length, o.temperature, o.context_keep, sampler) + "\n----");
    };
    task.save_state = [&](loom::CheckpointWriter<float>& writer) {
        writer.set("rng.windows", windows.generator().state_string());
        writer.set("rng.sampler", sampler.state_string());
    };
    task.load_state = [&](const loom::Checkpoint<float>& checkpoint) {
        windows.generator().set_state_string(checkpoint.get("rng.windows"));
        sampler.set_state_string(checkpoint.get("rng.sampler"));
    };

    parallel.attach(task, model.parameters());  // rank 0's initial weights everywhere
    loom::Trainer<float> trainer(model, *optimizer, loom::make_schedule(o.loop, o.loop.steps), std::move(task), loop);
    trainer_pointer = &trainer;
    const loom::TrainingEnd end = trainer.fit();
    if (parallel.distributed()) trainer.message(parallel.communication_report(trainer.seconds()));
    return examples::finish(trainer, end, loop, o.generate, o.temperature,
                            [&] { return generate(model, tokenizer, prompt, o.generate, o.temperature, o.context_keep, sampler); });
}

}  // namespace

int main(int argc, char** argv) {
    examples::DataParallelRun parallel(argc, argv);  // under mpirun: one of several processes
    Options options;
    cli::Parser parser = make_parser(options);
    parallel.add_options(parser);
    return examples::run_main("char_gpt", parser, argc, argv, [&] { return run(options, parallel); }, &parallel);
}
