// loom/distributed/gradient_reducer.hpp — the mean gradient of a data-parallel
// step, sent while backward is still running.
//
// allreduce_gradients() (collectives.hpp) waits until backward has finished
// and then sends everything: the processes compute, then wait for the network,
// then compute again. But backward finishes the gradients of the last layers
// first (they are the first the chain rule reaches), and those can travel while
// the earlier layers' gradients are still being computed. GradientReducer does
// that, as PyTorch's DistributedDataParallel does:
//   - the parameters are grouped into buckets of about bucket_bytes, in the
//     reverse of their order (roughly the order their gradients complete);
//   - backward_with_hook (autograd/engine.hpp) tells the reducer each time a
//     parameter's gradient is complete; when every parameter of a bucket is,
//     the bucket is copied into its flat buffer and a non-blocking
//     MPI_Iallreduce of it starts;
//   - finish() starts what is left (parameters that got no gradient this step),
//     waits for all the buckets and writes the means back into the gradients.
// Buckets are always started in bucket order, on every process the same:
// MPI requires collectives on a communicator to be started in one order
// everywhere, and one process's gradients may complete in another order than
// another's. Every call into the reducer also tests the requests in flight,
// which is what lets an MPI library without a progress thread move them on.
//
// The result is allreduce_gradients()'s: the same sums of the same numbers,
// element by element across processes. With two processes a sum has one order
// and the two agree to the last bit (a test checks it); with more, an MPI
// library may pick another reduction order for a small bucket than for one big
// buffer, and the two then agree only up to rounding.
#pragma once

#include <mpi.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

#include "loom/distributed/collectives.hpp"
#include "loom/distributed/context.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom::distributed {

// What the last step cost: time inside finish() (communication that backward
// did not hide), the bytes and buckets sent.
struct ReducerStats {
    double wait_seconds = 0.0;
    std::int64_t bytes = 0;
    int buckets = 0;
    int started_during_backward = 0;  // buckets whose allreduce began before finish()
};

template <typename T>
class GradientReducer {
public:
    GradientReducer(const Context& context, const std::vector<Tensor<T>>& parameters,
                    std::size_t bucket_bytes = std::size_t(1) << 20)
        : context_(context), parameters_(parameters.rbegin(), parameters.rend()) {
        loom::detail::check(bucket_bytes > 0, "loom::distributed::GradientReducer: bucket_bytes must be positive");
        detail::check_same_parameters(parameters_, context_, "loom::distributed::GradientReducer");
        make_buckets(bucket_bytes);
        for (std::size_t i = 0; i < parameters_.size(); ++i) index_of_[parameters_[i].impl_ptr()] = i;
        ready_.assign(parameters_.size(), false);
    }

    GradientReducer(const GradientReducer&) = delete;
    GradientReducer& operator=(const GradientReducer&) = delete;
    ~GradientReducer() { cancel(); }

    std::size_t bucket_count() const { return buckets_.size(); }
    const ReducerStats& last_step() const { return stats_; }

    // Before the backward whose gradients are to be reduced (with gradient
    // accumulation: the last micro-batch's).
    void begin_step() {
        loom::detail::check(!in_step_, "loom::distributed::GradientReducer: begin_step() twice without finish()");
        in_step_ = true;
        std::fill(ready_.begin(), ready_.end(), false);
        for (Bucket& bucket : buckets_) {
            bucket.ready = 0;
        }
        next_bucket_ = 0;
        started_during_backward_ = 0;
    }

    // For backward_with_hook: leaf's gradient is complete. Leaves that are not
    // among the parameters are ignored.
    std::function<void(const Tensor<T>&)> hook() {
        return [this](const Tensor<T>& leaf) { gradient_ready(leaf); };
    }

    void gradient_ready(const Tensor<T>& leaf) {
        const auto found = index_of_.find(leaf.impl_ptr());
        if (!in_step_ || found == index_of_.end() || ready_[found->second]) return;
        ready_[found->second] = true;
        ++buckets_[bucket_of_[found->second]].ready;
        start_ready_buckets();
        started_during_backward_ = next_bucket_;
        test_in_flight();
    }

