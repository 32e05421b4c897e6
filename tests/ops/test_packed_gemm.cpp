#include "test_util.hpp"

// Tests for loom/ops/packed_gemm.hpp (C += A · B with B packed into column
// panels) against a naive triple loop, for shapes that leave partial panels
// and partial row blocks, with leading dimensions wider than the matrices,
// on one thread and two; and for RecurrentProduct (loom/ops/recurrent_common.hpp),
// whose one-step (Eigen) and multi-step (packed) paths must agree.

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

using loom::index_t;
using loom::Shape;
using loom::detail::PackedMatrix;

namespace ops_packed_gemm_test {  // named, not anonymous: the test files are compiled together in unity batches

using loom_test::ThreadScope;

template <typename T>
std::vector<T> random_values(index_t count, std::uint64_t seed) {
    return loom_test::random_tensor<T>(Shape{count}, seed).to_vector();
}

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 1e-5 : 1e-13;
}

// C[m, n] (leading dimension ldc) += A[m, k] (lda) · B[k, n] (row-major, dense),
// summed in double, returning also the sum of |terms| per element (the scale of
// the rounding error).
template <typename T>
void naive_accumulate(const std::vector<T>& a, index_t m, index_t lda, const std::vector<T>& b, index_t k, index_t n,
                      std::vector<double>& c, std::vector<double>& scale, index_t ldc) {
    for (index_t i = 0; i < m; ++i)
        for (index_t j = 0; j < n; ++j) {
            double sum = 0.0, magnitude = 0.0;
            for (index_t p = 0; p < k; ++p) {
                const double term = static_cast<double>(a[static_cast<std::size_t>(i * lda + p)]) *
                                    static_cast<double>(b[static_cast<std::size_t>(p * n + j)]);
                sum += term;
                magnitude += std::abs(term);
            }
            c[static_cast<std::size_t>(i * ldc + j)] += sum;
            scale[static_cast<std::size_t>(i * ldc + j)] = magnitude;
        }
}

// Runs gemm_packed_accumulate for one shape with B packed both ways (from W = Bᵀ
// and from B itself) and compares with the naive product. A and C sit inside
// wider buffers (lda = k + 3, ldc = n + 2) whose extra columns must stay as they were.
template <typename T>
void check_shape(index_t m, index_t k, index_t n, std::uint64_t seed) {
    const index_t lda = k + 3, ldc = n + 2;
    const std::vector<T> a = random_values<T>(m * lda, seed);
    const std::vector<T> b = random_values<T>(k * n, seed + 1);  // B [k, n]
    std::vector<T> w(static_cast<std::size_t>(n * k));           // W = Bᵀ [n, k]
    for (index_t p = 0; p < k; ++p)
        for (index_t j = 0; j < n; ++j) w[static_cast<std::size_t>(j * k + p)] = b[static_cast<std::size_t>(p * n + j)];
    const std::vector<T> c0 = random_values<T>(m * ldc, seed + 2);

    std::vector<double> want(c0.begin(), c0.end()), scale(want.size(), 0.0);
    naive_accumulate(a, m, lda, b, k, n, want, scale, ldc);

    const PackedMatrix<T> from_transposed = PackedMatrix<T>::transposed(w.data(), n, k);
    const PackedMatrix<T> from_plain = PackedMatrix<T>::plain(b.data(), k, n);
    for (const PackedMatrix<T>* packed : {&from_transposed, &from_plain}) {
        INFO((packed == &from_transposed ? "PackedMatrix::transposed" : "PackedMatrix::plain"));
        REQUIRE(packed->rows() == k);
        REQUIRE(packed->cols() == n);
        REQUIRE(packed->panels() == (n + PackedMatrix<T>::P - 1) / PackedMatrix<T>::P);
        std::vector<T> c = c0;
        loom::detail::gemm_packed_accumulate(a.data(), m, lda, *packed, c.data(), ldc);
        double worst = 0.0;
        index_t padding_changed = 0;
        for (index_t i = 0; i < m; ++i) {
            for (index_t j = 0; j < n; ++j) {
                const auto at = static_cast<std::size_t>(i * ldc + j);
                const double error = std::abs(static_cast<double>(c[at]) - want[at]);
                worst = std::max(worst, error / std::max(1.0, scale[at] + std::abs(want[at])));
            }
            for (index_t j = n; j < ldc; ++j)
                if (c[static_cast<std::size_t>(i * ldc + j)] != c0[static_cast<std::size_t>(i * ldc + j)])
                    ++padding_changed;
        }
        INFO("largest relative error " << worst);
        CHECK(worst <= tolerance<T>());
        CHECK(padding_changed == 0);
    }
}

TEMPLATE_TEST_CASE("gemm_packed_accumulate matches a naive product", "[packed_gemm]", float, double) {
    using T = TestType;
    INFO("panel width P = " << PackedMatrix<T>::P);
    for (int threads : {1, 2}) {
        ThreadScope scope(threads);
        std::uint64_t seed = 1;
        for (index_t m : {1, 3, 8, 13, 32})
            for (index_t k : {1, 7, 64})
                for (index_t n : {1, 5, 33, 100}) {
                    INFO(threads << " threads, m = " << m << ", K = " << k << ", N = " << n);
                    check_shape<T>(m, k, n, seed);
                    seed += 3;
                }
    }
}

