// loom/ops/packed_gemm.hpp — C += A · B with B packed once and reused.
//
// A recurrent layer multiplies by the same weight matrix at every time step:
// forward  a_t += h_(t-1) · W_hhᵀ,  backward  dh_(t-1) = da_t · W_hh. A general
// GEMM (Eigen's) re-packs B into its cache-friendly layout on every call, which
// for [32, 256] × [256, 1024] costs a quarter of the product. Here B is packed
// once per sequence into column panels of width P (two SIMD registers):
//   panel j = B[0:K, jP : jP+P], stored row by row (K rows of P values),
// and a small register-blocked kernel computes R rows × P columns of C at a time:
//   for k in 0..K-1:  acc[r] += A[r, k] · panel[k, :]     (one broadcast, two FMAs)
// A panel (K·P values, 32 KiB for K = 256 floats) stays in L1 while all row
// blocks of A pass over it. Panels are independent, so threads split them.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <vector>

#include "loom/tensor/parallel.hpp"
#include "loom/tensor/shape.hpp"

namespace loom::detail {

template <typename T>
struct PacketInfo {
    using Packet = typename Eigen::internal::packet_traits<T>::type;
    static constexpr index_t size = Eigen::internal::unpacket_traits<Packet>::size;
    static constexpr index_t panel_width = 2 * size;  // P
};

template <typename T>
class PackedMatrix {
public:
    static constexpr index_t P = PacketInfo<T>::panel_width;

    // B = Wᵀ for a row-major W [n, k] (the forward product h · W_hhᵀ).
    static PackedMatrix transposed(const T* w, index_t n, index_t k) {
        PackedMatrix packed(k, n);
        for (index_t col = 0; col < n; ++col) {
            T* panel = packed.panel(col / P);
            const T* w_row = w + col * k;
            for (index_t row = 0; row < k; ++row) panel[row * P + col % P] = w_row[row];
        }
        return packed;
    }

    // B = W for a row-major W [k, n] (the backward product da · W_hh).
    static PackedMatrix plain(const T* w, index_t k, index_t n) {
        PackedMatrix packed(k, n);
        for (index_t row = 0; row < k; ++row)
            for (index_t col = 0; col < n; ++col) packed.panel(col / P)[row * P + col % P] = w[row * n + col];
        return packed;
    }

    static PackedMatrix empty() { return PackedMatrix(0, 0); }

    index_t rows() const { return rows_; }  // K
    index_t cols() const { return cols_; }  // N
    index_t panels() const { return (cols_ + P - 1) / P; }
    const T* panel(index_t j) const { return data_.data() + j * rows_ * P; }

private:
    PackedMatrix(index_t rows, index_t cols)
        : rows_(rows), cols_(cols), data_(static_cast<std::size_t>(((cols + P - 1) / P) * rows * P), T(0)) {}
    T* panel(index_t j) { return data_.data() + j * rows_ * P; }

    index_t rows_, cols_;
    std::vector<T, Eigen::aligned_allocator<T>> data_;
};

// C[0:R, cols of panel] += A[0:R, :] · panel, for `width` <= P valid columns.
template <typename T, int R>
void packed_kernel(const T* a, index_t lda, const T* panel, index_t depth, T* c, index_t ldc, index_t width) {
    using Packet = typename PacketInfo<T>::Packet;
    constexpr index_t S = PacketInfo<T>::size;
    using Eigen::internal::pload;
    using Eigen::internal::pmadd;
    using Eigen::internal::pset1;
    Packet acc0[R], acc1[R];
    for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = pset1<Packet>(T(0));
    for (index_t k = 0; k < depth; ++k) {
        const Packet w0 = pload<Packet>(panel + k * 2 * S);
        const Packet w1 = pload<Packet>(panel + k * 2 * S + S);
        for (int r = 0; r < R; ++r) {
            const Packet x = pset1<Packet>(a[r * lda + k]);
            acc0[r] = pmadd(x, w0, acc0[r]);
            acc1[r] = pmadd(x, w1, acc1[r]);
        }
    }
    for (int r = 0; r < R; ++r) {
        T* c_row = c + r * ldc;
        if (width == 2 * S) {
            using Eigen::internal::padd;
            using Eigen::internal::ploadu;
            using Eigen::internal::pstoreu;
            pstoreu(c_row, padd(ploadu<Packet>(c_row), acc0[r]));
            pstoreu(c_row + S, padd(ploadu<Packet>(c_row + S), acc1[r]));
        } else {  // the last, partial panel
            alignas(64) T sums[2 * S];
            Eigen::internal::pstore(sums, acc0[r]);
            Eigen::internal::pstore(sums + S, acc1[r]);
            for (index_t j = 0; j < width; ++j) c_row[j] += sums[j];
        }
    }
}

// C[m, N] += A[m, K] · B, with A and C row-major (leading dimensions lda, ldc).
// Threads split the panels when each gets at least `min_work_per_thread`
// multiply-adds: worth it for compute (training), and for streaming weights
// from memory already at much less (inference steps pass a smaller value).
template <typename T>
void gemm_packed_accumulate(const T* a, index_t m, index_t lda, const PackedMatrix<T>& b, T* c, index_t ldc,
                            index_t min_work_per_thread = index_t{1} << 18) {
    constexpr index_t P = PackedMatrix<T>::P;
    constexpr int R = 8;  // rows per block: 2·R accumulators + 3 registers fit AVX-512's 32 (and spill little on AVX2)
    const index_t depth = b.rows();
    auto run_panels = [&](index_t first, index_t last) {
        for (index_t j = first; j < last; ++j) {
            const T* panel = b.panel(j);
            const index_t width = std::min(P, b.cols() - j * P);
            T* c_panel = c + j * P;
            index_t row = 0;
            for (; row + R <= m; row += R)
                packed_kernel<T, R>(a + row * lda, lda, panel, depth, c_panel + row * ldc, ldc, width);
            // A few rows left (or a small batch, as in beam search): blocks of
            // 4 and 2 load each panel row once for several rows of A.
            for (; row + 4 <= m; row += 4)
                packed_kernel<T, 4>(a + row * lda, lda, panel, depth, c_panel + row * ldc, ldc, width);
            for (; row + 2 <= m; row += 2)
                packed_kernel<T, 2>(a + row * lda, lda, panel, depth, c_panel + row * ldc, ldc, width);
            for (; row < m; ++row)
                packed_kernel<T, 1>(a + row * lda, lda, panel, depth, c_panel + row * ldc, ldc, width);
        }
    };
    const index_t work_per_panel = m * depth * P;
    parallel_for(b.panels(), std::max<index_t>(1, min_work_per_thread / std::max<index_t>(work_per_panel, 1)),
                 run_panels);
}

}  // namespace loom::detail
