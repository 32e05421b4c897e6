#include "test_util.hpp"

// Tests for loom/distributed/ under mpirun -np 2 (or more): broadcast, the
// mean gradient (one allreduce and the overlapped buckets) against one process
// on the whole batch, the Trainer run data-parallel (identical parameters on
// every process, the same as one process), the sampler, and the errors.

#include <mpi.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "loom/distributed/collectives.hpp"
#include "loom/distributed/context.hpp"
#include "loom/distributed/data_parallel.hpp"
#include "loom/distributed/gradient_reducer.hpp"
#include "loom/distributed/sampler.hpp"
#include "loom/nn/embedding.hpp"
#include "loom/nn/linear.hpp"
#include "loom/nn/lstm.hpp"
#include "loom/ops/cross_entropy.hpp"
#include "loom/optim/factory.hpp"
#include "loom/train/trainer.hpp"

using loom::index_t;
using loom::IndexTensor;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;
namespace dist = loom::distributed;

namespace distributed_data_parallel_test {

// Embedding → LSTM → Linear over a vocabulary of 11: every kind of parameter
// (a gathered table, recurrent weights, a dense head) in one small model.
struct TinyLM : loom::Module<double> {
    explicit TinyLM(std::uint64_t seed)
        : generator(seed), embedding(11, 4, generator), lstm(4, 5, 2, generator), head(5, 11, generator) {
        register_module("embedding", embedding);
        register_module("lstm", lstm);
        register_module("head", head);
    }
    loom::Tensor<double> loss(const loom::Batch& batch) {
        return loom::cross_entropy(head(lstm(embedding(batch.inputs)).output), batch.targets);
    }
    loom::Generator generator;
    loom::Embedding<double> embedding;
    loom::LSTM<double> lstm;
    loom::Linear<double> head;
};

// The same global batch on every process: 8 rows of 6 ids from a fixed seed.
loom::Batch global_batch(std::uint64_t seed, index_t rows = 8) {
    loom::Generator generator(seed);
    std::vector<index_t> corpus(200);
    for (index_t& id : corpus) id = static_cast<index_t>(generator.below(11));
    loom::RandomWindowBatcher windows(corpus, rows, 6, seed);
    return windows.next();
}

std::vector<std::vector<double>> gradients_of(const TinyLM& model) {
    std::vector<std::vector<double>> result;
    for (const auto& parameter : model.parameters())
        result.push_back(parameter.grad().defined() ? parameter.grad().to_vector() : std::vector<double>{});
    return result;
}

// max |a − b| / max(1, |b|) over every element of every gradient.
double worst_relative_difference(const std::vector<std::vector<double>>& a, const std::vector<std::vector<double>>& b) {
    REQUIRE(a.size() == b.size());
    double worst = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        REQUIRE(a[i].size() == b[i].size());
        for (std::size_t j = 0; j < a[i].size(); ++j)
            worst = std::max(worst, std::abs(a[i][j] - b[i][j]) / std::max(1.0, std::abs(b[i][j])));
    }
    return worst;
}

// True when every process holds exactly these values.
bool same_on_every_process(const std::vector<double>& values, const dist::Context& context) {
    std::vector<double> lowest(values.size()), highest(values.size());
    MPI_Allreduce(values.data(), lowest.data(), static_cast<int>(values.size()), MPI_DOUBLE, MPI_MIN,
                  context.communicator());
    MPI_Allreduce(values.data(), highest.data(), static_cast<int>(values.size()), MPI_DOUBLE, MPI_MAX,
                  context.communicator());
    return lowest == values && highest == values;
}

std::vector<double> flat_parameters(const loom::Module<double>& model) {
    std::vector<double> values;
    for (const auto& parameter : model.parameters())
        values.insert(values.end(), parameter.data(), parameter.data() + parameter.numel());
    return values;
}

TEST_CASE("the world has at least two processes", "[distributed]") {
    const dist::Context context;
    INFO("run these tests with mpirun -np 2 (or more)");
    REQUIRE(context.world_size() >= 2);
    CHECK(context.is_root() == (context.rank() == 0));
}

TEST_CASE("broadcast_parameters gives every process rank 0's values", "[distributed]") {
    const dist::Context context;
    TinyLM model(100 + static_cast<std::uint64_t>(context.rank()));  // different on every process
    const std::vector<double> before = flat_parameters(model);
    CHECK(same_on_every_process(before, context) == false);
    dist::broadcast_parameters(model.parameters(), context);
    CHECK(same_on_every_process(flat_parameters(model), context));
    if (context.is_root()) CHECK(flat_parameters(model) == before);
}