TEMPLATE_TEST_CASE("gemm_packed_accumulate splits large products over threads correctly", "[packed_gemm]", float,
                   double) {
    using T = TestType;
    // Enough work per panel that two threads each take a share of the panels.
    for (int threads : {1, 2}) {
        ThreadScope scope(threads);
        INFO(threads << " threads");
        check_shape<T>(33, 300, 517, 1000);
        check_shape<T>(8, 256, 1024, 2000);
    }
}

TEMPLATE_TEST_CASE("gemm_packed_accumulate adds to C and handles m = 0", "[packed_gemm]", float, double) {
    using T = TestType;
    // B = [[1, 2, 3], [4, 5, 6]] (K = 2, N = 3), A = [[1, 1], [2, -1]]: A·B = [[5, 7, 9], [-2, -1, 0]].
    const std::vector<T> b = {1, 2, 3, 4, 5, 6};
    const std::vector<T> a = {1, 1, 2, -1};
    const PackedMatrix<T> packed = PackedMatrix<T>::plain(b.data(), 2, 3);
    std::vector<T> c = {10, 20, 30, 40, 50, 60};
    loom::detail::gemm_packed_accumulate(a.data(), 2, 2, packed, c.data(), 3);
    CHECK(c == std::vector<T>{15, 27, 39, 38, 49, 60});
    loom::detail::gemm_packed_accumulate(a.data(), 2, 2, packed, c.data(), 3);
    CHECK(c == std::vector<T>{20, 34, 48, 36, 48, 60});
    loom::detail::gemm_packed_accumulate(a.data(), 0, 2, packed, c.data(), 3);
    CHECK(c == std::vector<T>{20, 34, 48, 36, 48, 60});

    const PackedMatrix<T> empty = PackedMatrix<T>::empty();
    CHECK(empty.rows() == 0);
    CHECK(empty.cols() == 0);
    CHECK(empty.panels() == 0);
}

TEMPLATE_TEST_CASE("RecurrentProduct gives the same result on its Eigen and packed paths", "[packed_gemm]", float,
                   double) {
    using T = TestType;
    const index_t hidden = 37, gates = 4, batch = 5;
    const auto w_hh = loom_test::random_tensor<T>(Shape{gates * hidden, hidden}, 50);  // [n, k] = [G·H, H]
    for (int threads : {1, 2}) {
        ThreadScope scope(threads);
        for (bool transposed : {true, false}) {
            INFO(threads << " threads, " << (transposed ? "forward (W_hhᵀ)" : "backward (W_hh)"));
            const index_t depth = transposed ? hidden : gates * hidden;  // columns of the rows
            const index_t width = transposed ? gates * hidden : hidden;  // columns of out
            const std::vector<T> rows = random_values<T>(batch * depth, 51);
            const std::vector<T> out0 = random_values<T>(batch * width, 52);

            std::vector<T> eigen_out = out0, packed_out = out0;
            const loom::detail::RecurrentProduct<T> one_step(w_hh, 1, transposed);
            const loom::detail::RecurrentProduct<T> many_steps(w_hh, 6, transposed);
            one_step.accumulate(rows.data(), batch, eigen_out.data());
            many_steps.accumulate(rows.data(), batch, packed_out.data());

            // Both against the naive product with op(W_hh) written out densely.
            std::vector<T> op(static_cast<std::size_t>(depth * width));
            for (index_t p = 0; p < depth; ++p)
                for (index_t j = 0; j < width; ++j)
                    op[static_cast<std::size_t>(p * width + j)] =
                        transposed ? w_hh.at({j, p}) : w_hh.at({p, j});
            std::vector<double> want(out0.begin(), out0.end()), scale(want.size(), 0.0);
            naive_accumulate(rows, batch, depth, op, depth, width, want, scale, width);
            double worst_eigen = 0.0, worst_packed = 0.0, worst_between = 0.0;
            for (std::size_t i = 0; i < want.size(); ++i) {
                const double s = std::max(1.0, scale[i] + std::abs(want[i]));
                worst_eigen = std::max(worst_eigen, std::abs(eigen_out[i] - want[i]) / s);
                worst_packed = std::max(worst_packed, std::abs(packed_out[i] - want[i]) / s);
                worst_between = std::max(worst_between, std::abs(static_cast<double>(eigen_out[i] - packed_out[i])) / s);
            }
            INFO("Eigen " << worst_eigen << ", packed " << worst_packed << ", between " << worst_between);
            CHECK(worst_eigen <= tolerance<T>());
            CHECK(worst_packed <= tolerance<T>());
            CHECK(worst_between <= tolerance<T>());

            // Accumulating again adds the product a second time on both paths.
            one_step.accumulate(rows.data(), batch, eigen_out.data());
            many_steps.accumulate(rows.data(), batch, packed_out.data());
            double worst_twice = 0.0;
            for (std::size_t i = 0; i < want.size(); ++i) {
                const double twice = 2.0 * want[i] - static_cast<double>(out0[i]);
                const double s = std::max(1.0, 2.0 * scale[i] + std::abs(twice));
                worst_twice = std::max(worst_twice, std::abs(eigen_out[i] - twice) / s);
                worst_twice = std::max(worst_twice, std::abs(packed_out[i] - twice) / s);
            }
            CHECK(worst_twice <= tolerance<T>());
        }
    }
}

}  // namespace ops_packed_gemm_test
