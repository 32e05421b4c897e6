#include "test_util.hpp"

// Tests for loom/ops/gemm.hpp (C (+)= op(A) · op(B), loom's blocked GEMM)
// against a naive product summed in double: every transpose combination,
// shapes that leave partial panels, partial row blocks and a partial depth
// block (K > 256), strided operands inside wider buffers, accumulate on and
// off, one thread and two, and results that do not depend on the thread count.

#include <cmath>
#include <type_traits>
#include <vector>

using loom::index_t;
using loom::Shape;
using loom::detail::StridedMatrix;

namespace ops_gemm_test {  // named, not anonymous: the test files are compiled together in unity batches

using loom_test::ThreadScope;

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 1e-5 : 1e-13;
}

// An operand X [rows, cols] stored row-major in a buffer with `pad` spare
// columns, read either directly or as the transpose of its stored matrix.
template <typename T>
struct TestOperand {
    std::vector<T> storage;
    StridedMatrix<T> view;
};

template <typename T>
TestOperand<T> make_operand(index_t rows, index_t cols, bool transposed, index_t pad, std::uint64_t seed) {
    const index_t stored_rows = transposed ? cols : rows, stored_cols = (transposed ? rows : cols) + pad;
    TestOperand<T> op;
    op.storage = loom_test::random_tensor<T>(Shape{std::max<index_t>(1, stored_rows * stored_cols)}, seed).to_vector();
    op.view = transposed ? StridedMatrix<T>{op.storage.data(), 1, stored_cols}
                         : StridedMatrix<T>{op.storage.data(), stored_cols, 1};
    return op;
}

struct Case {
    index_t m, n, k;
    bool transpose_a, transpose_b, accumulate;
};

// Runs one case and returns C; checks it against the naive product and checks
// that C's padding columns (ldc = n + 3) are untouched.
template <typename T>
std::vector<T> check_case(const Case& c, std::uint64_t seed) {
    INFO("m = " << c.m << ", n = " << c.n << ", k = " << c.k << ", transpose_a = " << c.transpose_a
                << ", transpose_b = " << c.transpose_b << ", accumulate = " << c.accumulate);
    const auto a = make_operand<T>(c.m, c.k, c.transpose_a, 2, seed);
    const auto b = make_operand<T>(c.k, c.n, c.transpose_b, 1, seed + 1);
    const index_t ldc = c.n + 3;
    const std::vector<T> c0 = loom_test::random_tensor<T>(Shape{std::max<index_t>(1, c.m * ldc)}, seed + 2).to_vector();
    std::vector<T> out = c0;
    loom::detail::gemm(c.m, c.n, c.k, a.view, b.view, out.data(), ldc, c.accumulate);

    double worst = 0.0;
    index_t padding_changed = 0;
    for (index_t i = 0; i < c.m; ++i) {
        for (index_t j = 0; j < c.n; ++j) {
            const auto at = static_cast<std::size_t>(i * ldc + j);
            double want = c.accumulate ? static_cast<double>(c0[at]) : 0.0, scale = std::abs(want);
            for (index_t p = 0; p < c.k; ++p) {
                const double term = static_cast<double>(a.view(i, p)) * static_cast<double>(b.view(p, j));
                want += term;
                scale += std::abs(term);
            }
            worst = std::max(worst, std::abs(static_cast<double>(out[at]) - want) / std::max(1.0, scale));
        }
        for (index_t j = c.n; j < ldc; ++j)
            if (out[static_cast<std::size_t>(i * ldc + j)] != c0[static_cast<std::size_t>(i * ldc + j)])
                ++padding_changed;
    }
    INFO("largest relative error " << worst);
    CHECK(worst <= tolerance<T>());
    CHECK(padding_changed == 0);
    return out;
}

TEMPLATE_TEST_CASE("gemm matches a naive product for every transpose and awkward shapes", "[gemm]", float, double) {
    using T = TestType;
    std::uint64_t seed = 1;
    for (int threads : {1, 2}) {
        ThreadScope scope(threads);
        INFO(threads << " threads");
        // Tiny (Eigen's small path), partial panels and row blocks, several
        // depth blocks (k > 256, not a multiple of it), and products large
        // enough that two threads split panels (wide n) or rows (narrow n).
        for (const auto& [m, n, k] : {std::tuple<index_t, index_t, index_t>{1, 1, 1},
                                      {3, 5, 7},
                                      {13, 33, 64},
                                      {37, 70, 300},
                                      {64, 200, 129},
                                      {130, 17, 520},
                                      {300, 40, 33}})
            for (bool transpose_a : {false, true})
                for (bool transpose_b : {false, true})
                    for (bool accumulate : {false, true}) {
                        check_case<T>({m, n, k, transpose_a, transpose_b, accumulate}, seed);
                        seed += 3;
                    }
    }
}

TEMPLATE_TEST_CASE("gemm gives the same bits on one thread and on two", "[gemm]", float, double) {
    using T = TestType;
    for (const Case& c : {Case{200, 256, 300, false, true, false}, Case{520, 40, 260, true, false, true}}) {
        std::vector<T> one, two;
        {
            ThreadScope scope(1);
            one = check_case<T>(c, 77);
        }
        {
            ThreadScope scope(2);
            two = check_case<T>(c, 77);
        }
        CHECK(one == two);
    }
}

TEMPLATE_TEST_CASE("gemm with an empty dimension leaves or clears C as asked", "[gemm]", float, double) {
    using T = TestType;
    const std::vector<T> a = {1, 2, 3, 4}, b = {5, 6, 7, 8};
    std::vector<T> c = {9, 9, 9, 9};
    const StridedMatrix<T> a_view{a.data(), 2, 1}, b_view{b.data(), 2, 1};
    loom::detail::gemm<T>(0, 2, 2, a_view, b_view, c.data(), 2, false);  // m = 0: nothing to write
    CHECK(c == std::vector<T>{9, 9, 9, 9});
    loom::detail::gemm<T>(2, 2, 0, a_view, b_view, c.data(), 2, true);  // k = 0, accumulate: C += 0
    CHECK(c == std::vector<T>{9, 9, 9, 9});
    loom::detail::gemm<T>(2, 2, 0, a_view, b_view, c.data(), 2, false);  // k = 0: C = 0
    CHECK(c == std::vector<T>{0, 0, 0, 0});
    loom::detail::gemm<T>(2, 2, 2, a_view, b_view, c.data(), 2, false);  // [[1,2],[3,4]]·[[5,6],[7,8]]
    CHECK(c == std::vector<T>{19, 22, 43, 50});
}

}  // namespace ops_gemm_test
