// loom/quant/quantized_matrix.hpp — a weight matrix W [rows, cols] (PyTorch's
// [out_features, in_features]) stored in bf16 or int8 for inference.
//
// Formats (loom/quant/format.hpp):
//   bf16  w[n, k] = bf16(W[n, k])                           (round to nearest even)
//   int8  w[n, k] = scale[n] · q[n, k],  scale[n] = max_k |W[n, k]| / 127,
//         q[n, k] = round(W[n, k] / scale[n]) ∈ [−127, 127]  (a zero row: scale 0, q 0)
//
// The values are kept in the order the product kernels read them
// (quantized_gemm.hpp), "panels" of 16 consecutive rows: one 64-byte load holds
// 16 rows × 2 consecutive columns (bf16) or 16 rows × 4 columns (int8),
//   bf16: offset(n, k) = ((n/16 · K₂ + k/2) · 16 + n%16) · 2 + k%2,   K₂ = ⌈cols/2⌉
//   int8: offset(n, k) = ((n/16 · K₄ + k/4) · 16 + n%16) · 4 + k%4,   K₄ = ⌈cols/4⌉
// so that the kernel multiplies one broadcast pair/quad of x by 16 rows at
// once. Rows and columns past the matrix are zeros. int8 also keeps
// row_sum[n] = Σ_k q[n, k], which the VNNI kernel needs (see there).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "loom/quant/bf16.hpp"
#include "loom/quant/format.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

class QuantizedMatrix {
public:
    static constexpr index_t panel_rows = 16;

    // Converts row-major fp32 values W [rows, cols] to `format` (bf16 or int8).
    static QuantizedMatrix quantize(const float* values, index_t rows, index_t cols, WeightFormat format) {
        detail::check(format != WeightFormat::fp32, "loom::QuantizedMatrix::quantize: fp32 is not a quantized format");
        detail::check(rows > 0 && cols > 0, "loom::QuantizedMatrix::quantize: the matrix is empty (", rows, " x ",
                      cols, ")");
        for (index_t i = 0; i < rows * cols; ++i)
            detail::check(std::isfinite(values[i]), "loom::QuantizedMatrix::quantize: weight [", i / cols, ", ",
                          i % cols, "] of a ", rows, " x ", cols, " matrix is ", values[i],
                          " (only finite weights can be quantized)");
        QuantizedMatrix m(format, rows, cols);
        if (format == WeightFormat::bf16) {
            for (index_t n = 0; n < rows; ++n)
                for (index_t k = 0; k < cols; ++k) m.bf16_[m.offset(n, k)] = float_to_bf16(values[n * cols + k]);
            return m;
        }
        for (index_t n = 0; n < rows; ++n) {
            const float* row = values + n * cols;
            float largest = 0;
            for (index_t k = 0; k < cols; ++k) largest = std::max(largest, std::fabs(row[k]));
            const float scale = largest / 127.0f;
            m.scales_[static_cast<std::size_t>(n)] = scale;
            for (index_t k = 0; k < cols; ++k) {
                const float q = scale > 0 ? std::nearbyint(row[k] / scale) : 0.0f;
                m.int8_[m.offset(n, k)] = static_cast<std::int8_t>(std::clamp(q, -127.0f, 127.0f));
            }
        }
        m.compute_row_sums();
        return m;
    }

    // From a rank-2 tensor of any float type (double is converted to float first).
    template <typename T>
    static QuantizedMatrix quantize(const Tensor<T>& weight, WeightFormat format) {
        detail::check(weight.defined() && weight.rank() == 2, "loom::QuantizedMatrix::quantize: expected a matrix, got ",
                      weight.defined() ? weight.shape() : Shape{});
        const index_t rows = weight.shape()[0], cols = weight.shape()[1];
        std::vector<float> values(weight.data(), weight.data() + rows * cols);
        return quantize(values.data(), rows, cols, format);
    }

    // From stored values (a checkpoint): row-major bf16 bit patterns.
    static QuantizedMatrix from_bf16(const std::vector<std::uint16_t>& values, index_t rows, index_t cols) {
        check_stored("from_bf16", values.size(), rows, cols);
        QuantizedMatrix m(WeightFormat::bf16, rows, cols);
        for (index_t n = 0; n < rows; ++n)
            for (index_t k = 0; k < cols; ++k) m.bf16_[m.offset(n, k)] = values[static_cast<std::size_t>(n * cols + k)];
        return m;
    }

    // From stored values: row-major q [rows, cols] and scale [rows].
    static QuantizedMatrix from_int8(const std::vector<std::int8_t>& values, const std::vector<float>& scales,
                                     index_t rows, index_t cols) {
        check_stored("from_int8", values.size(), rows, cols);
        detail::check(static_cast<index_t>(scales.size()) == rows, "loom::QuantizedMatrix::from_int8: ", scales.size(),
                      " scales for ", rows, " rows");
        QuantizedMatrix m(WeightFormat::int8, rows, cols);
        for (index_t n = 0; n < rows; ++n) {
            const float scale = scales[static_cast<std::size_t>(n)];
            detail::check(std::isfinite(scale) && scale >= 0, "loom::QuantizedMatrix::from_int8: scale of row ", n,
                          " is ", scale, " (must be finite and >= 0)");
            m.scales_[static_cast<std::size_t>(n)] = scale;
            for (index_t k = 0; k < cols; ++k) {
                const std::int8_t q = values[static_cast<std::size_t>(n * cols + k)];
                detail::check(q != -128, "loom::QuantizedMatrix::from_int8: value [", n, ", ", k,
                              "] is -128 (symmetric int8 uses [-127, 127])");
                m.int8_[m.offset(n, k)] = q;
            }
        }
        m.compute_row_sums();
        return m;
    }

