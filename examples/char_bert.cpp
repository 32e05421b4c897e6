// examples/char_bert.cpp — train a BERT-style character model (a bidirectional
// Transformer encoder) to fill in hidden characters, then fill in yours.
//
//   char_bert                        # 4 layers, 4 heads, 128 dims, block 64, 3000 steps of 16 windows
//   char_bert --steps 500 --threads 2 --fill "To be or ___ to be"
//   char_bert --load char_bert_out/last.safetensors --fill "Now is the w_nter of our discontent"
//   char_bert --help
//
// Every training window of --block characters is corrupted by loom::mask_tokens
// (loom/data/masked_lm.hpp): 15% of its positions are selected; of those 80%
// become [MASK], 10% a random character, 10% stay; the loss is the mean
// cross-entropy of the original characters at the selected positions. The
// model is examples/char_bert_model.hpp; the training loop is loom::Trainer
// with the flags, progress line, CSV log and resumable checkpoints of the other
// examples, and char_gpt's recipe (AdamW 1e-3, betas 0.9/0.99, weight decay 0.1
// on matrices, warm-up then cosine decay, clipping at 1).
//
// Validation: --eval-batches windows of the held-out text, each masked the
// same way every time (fixed seeds), so the masked loss (nats per masked
// character) and the masked-token accuracy are comparable across evaluations.
// At the end: a few validation windows with their masked input, the model's
// predictions and the truth, and --fill: every '_' is a hidden character,
// filled most confident first (one pass per blank) and, for comparison, all in
// one pass. --load fills with a saved checkpoint without training. The defaults
// reach about 51% masked-token accuracy (1.66 nats per masked character) in
// about a minute and a half on two cores (docs/attention.md §10).
#include <algorithm>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <loom/data/batcher.hpp>
#include <loom/data/masked_lm.hpp>
#include <loom/data/utf8.hpp>
#include <loom/ops/cross_entropy.hpp>
#include <loom/tensor/parallel.hpp>

#include "char_bert_model.hpp"
#include "char_example.hpp"
#include "cli.hpp"
#include "training.hpp"

namespace {

using Model = char_bert::CharBertModel<float>;

struct Options {
    std::string data = "data/tinyshakespeare.txt";
    loom::index_t layers = 4, heads = 4, embedding = 128, block = 64, batch = 16, feedforward = 0;
    double dropout = 0.0, validation_fraction = 0.1, mask_probability = 0.15;
    std::uint64_t seed = 1337;
    int threads = 0;  // 0: all cores
    loom::index_t eval_batches = 40, examples = 3;
    std::string fill = "To be or ___ to be";
    std::string load;
    training::LoopOptions loop;

