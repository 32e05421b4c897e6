#include "test_util.hpp"

// Tests for loom/train/trainer.hpp (and the optimizer/schedule factory it is
// used with): training lowers the loss and writes its files, accumulation is
// the gradient of the larger batch, an interrupted and resumed run equals an
// uninterrupted one bit for bit, early stopping, the NaN/Inf guard, the
// progress and message callbacks, and the errors.

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "loom/nn/linear.hpp"
#include "loom/ops/arithmetic.hpp"
#include "loom/ops/reduce.hpp"
#include "loom/ops/slice.hpp"
#include "loom/ops/matmul.hpp"
#include "loom/optim/factory.hpp"
#include "loom/train/data_parallel_hooks.hpp"
#include "loom/train/trainer.hpp"

using loom::Shape;
using loom::Tensord;
using loom_test::contains;
using loom_test::error_message;

namespace train_trainer_test {  // named, not anonymous: the test files are compiled together in unity batches

// y = x·Wᵀ + b fitted to a fixed linear target: a loss that falls steadily.
struct Regression : loom::Module<double> {
    explicit Regression(std::uint64_t seed) : generator(seed), layer(3, 2, generator) {
        this->register_module("layer", layer);
    }
    loom::Generator generator;
    loom::Linear<double> layer;
};

// Rows [first, first + count) of a fixed data set of 16 rows.
struct Data {
    Tensord x = loom_test::random_tensor<double>(Shape{16, 3}, 7);
    Tensord y = loom::matmul(x, loom_test::random_tensor<double>(Shape{3, 2}, 8));
    Tensord x_rows(loom::index_t first, loom::index_t count) const { return loom::slice(x, 0, first, first + count); }
    Tensord y_rows(loom::index_t first, loom::index_t count) const { return loom::slice(y, 0, first, first + count); }
};

Tensord mse_tensor(Regression& model, const Tensord& x, const Tensord& y) {
    const Tensord error = loom::sub(model.layer(x), y);
    return loom::mean(loom::mul(error, error));
}

double mse(Regression& model, const Tensord& x, const Tensord& y) { return mse_tensor(model, x, y).item(); }

// A run over the data in batches of `batch` rows, cycling; the position in the
// cycle is the task's own state and goes into checkpoints.
struct Run {
    explicit Run(loom::TrainerOptions options_in, loom::index_t batch_in = 4, const std::string& optimizer = "adam")
        : options(std::move(options_in)), batch(batch_in), model(3) {
        optimizer_options.optimizer = optimizer;
        optimizer_options.lr = 0.05;
        optimizer_options.schedule = "cosine";
        optimizer_options.warmup = 2;
        this->optimizer = loom::make_optimizer<double>(optimizer_options, model.parameters());
    }

    loom::TrainingTask<double> task() {
        loom::TrainingTask<double> t;
        t.tokens_per_batch = batch;
        t.metadata = {{"model.kind", "regression"}};
        t.compute_loss = [this] {
            const loom::index_t first = (position * batch) % 16;
            ++position;
            return mse_tensor(model, data.x_rows(first, batch), data.y_rows(first, batch));
        };
        t.evaluate = [this] { return evaluate ? evaluate() : mse(model, data.x, data.y); };
        t.save_state = [this](loom::CheckpointWriter<double>& writer) {
            writer.set("train.position", std::to_string(position));
        };
        t.load_state = [this](const loom::Checkpoint<double>& checkpoint) {
            position = checkpoint.get_int("train.position");
        };
        t.on_progress = [this](const loom::TrainingProgress& p) { progress.push_back(p); };
        t.on_message = [this](const std::string& text) { messages.push_back(text); };
        return t;
    }

    loom::TrainingEnd fit() {
        loom::Trainer<double> trainer(model, *optimizer, loom::make_schedule(optimizer_options, options.steps), task(),
                                      options);
        const loom::TrainingEnd end = trainer.fit();
        final_loss = trainer.final_validation_loss();
        return end;
    }

    std::string all_messages() const {
        std::string all;
        for (const std::string& m : messages) all += m + "\n";
        return all;
    }