    WeightFormat format() const { return format_; }
    index_t rows() const { return rows_; }
    index_t cols() const { return cols_; }
    index_t panels() const { return (rows_ + panel_rows - 1) / panel_rows; }
    // Column groups per panel: pairs (bf16) or quads (int8).
    index_t groups() const { return (cols_ + group_size() - 1) / group_size(); }
    index_t group_size() const { return format_ == WeightFormat::bf16 ? 2 : 4; }

    // W[n, k] as the format represents it.
    float value(index_t n, index_t k) const {
        return format_ == WeightFormat::bf16 ? bf16_to_float(bf16_[offset(n, k)])
                                             : scales_[static_cast<std::size_t>(n)] * int8_[offset(n, k)];
    }
    // Row n as fp32 (an embedding lookup).
    void dequantize_row(index_t n, float* out) const {
        for (index_t k = 0; k < cols_; ++k) out[k] = value(n, k);
    }
    std::vector<float> dequantize() const {
        std::vector<float> out(static_cast<std::size_t>(rows_ * cols_));
        for (index_t n = 0; n < rows_; ++n) dequantize_row(n, out.data() + n * cols_);
        return out;
    }

    // Row-major stored values, for saving (the inverse of from_bf16 / from_int8).
    std::vector<std::uint16_t> bf16_values() const {
        detail::check(format_ == WeightFormat::bf16, "loom::QuantizedMatrix::bf16_values: the matrix is ",
                      to_string(format_));
        std::vector<std::uint16_t> out(static_cast<std::size_t>(rows_ * cols_));
        for (index_t n = 0; n < rows_; ++n)
            for (index_t k = 0; k < cols_; ++k) out[static_cast<std::size_t>(n * cols_ + k)] = bf16_[offset(n, k)];
        return out;
    }
    std::vector<std::int8_t> int8_values() const {
        detail::check(format_ == WeightFormat::int8, "loom::QuantizedMatrix::int8_values: the matrix is ",
                      to_string(format_));
        std::vector<std::int8_t> out(static_cast<std::size_t>(rows_ * cols_));
        for (index_t n = 0; n < rows_; ++n)
            for (index_t k = 0; k < cols_; ++k) out[static_cast<std::size_t>(n * cols_ + k)] = int8_[offset(n, k)];
        return out;
    }
    const std::vector<float>& scales() const { return scales_; }  // int8 only (empty for bf16)

    // Bytes held (values with their padding, scales, row sums).
    std::size_t bytes() const {
        return bf16_.size() * sizeof(std::uint16_t) + int8_.size() + scales_.size() * sizeof(float) +
               row_sums_.size() * sizeof(std::int32_t);
    }

    // For the kernels: the panel layout of the header comment.
    const std::uint16_t* bf16_panels() const { return bf16_.data(); }
    const std::int8_t* int8_panels() const { return int8_.data(); }
    const std::int32_t* row_sums() const { return row_sums_.data(); }  // [panels · 16], zeros past the rows
    const float* scale_data() const { return scales_.data(); }

private:
    QuantizedMatrix(WeightFormat format, index_t rows, index_t cols) : format_(format), rows_(rows), cols_(cols) {
        const auto padded = static_cast<std::size_t>(panels() * panel_rows * groups() * group_size());
        if (format == WeightFormat::bf16) bf16_.assign(padded, 0);
        else {
            int8_.assign(padded, 0);
            scales_.assign(static_cast<std::size_t>(rows), 0.0f);
            row_sums_.assign(static_cast<std::size_t>(panels() * panel_rows), 0);
        }
    }

    std::size_t offset(index_t n, index_t k) const {
        const index_t g = group_size();
        return static_cast<std::size_t>(((n / panel_rows * groups() + k / g) * panel_rows + n % panel_rows) * g + k % g);
    }

    void compute_row_sums() {
        for (index_t n = 0; n < rows_; ++n) {
            std::int32_t sum = 0;
            for (index_t k = 0; k < cols_; ++k) sum += int8_[offset(n, k)];
            row_sums_[static_cast<std::size_t>(n)] = sum;
        }
    }

    static void check_stored(const char* op, std::size_t count, index_t rows, index_t cols) {
        detail::check(rows > 0 && cols > 0, "loom::QuantizedMatrix::", op, ": the matrix is empty (", rows, " x ", cols,
                      ")");
        detail::check(static_cast<index_t>(count) == rows * cols, "loom::QuantizedMatrix::", op, ": ", count,
                      " values for a ", rows, " x ", cols, " matrix");
    }

    WeightFormat format_;
    index_t rows_, cols_;
    std::vector<std::uint16_t> bf16_;
    std::vector<std::int8_t> int8_;
    std::vector<float> scales_;
    std::vector<std::int32_t> row_sums_;
};

}  // namespace loom
