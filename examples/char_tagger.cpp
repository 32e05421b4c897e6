// examples/char_tagger.cpp — sequence labelling with a BiLSTM, with and
// without a CRF on top: put the spaces and speaker names back into
// Shakespeare with all its white space removed.
//
//   char_tagger                        # trains both taggers, prints span F1 side by side
//   char_tagger --output crf --steps 500 --tag "Tobeornottobe,thatisthequestion."
//   char_tagger --help
//
// The task and its four tags (B/I-SPEAKER, B/I-WORD) come from the corpus's
// layout alone (examples/char_tagger_data.hpp); the model is an embedding, a
// bidirectional LSTM and a linear layer to tag scores, followed by a softmax
// per character or by a linear-chain CRF (examples/char_tagger_model.hpp,
// loom/nn/crf.hpp). Training is loom::Trainer with the flags, progress line,
// CSV log and checkpoints of the other examples (one run in <out>/softmax and
// one in <out>/crf). At the end, on the held-out last part of the corpus: span
// precision, recall and F1 per type (loom/data/tag_spans.hpp) for each
// tagger, and a passage with the predicted layout.
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <loom/autograd/grad_mode.hpp>
#include <loom/data/text_dataset.hpp>
#include <loom/data/vocabulary.hpp>
#include <loom/tensor/parallel.hpp>

#include "char_example.hpp"
#include "char_tagger_data.hpp"
#include "char_tagger_model.hpp"
#include "cli.hpp"
#include "data_path.hpp"
#include "training_options.hpp"

