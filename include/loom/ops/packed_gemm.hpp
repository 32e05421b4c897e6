// loom/ops/packed_gemm.hpp — C += A · B with B packed once and reused.
//
// A recurrent layer multiplies by the same weight matrix at every time step:
// forward  a_t += h_(t-1) · W_hhᵀ,  backward  dh_(t-1) = da_t · W_hh. A general
// GEMM re-packs B into its cache-friendly layout on every call, which for
// [32, 256] × [256, 1024] costs a quarter of the product. Here B is packed once
// per sequence into the column panels of gemm.hpp (width P, all K rows):
//   panel j = B[0:K, jP : jP+P], stored row by row,
// and gemm.hpp's register-blocked micro-kernel multiplies the rows of A against
// each panel. A panel (K·P values, 32 KiB for K = 256 floats) stays in L1 while
// all row blocks of A pass over it. Panels are independent, so threads split them.
#pragma once

#include <algorithm>
#include <vector>

#include "loom/ops/gemm.hpp"

namespace loom::detail {

template <typename T>
class PackedMatrix {
public:
    static constexpr index_t P = PacketInfo<T>::panel_width;

    // B = Wᵀ for a row-major W [n, k] (the forward product h · W_hhᵀ).
    static PackedMatrix transposed(const T* w, index_t n, index_t k) {
        return PackedMatrix(StridedMatrix<T>{w, 1, k}, k, n);
    }

    // B = W for a row-major W [k, n] (the backward product da · W_hh).
    static PackedMatrix plain(const T* w, index_t k, index_t n) { return PackedMatrix(StridedMatrix<T>{w, n, 1}, k, n); }

    // Any B [k, n] given through strides (e.g. one tap W[:, :, tap] of a convolution's weight).
    static PackedMatrix from(StridedMatrix<T> b, index_t k, index_t n) { return PackedMatrix(b, k, n); }

    static PackedMatrix empty() { return PackedMatrix(StridedMatrix<T>{nullptr, 0, 0}, 0, 0); }

    index_t rows() const { return rows_; }  // K
    index_t cols() const { return cols_; }  // N
    index_t panels() const { return (cols_ + P - 1) / P; }
    const T* panel(index_t j) const { return data_.data() + j * rows_ * P; }

private:
    PackedMatrix(StridedMatrix<T> b, index_t rows, index_t cols)
        : rows_(rows), cols_(cols), data_(static_cast<std::size_t>(((cols + P - 1) / P) * rows * P)) {
        pack_panels(b, 0, rows, cols, data_.data());
    }

    index_t rows_, cols_;
    std::vector<T, Eigen::aligned_allocator<T>> data_;
};

// C[m, N] += A[m, K] · B, with A and C row-major (leading dimensions lda, ldc).
// Threads split the panels when each gets at least `min_work_per_thread`
// multiply-adds: worth it for compute (training), and for streaming weights
// from memory already at much less (inference steps pass a smaller value).
template <typename T>
void gemm_packed_accumulate(const T* a, index_t m, index_t lda, const PackedMatrix<T>& b, T* c, index_t ldc,
                            index_t min_work_per_thread = gemm_work_per_thread) {
    constexpr index_t P = PackedMatrix<T>::P;
    const index_t depth = b.rows();
    auto run_panels = [&](index_t first, index_t last) {
        for (index_t j = first; j < last; ++j)
            panel_rows_product(StridedMatrix<T>{a, lda, 1}, index_t{0}, m, b.panel(j), depth, c + j * P, ldc,
                               std::min(P, b.cols() - j * P), true);
    };
    const index_t work_per_panel = m * depth * P;
    parallel_for(b.panels(), std::max<index_t>(1, min_work_per_thread / std::max<index_t>(work_per_panel, 1)),
                 run_panels);
}

}  // namespace loom::detail
