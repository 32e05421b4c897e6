// examples/seq2seq.cpp — a character-level encoder–decoder that learns to
// normalise dates ("Tuesday, March 3, 1998", "3/4/98", "04.03.1998" →
// ISO 8601) or to write numbers given in words as digits.
//
//   seq2seq                                        # dates, BiLSTM encoder, Bahdanau attention
//   seq2seq --attention none                       # the same without attention, to compare
//   seq2seq --task numbers --cell gru --attention luong --coverage true --beam 5
//   seq2seq --translate - --load out_seq2seq/best.safetensors   # one line in, its translation out
//   seq2seq --help
//
// The tasks are generated from a seed (examples/seq2seq_tasks.hpp); the model
// is loom::Seq2Seq (loom/nn/seq2seq.hpp); training is loom::Trainer with the
// flags, progress line, CSV log, checkpoints and resume of the other examples.
// At the end: held-out exact match (greedy, batched, or beam search with
// --beam > 1) and a few held-out examples with their attention as an ASCII
// heat map (rows: output characters; columns: source characters).
#include <algorithm>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <loom/autograd/grad_mode.hpp>
#include <loom/tensor/parallel.hpp>

#include "cli.hpp"
#include "seq2seq_model.hpp"
#include "seq2seq_tasks.hpp"
#include "training.hpp"

namespace {

using Model = loom::Seq2Seq<float>;
constexpr loom::index_t kBegin = 0, kEnd = 1, kTargetOffset = 2;  // target ids: begin, end, then the characters

struct Options {
    std::string task = "dates", cell = "lstm", attention = "bahdanau";
    bool coverage = false;
    double coverage_weight = 1.0;
    loom::index_t embedding = 32, hidden = 128, layers = 1, batch = 64;
    loom::index_t validation = 1000, show = 3, beam = 1, max_length = 24;
    double length_penalty = 0.0, coverage_penalty = 0.0;
    std::uint64_t seed = 1234;
    int threads = 0;
    std::string translate, load;
    training::LoopOptions loop;
    Options() {
        loop.steps = 3000;
        loop.optimizer = "adam";
        loop.lr = 2e-3;
        loop.eval_every = 500;
        loop.checkpoint_every = 1000;
        loop.out_dir = "out_seq2seq";
        loop.loss_unit = "nats/char";
    }
};

cli::Parser make_parser(Options& o) {
    cli::Parser p("seq2seq", "Train a character-level encoder-decoder with attention on dates in many formats -> ISO 8601, or numbers in words -> digits.");
    p.add("--task", o.task, "dates or numbers");
    p.add("--cell", o.cell, "encoder and decoder cell: lstm or gru");
    p.add("--attention", o.attention, "none, bahdanau (additive) or luong (general)");
    p.add("--coverage", o.coverage, "coverage in the attention scores, and the coverage loss");
    p.add("--coverage-weight", o.coverage_weight, "lambda of the coverage loss");
    p.add("--embedding", o.embedding, "character embedding size (source and target)");
    p.add("--hidden", o.hidden, "hidden size per encoder direction and of the decoder");
    p.add("--layers", o.layers, "bidirectional encoder layers");
    p.add("--batch", o.batch, "pairs per batch");
    p.add("--validation", o.validation, "held-out pairs (dates or numbers never drawn for training)");
    p.add("--show", o.show, "held-out examples to print with their attention heat map");
    p.add("--beam", o.beam, "beam width for the held-out evaluation and --translate (1: greedy)");
    p.add("--length-penalty", o.length_penalty, "beam: GNMT length normalisation alpha");
    p.add("--coverage-penalty", o.coverage_penalty, "beam: GNMT coverage penalty beta");
    p.add("--max-length", o.max_length, "longest output, in characters");
    p.add("--seed", o.seed, "random seed (initialisation, training pairs; the held-out set has its own)");
    p.add("--threads", o.threads, "threads (0: all cores)");
    p.add("--translate", o.translate, "translate the lines of this file (-: stdin) with --load's model, then exit");
    p.add("--load", o.load, "a checkpoint of this program, for --translate");
    training::add_loop_options(p, o.loop);
    return p;
}

// Characters to ids and back, with the task's fixed alphabets.
std::vector<loom::index_t> source_ids(const std::string& text, const std::string& where) {
    loom::detail::check(!text.empty(), "the source ", where, " is empty");
    const std::string& alphabet = seq2seq_tasks::source_alphabet();
    std::vector<loom::index_t> ids;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const std::size_t at = alphabet.find(text[i]);
        loom::detail::check(at != std::string::npos, "character '", std::string(1, text[i]), "' (byte ",
                            static_cast<int>(static_cast<unsigned char>(text[i])), ") at position ", i, " of the source ",
                            where, " is not in the source vocabulary \"", alphabet, "\"");
        ids.push_back(static_cast<loom::index_t>(at));
    }
    return ids;
}
std::vector<loom::index_t> target_ids(const std::string& text) {
    std::vector<loom::index_t> ids;
    for (char c : text) {
        const std::size_t at = seq2seq_tasks::target_alphabet().find(c);
        loom::detail::check(at != std::string::npos, "character '", std::string(1, c), "' of the target '", text,
                            "' is not in the target vocabulary \"", seq2seq_tasks::target_alphabet(), "\"");
        ids.push_back(kTargetOffset + static_cast<loom::index_t>(at));
    }
    return ids;
}
// A model may emit the begin token (nothing forbids it); it is shown as '^',
// which no target contains, so such an output never counts as correct.
std::string target_text(const std::vector<loom::index_t>& ids) {
    std::string text;
    for (loom::index_t id : ids)
        text += id < kTargetOffset ? '^' : seq2seq_tasks::target_alphabet()[static_cast<std::size_t>(id - kTargetOffset)];
    return text;
}