namespace {

using Model = char_tagger::TaggerModel<float>;

struct Options {
    std::string data = "data/tinyshakespeare.txt";
    std::string output = "both";  // softmax, crf or both
    loom::index_t embedding = 32, hidden = 64, layers = 1, block = 100, batch = 32;
    double validation_fraction = 0.1;
    std::uint64_t seed = 1234;
    int threads = 0;
    loom::index_t show = 400;  // characters of held-out text to print with the predicted layout
    std::string tag;           // text to tag after training
    training::LoopOptions loop;
    Options() {
        loop.steps = 600;
        loop.optimizer = "adam";
        loop.lr = 3e-3;
        loop.eval_every = 200;
        loop.checkpoint_every = 0;
        loop.out_dir = "out_tagger";
        loop.loss_unit = "nats/char";
    }
};

cli::Parser make_parser(Options& o) {
    cli::Parser p("char_tagger", "Put the spaces and speaker names back into Shakespeare with its white space removed: a BiLSTM tagger with a softmax or a CRF on top.");
    p.add("--data", o.data, "the play, in tinyshakespeare's layout (speaker line, speech, blank line)");
    p.add("--output", o.output, "softmax, crf, or both (train one after the other and compare)");
    p.add("--embedding", o.embedding, "character embedding size");
    p.add("--hidden", o.hidden, "LSTM hidden size per direction");
    p.add("--layers", o.layers, "bidirectional LSTM layers");
    p.add("--block", o.block, "characters per training window");
    p.add("--batch", o.batch, "windows per batch");
    p.add("--validation-fraction", o.validation_fraction, "held-out share at the end of the text");
    p.add("--seed", o.seed, "random seed");
    p.add("--threads", o.threads, "threads (0: all cores)");
    p.add("--show", o.show, "held-out characters to print with the predicted layout");
    p.add("--tag", o.tag, "a text to tag after training (its white space is removed first)");
    training::add_loop_options(p, o.loop);
    return p;
}

// The text cut into ids and tags, and split into a training and a held-out part.
struct Task {
    loom::Vocabulary vocabulary;
    char_tagger::TaggedText train, validation;
};

Task load_task(const Options& o) {
    const char_tagger::TaggedText all = char_tagger::tag_play(loom::read_file_bytes(examples::resolve_data_path(o.data)));
    const auto split = static_cast<std::ptrdiff_t>(static_cast<double>(all.characters.size()) * (1.0 - o.validation_fraction));
    loom::detail::check(split > o.block && static_cast<loom::index_t>(all.characters.size()) - split >= o.block,
                        "", all.characters.size(), " characters are too few for windows of ", o.block,
                        " on both sides of a ", o.validation_fraction, " validation split");
    Task task{loom::Vocabulary::from_characters(all.characters), {}, {}};
    task.train = {{all.characters.begin(), all.characters.begin() + split}, {all.tags.begin(), all.tags.begin() + split}};
    task.validation = {{all.characters.begin() + split, all.characters.end()}, {all.tags.begin() + split, all.tags.end()}};
    return task;
}

loom::index_t id_of(const loom::Vocabulary& vocabulary, char32_t c) {
    loom::detail::check(vocabulary.contains(c), "character ", loom::code_point_hex(c),
                        " is not in the training text's vocabulary");
    return vocabulary.id_of(c);
}

// Windows starting at `starts`, as ids and tags [B, block].
std::pair<loom::IndexTensor, loom::IndexTensor> windows(const Task& task, const char_tagger::TaggedText& text,
                                                        const std::vector<loom::index_t>& starts, loom::index_t block) {
    std::vector<loom::index_t> ids, tags;
    for (loom::index_t start : starts)
        for (loom::index_t i = start; i < start + block; ++i) {
            ids.push_back(id_of(task.vocabulary, text.characters[static_cast<std::size_t>(i)]));
            tags.push_back(text.tags[static_cast<std::size_t>(i)]);
        }
    const loom::Shape shape{static_cast<loom::index_t>(starts.size()), block};
    return {loom::IndexTensor(ids, shape), loom::IndexTensor(tags, shape)};
}

// The held-out text as consecutive windows, `batch` windows at a time.
std::vector<std::vector<loom::index_t>> validation_batches(const Task& task, const Options& o) {
    std::vector<std::vector<loom::index_t>> batches(1);
    const auto count = static_cast<loom::index_t>(task.validation.characters.size());
    for (loom::index_t start = 0; start + o.block <= count; start += o.block) {
        if (static_cast<loom::index_t>(batches.back().size()) == o.batch) batches.emplace_back();
        batches.back().push_back(start);
    }
    return batches;
}

struct HeldOut {
    double loss = 0.0;
    loom::SpanScores scores{char_tagger::span_type_names()};
    std::vector<loom::index_t> predicted;  // tags of the held-out characters the windows cover
};

// Loss and span scores over every held-out window; spans are read within each
// window (a span cut by a window edge counts as two, for gold and prediction alike).
HeldOut evaluate(Model& model, const Task& task, const Options& o) {
    loom::NoGradGuard no_grad;
    model.eval();
    HeldOut result;
    const auto batches = validation_batches(task, o);
    for (const auto& starts : batches) {
        const auto [ids, tags] = windows(task, task.validation, starts, o.block);
        result.loss += model.loss(ids, tags).item() / static_cast<double>(batches.size());
        const auto predicted = model.predict(ids);
        for (std::size_t w = 0; w < starts.size(); ++w) {
            const std::vector<loom::index_t> gold(tags.values().begin() + static_cast<std::ptrdiff_t>(w) * o.block,
                                                  tags.values().begin() + static_cast<std::ptrdiff_t>(w + 1) * o.block);
            result.scores.add(loom::bio_spans(gold, char_tagger::tag_scheme()),
                              loom::bio_spans(predicted[w], char_tagger::tag_scheme()));
            result.predicted.insert(result.predicted.end(), predicted[w].begin(), predicted[w].end());
        }
    }
    model.train();
    return result;
}

// Trains one tagger in <out>/<name>; returns false if the run did not finish.
bool train(Model& model, const Task& task, const Options& o, const std::string& name, loom::Generator& generator) {
    training::LoopOptions loop = o.loop;
    loop.out_dir = o.loop.out_dir + "/" + name;
    const std::unique_ptr<loom::Optimizer<float>> optimizer = loom::make_optimizer<float>(loop, model.parameters());
    loom::Generator batches(generator.next_u64());
    const auto start_count = static_cast<std::uint64_t>(task.train.characters.size()) - static_cast<std::uint64_t>(o.block);

    loom::TrainingTask<float> job;
    job.tokens_per_batch = o.batch * o.block;
    job.metadata = char_tagger::model_metadata(model.config);
    job.compute_loss = [&] {
        std::vector<loom::index_t> starts(static_cast<std::size_t>(o.batch));
        for (auto& s : starts) s = static_cast<loom::index_t>(batches.below(start_count));
        const auto [ids, tags] = windows(task, task.train, starts, o.block);
        return model.loss(ids, tags);
    };
    job.evaluate = [&] { return evaluate(model, task, o).loss; };
    job.save_state = [&](loom::CheckpointWriter<float>& writer) { writer.set("rng.batches", batches.state_string()); };
    job.load_state = [&](const loom::Checkpoint<float>& checkpoint) {
        batches.set_state_string(checkpoint.get("rng.batches"));
    };
    std::cout << "---- " << name << ": " << model.parameter_count() << " parameters, " << training::describe_optimizer(loop)
              << " ----\n";
    loom::Trainer<float> trainer(model, *optimizer, loom::make_schedule(loop, loop.steps), std::move(job), loop);
    return trainer.fit() == loom::TrainingEnd::finished;
}

// The ids of --tag's characters, white space dropped.
std::vector<loom::index_t> tag_ids(const Task& task, const std::string& text, std::vector<char32_t>& characters) {
    for (char32_t c : loom::utf8_decode(text))
        if (!char_tagger::is_space(c)) characters.push_back(c);
    loom::detail::check(!characters.empty(), "--tag has no characters besides white space");
    std::vector<loom::index_t> ids;
    for (char32_t c : characters) ids.push_back(id_of(task.vocabulary, c));
    return ids;
}

std::string tag_text(Model& model, const Task& task, const std::string& text) {
    std::vector<char32_t> characters;
    const std::vector<loom::index_t> ids = tag_ids(task, text, characters);
    loom::NoGradGuard no_grad;
    model.eval();
    const auto tags = model.predict(loom::IndexTensor(ids, loom::Shape{1, static_cast<loom::index_t>(ids.size())}));
    return char_tagger::render(characters, tags[0]);
}

void print_scores(const std::string& name, const HeldOut& held_out) {
    std::cout << std::left << std::setw(22) << name << std::right << std::fixed << std::setprecision(4);
    for (std::size_t type = 0; type < held_out.scores.types(); ++type)
        std::cout << "  " << std::setw(7) << held_out.scores.precision(type) << " " << std::setw(7)
                  << held_out.scores.recall(type) << " " << std::setw(7) << held_out.scores.f1(type);
    std::cout << std::defaultfloat << "\n";
}

int run(const Options& o) {
    if (o.threads > 0) loom::set_num_threads(o.threads);
    training::check_loop_options(o.loop);
    loom::detail::check(o.output == "softmax" || o.output == "crf" || o.output == "both",
                        "--output must be softmax, crf or both, got '", o.output, "'");
    loom::detail::check(o.block > 0 && o.batch > 0 && o.embedding > 0 && o.hidden > 0 && o.layers > 0,
                        "--block, --batch, --embedding, --hidden and --layers must be positive");
    loom::detail::check(o.output != "both" || o.loop.resume.empty(),
                        "--resume needs --output softmax or crf (it continues one run)");
    const Task task = load_task(o);
    if (!o.tag.empty()) {
        std::vector<char32_t> characters;
        tag_ids(task, o.tag, characters);  // a bad --tag fails before training, not after
    }
    std::cout << "data: " << o.data << ", " << task.train.characters.size() + task.validation.characters.size()
              << " characters without white space, vocabulary " << task.vocabulary.size() << ", held out "
              << task.validation.characters.size() << "\n";

    std::vector<std::string> outputs;
    if (o.output != "crf") outputs.push_back("softmax");
    if (o.output != "softmax") outputs.push_back("crf");
    std::vector<std::pair<std::string, HeldOut>> results;
    std::string tagged;
    for (const std::string& name : outputs) {
        loom::Generator generator(o.seed);  // the same initial BiLSTM for both taggers
        char_tagger::Config config{task.vocabulary.size(), char_tagger::num_tags, o.embedding, o.hidden, o.layers,
                                   name == "crf"};
        Model model(config, generator);
        if (!train(model, task, o, name, generator)) return 2;
        results.emplace_back(name == "crf" ? "BiLSTM + CRF" : "BiLSTM + softmax", evaluate(model, task, o));
        if (!o.tag.empty()) tagged += "---- " + name + ": --tag ----\n" + tag_text(model, task, o.tag) + "\n";
    }

    std::cout << "\nspan scores on the held-out text (precision recall F1):\n"
              << std::left << std::setw(22) << "" << "  speaker                   word\n";
    for (const auto& [name, held_out] : results) print_scores(name, held_out);
    const HeldOut& last = results.back().second;
    const auto shown = std::min<std::size_t>(static_cast<std::size_t>(o.show), last.predicted.size());
    const std::vector<char32_t> passage(task.validation.characters.begin(),
                                        task.validation.characters.begin() + static_cast<std::ptrdiff_t>(shown));
    std::cout << "---- held-out passage as " << results.back().first << " lays it out ----\n"
              << char_tagger::render(passage, {last.predicted.begin(), last.predicted.begin() + static_cast<std::ptrdiff_t>(shown)})
              << "\n---- the same passage as written ----\n"
              << char_tagger::render(passage, {task.validation.tags.begin(), task.validation.tags.begin() + static_cast<std::ptrdiff_t>(shown)})
              << "\n" << tagged;
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    cli::Parser parser = make_parser(options);
    return examples::run_main("char_tagger", parser, argc, argv, [&] { return run(options); });
}
