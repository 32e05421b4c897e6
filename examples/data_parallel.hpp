// examples/data_parallel.hpp — the training programs under mpirun: each
// process trains on its rows of every batch, rank 0 alone prints and writes
// files (loom/distributed/, docs/distributed.md).
//
//   mpirun -np 2 build/examples/char_gpt --batch 32
//
// Built with MPI (cmake -DLOOM_USE_MPI=ON, which defines LOOM_HAVE_MPI), a
// program started by mpirun joins the other processes; started on its own, or
// built without MPI, it is one process as always and never touches MPI.
#pragma once

#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <streambuf>
#include <string>
#include <thread>

#include <loom/data/batcher.hpp>
#include <loom/tensor/error.hpp>
#include <loom/tensor/parallel.hpp>
#include <loom/train/trainer.hpp>

#include "cli.hpp"

#ifdef LOOM_HAVE_MPI
#include <loom/distributed/data_parallel.hpp>
#include <loom/distributed/sampler.hpp>
#endif

namespace examples {

class DataParallelRun {
public:
    DataParallelRun(int& argc, char**& argv) {
#ifdef LOOM_HAVE_MPI
        if (loom::distributed::launched_by_mpi())
            context_ = std::make_unique<loom::distributed::Context>(&argc, &argv);
#endif
        (void)argc;
        (void)argv;
        if (rank() != 0) std::cout.rdbuf(&discard_);  // one process speaks
    }

    ~DataParallelRun() {
        if (rank() != 0) std::cout.rdbuf(nullptr);
    }

    DataParallelRun(const DataParallelRun&) = delete;
    DataParallelRun& operator=(const DataParallelRun&) = delete;

    // --ddp-overlap, --ddp-bucket-kib (they matter only under mpirun).
    void add_options(cli::Parser& p) {
        p.add("--ddp-overlap", overlap_, "under mpirun: send gradients while backward runs (else after it)");
        p.add("--ddp-bucket-kib", bucket_kib_, "under mpirun: gradient bucket size in KiB (with --ddp-overlap)");
    }

    bool distributed() const { return processes() > 1; }
#ifdef LOOM_HAVE_MPI
    int rank() const { return context_ ? context_->rank() : 0; }
    int processes() const { return context_ ? context_->world_size() : 1; }
#else
    int rank() const { return 0; }
    int processes() const { return 1; }
#endif

    // --threads 0 means "all cores": shared by the processes on this machine,
    // whose OpenMP threads would otherwise fight over the same cores.
    void set_threads(int requested) const {
        if (requested > 0) {
            loom::set_num_threads(requested);
        } else if (distributed()) {
            const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
            const int on_this_machine = local ? std::max(1, std::atoi(local)) : processes();
            const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
            loom::set_num_threads(std::max(1, cores / on_this_machine));
        }
    }

    // "data-parallel: 2 processes, 16 rows each" (nothing for one process).
    std::string describe(loom::index_t batch) const {
        if (!distributed()) return "";
        return "data-parallel: " + std::to_string(processes()) + " processes, " +
               std::to_string(batch / processes()) + " rows of every batch each, " +
               std::to_string(loom::get_num_threads()) + " threads each\n";
    }

    // The batch size must split evenly (shard_batch's rule), checked up front.
    void check_batch(loom::index_t batch) const {
        if (batch % processes() != 0)
            throw loom::Error("--batch " + std::to_string(batch) + " cannot be split over " +
                              std::to_string(processes()) + " processes: use a multiple of " +
                              std::to_string(processes()));
    }

    // This process's rows of a global batch.
    loom::Batch shard(const loom::Batch& batch) const {
#ifdef LOOM_HAVE_MPI
        if (distributed()) return loom::distributed::shard_batch(batch, rank(), processes());
#endif
        return batch;
    }

    // Rank 0's parameters everywhere, and the Trainer's data-parallel hooks.
    void attach(loom::TrainingTask<float>& task, const std::vector<loom::Tensor<float>>& parameters) {
#ifdef LOOM_HAVE_MPI
        if (!distributed()) return;
        if (bucket_kib_ < 1) throw loom::Error("--ddp-bucket-kib must be >= 1, got " + std::to_string(bucket_kib_));
        loom::distributed::DataParallelOptions options;
        options.overlap = overlap_;
        options.bucket_bytes = static_cast<std::size_t>(bucket_kib_) * 1024;
        parallel_ = std::make_unique<loom::distributed::DataParallel<float>>(*context_, parameters, options);
        parallel_->attach(task);
#else
        (void)task;
        (void)parameters;
#endif
    }

    // "communication: 0.8 s waited after backward (4.1 % of training)" after a run.
    std::string communication_report(double training_seconds) const {
#ifdef LOOM_HAVE_MPI
        if (parallel_ && parallel_->steps() > 0) {
            const double waited = parallel_->total_wait_seconds();
            std::ostringstream text;
            text << std::setprecision(3) << "communication: " << waited
                 << " s waited for gradients after backward over " << parallel_->steps() << " steps ("
                 << 100.0 * waited / std::max(training_seconds, 1e-9) << " % of training)";
            return text.str();
        }
#endif
        (void)training_seconds;
        return "";
    }

    // An error on one process: report it and end every process of the job
    // (the others would wait for this one forever in their next allreduce).
    [[noreturn]] void fail(const std::string& program, const std::string& what) const {
        std::cerr << program << (distributed() ? " (rank " + std::to_string(rank()) + ")" : "") << ": " << what
                  << "\n";
#ifdef LOOM_HAVE_MPI
        if (distributed()) context_->abort(1);
#endif
        std::exit(1);
    }

private:
    struct Discard : std::streambuf {
        int overflow(int c) override { return c == traits_type::eof() ? 0 : c; }
    };
    Discard discard_;
    bool overlap_ = true;
    loom::index_t bucket_kib_ = 1024;
#ifdef LOOM_HAVE_MPI
    std::unique_ptr<loom::distributed::Context> context_;
    std::unique_ptr<loom::distributed::DataParallel<float>> parallel_;
#endif
};

}  // namespace examples