loom::Seq2SeqBatch make_batch(const std::vector<seq2seq_tasks::Pair>& pairs) {
    std::vector<std::vector<loom::index_t>> sources, targets;
    for (const auto& pair : pairs) {
        sources.push_back(source_ids(pair.source, "'" + pair.source + "'"));
        targets.push_back(target_ids(pair.target));
    }
    return loom::make_seq2seq_batch(sources, targets, kBegin, kEnd, kEnd);
}

loom::Seq2SeqConfig model_config(const Options& o) {
    loom::Seq2SeqConfig config;
    config.source_vocabulary = static_cast<loom::index_t>(seq2seq_tasks::source_alphabet().size());
    config.target_vocabulary = kTargetOffset + static_cast<loom::index_t>(seq2seq_tasks::target_alphabet().size());
    config.embedding_dim = o.embedding;
    config.hidden_size = o.hidden;
    config.encoder_layers = o.layers;
    config.cell = loom::parse_seq2seq_cell(o.cell);
    config.attention = loom::parse_seq2seq_attention(o.attention);
    config.coverage = o.coverage;
    config.coverage_loss_weight = o.coverage_weight;
    return config;
}

std::map<std::string, std::string> model_metadata(const Options& o) {
    return {{"model.kind", "seq2seq"},        {"model.task", o.task},
            {"model.cell", o.cell},           {"model.attention", o.attention},
            {"model.coverage", o.coverage ? "1" : "0"}, {"model.embedding_dim", std::to_string(o.embedding)},
            {"model.hidden_size", std::to_string(o.hidden)}, {"model.encoder_layers", std::to_string(o.layers)}};
}

// The attention weights of every step of a hypothesis, read by replaying it
// through a fresh decoder (beam search keeps no per-step weights).
std::vector<std::vector<double>> attention_along(Model& model, const std::vector<loom::index_t>& source,
                                                 const loom::Hypothesis& hypothesis) {
    std::vector<std::vector<double>> rows;
    if (!model.has_attention()) return rows;
    loom::Seq2SeqDecoder<float> replay(model, source);
    replay.start({kBegin}, 1);
    for (std::size_t t = 0;; ++t) {
        const loom::Tensor<float> weights = replay.last_attention();
        rows.emplace_back(weights.data(), weights.data() + weights.numel());
        if (t + 1 >= hypothesis.tokens.size() + (hypothesis.finished ? 1 : 0)) break;
        replay.advance({hypothesis.tokens[t]});
    }
    return rows;
}

// Decodes held-out pairs (or --translate lines): greedy for a whole batch at
// once, beam search one source at a time.
std::vector<loom::Translation> translate(Model& model, const std::vector<std::vector<loom::index_t>>& sources,
                                         const Options& o) {
    if (o.beam <= 1) {
        const auto batch = loom::make_seq2seq_batch(sources, std::vector<std::vector<loom::index_t>>(sources.size()),
                                                    kBegin, kEnd, kEnd);
        return loom::translate_greedy(model, batch.source, batch.source_lengths, kBegin, kEnd, o.max_length);
    }
    loom::BeamSearchOptions options;
    options.beam_width = o.beam;
    options.max_new_tokens = o.max_length;
    options.end_token = kEnd;
    options.length_penalty = o.length_penalty;
    options.coverage_penalty = o.coverage_penalty;
    std::vector<loom::Translation> result;
    for (const auto& source : sources) {
        loom::Seq2SeqDecoder<float> decoder(model, source);
        const loom::Hypothesis best = loom::beam_search(decoder, {kBegin}, options).front();
        result.push_back({best.tokens, best.finished, attention_along(model, source, best)});
    }
    return result;
}