    loom::TrainerOptions options;
    loom::OptimizerOptions optimizer_options;
    loom::index_t batch;
    Data data;
    Regression model;
    std::unique_ptr<loom::Optimizer<double>> optimizer;
    std::int64_t position = 0;
    std::function<double()> evaluate;
    std::vector<loom::TrainingProgress> progress;
    std::vector<std::string> messages;
    double final_loss = 0.0;
};

struct TempDir {
    std::string path = loom_test::unique_temp_path("loom_test_trainer");
    ~TempDir() { std::filesystem::remove_all(path); }
};

loom::TrainerOptions quiet_options(const std::string& out_dir, std::int64_t steps) {
    loom::TrainerOptions o;
    o.steps = steps;
    o.out_dir = out_dir;
    o.eval_every = 5;
    o.print_every = 5;
    o.checkpoint_every = 0;
    return o;
}

std::vector<double> parameter_values(Regression& model) {
    std::vector<double> values;
    for (const Tensord& p : model.parameters())
        for (loom::index_t i = 0; i < p.numel(); ++i) values.push_back(p.data()[i]);
    return values;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST_CASE("Trainer lowers the loss and writes the log, the plot and both checkpoints", "[trainer]") {
    TempDir dir;
    Run run(quiet_options(dir.path, 40));
    const double before = mse(run.model, run.data.x, run.data.y);
    REQUIRE(run.fit() == loom::TrainingEnd::finished);
    CHECK(run.final_loss < 0.1 * before);
    CHECK(run.final_loss == mse(run.model, run.data.x, run.data.y));
    for (const char* file : {"/log.csv", "/loss.svg", "/last.safetensors", "/best.safetensors"})
        CHECK(std::filesystem::exists(dir.path + file));
    CHECK(contains(read_text(dir.path + "/loss.svg"), "<svg"));
    const std::string log = read_text(dir.path + "/log.csv");
    CHECK(log.rfind("step,train_loss,val_loss,tokens_per_s,seconds\n5,", 0) == 0);
    // The progress callback saw every step, in order, with a finite loss and norm.
    REQUIRE(run.progress.size() == 40);
    for (std::size_t i = 0; i < run.progress.size(); ++i) {
        CHECK(run.progress[i].step == static_cast<std::int64_t>(i) + 1);
        CHECK(run.progress[i].total_steps == 40);
        CHECK(std::isfinite(run.progress[i].train_loss));
        CHECK(std::isfinite(run.progress[i].gradient_norm));
    }
    // Step s runs at the schedule's rate for s - 1 (warmup, then cosine decay).
    const auto schedule = loom::make_schedule(run.optimizer_options, 40);
    for (std::size_t i = 0; i < run.progress.size(); ++i)
        CHECK(run.progress[i].learning_rate == schedule->learning_rate(static_cast<std::int64_t>(i)));
    CHECK(run.progress[0].learning_rate < run.progress[1].learning_rate);
    CHECK(contains(run.all_messages(), "step 5: validation loss"));
    const auto checkpoint = loom::Checkpoint<double>::load(dir.path + "/last.safetensors");
    CHECK(checkpoint.get("model.kind") == "regression");
    CHECK(checkpoint.get_int("train.step") == 40);
}

TEST_CASE("Trainer's gradient accumulation equals one batch k times larger", "[trainer]") {
    TempDir a, b;
    loom::TrainerOptions one = quiet_options(a.path, 6), two = quiet_options(b.path, 6);
    one.plot = two.plot = false;
    two.accumulate = 2;
    Run whole(one, 8, "sgd"), halves(two, 4, "sgd");
    REQUIRE(whole.fit() == loom::TrainingEnd::finished);
    REQUIRE(halves.fit() == loom::TrainingEnd::finished);
    const std::vector<double> p = parameter_values(whole.model), q = parameter_values(halves.model);
    REQUIRE(p.size() == q.size());
    for (std::size_t i = 0; i < p.size(); ++i) CHECK(p[i] == Approx(q[i]).epsilon(1e-12));
}

TEST_CASE("Trainer: an interrupted and resumed run equals an uninterrupted one bit for bit", "[trainer]") {
    TempDir straight_dir, split_dir;
    Run straight(quiet_options(straight_dir.path, 20));
    REQUIRE(straight.fit() == loom::TrainingEnd::finished);

    loom::TrainerOptions first = quiet_options(split_dir.path, 20);
    first.interrupt_at = 7;
    Run interrupted(first);
    REQUIRE(interrupted.fit() == loom::TrainingEnd::interrupted);
    CHECK(contains(interrupted.all_messages(), "interrupted after step 7"));

    loom::TrainerOptions second = quiet_options(split_dir.path, 20);
    second.resume = split_dir.path + "/last.safetensors";
    Run resumed(second);  // a fresh model and optimizer: everything comes from the checkpoint
    REQUIRE(resumed.fit() == loom::TrainingEnd::finished);
    CHECK(contains(resumed.all_messages(), "at step 7"));
    CHECK(resumed.progress.front().step == 8);
    CHECK(parameter_values(resumed.model) == parameter_values(straight.model));
    CHECK(resumed.final_loss == straight.final_loss);
    // The log reads as if the run had never stopped (the seconds column aside).
    auto columns = [](const std::string& log) {
        std::string kept;
        std::istringstream lines(log);
        for (std::string line; std::getline(lines, line);) kept += line.substr(0, line.rfind(',', line.rfind(',') - 1)) + "\n";
        return kept;
    };
    CHECK(columns(read_text(split_dir.path + "/log.csv")) == columns(read_text(straight_dir.path + "/log.csv")));
}

TEST_CASE("Trainer stops early after `patience` evaluations without improvement", "[trainer]") {
    TempDir dir;
    loom::TrainerOptions o = quiet_options(dir.path, 100);
    o.patience = 2;
    Run run(o);
    run.evaluate = [] { return 1.0; };  // never improves after the first evaluation
    REQUIRE(run.fit() == loom::TrainingEnd::early_stopped);
    // Evaluations at 5 (the first best), 10 and 15 (two without improvement).
    CHECK(run.progress.back().step == 15);
    CHECK(contains(run.all_messages(), "early stopping at step 15"));
    CHECK(run.final_loss == 1.0);
    CHECK(loom::Checkpoint<double>::load(dir.path + "/last.safetensors").get_int("train.step") == 15);

    // min_improvement: a decrease smaller than it does not count.
    TempDir dir2;
    loom::TrainerOptions o2 = quiet_options(dir2.path, 100);
    o2.patience = 1;
    o2.min_improvement = 0.1;
    Run slow(o2);
    double value = 2.0;
    slow.evaluate = [&value] { return value -= 0.01; };
    REQUIRE(slow.fit() == loom::TrainingEnd::early_stopped);
    CHECK(slow.progress.back().step == 10);
}

TEST_CASE("Trainer's NaN guard stops, or restores the last checkpoint with half the rate", "[trainer]") {
    TempDir stop_dir, restore_dir;
    loom::TrainerOptions stop = quiet_options(stop_dir.path, 20);
    stop.inject_nan_at = 6;
    stop.checkpoint_every = 4;
    Run stopped(stop);
    const std::vector<double> before = parameter_values(stopped.model);
    REQUIRE(stopped.fit() == loom::TrainingEnd::nonfinite);
    CHECK(contains(stopped.all_messages(), "step 6: non-finite loss"));
    CHECK(contains(stopped.all_messages(), "holds the last good state"));
    CHECK(stopped.progress.back().step == 5);  // the NaN step made no update
    CHECK(parameter_values(stopped.model) != before);

    loom::TrainerOptions restore = stop;
    restore.out_dir = restore_dir.path;
    restore.on_nonfinite = "restore";
    Run restored(restore);
    REQUIRE(restored.fit() == loom::TrainingEnd::finished);
    CHECK(contains(restored.all_messages(), "Restored"));
    CHECK(contains(restored.all_messages(), "learning rate scaled by 0.5"));
    CHECK(restored.progress.back().step == 20);
    CHECK(std::isfinite(restored.final_loss));
}

TEST_CASE("Trainer refuses a checkpoint of another model and bad options", "[trainer][errors]") {
    TempDir dir;
    Run first(quiet_options(dir.path, 3));
    REQUIRE(first.fit() == loom::TrainingEnd::finished);

    loom::TrainerOptions o = quiet_options(dir.path, 6);
    o.resume = dir.path + "/last.safetensors";
    Run other(o);
    loom::TrainingTask<double> task = other.task();
    task.metadata["model.kind"] = "classifier";
    loom::Trainer<double> trainer(other.model, *other.optimizer, loom::make_schedule(other.optimizer_options, 6), task, o);
    const std::string message = error_message([&] { trainer.fit(); });
    CHECK(contains(message, "model.kind is 'regression' but this run's is 'classifier'"));

    auto make = [&](loom::TrainerOptions options, loom::TrainingTask<double> t) {
        loom::Trainer<double> unused(other.model, *other.optimizer, loom::make_schedule(other.optimizer_options, 6),
                                     std::move(t), options);
    };
    loom::TrainerOptions bad = quiet_options(dir.path, 0);
    CHECK(contains(error_message([&] { make(bad, other.task()); }), "steps must be positive, got 0"));
    bad = quiet_options(dir.path, 5);
    bad.on_nonfinite = "ignore";
    CHECK(contains(error_message([&] { make(bad, other.task()); }), "on_nonfinite must be stop or restore, got 'ignore'"));
    bad = quiet_options(dir.path, 5);
    bad.accumulate = 0;
    CHECK(contains(error_message([&] { make(bad, other.task()); }), "accumulate must be positive"));
    loom::TrainingTask<double> no_loss = other.task();
    no_loss.compute_loss = nullptr;
    CHECK(contains(error_message([&] { make(quiet_options(dir.path, 5), no_loss); }), "no compute_loss"));

    loom::TrainingTask<double> vector_loss = other.task();
    vector_loss.compute_loss = [&] { return loom::sub(other.model.layer(other.data.x), other.data.y); };
    loom::Trainer<double> vector_trainer(other.model, *other.optimizer, loom::make_schedule(other.optimizer_options, 6),
                                         vector_loss, quiet_options(dir.path, 5));
    CHECK(contains(error_message([&] { vector_trainer.fit(); }), "compute_loss must return a scalar, got shape [16, 2]"));
}

TEST_CASE("make_optimizer and make_schedule build what the names say, and reject unknown names", "[trainer][optim]") {
    Regression model(1);
    loom::OptimizerOptions o;
    const std::vector<std::pair<std::string, std::string>> kinds = {
        {"sgd", "SGD"}, {"adam", "Adam"}, {"adamw", "AdamW"}, {"rmsprop", "RMSprop"}};
    for (const auto& [name, kind] : kinds) {
        o.optimizer = name;
        CHECK(loom::make_optimizer<double>(o, model.parameters())->kind() == kind);
    }
    o.optimizer = "adam";
    CHECK(o.learning_rate() == 2e-3);
    o.schedule = "cosine";
    o.lr = 1.0;
    o.warmup = 0;
    const auto cosine = loom::make_schedule(o, 10);
    CHECK(cosine->learning_rate(0) == Approx(1.0));
    CHECK(cosine->learning_rate(10) == Approx(0.0).margin(1e-12));
    o.schedule = "step";
    o.lr_step = 2;
    o.lr_gamma = 0.5;
    CHECK(loom::make_schedule(o, 10)->learning_rate(4) == Approx(0.25));
    o.optimizer = "adagrad";
    CHECK(contains(error_message([&] { loom::make_optimizer<double>(o, model.parameters()); }),
                   "sgd, adam, adamw or rmsprop, got 'adagrad'"));
    o.optimizer = "sgd";
    o.schedule = "linear";
    CHECK(contains(error_message([&] { loom::make_schedule(o, 10); }), "constant, step or cosine, got 'linear'"));
}

}  // namespace train_trainer_test