    Options() {
        loop.out_dir = "char_bert_out";
        loop.optimizer = "adamw";
        loop.lr = 1e-3;
        loop.beta2 = 0.99;
        loop.weight_decay = 0.1;
        loop.clip = 1.0;
        loop.schedule = "cosine";
        loop.warmup = 100;
        loop.decay_steps = 3000;  // fixed, as char_gpt's: a shorter --steps run stops part-way down the curve
        loop.min_lr = 1e-4;
        loop.steps = 3000;
        loop.eval_every = 500;
    }
};

cli::Parser make_parser(Options& o) {
    cli::Parser p("char_bert", "Train a BERT-style character-level Transformer encoder with the masked-LM objective.");
    p.add("--data", o.data, "training text (UTF-8)");
    p.add("--layers", o.layers, "Transformer blocks");
    p.add("--heads", o.heads, "attention heads per block");
    p.add("--embedding", o.embedding, "model width d (embedding size)");
    p.add("--feedforward", o.feedforward, "MLP hidden size (0: 4 * embedding)");
    p.add("--block", o.block, "characters per window (the longest input)");
    p.add("--batch", o.batch, "windows per micro-batch");
    p.add("--dropout", o.dropout, "dropout (embeddings, attention weights, residual branches, MLP)");
    p.add("--mask-probability", o.mask_probability, "fraction of positions selected for prediction");
    p.add("--seed", o.seed, "seed for initialisation, batching and masking");
    p.add("--threads", o.threads, "threads (0: all cores)");
    p.add("--validation", o.validation_fraction, "fraction of the text held out (its end)");
    p.add("--eval-batches", o.eval_batches, "masked validation windows (x --batch) per evaluation");
    p.add("--examples", o.examples, "validation windows shown at the end with their predictions");
    p.add("--fill", o.fill, "text whose '_' characters the model fills in (\"\": none)");
    p.add("--load", o.load, "fill with this checkpoint instead of training");
    training::add_loop_options(p, o.loop);
    return p;
}

// "⏎" for a line break, so that a window prints on one line.
std::string one_line(const std::string& text) {
    std::string out;
    for (const char c : text) out += c == '\n' ? std::string("\u23ce") : std::string(1, c);
    return out;
}

// A sequence as text, [MASK] shown as '_'.
std::string show(const loom::Tokenizer& tokenizer, const std::vector<loom::index_t>& ids, loom::index_t mask_id) {
    std::string out;
    for (const loom::index_t id : ids) out += id == mask_id ? std::string("_") : tokenizer.decode({id});
    return one_line(out);
}

// The --fill text as ids, '_' as [MASK].
std::vector<loom::index_t> encode_blanks(const loom::Tokenizer& tokenizer, const std::string& text,
                                         loom::index_t mask_id, loom::index_t block) {
    std::vector<loom::index_t> ids;
    const std::vector<char32_t> characters = loom::utf8_decode(text);
    for (std::size_t i = 0; i < characters.size(); ++i) {
        if (characters[i] == U'_') {
            ids.push_back(mask_id);
            continue;
        }
        const std::string character = loom::utf8_encode(characters[i]);
        try {
            const std::vector<loom::index_t> encoded = tokenizer.encode(character);
            ids.insert(ids.end(), encoded.begin(), encoded.end());
        } catch (const loom::Error&) {
            throw loom::Error("--fill: character '" + character + "' at position " + std::to_string(i) +
                              " is not in the model's vocabulary");
        }
    }
    if (ids.empty()) throw loom::Error("--fill: the text is empty");
    if (static_cast<loom::index_t>(ids.size()) > block)
        throw loom::Error("--fill: the text has " + std::to_string(ids.size()) +
                          " characters, more than the model's block size " + std::to_string(block));
    return ids;
}

// "To be or ___ to be" → both fillings, one line each.
std::string describe_fill(Model& model, const loom::Tokenizer& tokenizer, const std::string& text) {
    const loom::index_t mask_id = model.config.mask_id();
    const std::vector<loom::index_t> ids = encode_blanks(tokenizer, text, mask_id, model.config.block_size);
    std::ostringstream out;
    out << "fill:                   " << show(tokenizer, ids, mask_id) << "\n"
        << "  most confident first: " << show(tokenizer, char_bert::fill_masks(model, ids, true), mask_id) << "\n"
        << "  all in one pass:      " << show(tokenizer, char_bert::fill_masks(model, ids, false), mask_id);
    return out.str();
}

// The validation windows and their maskings: the same every time for a seed.
using ValidationSet = std::vector<loom::MaskedLmBatch>;

ValidationSet make_validation_set(const std::vector<loom::index_t>& ids, const Options& o, loom::index_t mask_id,
                                  const loom::MaskedLmOptions& masking) {
    if (static_cast<loom::index_t>(ids.size()) < o.block + 1)
        throw loom::Error("the validation text (" + std::to_string(ids.size()) + " characters) is shorter than a " +
                          "window of --block " + std::to_string(o.block) + " + 1");
    loom::RandomWindowBatcher windows(ids, o.batch, o.block, o.seed ^ 0x5eed);
    loom::Generator masks(o.seed ^ 0x3a5c);
    ValidationSet set;
    for (loom::index_t k = 0; k < o.eval_batches; ++k)
        set.push_back(loom::mask_tokens(windows.next().inputs, mask_id + 1, mask_id, masks, masking));
    return set;
}

char_bert::MaskedLmScore evaluate(Model& model, const ValidationSet& set) {
    char_bert::MaskedLmScore total;
    for (const loom::MaskedLmBatch& batch : set) total.add(char_bert::score(model, batch));
    model.train();
    return total;
}

std::string describe_score(const char_bert::MaskedLmScore& score) {
    std::ostringstream out;
    out << "masked-token accuracy " << std::fixed << std::setprecision(2) << 100.0 * score.accuracy() << "% ("
        << score.correct << " of " << score.count << "), masked loss " << std::setprecision(4) << score.loss()
        << " nats/masked char";
    return out.str();
}

// The first `count` windows of the first validation batch: masked input,
// prediction (the input with the model's argmax at the selected positions), the
// truth, and under the selected positions ^ (right) or x (wrong).
std::string show_examples(Model& model, const loom::Tokenizer& tokenizer, const ValidationSet& set, loom::index_t count) {
    const loom::MaskedLmBatch& batch = set.front();
    loom::Tensor<float> logits;
    char_bert::score(model, batch, &logits);
    model.train();
    const loom::index_t rows = std::min(count, batch.inputs.shape()[0]), length = batch.inputs.shape()[1];
    const loom::index_t mask_id = model.config.mask_id();
    std::ostringstream out;
    out << "---- validation examples (_ = [MASK]; ^ right, x wrong under every position to predict) ----\n";
    for (loom::index_t b = 0; b < rows; ++b) {
        std::vector<loom::index_t> input, predicted, truth;
        std::string marks;
        for (loom::index_t t = 0; t < length; ++t) {
            const loom::index_t at = b * length + t, target = batch.targets[at];
            const bool selected = target != batch.ignore_index;
            const loom::index_t guess = selected ? char_bert::argmax_row(logits, at) : batch.inputs[at];
            input.push_back(batch.inputs[at]);
            predicted.push_back(guess);
            truth.push_back(selected ? target : batch.inputs[at]);
            marks += !selected ? ' ' : guess == target ? '^' : 'x';
        }
        out << "masked:    " << show(tokenizer, input, mask_id) << "\n"
            << "predicted: " << show(tokenizer, predicted, mask_id) << "\n"
            << "truth:     " << show(tokenizer, truth, mask_id) << "\n"
            << "           " << marks << "\n";
    }
    out << "----";
    return out.str();
}

// --load: fill with a saved model, no training.
int fill_from_checkpoint(const Options& o) {
    if (o.fill.empty()) throw loom::Error("--load " + o.load + ": nothing to do without --fill");
    const auto loaded = char_bert::load_char_bert_model<float>(o.load);
    const char_bert::Config& c = loaded.config;
    std::cout << "model: " << o.load << " (bert " << c.num_layers << " layers, " << c.num_heads << " heads, d "
              << c.embedding_dim << ", block " << c.block_size << ", " << loaded.model->parameter_count()
              << " parameters)\n"
              << describe_fill(*loaded.model, *loaded.tokenizer, o.fill) << "\n";
    return 0;
}

int run(const Options& o) {
    if (o.threads > 0) loom::set_num_threads(o.threads);
    if (!o.load.empty()) return fill_from_checkpoint(o);
    training::check_loop_options(o.loop);
    if (o.eval_batches < 1) throw loom::Error("--eval-batches must be >= 1, got " + std::to_string(o.eval_batches));
    if (o.examples < 0) throw loom::Error("--examples must be >= 0, got " + std::to_string(o.examples));
    if (!(o.mask_probability > 0.0 && o.mask_probability <= 1.0)) {
        std::ostringstream message;
        message << "--mask-probability must be in (0, 1], got " << o.mask_probability;
        throw loom::Error(message.str());
    }
    loom::MaskedLmOptions masking;
    masking.mask_probability = o.mask_probability;

    training::LoopOptions loop = o.loop;
    loom::TokenizerSettings characters;  // kind "char": one token per character
    const examples::Corpus corpus = examples::load_corpus(o.data, characters, o.validation_fraction, loop);
    loop.loss_unit = "nats/masked char";
    loop.bytes_per_token = 0.0;  // bits per byte compares language models; a masked-LM loss is another quantity
    const loom::Tokenizer& tokenizer = corpus.tokenizer();
    const loom::TokenizedCorpus& split = corpus.data;

    loom::Generator generator(o.seed);
    char_bert::Config config;
    config.vocabulary_size = tokenizer.vocab_size();
    config.block_size = o.block;
    config.embedding_dim = o.embedding;
    config.num_heads = o.heads;
    config.num_layers = o.layers;
    config.feedforward_dim = o.feedforward;
    config.dropout = o.dropout;
    Model model(config, generator);
    const loom::index_t mask_id = config.mask_id();
    const std::unique_ptr<loom::Optimizer<float>> optimizer =
        loom::make_optimizer<float>(o.loop, model.optimizer_groups(o.loop.weight_decay));
    if (!o.fill.empty()) encode_blanks(tokenizer, o.fill, mask_id, o.block);  // fail now, not after training

    std::cout << examples::describe_corpus(corpus) << ", [MASK] is id " << mask_id << "\n"
              << "model: bert " << o.layers << " layers, " << o.heads << " heads, d " << o.embedding << ", block "
              << o.block << ", bidirectional, " << model.parameter_count() << " parameters\n"
              << "training: " << o.loop.steps << " steps of " << o.batch << "x" << o.block << " (random windows, "
              << 100.0 * o.mask_probability << "% masked: 80% [MASK], 10% random, 10% kept), "
              << training::describe_optimizer(o.loop) << ", threads " << loom::get_num_threads() << "\n";

    const ValidationSet validation = make_validation_set(split.validation, o, mask_id, masking);
    loom::RandomWindowBatcher windows(split.train, o.batch, o.block, generator.next_u64());
    loom::Generator masks(generator.next_u64());

    loom::TrainingTask<float> task;
    task.tokens_per_batch = o.batch * o.block;
    task.metadata = char_bert::model_metadata(config, tokenizer);
    task.compute_loss = [&] {
        const loom::MaskedLmBatch batch = loom::mask_tokens(windows.next().inputs, mask_id + 1, mask_id, masks, masking);
        return loom::cross_entropy(model(batch.inputs), batch.targets, batch.ignore_index);
    };
    // The Trainer reports the loss; the accuracy of the same evaluation is
    // printed after it, from after_step.
    char_bert::MaskedLmScore last_score;
    bool new_score = false;
    task.evaluate = [&] {
        last_score = evaluate(model, validation);
        new_score = true;
        return last_score.loss();
    };
    loom::Trainer<float>* trainer_pointer = nullptr;
    task.after_step = [&](std::int64_t step) {
        if (!new_score) return;
        new_score = false;
        std::string text = "step " + std::to_string(step) + ": " + describe_score(last_score);
        if (!o.fill.empty()) text += "\n" + describe_fill(model, tokenizer, o.fill);
        model.train();
        trainer_pointer->message(text);
    };
    task.save_state = [&](loom::CheckpointWriter<float>& writer) {
        writer.set("rng.windows", windows.generator().state_string());
        writer.set("rng.masks", masks.state_string());
    };
    task.load_state = [&](const loom::Checkpoint<float>& checkpoint) {
        windows.generator().set_state_string(checkpoint.get("rng.windows"));
        masks.set_state_string(checkpoint.get("rng.masks"));
    };

    loom::Trainer<float> trainer(model, *optimizer, loom::make_schedule(o.loop, o.loop.steps), std::move(task), loop);
    trainer_pointer = &trainer;
    const loom::TrainingEnd end = trainer.fit();
    if (end == loom::TrainingEnd::interrupted) return 130;
    if (end == loom::TrainingEnd::nonfinite) return 2;

    // The Trainer's last evaluation (at the end of the run, or where it stopped early).
    trainer.message("final validation: " + describe_score(last_score) + " (" +
                    loom::format_duration(trainer.seconds()) + " training)");
    if (o.examples > 0) std::cout << show_examples(model, tokenizer, validation, o.examples) << "\n";
    if (!o.fill.empty()) std::cout << describe_fill(model, tokenizer, o.fill) << "\n";
    std::cout << "log: " << trainer.log_path() << (loop.plot ? ", plot: " + trainer.plot_path() : std::string())
              << ", checkpoint: " << trainer.last_path() << " (char_bert --load " << trainer.last_path()
              << " --fill \"...\")\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    cli::Parser parser = make_parser(options);
    return examples::run_main("char_bert", parser, argc, argv, [&] { return run(options); });
}
