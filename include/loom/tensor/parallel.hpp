// loom/tensor/parallel.hpp — one knob for the number of threads.
//
// Where loom runs in parallel, by design:
//   - matrix products go through loom's GEMM (ops/gemm.hpp), which splits one
//     product over threads with parallel_for below when it is big enough
//     (and the few left to Eigen's GEMM are split by Eigen);
//   - loom's own loops (batched matmul, large element-wise kernels) use
//     `omp parallel for` over independent pieces. Inside such a region Eigen
//     sees omp_get_num_threads() > 1 and runs its GEMMs on one thread, so the two
//     levels never nest and never oversubscribe the cores.
// set_num_threads(n) sets both (OpenMP's pool and Eigen's cap). Without OpenMP
// (LOOM_USE_OPENMP off) everything runs on one thread and these are no-ops.
#pragma once

#include <Eigen/Core>

#include <algorithm>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "loom/tensor/error.hpp"
#include "loom/tensor/shape.hpp"

namespace loom {

inline void set_num_threads(int threads) {
    detail::check(threads >= 1, "loom::set_num_threads: thread count must be at least 1, got ", threads);
#if defined(_OPENMP)
    omp_set_num_threads(threads);
#endif
    Eigen::setNbThreads(threads);
}

inline int get_num_threads() {
#if defined(_OPENMP)
    return omp_get_max_threads();
#else
    return 1;
#endif
}

// True inside a parallel region, where nested parallelism would oversubscribe.
inline bool in_parallel_region() {
#if defined(_OPENMP)
    return omp_in_parallel() != 0;
#else
    return false;
#endif
}

namespace detail {
// Element-wise work below this many elements is not worth waking threads for
// (a fork/join costs a few microseconds; a core does ~1e9 simple ops/s).
constexpr index_t parallel_grain = 1 << 15;
}  // namespace detail

// Calls fn(begin, end) on contiguous pieces of [0, count), in parallel when the
// work is large enough, we are not already inside a parallel region and more
// than one thread is allowed. fn must not throw (exceptions cannot leave an
// OpenMP region).
template <typename Fn>
void parallel_for(index_t count, index_t grain, Fn&& fn) {
#if defined(_OPENMP)
    const index_t max_threads = omp_get_max_threads();
    if (count >= 2 * grain && max_threads > 1 && !in_parallel_region()) {
        const index_t pieces = std::min<index_t>(max_threads, count / grain);
#pragma omp parallel for num_threads(static_cast<int>(pieces)) schedule(static)
        for (index_t piece = 0; piece < pieces; ++piece) fn(count * piece / pieces, count * (piece + 1) / pieces);
        return;
    }
#endif
    (void)grain;
    fn(index_t{0}, count);
}

}  // namespace loom
