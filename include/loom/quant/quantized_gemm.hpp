// loom/quant/quantized_gemm.hpp — y = x · Wᵀ (+ b) with W in bf16 or int8
// (quantized_matrix.hpp), x and y in fp32: the one product every quantized
// layer runs.
//
//   x [B, K], W [N, K], y [B, N]:   y[r, n] = Σ_k x[r, k] · W[n, k]  (+ b[n])  (+ y[r, n] if accumulating)
//
// bf16: x is rounded to bf16 too, so that every product is of two bf16 values
// and exact in fp32; the sums are fp32. The AVX512_BF16 instruction VDPBF16PS
// does 16 lanes × 2 such products per instruction; the portable loop does
// them one at a time. Both compute Σ bf16(x)·w in fp32 and differ only in
// rounding of the sums (VDPBF16PS adds a pair before it rounds).
//
// int8: each row of x is quantized on the fly, symmetrically,
//   s_r = max_k |x[r, k]| / 127,   p[r, k] = round(x[r, k] / s_r) ∈ [−127, 127],
// the dot products are exact in int32, and one multiply brings them back:
//   y[r, n] = s_r · scale[n] · Σ_k p[r, k] q[n, k].
// AVX512-VNNI's VPDPBUSD multiplies unsigned by signed bytes, so the kernel
// feeds u = p + 128 ∈ [1, 255] and subtracts the excess:
//   Σ_k u q = Σ_k p q + 128 · row_sum[n].
// Integer sums have no rounding, so the VNNI and portable paths give the same
// bits.
//
// Which path runs is decided when compiling: the native kernels exist when the
// compiler targets AVX512_BF16 (bf16) or AVX512_VNNI (int8), e.g. with
// -march=native on a machine that has them; QuantKernel::portable forces the
// fallback (tests compare the two). Work is split over threads by panels of 16
// output rows (parallel.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#if defined(__AVX512F__) && (defined(__AVX512BF16__) || defined(__AVX512VNNI__))
#include <immintrin.h>
#endif

#include "loom/quant/quantized_matrix.hpp"
#include "loom/tensor/parallel.hpp"

