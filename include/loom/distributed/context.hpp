// loom/distributed/context.hpp — the group of processes a data-parallel run is
// made of, on MPI: start-up and shut-down, this process's rank, the world size,
// and MPI errors as loom::Error.
//
// mpirun -np N starts N copies of a program; each constructs one Context, which
// initialises MPI (unless the program already did) and finalises it when the
// Context goes away. Rank 0 is the root: it prints, logs and writes files.
//
// Errors. MPI's default is to abort the whole job on any error. The Context
// sets MPI_ERRORS_RETURN on its communicator instead, so a failing call becomes
// a loom::Error naming the call, which the program can report; a process that
// then exits with an exception (or dies) makes mpirun end the other processes
// (see abort() and docs/distributed.md).
//
// Threads: MPI is asked for MPI_THREAD_FUNNELED: OpenMP threads compute, only
// the thread that made the Context calls MPI.
#pragma once

#include <mpi.h>

#include <cstdlib>
#include <string>

#include "loom/tensor/error.hpp"

namespace loom::distributed {

// Throws loom::Error("loom::distributed: <call> failed: <MPI's message>")
// unless code is MPI_SUCCESS.
inline void check_mpi(int code, const char* call) {
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(code, text, &length);
    detail::fail("loom::distributed: ", call, " failed: ", std::string(text, static_cast<std::size_t>(length)));
}

template <typename T>
MPI_Datatype mpi_datatype();
template <>
inline MPI_Datatype mpi_datatype<float>() { return MPI_FLOAT; }
template <>
inline MPI_Datatype mpi_datatype<double>() { return MPI_DOUBLE; }

// True when this process was started by mpirun/mpiexec (Open MPI, MPICH or a
// PMI launcher), so a program can decide whether to start MPI at all.
inline bool launched_by_mpi() {
    return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr ||
           std::getenv("PMIX_RANK") != nullptr;
}

class Context {
public:
    // argc/argv may be null (MPI does not need them).
    Context(int* argc = nullptr, char*** argv = nullptr) {
        int initialised = 0;
        MPI_Initialized(&initialised);
        if (!initialised) {
            int provided = 0;
            check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
            owns_mpi_ = true;
            detail::check(provided >= MPI_THREAD_FUNNELED, "loom::distributed: the MPI library gives thread level ",
                          provided, ", loom needs MPI_THREAD_FUNNELED (", MPI_THREAD_FUNNELED, ")");
        }
        check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &communicator_), "MPI_Comm_dup");
        check_mpi(MPI_Comm_set_errhandler(communicator_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
        check_mpi(MPI_Comm_rank(communicator_, &rank_), "MPI_Comm_rank");
        check_mpi(MPI_Comm_size(communicator_, &world_size_), "MPI_Comm_size");
    }

    ~Context() {
        int finalised = 0;
        MPI_Finalized(&finalised);
        if (finalised) return;
        MPI_Comm_free(&communicator_);
        if (owns_mpi_) MPI_Finalize();
    }

    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    int rank() const { return rank_; }
    int world_size() const { return world_size_; }
    bool is_root() const { return rank_ == 0; }
    MPI_Comm communicator() const { return communicator_; }

    void barrier() const { check_mpi(MPI_Barrier(communicator_), "MPI_Barrier"); }

    // Ends every process of the job with `exit_code`: what a process that
    // cannot go on must call, since the others would wait for it forever in
    // their next collective.
    [[noreturn]] void abort(int exit_code) const {
        MPI_Abort(communicator_, exit_code);
        std::abort();  // MPI_Abort does not return; this tells the compiler so
    }

private:
    MPI_Comm communicator_ = MPI_COMM_NULL;
    int rank_ = 0, world_size_ = 1;
    bool owns_mpi_ = false;
};

}  // namespace loom::distributed
