// loom/ops/matmul.hpp — matrix products, optionally with transposed operands.
//
// C = op(A) · op(B), where op(X) is X or Xᵀ (transpose_a / transpose_b), for
//   [M, K] · [K, N] -> [M, N]
//   [B, M, K] · [B, K, N] -> [B, M, N]      (batched: one product per batch)
//   [..., K] · [K, N] -> [..., N]           (A's leading dims flattened into rows)
// Backward, with G = dL/dC (derive from dL = tr(Gᵀ dC), dC = dA·B + A·dB):
//   C = A  B    dA = G  Bᵀ     dB = Aᵀ G
//   C = Aᵀ B    dA = B  Gᵀ     dB = A  G
//   C = A  Bᵀ   dA = G  B      dB = Gᵀ A
//   C = Aᵀ Bᵀ   dA = Bᵀ Gᵀ     dB = Gᵀ Aᵀ
// Each product is one call of loom's GEMM (gemm.hpp); transposes are strides.
// A batch is split over threads when it has at least as many products as
// threads; otherwise the products run one after another and the GEMM splits each.
#pragma once

#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/ops/gemm.hpp"
#include "loom/tensor/parallel.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

namespace detail {

// out[b] = op(a[b]) · op(b[b]) for `batch` products; a_rows × a_cols is a's
// stored (untransposed) shape, likewise for b. b_stride 0 shares one b.
template <typename T>
void gemm_batched(const T* a, const T* b, T* out, index_t batch, index_t a_rows, index_t a_cols, bool transpose_a,
                  index_t b_rows, index_t b_cols, bool transpose_b, index_t b_stride) {
    const index_t m = transpose_a ? a_cols : a_rows;
    const index_t n = transpose_b ? b_rows : b_cols;
    const index_t k = transpose_a ? a_rows : a_cols;
    auto one = [&](index_t i) {
        gemm(m, n, k, row_major(a + i * a_rows * a_cols, a_cols, transpose_a), row_major(b + i * b_stride, b_cols, transpose_b),
             out + i * m * n, n, false);
    };
    if (batch > 1 && batch >= get_num_threads() && !in_parallel_region()) {
        parallel_for(batch, 1, [&](index_t begin, index_t end) {
            for (index_t i = begin; i < end; ++i) one(i);
        });
    } else {
        for (index_t i = 0; i < batch; ++i) one(i);
    }
}

struct MatmulPlan {
    index_t batch, a_rows, a_cols, b_rows, b_cols;
    bool batched_b;  // b has its own matrix per batch (3-D × 3-D)
    Shape out_shape;
};

inline MatmulPlan plan_matmul(const Shape& a, const Shape& b, bool transpose_a, bool transpose_b) {
    check(a.rank() >= 2 && b.rank() >= 2, "loom::matmul: operands must have rank >= 2, got a ", a, " and b ", b);
    MatmulPlan plan{};
    if (b.rank() == 2) {
        check(!(transpose_a && a.rank() > 2), "loom::matmul: transpose_a needs a 2-D or batched 3-D × 3-D product,"
              " got a ", a, " and b ", b);
        plan.batch = 1;
        plan.a_cols = a.last();
        // Rows = product of a's leading dims (not numel / K, which is 0 for K = 0).
        plan.a_rows = 1;
        for (int d = 0; d + 1 < a.rank(); ++d) plan.a_rows *= a[d];
        plan.batched_b = false;
    } else {
        check(a.rank() == 3 && b.rank() == 3 && a[0] == b[0], "loom::matmul: batched product needs a [B, M, K] and",
              " b [B, K, N] with equal B, got a ", a, " and b ", b);
        plan.batch = a[0];
        plan.a_rows = a[1];
        plan.a_cols = a[2];
        plan.batched_b = true;
    }
    plan.b_rows = b[b.rank() - 2];
    plan.b_cols = b[b.rank() - 1];
    const index_t k_a = transpose_a ? plan.a_rows : plan.a_cols;
    const index_t k_b = transpose_b ? plan.b_cols : plan.b_rows;
    check(k_a == k_b, "loom::matmul: inner dimensions differ: a is ", a, (transpose_a ? " (transposed)" : ""),
          ", b is ", b, (transpose_b ? " (transposed)" : ""), " (", k_a, " vs ", k_b, ")");
    const index_t m = transpose_a ? plan.a_cols : plan.a_rows;
    const index_t n = transpose_b ? plan.b_rows : plan.b_cols;
    if (plan.batched_b) plan.out_shape = Shape{plan.batch, m, n};
    else if (a.rank() == 2) plan.out_shape = Shape{m, n};
    else plan.out_shape = a.with(a.rank() - 1, n);
    return plan;
}

}  // namespace detail