    // After backward: starts the buckets left, waits for all, and replaces every
    // gradient by its mean over the processes.
    void finish() {
        loom::detail::check(in_step_, "loom::distributed::GradientReducer: finish() without begin_step()");
        const auto start = std::chrono::steady_clock::now();
        for (Bucket& bucket : buckets_) bucket.ready = bucket.end - bucket.begin;  // the rest count as ready
        start_ready_buckets();
        std::vector<MPI_Request> requests;
        for (Bucket& bucket : buckets_) requests.push_back(bucket.request);
        in_step_ = false;
        check_mpi(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
        stats_ = ReducerStats{};
        for (Bucket& bucket : buckets_) {
            bucket.request = MPI_REQUEST_NULL;
            detail::unpack_mean_gradients(parameters_, bucket.begin, bucket.end, bucket.buffer, context_.world_size());
            stats_.bytes += static_cast<std::int64_t>(bucket.buffer.size() * sizeof(T));
        }
        stats_.buckets = static_cast<int>(buckets_.size());
        stats_.started_during_backward = started_during_backward_;
        stats_.wait_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }

private:
    struct Bucket {
        std::size_t begin = 0, end = 0;  // parameters_[begin, end)
        std::size_t ready = 0;
        std::vector<T> buffer;
        MPI_Request request = MPI_REQUEST_NULL;
    };

    void make_buckets(std::size_t bucket_bytes) {
        std::size_t bytes = 0;
        for (std::size_t i = 0; i < parameters_.size(); ++i) {
            if (buckets_.empty() || bytes >= bucket_bytes) {
                buckets_.push_back(Bucket{});
                buckets_.back().begin = i;
                bytes = 0;
            }
            buckets_.back().end = i + 1;
            bucket_of_.push_back(buckets_.size() - 1);
            bytes += static_cast<std::size_t>(parameters_[i].numel()) * sizeof(T);
        }
    }

    // Starts, in bucket order, every bucket whose parameters are all ready.
    void start_ready_buckets() {
        while (next_bucket_ < static_cast<int>(buckets_.size())) {
            Bucket& bucket = buckets_[static_cast<std::size_t>(next_bucket_)];
            if (bucket.ready < bucket.end - bucket.begin) return;
            detail::pack_gradients(parameters_, bucket.begin, bucket.end, bucket.buffer);
            loom::detail::check(bucket.buffer.size() <= static_cast<std::size_t>(INT32_MAX),
                                "loom::distributed::GradientReducer: a bucket of ", bucket.buffer.size(),
                                " values does not fit one MPI call");
            check_mpi(MPI_Iallreduce(MPI_IN_PLACE, bucket.buffer.data(), static_cast<int>(bucket.buffer.size()),
                                     mpi_datatype<T>(), MPI_SUM, context_.communicator(), &bucket.request),
                      "MPI_Iallreduce");
            ++next_bucket_;
        }
    }

    void test_in_flight() {
        for (int b = 0; b < next_bucket_; ++b) {
            Bucket& bucket = buckets_[static_cast<std::size_t>(b)];
            if (bucket.request == MPI_REQUEST_NULL) continue;
            int done = 0;
            check_mpi(MPI_Test(&bucket.request, &done, MPI_STATUS_IGNORE), "MPI_Test");
            // A completed request becomes MPI_REQUEST_NULL; finish()'s Waitall skips it.
        }
    }

    // An exception between begin_step() and finish() can leave allreduces in
    // flight, into buffers MPI may still write. Waiting for them could wait
    // forever (the other processes may never join), and freeing the buffers
    // would let MPI write into freed memory, so they are deliberately leaked:
    // the process is on its way to ending the job (Context::abort).
    void cancel() noexcept {
        bool in_flight = false;
        for (const Bucket& bucket : buckets_) in_flight = in_flight || bucket.request != MPI_REQUEST_NULL;
        if (in_flight) new std::vector<Bucket>(std::move(buckets_));
    }

    const Context& context_;
    std::vector<Tensor<T>> parameters_;  // reversed
    std::vector<Bucket> buckets_;
    std::vector<std::size_t> bucket_of_;
    std::unordered_map<const loom::detail::TensorImpl<T>*, std::size_t> index_of_;
    std::vector<bool> ready_;
    int next_bucket_ = 0, started_during_backward_ = 0;
    bool in_step_ = false;
    ReducerStats stats_;
};

}  // namespace loom::distributed
