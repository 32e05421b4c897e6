#include "test_util.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <loom/quant/bf16.hpp>
#include <loom/quant/format.hpp>
#include <loom/quant/quantized_gemm.hpp>
#include <loom/quant/quantized_matrix.hpp>

namespace quant_quantized_gemm_test {

using loom::index_t;
using loom::QuantizedMatrix;
using loom::WeightFormat;
using loom_test::contains;
using loom_test::error_message;

std::vector<float> random_values(index_t count, std::uint64_t seed, float scale = 1.0f) {
    loom::Generator generator(seed);
    std::vector<float> values(static_cast<std::size_t>(count));
    for (float& v : values) v = scale * static_cast<float>(generator.uniform() * 2.0 - 1.0);
    return values;
}

// The fp64 product with the fp32 inputs, and Σ_k |x_k| |w_k| for error bounds.
struct Reference {
    std::vector<double> y, magnitude;
};
Reference reference(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& bias,
                    index_t batch, index_t rows, index_t cols) {
    Reference ref{std::vector<double>(static_cast<std::size_t>(batch * rows)),
                  std::vector<double>(static_cast<std::size_t>(batch * rows))};
    for (index_t r = 0; r < batch; ++r)
        for (index_t n = 0; n < rows; ++n) {
            double sum = bias.empty() ? 0.0 : bias[static_cast<std::size_t>(n)], magnitude = 0;
            for (index_t k = 0; k < cols; ++k) {
                const double a = x[static_cast<std::size_t>(r * cols + k)], b = w[static_cast<std::size_t>(n * cols + k)];
                sum += a * b;
                magnitude += std::fabs(a * b);
            }
            ref.y[static_cast<std::size_t>(r * rows + n)] = sum;
            ref.magnitude[static_cast<std::size_t>(r * rows + n)] = magnitude;
        }
    return ref;
}

std::vector<float> run(const std::vector<float>& x, index_t batch, const QuantizedMatrix& w,
                       const std::vector<float>& bias, loom::QuantKernel kernel) {
    std::vector<float> y(static_cast<std::size_t>(batch * w.rows()), 0.0f);
    loom::quantized_gemm(x.data(), batch, w, bias.empty() ? nullptr : bias.data(), y.data(), false, kernel);
    return y;
}

// Shapes with tails in every direction: rows not a multiple of 16 (or of 64,
// the 4-panel block), columns not a multiple of the group, batches 1..7.
const index_t shapes[][3] = {{1, 1, 1}, {1, 17, 3}, {2, 64, 64}, {3, 100, 37}, {5, 260, 256}, {7, 33, 129}};

TEST_CASE("quantized_gemm bf16: within the bf16 error bound of the fp32 product, both kernels", "[quant]") {
    for (const auto& shape : shapes) {
        const index_t batch = shape[0], rows = shape[1], cols = shape[2];
        const auto x = random_values(batch * cols, 1), w = random_values(rows * cols, 2), bias = random_values(rows, 3);
        const QuantizedMatrix q = QuantizedMatrix::quantize(w.data(), rows, cols, WeightFormat::bf16);
        const Reference ref = reference(x, w, bias, batch, rows, cols);
        const auto best = run(x, batch, q, bias, loom::QuantKernel::best);
        const auto portable = run(x, batch, q, bias, loom::QuantKernel::portable);
        for (std::size_t i = 0; i < best.size(); ++i) {
            // Each of x and w is off by ≤ 2⁻⁹ relative: |x̂ŵ − xw| ≤ (2·2⁻⁹ + 2⁻¹⁸)|xw|;
            // the fp32 sums add ≤ K·2⁻²⁴ Σ|xw| (and the bias's rounding).
            const double bound = (2.0 / 512 + 1.0 / 262144 + cols * 6e-8) * ref.magnitude[i] + 1e-6;
            INFO("shape " << batch << "x" << rows << "x" << cols << " element " << i);
            CHECK(std::fabs(best[i] - ref.y[i]) <= bound);
            CHECK(std::fabs(portable[i] - ref.y[i]) <= bound);
            // The two paths compute the same exact products; only the sums round differently.
            CHECK(std::fabs(best[i] - portable[i]) <= cols * 1.2e-7 * ref.magnitude[i] + 1e-6);
        }
    }
}

TEST_CASE("quantized_gemm int8: within the int8 error bound, and the two kernels agree bit for bit", "[quant]") {
    for (const auto& shape : shapes) {
        const index_t batch = shape[0], rows = shape[1], cols = shape[2];
        const auto x = random_values(batch * cols, 4, 3.0f), w = random_values(rows * cols, 5, 0.2f),
                   bias = random_values(rows, 6);
        const QuantizedMatrix q = QuantizedMatrix::quantize(w.data(), rows, cols, WeightFormat::int8);
        const Reference ref = reference(x, w, bias, batch, rows, cols);
        const auto best = run(x, batch, q, bias, loom::QuantKernel::best);
        const auto portable = run(x, batch, q, bias, loom::QuantKernel::portable);
        for (index_t r = 0; r < batch; ++r) {
            float x_max = 0;
            for (index_t k = 0; k < cols; ++k) x_max = std::max(x_max, std::fabs(x[static_cast<std::size_t>(r * cols + k)]));
            const double s_x = x_max / 127.0;
            for (index_t n = 0; n < rows; ++n) {
                double w_max = 0, sum_abs_x = 0, sum_abs_w = 0;
                for (index_t k = 0; k < cols; ++k) {
                    w_max = std::max(w_max, double(std::fabs(w[static_cast<std::size_t>(n * cols + k)])));
                    sum_abs_x += std::fabs(x[static_cast<std::size_t>(r * cols + k)]);
                    sum_abs_w += std::fabs(w[static_cast<std::size_t>(n * cols + k)]);
                }
                const double s_w = w_max / 127.0;
                // |x̂ŵ − xw| ≤ |x|·s_w/2 + |ŵ|·s_x/2 per term, ŵ ≤ |w| + s_w/2.
                const double bound =
                    s_w / 2 * sum_abs_x + s_x / 2 * (sum_abs_w + cols * s_w / 2) + 1e-5 * (1 + ref.magnitude[0]);
                const auto i = static_cast<std::size_t>(r * rows + n);
                INFO("shape " << batch << "x" << rows << "x" << cols << " row " << r << " output " << n);
                CHECK(std::fabs(best[i] - ref.y[i]) <= bound);
                CHECK(best[i] == portable[i]);
            }
        }
    }
}

TEST_CASE("quantized_gemm: accumulate adds to y, no bias leaves it out", "[quant]") {
    for (const WeightFormat format : {WeightFormat::bf16, WeightFormat::int8}) {
        const index_t batch = 2, rows = 20, cols = 9;
        const auto x = random_values(batch * cols, 7), w = random_values(rows * cols, 8);
        const QuantizedMatrix q = QuantizedMatrix::quantize(w.data(), rows, cols, format);
        const auto plain = run(x, batch, q, {}, loom::QuantKernel::best);
        std::vector<float> y(plain.size(), 1.5f);
        loom::quantized_gemm(x.data(), batch, q, nullptr, y.data(), true);
        for (std::size_t i = 0; i < y.size(); ++i) CHECK(y[i] == plain[i] + 1.5f);
    }
}

TEST_CASE("QuantizedMatrix: int8 per-row scales, exact round trip of stored values, bf16 rounding", "[quant]") {
    const std::vector<float> w = {0.5f, -1.0f, 0.25f, 0.0f, 0.0f, 0.0f, 3.0f, 1.5f, -0.75f};
    const QuantizedMatrix q = QuantizedMatrix::quantize(w.data(), 3, 3, WeightFormat::int8);
    CHECK(q.scales()[0] == Catch::Approx(1.0 / 127));
    CHECK(q.scales()[1] == 0.0f);  // a zero row
    CHECK(q.value(1, 2) == 0.0f);
    CHECK(q.value(0, 1) == Catch::Approx(-1.0).epsilon(1e-6));  // the largest entry is exact up to scale rounding
    CHECK(q.int8_values()[1] == -127);
    const QuantizedMatrix again = QuantizedMatrix::from_int8(q.int8_values(), q.scales(), 3, 3);
    CHECK(again.dequantize() == q.dequantize());

    const QuantizedMatrix b = QuantizedMatrix::quantize(w.data(), 3, 3, WeightFormat::bf16);
    for (index_t i = 0; i < 9; ++i) CHECK(b.value(i / 3, i % 3) == w[static_cast<std::size_t>(i)]);  // all exact in bf16
    CHECK(QuantizedMatrix::from_bf16(b.bf16_values(), 3, 3).dequantize() == b.dequantize());
    CHECK(loom::round_to_bf16(1.0f + 1.0f / 256) == 1.0f);                 // a tie rounds to even
    CHECK(loom::round_to_bf16(1.0f + 3.0f / 256) == 1.0f + 1.0f / 64);     // 1 + 3/256 -> 1 + 4/256
    CHECK(std::isnan(loom::round_to_bf16(std::numeric_limits<float>::quiet_NaN())));
    CHECK(std::isinf(loom::round_to_bf16(std::numeric_limits<float>::max())));
}

TEST_CASE("QuantizedMatrix and quantized_gemm: bad input gives clear errors", "[quant]") {
    const std::vector<float> w = {1.0f, std::numeric_limits<float>::infinity()};
    const std::string non_finite = error_message([&] { QuantizedMatrix::quantize(w.data(), 1, 2, WeightFormat::int8); });
    CHECK(contains(non_finite, "weight [0, 1]"));
    CHECK(contains(non_finite, "inf"));
    CHECK(contains(error_message([&] { QuantizedMatrix::quantize(w.data(), 1, 2, WeightFormat::fp32); }),
                   "fp32 is not a quantized format"));
    CHECK(contains(error_message([] { QuantizedMatrix::from_int8({1, 2, 3}, {1.0f}, 1, 2); }),
                   "3 values for a 1 x 2 matrix"));
    CHECK(contains(error_message([] { QuantizedMatrix::from_int8({1, 2}, {}, 1, 2); }), "0 scales for 1 rows"));
    CHECK(contains(error_message([] { QuantizedMatrix::from_int8({1, -128}, {1.0f}, 1, 2); }), "-128"));
    CHECK(contains(error_message([] { loom::parse_weight_format("int4"); }), "unknown weight format 'int4'"));
    const std::vector<float> ok = {1.0f, 2.0f}, x = {std::nanf(""), 1.0f};
    const QuantizedMatrix q = QuantizedMatrix::quantize(ok.data(), 1, 2, WeightFormat::int8);
    std::vector<float> y(1);
    CHECK(contains(error_message([&] { loom::quantized_gemm(x.data(), 1, q, nullptr, y.data(), false); }),
                   "input [0, 0] is nan"));
}

}  // namespace quant_quantized_gemm_test