TEST_CASE("allreduce_gradients is the gradient of the whole batch", "[distributed]") {
    const dist::Context context;
    TinyLM model(7);
    const loom::Batch batch = global_batch(3);
    model.loss(batch).backward();
    const auto whole = gradients_of(model);  // one process, all 8 rows

    model.zero_grad();
    model.loss(dist::shard_batch(batch, context.rank(), context.world_size())).backward();
    dist::allreduce_gradients(model.parameters(), context);
    CHECK(worst_relative_difference(gradients_of(model), whole) < 1e-12);
    std::vector<double> flat;
    for (const auto& g : gradients_of(model)) flat.insert(flat.end(), g.begin(), g.end());
    CHECK(same_on_every_process(flat, context));
}

TEST_CASE("the overlapped GradientReducer gives allreduce_gradients' bits", "[distributed]") {
    const dist::Context context;
    const loom::Batch batch = dist::shard_batch(global_batch(4), context.rank(), context.world_size());
    TinyLM blocking(8), overlapped(8);
    blocking.loss(batch).backward();
    dist::allreduce_gradients(blocking.parameters(), context);

    // Buckets of 256 bytes: several, so some start while backward still runs.
    dist::GradientReducer<double> reducer(context, overlapped.parameters(), 256);
    REQUIRE(reducer.bucket_count() > 3);
    for (int step = 0; step < 2; ++step) {  // the reducer is reusable
        overlapped.zero_grad();
        reducer.begin_step();
        loom::backward_with_hook(overlapped.loss(batch), reducer.hook());
        reducer.finish();
        CHECK(gradients_of(overlapped) == gradients_of(blocking));
        CHECK(reducer.last_step().buckets == static_cast<int>(reducer.bucket_count()));
        CHECK(reducer.last_step().started_during_backward > 0);
    }
}

TEST_CASE("a parameter without a gradient on every process keeps none; on some, gets the mean", "[distributed]") {
    const dist::Context context;
    loom::Generator generator(5);
    loom::Linear<double> used(2, 2, generator), unused(2, 2, generator), sometimes(2, 2, generator);
    std::vector<loom::Tensor<double>> parameters = used.parameters();
    for (const auto& p : unused.parameters()) parameters.push_back(p);
    for (const auto& p : sometimes.parameters()) parameters.push_back(p);
    const loom::Tensor<double> x = loom_test::random_tensor<double>(Shape{3, 2}, 6);
    loom::Tensor<double> loss = loom::sum(used(x));
    if (context.is_root()) loss = loom::add(loss, loom::sum(sometimes(x)));
    dist::GradientReducer<double> reducer(context, parameters, 64);
    reducer.begin_step();
    loom::backward_with_hook(loss, reducer.hook());
    reducer.finish();
    for (const auto& p : unused.parameters()) CHECK_FALSE(p.grad().defined());
    std::vector<std::vector<double>> means;
    for (auto p : sometimes.parameters()) {
        REQUIRE(p.grad().defined());
        means.push_back(p.grad().to_vector());
        p.zero_grad();
    }
    loom::sum(sometimes(x)).backward();  // rank 0's own gradient; the mean is it divided by N
    for (std::size_t k = 0; k < means.size(); ++k)
        for (std::size_t i = 0; i < means[k].size(); ++i)
            CHECK(means[k][i] == Approx(sometimes.parameters()[k].grad().data()[i] / context.world_size()).epsilon(1e-14));
}

// k Adam steps through the Trainer: data-parallel (each process its shard)
// and alone (one process, the whole batch).
std::vector<double> train(const dist::Context* context, const std::string& out_dir, bool overlap) {
    TinyLM model(9);
    loom::OptimizerOptions optimizer_options;
    optimizer_options.optimizer = "adam";
    optimizer_options.lr = 0.01;
    auto optimizer = loom::make_optimizer<double>(optimizer_options, {loom::ParamGroup<double>{model.parameters(), {}, {}}});
    loom::TrainerOptions options;
    options.steps = 6;
    options.eval_every = 3;
    options.out_dir = out_dir;
    options.plot = false;
    std::uint64_t batch_seed = 20;
    loom::TrainingTask<double> task;
    task.tokens_per_batch = 8 * 6;
    task.compute_loss = [&] {
        const loom::Batch batch = global_batch(batch_seed++);
        return model.loss(context ? dist::shard_batch(batch, context->rank(), context->world_size()) : batch);
    };
    task.evaluate = [&] { return model.loss(global_batch(99)).item(); };
    std::unique_ptr<dist::DataParallel<double>> parallel;
    if (context) {
        dist::DataParallelOptions parallel_options;
        parallel_options.overlap = overlap;
        parallel_options.bucket_bytes = 512;
        parallel = std::make_unique<dist::DataParallel<double>>(*context, model.parameters(), parallel_options);
        parallel->attach(task);
    }
    task.on_message = [](const std::string&) {};
    task.on_progress = [](const loom::TrainingProgress&) {};
    loom::Trainer<double> trainer(model, *optimizer, loom::make_schedule(optimizer_options, options.steps),
                                  std::move(task), options);
    REQUIRE(trainer.fit() == loom::TrainingEnd::finished);
    return flat_parameters(model);
}

