// loom/ops/gemm.hpp — loom's matrix-product kernel, C (+)= A · B.
//
// Every large product in loom (matmul, linear, the recurrent layers' big
// GEMMs, attention's per-head products) ends here; the convolution and the
// recurrent time loop use its micro-kernel on weights packed once
// (packed_gemm.hpp). It also holds the SIMD tile transpose they share. The layout follows the
// classic blocked GEMM (Goto & van de Geijn, "Anatomy of high-performance
// matrix multiplication", 2008):
//
//   for each block of KC rows of B (and KC columns of A):
//     pack B[kc, n] into column panels of width P (two SIMD registers),
//       panel j = B[kc rows, jP : jP+P] stored row by row       -> stays in L1
//     for each block of MC rows of A                              -> stays in L2
//       for each panel j, for each group of R rows of A:
//         C[R, P] (+)= A[R, kc] · panel_j     (the register-blocked micro-kernel:
//                    per k, two loads of the panel row, R broadcasts of A, 2R FMAs)
//
// A is never copied: the micro-kernel broadcasts its elements straight from
// memory through strides, which serves a transposed A as well as a plain one.
// Transposes of either operand are just strides (`StridedMatrix`), so all four
// op(A) · op(B) cases share this code.
//
// Why not Eigen's GEMM: on AVX-512 its micro-kernel is 48 × 4 (12 of the 32
// vector registers hold C), and it re-packs both operands on every call. This
// one keeps 16 of C's vectors in registers (8 rows × 32 floats) and measured
// 1.3–1.6× Eigen's speed on loom's training shapes (bench/bench_gemm.cpp).
// Tiny products and products with a few rows (generation steps) go to Eigen,
// whose unpacked small-size and matrix-vector paths are better there.
// Each element of C is summed in the same order whatever the thread count, so
// results do not depend on threads.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cstring>
#include <vector>

#include "loom/tensor/parallel.hpp"
#include "loom/tensor/shape.hpp"