template <typename T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b, bool transpose_a = false, bool transpose_b = false) {
    const detail::MatmulPlan p = detail::plan_matmul(a.shape(), b.shape(), transpose_a, transpose_b);
    Tensor<T> out = Tensor<T>::empty(p.out_shape);
    const index_t b_stride = p.batched_b ? p.b_rows * p.b_cols : 0;
    detail::gemm_batched(a.data(), b.data(), out.data(), p.batch, p.a_rows, p.a_cols, transpose_a, p.b_rows,
                         p.b_cols, transpose_b, b_stride);
    if (!needs_grad(a, b)) return out;

    const bool a_needs = a.requires_grad();
    const bool b_needs = b.requires_grad();
    record(out, "matmul", {a, b},
           [a_saved = b_needs ? a.detach() : Tensor<T>(), b_saved = a_needs ? b.detach() : Tensor<T>(),
            a_shape = a.shape(), b_shape = b.shape(), p, transpose_a, transpose_b, a_needs,
            b_needs](const Tensor<T>& g) {
               const index_t m = transpose_a ? p.a_cols : p.a_rows;
               const index_t n = transpose_b ? p.b_rows : p.b_cols;
               Tensor<T> da, db;
               if (a_needs) {
                   da = Tensor<T>::empty(a_shape);
                   const index_t b_stride = p.batched_b ? p.b_rows * p.b_cols : 0;
                   if (!transpose_a)  // dA = G op(B)ᵀ
                       detail::gemm_batched(g.data(), b_saved.data(), da.data(), p.batch, m, n, false, p.b_rows,
                                            p.b_cols, !transpose_b, b_stride);
                   else  // dA = op(B) Gᵀ
                       detail::gemm_batched(b_saved.data(), g.data(), da.data(), p.batch, p.b_rows, p.b_cols,
                                            transpose_b, m, n, true, m * n);
               }
               if (b_needs) {
                   db = Tensor<T>::empty(b_shape);
                   if (p.batched_b) {
                       if (!transpose_b)  // dB = op(A)ᵀ G
                           detail::gemm_batched(a_saved.data(), g.data(), db.data(), p.batch, p.a_rows, p.a_cols,
                                                !transpose_a, m, n, false, m * n);
                       else  // dB = Gᵀ op(A)
                           detail::gemm_batched(g.data(), a_saved.data(), db.data(), p.batch, m, n, true, p.a_rows,
                                                p.a_cols, transpose_a, p.a_rows * p.a_cols);
                   } else {
                       // One shared B: the batch (or flattened rows) is summed by the GEMM itself.
                       const index_t rows = p.batch * m;
                       if (!transpose_b)
                           detail::gemm_batched(a_saved.data(), g.data(), db.data(), 1, p.a_rows, p.a_cols,
                                                !transpose_a, rows, n, false, 0);
                       else
                           detail::gemm_batched(g.data(), a_saved.data(), db.data(), 1, rows, n, true, p.a_rows,
                                                p.a_cols, transpose_a, 0);
                   }
               }
               return std::vector<Tensor<T>>{da, db};
           });
    return out;
}

}  // namespace loom