// One character per source position, shaded by its weight for every output character.
void print_heat_map(const seq2seq_tasks::Pair& pair, const loom::Translation& translation) {
    static const std::string shades = " .:-=+*#%@";
    const std::string output = target_text(translation.tokens) + (translation.finished ? "$" : "");
    std::cout << "    " << pair.source << "\n";
    for (std::size_t t = 0; t < translation.attention.size() && t < output.size(); ++t) {
        std::cout << "  " << output[t] << " ";
        for (double weight : translation.attention[t]) {
            const auto shade = static_cast<std::size_t>(std::min(weight, 0.999) * static_cast<double>(shades.size()));
            std::cout << shades[shade];
        }
        std::cout << "\n";
    }
}

struct HeldOut {
    double loss = 0.0, exact_match = 0.0;
    std::vector<loom::Translation> translations;
};

HeldOut evaluate(Model& model, const std::vector<seq2seq_tasks::Pair>& pairs, const Options& o, bool decode) {
    loom::NoGradGuard no_grad;
    model.eval();
    HeldOut result;
    std::size_t correct = 0, tokens = 0;
    for (std::size_t from = 0; from < pairs.size(); from += static_cast<std::size_t>(o.batch)) {
        const std::vector<seq2seq_tasks::Pair> part(pairs.begin() + static_cast<std::ptrdiff_t>(from),
                                                    pairs.begin() + static_cast<std::ptrdiff_t>(std::min(pairs.size(), from + static_cast<std::size_t>(o.batch))));
        const loom::Seq2SeqBatch batch = make_batch(part);
        std::size_t part_tokens = 0;
        for (loom::index_t m : batch.target_lengths) part_tokens += static_cast<std::size_t>(m - 1);
        result.loss += model.loss(batch).cross_entropy.item() * static_cast<double>(part_tokens);
        tokens += part_tokens;
        if (!decode) continue;
        std::vector<std::vector<loom::index_t>> sources;
        for (const auto& pair : part) sources.push_back(source_ids(pair.source, "'" + pair.source + "'"));
        for (loom::Translation& translation : translate(model, sources, o)) {
            const auto& pair = part[result.translations.size() - from];
            correct += translation.finished && target_text(translation.tokens) == pair.target ? 1 : 0;
            result.translations.push_back(std::move(translation));
        }
    }
    model.train();
    result.loss /= static_cast<double>(tokens);
    result.exact_match = static_cast<double>(correct) / static_cast<double>(pairs.size());
    return result;
}

// The penalties shape beam search's scores; greedy decoding has none to apply.
void check_beam_options(const Options& o) {
    loom::detail::check(o.beam > 1 || (o.length_penalty == 0.0 && o.coverage_penalty == 0.0),
                        "--length-penalty and --coverage-penalty apply to beam search: give --beam > 1 (got --beam ",
                        o.beam, ")");
}

int translate_lines(const Options& o) {
    loom::detail::check(!o.load.empty(), "--translate needs --load <checkpoint>");
    loom::detail::check(o.beam >= 1 && o.max_length > 0, "--beam and --max-length must be positive");
    check_beam_options(o);
    const auto checkpoint = loom::Checkpoint<float>::load(o.load);
    loom::detail::check(checkpoint.has("model.kind") && checkpoint.get("model.kind") == "seq2seq", "'", o.load,
                        "' is not a seq2seq checkpoint (its metadata model.kind is '",
                        checkpoint.has("model.kind") ? checkpoint.get("model.kind") : "", "')");
    Options trained = o;
    trained.task = checkpoint.get("model.task");
    trained.cell = checkpoint.get("model.cell");
    trained.attention = checkpoint.get("model.attention");
    trained.coverage = checkpoint.get_int("model.coverage") != 0;
    trained.embedding = checkpoint.get_int("model.embedding_dim");
    trained.hidden = checkpoint.get_int("model.hidden_size");
    trained.layers = checkpoint.get_int("model.encoder_layers");
    loom::Generator generator(0);
    Model model(model_config(trained), generator);
    checkpoint.restore_model(model);
    std::ifstream file;
    if (o.translate != "-") {
        file.open(o.translate);
        loom::detail::check(static_cast<bool>(file), "cannot open --translate file '", o.translate, "'");
    }
    std::istream& in = o.translate == "-" ? std::cin : file;
    std::string line;
    for (std::size_t number = 1; std::getline(in, line); ++number) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto translation = translate(model, {source_ids(line, "on line " + std::to_string(number))}, trained);
        std::cout << target_text(translation[0].tokens) << (translation[0].finished ? "" : " (unfinished)") << std::endl;
    }
    return 0;
}