namespace loom::detail {

template <typename T>
struct PacketInfo {
    using Packet = typename Eigen::internal::packet_traits<T>::type;
    static constexpr index_t size = Eigen::internal::unpacket_traits<Packet>::size;
    static constexpr index_t panel_width = 2 * size;  // P
    // Rows per micro-kernel block: 2·R accumulators + 2 panel loads + 1
    // broadcast must fit the vector registers (32 with AVX-512, 16 before).
    static constexpr int rows = EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS >= 32 ? 8 : 6;  // R
};

// A matrix read through strides: X(i, j) = data[i * row_stride + j * col_stride].
// A row-major [r, c] matrix is {data, c, 1}; its transpose is {data, 1, c}.
template <typename T>
struct StridedMatrix {
    const T* data;
    index_t row_stride, col_stride;
    const T& operator()(index_t i, index_t j) const { return data[i * row_stride + j * col_stride]; }
};

// A row-major [rows, cols] matrix, or its transpose, read as a StridedMatrix.
template <typename T>
StridedMatrix<T> row_major(const T* data, index_t cols, bool transposed = false) {
    return transposed ? StridedMatrix<T>{data, 1, cols} : StridedMatrix<T>{data, cols, 1};
}

// dst[j, i] = src[i, j] for a rows × cols block of a row-major matrix
// (leading dimensions src_ld, dst_ld). S × S tiles go through registers
// (S values of S rows loaded as packets, transposed with Eigen's ptranspose,
// stored as S rows of dst); the edges are copied element by element.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"  // PacketBlock<__m512, 16>: harmless, as in Eigen itself
#endif
template <typename T>
void transpose_into(const T* src, index_t rows, index_t cols, index_t src_ld, T* dst, index_t dst_ld) {
    using Packet = typename PacketInfo<T>::Packet;
    using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    constexpr index_t S = PacketInfo<T>::size;
    const index_t full_rows = S > 1 ? rows - rows % S : 0, full_cols = S > 1 ? cols - cols % S : 0;
    if constexpr (S > 1) {
        for (index_t i0 = 0; i0 < full_rows; i0 += S)
            for (index_t j0 = 0; j0 < full_cols; j0 += S) {
                Eigen::internal::PacketBlock<Packet, static_cast<int>(S)> tile;
                for (index_t r = 0; r < S; ++r)
                    tile.packet[r] = Eigen::internal::ploadu<Packet>(src + (i0 + r) * src_ld + j0);
                Eigen::internal::ptranspose(tile);
                for (index_t r = 0; r < S; ++r) Eigen::internal::pstoreu(dst + (j0 + r) * dst_ld + i0, tile.packet[r]);
            }
    }
    // The edges: rows [r0, r1) × columns [c0, c1) of src, by Eigen.
    auto edge = [&](index_t r0, index_t r1, index_t c0, index_t c1) {
        if (r1 <= r0 || c1 <= c0) return;
        Eigen::Map<RowMatrix, 0, Eigen::OuterStride<>>(dst + c0 * dst_ld + r0, c1 - c0, r1 - r0,
                                                       Eigen::OuterStride<>(dst_ld)) =
            Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<>>(src + r0 * src_ld + c0, r1 - r0, c1 - c0,
                                                                 Eigen::OuterStride<>(src_ld))
                .transpose();
    };
    edge(0, full_rows, full_cols, cols);
    edge(full_rows, rows, 0, cols);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// Packs rows [first_row, first_row + depth) of B [·, n] into panels of width P:
// panel j holds B[those rows, jP : jP+P] row by row, zero-padded past column n.
template <typename T>
void pack_panels(StridedMatrix<T> b, index_t first_row, index_t depth, index_t n, T* packed) {
    constexpr index_t P = PacketInfo<T>::panel_width;
    const index_t panels = (n + P - 1) / P;
    for (index_t j = 0; j < panels; ++j) {
        T* panel = packed + j * depth * P;
        const index_t first_col = j * P, width = std::min(P, n - first_col);
        if (b.col_stride == 1 && width == P) {  // a row of the panel is a contiguous slice of B's row
            for (index_t k = 0; k < depth; ++k)
                std::memcpy(panel + k * P, &b(first_row + k, first_col), sizeof(T) * static_cast<std::size_t>(P));
            continue;
        }
        if (b.row_stride == 1 && width == P) {  // B = Wᵀ: the panel is a transposed block of W
            transpose_into(&b(first_row, first_col), P, depth, b.col_stride, panel, P);
            continue;
        }
        // What is left (B strided, or the last partial panel): walk B's
        // columns, contiguous when B is transposed.
        for (index_t col = 0; col < P; ++col)
            for (index_t k = 0; k < depth; ++k)
                panel[k * P + col] = col < width ? b(first_row + k, first_col + col) : T(0);
    }
}

// C[0:R, panel's columns] (+)= A[0:R, 0:depth] · panel, for `width` <= P valid
// columns. A is read through its strides: in place, whether row-major or transposed.
template <typename T, int R>
void packed_kernel(StridedMatrix<T> a, const T* panel, index_t depth, T* c, index_t ldc, index_t width,
                   bool accumulate = true) {
    using Packet = typename PacketInfo<T>::Packet;
    constexpr index_t S = PacketInfo<T>::size;
    using Eigen::internal::padd;
    using Eigen::internal::pload;
    using Eigen::internal::ploadu;
    using Eigen::internal::pmadd;
    using Eigen::internal::pset1;
    using Eigen::internal::pstoreu;
    Packet acc0[R], acc1[R];
    for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = pset1<Packet>(T(0));
    for (index_t k = 0; k < depth; ++k) {
        const Packet w0 = pload<Packet>(panel + k * 2 * S);
        const Packet w1 = pload<Packet>(panel + k * 2 * S + S);
        for (int r = 0; r < R; ++r) {
            const Packet x = pset1<Packet>(a(r, k));
            acc0[r] = pmadd(x, w0, acc0[r]);
            acc1[r] = pmadd(x, w1, acc1[r]);
        }
    }
    for (int r = 0; r < R; ++r) {
        T* c_row = c + r * ldc;
        if (width == 2 * S) {
            if (accumulate) {
                acc0[r] = padd(ploadu<Packet>(c_row), acc0[r]);
                acc1[r] = padd(ploadu<Packet>(c_row + S), acc1[r]);
            }
            pstoreu(c_row, acc0[r]);
            pstoreu(c_row + S, acc1[r]);
        } else {  // the last, partial panel
            alignas(64) T sums[2 * S];
            Eigen::internal::pstore(sums, acc0[r]);
            Eigen::internal::pstore(sums + S, acc1[r]);
            for (index_t j = 0; j < width; ++j) c_row[j] = (accumulate ? c_row[j] : T(0)) + sums[j];
        }
    }
}

// C[rows first..last, one panel] (+)= A[those rows, 0:depth] · panel: blocks of
// R rows, then 4, 2, 1 for what is left (each loads a panel row once for
// several rows of A).
template <typename T>
void panel_rows_product(StridedMatrix<T> a, index_t first, index_t last, const T* panel, index_t depth, T* c,
                        index_t ldc, index_t width, bool accumulate) {
    constexpr int R = PacketInfo<T>::rows;
    auto rows_from = [&](index_t row) { return StridedMatrix<T>{&a(row, 0), a.row_stride, a.col_stride}; };
    index_t row = first;
    for (; row + R <= last; row += R)
        packed_kernel<T, R>(rows_from(row), panel, depth, c + row * ldc, ldc, width, accumulate);
    for (; row + 4 <= last; row += 4)
        packed_kernel<T, 4>(rows_from(row), panel, depth, c + row * ldc, ldc, width, accumulate);
    for (; row + 2 <= last; row += 2)
        packed_kernel<T, 2>(rows_from(row), panel, depth, c + row * ldc, ldc, width, accumulate);
    for (; row < last; ++row) packed_kernel<T, 1>(rows_from(row), panel, depth, c + row * ldc, ldc, width, accumulate);
}

// A layer's bias around its product C = A · B + 1 bᵀ:
// bias_rows writes b into each of C's rows (zeros without a bias) as the
// starting value for gemm(..., accumulate = true); add_column_sums adds the
// bias gradient db = Σ_r G[r, :] into `sums`, row after row, so the inner loop
// runs along contiguous memory and vectorises.
template <typename T>
void bias_rows(const T* bias, index_t rows, index_t cols, T* c) {
    for (index_t r = 0; r < rows; ++r)
        if (bias != nullptr) std::copy_n(bias, cols, c + r * cols);
        else std::fill_n(c + r * cols, cols, T(0));
}

template <typename T>
void add_column_sums(const T* g, index_t rows, index_t cols, T* sums) {
    for (index_t r = 0; r < rows; ++r) {
        const T* g_row = g + r * cols;
        for (index_t c = 0; c < cols; ++c) sums[c] += g_row[c];
    }
}

// Products Eigen does better: below this many multiply-adds packing does not
// pay, and with fewer than this many rows of A (a generation step: one row per
// sequence or beam) Eigen's matrix-vector path reads B once without packing it.
constexpr index_t gemm_small_work = index_t{1} << 15;
constexpr index_t gemm_min_rows = 8;
// A thread gets at least this many multiply-adds (a fork/join costs a few µs).
constexpr index_t gemm_work_per_thread = index_t{1} << 18;

// Calls fn with an Eigen map of X [rows, cols]: row-major when its rows are
// contiguous, column-major when its columns are (X is a transposed row-major
// matrix), so Eigen reads either in place. Only these two layouts occur in loom.
template <typename T, typename Fn>
void with_eigen_map(StridedMatrix<T> x, index_t rows, index_t cols, Fn&& fn) {
    using Outer = Eigen::OuterStride<>;
    if (x.col_stride == 1) {
        fn(Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0, Outer>(
            x.data, rows, cols, Outer(x.row_stride)));
    } else {
        fn(Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>, 0, Outer>(
            x.data, rows, cols, Outer(x.col_stride)));
    }
}

template <typename T>
void eigen_gemm(index_t m, index_t n, index_t k, StridedMatrix<T> a, StridedMatrix<T> b, T* c, index_t ldc,
                bool accumulate) {
    using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<RowMatrix, 0, Eigen::OuterStride<>> mc(c, m, n, Eigen::OuterStride<>(ldc));
    if (!accumulate) mc.setZero();
    with_eigen_map(a, m, k, [&](const auto& ma) {
        with_eigen_map(b, k, n, [&](const auto& mb) { mc.noalias() += ma * mb; });
    });
}

// The blocked product on one thread (see the loop nest at the top).
template <typename T>
void gemm_one_thread(index_t m, index_t n, index_t k, StridedMatrix<T> a, StridedMatrix<T> b, T* c, index_t ldc,
                     bool accumulate) {
    constexpr index_t P = PacketInfo<T>::panel_width;
    // A panel (KC · P values, 32 KiB) fits L1 with room for A's rows; an A
    // block (MC · KC) fits L2.
    constexpr index_t KC = 256, MC = 256;
    const index_t panels = (n + P - 1) / P, depth_max = std::min(KC, k);
    std::vector<T, Eigen::aligned_allocator<T>> packed_b(static_cast<std::size_t>(panels * depth_max * P));
    for (index_t k0 = 0; k0 < k; k0 += KC) {
        const index_t depth = std::min(KC, k - k0);
        const bool add = accumulate || k0 > 0;  // later depth blocks add to the first
        pack_panels(b, k0, depth, n, packed_b.data());
        const StridedMatrix<T> a_block{&a(0, k0), a.row_stride, a.col_stride};
        for (index_t i0 = 0; i0 < m; i0 += MC)
            for (index_t j = 0; j < panels; ++j)
                panel_rows_product(a_block, i0, std::min(i0 + MC, m), packed_b.data() + j * depth * P, depth,
                                   c + j * P, ldc, std::min(P, n - j * P), add);
    }
}

// C[m, n] (+)= A[m, k] · B[k, n]; C is row-major with leading dimension ldc
// and must not overlap A or B. accumulate = false overwrites C.
// Threads take whole panels of C's columns (or, when there are too few
// panels, whole groups of R rows) and each runs the blocked product on its part.
template <typename T>
void gemm(index_t m, index_t n, index_t k, StridedMatrix<T> a, StridedMatrix<T> b, T* c, index_t ldc,
          bool accumulate) {
    if (m == 0 || n == 0) return;
    if (k == 0) {
        if (!accumulate)
            for (index_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, T(0));
        return;
    }
    const bool strided = (a.col_stride != 1 && a.row_stride != 1) || (b.col_stride != 1 && b.row_stride != 1);
    if (!strided && (m < gemm_min_rows || m * n * k < gemm_small_work))
        return eigen_gemm(m, n, k, a, b, c, ldc, accumulate);

    constexpr index_t P = PacketInfo<T>::panel_width, R = PacketInfo<T>::rows;
    const index_t panels = (n + P - 1) / P, row_groups = (m + R - 1) / R;
    const index_t threads = std::max<index_t>(1, std::min<index_t>(get_num_threads(), m * n * k / gemm_work_per_thread));
    if (panels >= 4 * threads || panels % threads == 0)
        parallel_for(panels, std::max<index_t>(1, panels / threads), [&](index_t first, index_t last) {
            const index_t col = first * P, cols = std::min(last * P, n) - col;
            gemm_one_thread(m, cols, k, a, StridedMatrix<T>{b.data + col * b.col_stride, b.row_stride, b.col_stride},
                            c + col, ldc, accumulate);
        });
    else
        parallel_for(row_groups, std::max<index_t>(1, row_groups / threads), [&](index_t first, index_t last) {
            const index_t row = first * R, rows = std::min(last * R, m) - row;
            gemm_one_thread(rows, n, k, StridedMatrix<T>{a.data + row * a.row_stride, a.row_stride, a.col_stride}, b,
                            c + row * ldc, ldc, accumulate);
        });
}

}  // namespace loom::detail