namespace loom {

enum class QuantKernel { best, portable };

// True if this build has the native kernel for `format`.
inline bool has_native_kernel(WeightFormat format) {
#if defined(__AVX512F__) && defined(__AVX512BF16__)
    if (format == WeightFormat::bf16) return true;
#endif
#if defined(__AVX512F__) && defined(__AVX512VNNI__)
    if (format == WeightFormat::int8) return true;
#endif
    (void)format;
    return false;
}

inline const char* kernel_name(WeightFormat format, QuantKernel kernel = QuantKernel::best) {
    const bool native = kernel == QuantKernel::best && has_native_kernel(format);
    if (format == WeightFormat::bf16) return native ? "avx512_bf16" : "portable";
    if (format == WeightFormat::int8) return native ? "avx512_vnni" : "portable";
    return "fp32";
}

namespace detail {

// A buffer that lives on the stack up to N values and on the heap beyond: a
// generation step calls the product a dozen times with a few hundred values
// each, where a heap allocation per call would cost more than the conversion.
template <typename V, std::size_t N>
class ScratchBuffer {
public:
    void assign(std::size_t count, V value) {
        size_ = count;
        if (count > N) heap_.assign(count, value);
        else std::fill(local_.begin(), local_.begin() + static_cast<std::ptrdiff_t>(count), value);
    }
    V* data() { return size_ > N ? heap_.data() : local_.data(); }
    const V* data() const { return size_ > N ? heap_.data() : local_.data(); }
    V& operator[](std::size_t i) { return data()[i]; }
    const V& operator[](std::size_t i) const { return data()[i]; }

private:
    std::array<V, N> local_;  // not zeroed: assign() writes what is read
    std::vector<V> heap_;
    std::size_t size_ = 0;
};

// x rows prepared for the kernels: bf16 values, or bytes u = p + 128 with the
// row scales, padded with zero-contribution entries to whole groups.
struct QuantizedActivations {
    ScratchBuffer<std::uint16_t, 2048> bf16;  // [B, groups · 2]
    ScratchBuffer<std::uint8_t, 4096> bytes;  // [B, groups · 4]
    ScratchBuffer<float, 16> scales;          // [B]
    index_t stride = 0;                       // padded columns per row
};

inline void prepare_activations(const float* x, index_t batch, const QuantizedMatrix& w, QuantizedActivations& a) {
    const index_t K = w.cols();
    a.stride = w.groups() * w.group_size();
    if (w.format() == WeightFormat::bf16) {
        a.bf16.assign(static_cast<std::size_t>(batch * a.stride), 0);
        for (index_t r = 0; r < batch; ++r)
            for (index_t k = 0; k < K; ++k) a.bf16[static_cast<std::size_t>(r * a.stride + k)] = float_to_bf16(x[r * K + k]);
        return;
    }
    a.bytes.assign(static_cast<std::size_t>(batch * a.stride), 128);
    a.scales.assign(static_cast<std::size_t>(batch), 0.0f);
    for (index_t r = 0; r < batch; ++r) {
        const float* row = x + r * K;
        float largest = 0;
        for (index_t k = 0; k < K; ++k) {
            // A NaN or inf has no int8 code; it means the model already failed.
            check(std::isfinite(row[k]), "loom::quantized_gemm: input [", r, ", ", k, "] is ", row[k],
                  " (int8 weights need finite inputs)");
            largest = std::max(largest, std::fabs(row[k]));
        }
        const float scale = largest / 127.0f;
        a.scales[static_cast<std::size_t>(r)] = scale;
        if (!(scale > 0)) continue;  // a zero row stays p = 0 (u = 128)
        const float inverse = 1.0f / scale;
        std::uint8_t* out = a.bytes.data() + r * a.stride;
        // Round to nearest even by adding and subtracting 1.5·2²³ (exact for
        // |v| ≤ 2²², here ≤ 127): the same as nearbyint, but the loop vectorises.
        constexpr float round_shift = 12582912.0f;
        for (index_t k = 0; k < K; ++k) {
            const float v = std::clamp(row[k] * inverse, -127.0f, 127.0f);
            const float p = (v + round_shift) - round_shift;
            out[k] = static_cast<std::uint8_t>(static_cast<int>(p) + 128);
        }
    }
}

// One panel's 16 sums for one row of x, written into y with bias/accumulate.
inline void finish_panel(float sums[16], index_t panel, index_t rows, const float* bias, float* y_row, bool accumulate) {
    const index_t first = panel * QuantizedMatrix::panel_rows;
    const index_t count = std::min<index_t>(QuantizedMatrix::panel_rows, rows - first);
    for (index_t j = 0; j < count; ++j) {
        float value = sums[j];
        if (bias != nullptr) value += bias[first + j];
        y_row[first + j] = accumulate ? y_row[first + j] + value : value;
    }
}

// int8: the exact integer dot products Σ p q of one panel -> fp32 sums.
inline void int8_panel_sums(const std::int32_t dot[16], float row_scale, const QuantizedMatrix& w, index_t panel,
                            float sums[16]) {
    const index_t first = panel * QuantizedMatrix::panel_rows;
    const index_t count = std::min<index_t>(QuantizedMatrix::panel_rows, w.rows() - first);
    for (index_t j = 0; j < count; ++j) sums[j] = row_scale * w.scale_data()[first + j] * static_cast<float>(dot[j]);
}

// ---- portable kernels: one panel, one row of x ----------------------------

inline void bf16_panel_portable(const std::uint16_t* x, const QuantizedMatrix& w, index_t panel, float sums[16]) {
    const index_t groups = w.groups();
    const std::uint16_t* panel_values = w.bf16_panels() + panel * groups * 32;
    std::fill(sums, sums + 16, 0.0f);
    for (index_t g = 0; g < groups; ++g) {
        const float x0 = bf16_to_float(x[2 * g]), x1 = bf16_to_float(x[2 * g + 1]);
        const std::uint16_t* v = panel_values + g * 32;
        for (int j = 0; j < 16; ++j) {
            sums[j] += x0 * bf16_to_float(v[2 * j]);
            sums[j] += x1 * bf16_to_float(v[2 * j + 1]);
        }
    }
}

inline void int8_panel_portable(const std::uint8_t* x, const QuantizedMatrix& w, index_t panel, std::int32_t dot[16]) {
    const index_t groups = w.groups();
    const std::int8_t* panel_values = w.int8_panels() + panel * groups * 64;
    std::fill(dot, dot + 16, 0);
    for (index_t g = 0; g < groups; ++g) {
        const std::int8_t* v = panel_values + g * 64;
        for (int j = 0; j < 16; ++j)
            for (int e = 0; e < 4; ++e) dot[j] += (static_cast<std::int32_t>(x[4 * g + e]) - 128) * v[4 * j + e];
    }
}

// ---- native kernels: Panels panels × Rows rows of x, one accumulator each --
// (several independent accumulators hide the instruction latency at batch 1).

#if defined(__AVX512F__) && defined(__AVX512BF16__)
inline __m512bh as_bf16_pairs(__m512i v) { return (__m512bh)v; }  // a bit cast

template <int Rows, int Panels>
void bf16_block_native(const std::uint16_t* x, index_t x_stride, const QuantizedMatrix& w, index_t panel, index_t row,
                       float* y, const float* bias, bool accumulate) {
    const index_t groups = w.groups();
    __m512 acc[Rows][Panels];
    for (int r = 0; r < Rows; ++r)
        for (int p = 0; p < Panels; ++p) acc[r][p] = _mm512_setzero_ps();
    const std::uint16_t* base = w.bf16_panels() + panel * groups * 32;
    for (index_t g = 0; g < groups; ++g) {
        __m512i weights[Panels];
        for (int p = 0; p < Panels; ++p) weights[p] = _mm512_loadu_si512(base + (p * groups + g) * 32);
        for (int r = 0; r < Rows; ++r) {
            std::int32_t pair;
            std::memcpy(&pair, x + (row + r) * x_stride + 2 * g, sizeof pair);
            const __m512i xs = _mm512_set1_epi32(pair);
            for (int p = 0; p < Panels; ++p)
                acc[r][p] = _mm512_dpbf16_ps(acc[r][p], as_bf16_pairs(xs), as_bf16_pairs(weights[p]));
        }
    }
    for (int r = 0; r < Rows; ++r)
        for (int p = 0; p < Panels; ++p) {
            alignas(64) float sums[16];
            _mm512_store_ps(sums, acc[r][p]);
            finish_panel(sums, panel + p, w.rows(), bias, y + (row + r) * w.rows(), accumulate);
        }
}
#endif

#if defined(__AVX512F__) && defined(__AVX512VNNI__)
template <int Rows, int Panels>
void int8_block_native(const QuantizedActivations& a, const QuantizedMatrix& w, index_t panel, index_t row, float* y,
                       const float* bias, bool accumulate) {
    const index_t groups = w.groups();
    __m512i acc[Rows][Panels];
    for (int r = 0; r < Rows; ++r)
        for (int p = 0; p < Panels; ++p) acc[r][p] = _mm512_setzero_si512();
    const std::int8_t* base = w.int8_panels() + panel * groups * 64;
    for (index_t g = 0; g < groups; ++g) {
        __m512i weights[Panels];
        for (int p = 0; p < Panels; ++p) weights[p] = _mm512_loadu_si512(base + (p * groups + g) * 64);
        for (int r = 0; r < Rows; ++r) {
            std::int32_t quad;
            std::memcpy(&quad, a.bytes.data() + (row + r) * a.stride + 4 * g, sizeof quad);
            const __m512i xs = _mm512_set1_epi32(quad);
            for (int p = 0; p < Panels; ++p) acc[r][p] = _mm512_dpbusd_epi32(acc[r][p], xs, weights[p]);
        }
    }
    for (int p = 0; p < Panels; ++p) {
        // Σ u q − 128 · row_sum = Σ p q (exact).
        const __m512i excess =
            _mm512_slli_epi32(_mm512_loadu_si512(w.row_sums() + (panel + p) * QuantizedMatrix::panel_rows), 7);
        for (int r = 0; r < Rows; ++r) {
            alignas(64) std::int32_t dot[16];
            alignas(64) float sums[16];
            _mm512_store_si512(dot, _mm512_sub_epi32(acc[r][p], excess));
            int8_panel_sums(dot, a.scales[static_cast<std::size_t>(row + r)], w, panel + p, sums);
            finish_panel(sums, panel + p, w.rows(), bias, y + (row + r) * w.rows(), accumulate);
        }
    }
}
#endif

// Calls block(rows, panels, panel, row) with the block's shape as
// compile-time constants (std::integral_constant), so that each kernel
// instance keeps its Rows × Panels accumulators in registers.
template <int Panels, typename Block>
void with_block_rows(index_t rows, index_t panel, index_t row, Block& block) {
    constexpr std::integral_constant<int, Panels> panels{};
    switch (rows) {
        case 1: block(std::integral_constant<int, 1>{}, panels, panel, row); break;
        case 2: block(std::integral_constant<int, 2>{}, panels, panel, row); break;
        case 3: block(std::integral_constant<int, 3>{}, panels, panel, row); break;
        default: block(std::integral_constant<int, 4>{}, panels, panel, row);
    }
}

// Rows [0, batch) × panels [first, last) with the native block kernels:
// 4 panels at a time, rows in blocks of up to 4.
template <typename Block>
void for_native_blocks(index_t batch, index_t first, index_t last, Block&& block) {
    for (index_t row = 0; row < batch;) {
        const index_t rows = std::min<index_t>(4, batch - row);
        index_t panel = first;
        for (; panel + 4 <= last; panel += 4) with_block_rows<4>(rows, panel, row, block);
        for (; panel < last; ++panel) with_block_rows<1>(rows, panel, row, block);
        row += rows;
    }
}

}  // namespace detail

// y [batch, W.rows()] = x [batch, W.cols()] · Wᵀ (+ bias [W.rows()]), or
// y += that with `accumulate`. All row-major, contiguous.
inline void quantized_gemm(const float* x, index_t batch, const QuantizedMatrix& w, const float* bias, float* y,
                           bool accumulate, QuantKernel kernel = QuantKernel::best) {
    detail::check(batch >= 0, "loom::quantized_gemm: batch must be >= 0, got ", batch);
    if (batch == 0) return;
    detail::QuantizedActivations a;
    detail::prepare_activations(x, batch, w, a);
    const bool native = kernel == QuantKernel::best && has_native_kernel(w.format());
    const index_t panels = w.panels();
    // Threads only for products of at least ~2²¹ multiply-adds a piece (a few
    // microseconds of work): waking a thread costs about as much, and at batch 1
    // the matrices of the example models are below that (measured: two threads
    // made lstm_gen_greedy_int8 1.6× slower).
    const index_t work_per_panel = QuantizedMatrix::panel_rows * w.cols() * batch;
    const index_t grain = std::max<index_t>(1, (index_t{1} << 21) / std::max<index_t>(work_per_panel, 1));
    const bool bf16 = w.format() == WeightFormat::bf16;
    parallel_for(panels, grain, [&](index_t first, index_t last) {
        if (native) {
#if defined(__AVX512F__) && defined(__AVX512BF16__)
            if (bf16) {
                detail::for_native_blocks(batch, first, last, [&](auto rows, auto count, index_t panel, index_t row) {
                    detail::bf16_block_native<decltype(rows)::value, decltype(count)::value>(
                        a.bf16.data(), a.stride, w, panel, row, y, bias, accumulate);
                });
                return;
            }
#endif
#if defined(__AVX512F__) && defined(__AVX512VNNI__)
            if (!bf16) {
                detail::for_native_blocks(batch, first, last, [&](auto rows, auto count, index_t panel, index_t row) {
                    detail::int8_block_native<decltype(rows)::value, decltype(count)::value>(a, w, panel, row, y, bias,
                                                                                             accumulate);
                });
                return;
            }
#endif
        }
        for (index_t row = 0; row < batch; ++row)
            for (index_t panel = first; panel < last; ++panel) {
                float sums[16];
                if (bf16) {
                    detail::bf16_panel_portable(a.bf16.data() + row * a.stride, w, panel, sums);
                } else {
                    std::int32_t dot[16];
                    detail::int8_panel_portable(a.bytes.data() + row * a.stride, w, panel, dot);
                    detail::int8_panel_sums(dot, a.scales[static_cast<std::size_t>(row)], w, panel, sums);
                }
                detail::finish_panel(sums, panel, w.rows(), bias, y + row * w.rows(), accumulate);
            }
    });
}

}  // namespace loom