int run(const Options& o) {
    if (o.threads > 0) loom::set_num_threads(o.threads);
    if (!o.translate.empty()) return translate_lines(o);
    training::check_loop_options(o.loop);
    const seq2seq_tasks::Task task = seq2seq_tasks::parse_task(o.task);
    loom::detail::check(o.batch > 0 && o.validation > 0 && o.max_length > 0 && o.beam >= 1 && o.show >= 0,
                        "--batch, --validation, --max-length and --beam must be positive, --show >= 0");
    check_beam_options(o);
    const std::vector<seq2seq_tasks::Pair> held_out =
        seq2seq_tasks::held_out_pairs(task, static_cast<std::size_t>(o.validation), 20261206);

    loom::Generator generator(o.seed);
    Model model(model_config(o), generator);
    const std::unique_ptr<loom::Optimizer<float>> optimizer = loom::make_optimizer<float>(o.loop, model.parameters());
    loom::Generator pairs(generator.next_u64());
    std::cout << "task: " << o.task << " (e.g. \"" << held_out[0].source << "\" -> \"" << held_out[0].target << "\"), "
              << o.validation << " held out; model: " << o.cell << " encoder-decoder, attention " << o.attention
              << (o.coverage ? " with coverage" : "") << ", " << model.parameter_count() << " parameters, "
              << training::describe_optimizer(o.loop) << "\n";

    loom::TrainingTask<float> job;
    std::size_t target_characters = 0;  // the mean target length (and the end token), for tokens/s
    for (const auto& pair : held_out) target_characters += pair.target.size() + 1;
    job.tokens_per_batch = o.batch * static_cast<loom::index_t>(target_characters / held_out.size());
    job.metadata = model_metadata(o);
    job.compute_loss = [&] {
        std::vector<seq2seq_tasks::Pair> batch;
        for (loom::index_t i = 0; i < o.batch; ++i) batch.push_back(seq2seq_tasks::draw_pair(task, false, pairs));
        return model.loss(make_batch(batch)).total;
    };
    job.evaluate = [&] { return evaluate(model, held_out, o, false).loss; };
    job.save_state = [&](loom::CheckpointWriter<float>& writer) { writer.set("rng.pairs", pairs.state_string()); };
    job.load_state = [&](const loom::Checkpoint<float>& checkpoint) { pairs.set_state_string(checkpoint.get("rng.pairs")); };
    loom::Trainer<float> trainer(model, *optimizer, loom::make_schedule(o.loop, o.loop.steps), std::move(job), o.loop);
    const loom::TrainingEnd end = trainer.fit();
    if (end == loom::TrainingEnd::interrupted) return 130;
    if (end == loom::TrainingEnd::nonfinite) return 2;

    std::ostringstream summary;
    summary << "final validation loss: " << std::setprecision(9) << trainer.final_validation_loss() << " nats/char ("
            << loom::format_duration(trainer.seconds()) << " training)";
    trainer.message(summary.str());
    const HeldOut result = evaluate(model, held_out, o, true);
    std::cout << "held-out exact match: " << std::fixed << std::setprecision(2) << 100.0 * result.exact_match << " % of "
              << held_out.size() << " (" << (o.beam > 1 ? "beam " + std::to_string(o.beam) : std::string("greedy"))
              << "), held-out loss " << std::setprecision(4) << result.loss << " nats/char\n" << std::defaultfloat;
    for (std::size_t i = 0; i < static_cast<std::size_t>(o.show) && i < held_out.size(); ++i) {
        const loom::Translation& translation = result.translations[i];
        std::cout << "---- \"" << held_out[i].source << "\" -> \"" << target_text(translation.tokens) << "\" (expected "
                  << held_out[i].target << ")\n";
        if (!translation.attention.empty()) print_heat_map(held_out[i], translation);
    }
    std::cout << "log: " << trainer.log_path() << ", checkpoint: " << trainer.last_path() << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    cli::Parser parser = make_parser(options);
    try {
        if (!parser.parse(argc, argv)) return 0;  // --help
        return run(options);
    } catch (const std::exception& error) {
        std::cerr << "seq2seq: " << error.what() << "\n";
        return 1;
    }
}
