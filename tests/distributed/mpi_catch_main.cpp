// main() of loom_mpi_tests: MPI around a Catch2 session. mpirun starts N copies;
// every copy runs every test case in the same order, so the collectives inside
// them line up. The exit code is non-zero when any test failed on this process
// (mpirun then exits non-zero too).
#include <mpi.h>

#ifdef LOOM_CATCH2_V3
#include <catch2/catch_session.hpp>
#else
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#endif

int main(int argc, char** argv) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    const int failures = Catch::Session().run(argc, argv);
    // A failure on one process must fail the job even if the others passed.
    int worst = 0;
    MPI_Allreduce(&failures, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return worst == 0 ? 0 : 1;
}