// One directory for all processes: rank 0's, sent to the others.
std::string shared_directory(const dist::Context& context, const loom_test::TempDir& mine) {
    char path[512] = {};
    std::strncpy(path, mine.path().string().c_str(), sizeof path - 1);
    MPI_Bcast(path, sizeof path, MPI_CHAR, 0, context.communicator());
    return path;
}

TEST_CASE("the Trainer run data-parallel keeps every process identical and equals one process", "[distributed]") {
    const dist::Context context;
    const loom_test::TempDir directory("loom_mpi_trainer");
    const std::string shared = shared_directory(context, directory);
    const std::vector<double> alone = train(nullptr, directory.file("alone"), false);
    for (bool overlap : {false, true}) {
        INFO("overlap " << overlap);
        const std::vector<double> together = train(&context, shared + (overlap ? "/overlap" : "/blocking"), overlap);
        CHECK(same_on_every_process(together, context));
        double worst = 0.0;
        for (std::size_t i = 0; i < alone.size(); ++i)
            worst = std::max(worst, std::abs(together[i] - alone[i]) / std::max(1.0, std::abs(alone[i])));
        CHECK(worst < 1e-10);  // six Adam steps amplify the 1e-16 differences of summation order
        // Only rank 0 wrote the run's files.
        context.barrier();
        CHECK(std::filesystem::exists(shared + (overlap ? "/overlap" : "/blocking") + "/last.safetensors"));
    }
    context.barrier();  // rank 0's TempDir is removed only after everyone is done with it
}

TEST_CASE("DistributedSampler takes every example exactly once per epoch", "[distributed][sampler]") {
    const dist::Context context;
    const index_t size = 103, batch = 10;
    const dist::DistributedSampler sampler(size, batch, context.rank(), context.world_size(), 42);
    REQUIRE(sampler.batches_per_epoch() == 11);
    for (std::int64_t epoch = 0; epoch < 2; ++epoch) {
        std::vector<int> taken(static_cast<std::size_t>(size), 0);
        for (index_t k = 0; k < sampler.batches_per_epoch(); ++k)
            for (index_t index : sampler.indices(epoch, k)) ++taken[static_cast<std::size_t>(index)];
        std::vector<int> everywhere(taken.size());
        MPI_Allreduce(taken.data(), everywhere.data(), static_cast<int>(taken.size()), MPI_INT, MPI_SUM,
                      context.communicator());
        CHECK(std::set<int>(everywhere.begin(), everywhere.end()) == std::set<int>{1});
    }
    CHECK(sampler.epoch_order(0) != sampler.epoch_order(1));  // a new order every epoch
    // Simulated worlds of 1 … 4: the shards of one global batch are disjoint and make it up.
    for (int world = 1; world <= 4; ++world) {
        std::vector<index_t> joined;
        for (int rank = 0; rank < world; ++rank) {
            const auto shard = dist::DistributedSampler(size, batch, rank, world, 42).indices(0, 10);
            joined.insert(joined.end(), shard.begin(), shard.end());
        }
        const auto order = sampler.epoch_order(0);
        CHECK(joined == std::vector<index_t>(order.begin() + 100, order.end()));
    }
}

TEST_CASE("distributed errors name the op and the sizes", "[distributed][errors]") {
    const dist::Context context;
    CHECK(contains(error_message([] { dist::shard_batch(global_batch(1, 7), 0, 2); }),
                   "loom::distributed::shard_batch: a batch of 7 rows cannot be split evenly over 2 processes"));
    CHECK(contains(error_message([] { dist::shard_range(8, 2, 2); }), "rank 2 is not in a world of 2"));
    CHECK(contains(error_message([] { dist::DistributedSampler(10, 1, 0, 2, 0); }),
                   "a global batch of 1 leaves some of the 2 processes without examples"));
    // Different models on different processes are refused on every process.
    loom::Generator generator(1);
    loom::Linear<double> layer(2, context.is_root() ? 3 : 4, generator);
    CHECK(contains(error_message([&] { dist::broadcast_parameters(layer.parameters(), context); }),
                   "the processes hold different parameter lists"));
    CHECK(contains(error_message([&] { dist::broadcast_parameters(layer.parameters(), context, 5); }),
                   "root 5 is not a rank of this world"));
}

}  // namespace distributed_data_parallel_test
