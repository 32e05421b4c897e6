// loom/distributed/sampler.hpp — which examples each process of a
// data-parallel run takes: a disjoint shard of every global mini-batch.
//
// With N processes and a global batch of B examples, process r takes B/N of
// them; together the N shards are exactly the global batch, so a step of N
// processes sees what one process taking B would see. Two ways to get there:
//
// shard_batch(batch, r, N) — every process builds the same global batch (same
//   seed, same batcher) and keeps its rows [r·B/N, (r+1)·B/N). The batchers
//   stay what they are (random windows, BPTT streams whose hidden state each
//   process carries for its own rows), and a checkpoint of the batcher's state
//   is the same on every process. Building B rows to keep B/N costs copying ids
//   only. B must be a multiple of N: with equal shards the mean of the
//   processes' mean losses is the global batch's mean loss.
//
// DistributedSampler — for a dataset of `size` indexed examples: epoch e is a
//   permutation of 0 … size−1 drawn from (seed, e), the same on every process;
//   global batch k is positions [k·B, min((k+1)·B, size)) of it, and process r
//   takes its share of those positions (the first (len mod N) processes one
//   more). Over an epoch every example is taken exactly once, by one process.
//
// Neither needs MPI: they only compute indices from (rank, world size).
#pragma once

#include <cstdint>
#include <numeric>
#include <vector>

#include "loom/data/batcher.hpp"
#include "loom/tensor/error.hpp"
#include "loom/tensor/index_tensor.hpp"
#include "loom/tensor/random.hpp"

namespace loom::distributed {

// Rows [begin, end) of `rows` that process `rank` of `world_size` takes.
struct ShardRange {
    index_t begin = 0, end = 0;
};

inline ShardRange shard_range(index_t rows, int rank, int world_size) {
    detail::check(world_size > 0 && rank >= 0 && rank < world_size, "loom::distributed::shard_range: rank ", rank,
                  " is not in a world of ", world_size);
    detail::check(rows >= 0, "loom::distributed::shard_range: negative row count ", rows);
    const index_t base = rows / world_size, extra = rows % world_size;
    const index_t begin = rank * base + std::min<index_t>(rank, extra);
    return {begin, begin + base + (rank < extra ? 1 : 0)};
}

// Process rank's rows of a [B, T] batch (see the top of this file).
inline Batch shard_batch(const Batch& batch, int rank, int world_size) {
    detail::check(batch.inputs.rank() == 2 && batch.inputs.shape() == batch.targets.shape(),
                  "loom::distributed::shard_batch: inputs ", batch.inputs.shape(), " and targets ",
                  batch.targets.shape(), " must be the same [B, T]");
    const index_t rows = batch.inputs.shape()[0], columns = batch.inputs.shape()[1];
    detail::check(world_size > 0 && rows % world_size == 0, "loom::distributed::shard_batch: a batch of ", rows,
                  " rows cannot be split evenly over ", world_size, " processes (make the batch a multiple of ",
                  world_size, ")");
    const ShardRange range = shard_range(rows, rank, world_size);
    const auto take = [&](const IndexTensor& all) {
        const index_t* first = all.data() + range.begin * columns;
        return IndexTensor(std::vector<index_t>(first, first + (range.end - range.begin) * columns),
                           Shape{range.end - range.begin, columns});
    };
    return Batch{take(batch.inputs), take(batch.targets)};
}

class DistributedSampler {
public:
    DistributedSampler(index_t dataset_size, index_t global_batch, int rank, int world_size, std::uint64_t seed,
                       bool shuffle = true)
        : size_(dataset_size), batch_(global_batch), rank_(rank), world_(world_size), seed_(seed), shuffle_(shuffle) {
        detail::check(dataset_size > 0, "loom::distributed::DistributedSampler: the dataset is empty");
        detail::check(global_batch >= world_size, "loom::distributed::DistributedSampler: a global batch of ",
                      global_batch, " leaves some of the ", world_size, " processes without examples");
        shard_range(global_batch, rank, world_size);  // checks rank and world size
    }

    // ⌈size / B⌉: the last global batch of an epoch may be short.
    index_t batches_per_epoch() const { return (size_ + batch_ - 1) / batch_; }

    // This process's example indices in global batch `batch` of `epoch`.
    std::vector<index_t> indices(std::int64_t epoch, index_t batch) const {
        detail::check(batch >= 0 && batch < batches_per_epoch(), "loom::distributed::DistributedSampler: batch ",
                      batch, " is not in an epoch of ", batches_per_epoch());
        if (cached_order_.empty() || epoch != cached_epoch_) {  // one shuffle per epoch, not one per batch
            cached_order_ = epoch_order(epoch);
            cached_epoch_ = epoch;
        }
        const std::vector<index_t>& order = cached_order_;
        const index_t begin = batch * batch_, length = std::min(batch_, size_ - begin);
        const ShardRange mine = shard_range(length, rank_, world_);
        return std::vector<index_t>(order.begin() + begin + mine.begin, order.begin() + begin + mine.end);
    }

    // The permutation of epoch e (identity without shuffle): Fisher–Yates with
    // a generator seeded from (seed, e), so every process draws the same one.
    std::vector<index_t> epoch_order(std::int64_t epoch) const {
        std::vector<index_t> order(static_cast<std::size_t>(size_));
        std::iota(order.begin(), order.end(), index_t{0});
        if (!shuffle_) return order;
        Generator generator(seed_ ^ (0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(epoch + 1)));
        for (index_t i = size_ - 1; i > 0; --i)
            std::swap(order[static_cast<std::size_t>(i)],
                      order[static_cast<std::size_t>(generator.below(static_cast<std::uint64_t>(i + 1)))]);
        return order;
    }

private:
    index_t size_, batch_;
    int rank_, world_;
    std::uint64_t seed_;
    bool shuffle_;
    mutable std::int64_t cached_epoch_ = 0;  // indices() reads an epoch's order batch after batch
    mutable std::vector<index_t> cached_order_;
};

}  // namespace loom::distributed
