// bench/bench_quantized.cpp — the quantized product against fp32, and a whole
// LSTM step with quantized weights (loom/quant/, loom/nn/quantize.hpp):
//   BM_Product/<format>/<batch>/<rows>/<cols>   y = x Wᵀ + b; fp32 is loom's GEMM
//                                                (Eigen-backed), bf16/int8 quantized_gemm;
//                                                the counter weight_GBps is weight bytes read per second
//   BM_Product<format>Portable                   the same through the portable fallback
//   BM_LstmStep/<format>/<batch>                 LSTM(64 → 256, 2 layers)::step, the
//                                                char_rnn generator's recurrent part
// Run (idle machine):
//   build/bench/bench_quantized --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <vector>

#include <loom/nn/lstm.hpp>
#include <loom/nn/quantize.hpp>
#include <loom/ops/gemm.hpp>
#include <loom/quant/quantized_gemm.hpp>

namespace {

using loom::index_t;
using loom::WeightFormat;

std::vector<float> random_values(index_t count, std::uint64_t seed) {
    loom::Generator generator(seed);
    std::vector<float> values(static_cast<std::size_t>(count));
    for (float& v : values) v = static_cast<float>(generator.uniform(-0.1, 0.1));
    return values;
}

// args: format (0 fp32, 1 bf16, 2 int8), batch, rows, cols
void product(benchmark::State& state, loom::QuantKernel kernel) {
    const auto format = static_cast<WeightFormat>(state.range(0));
    const index_t batch = state.range(1), rows = state.range(2), cols = state.range(3);
    const auto x = random_values(batch * cols, 1), w = random_values(rows * cols, 2), bias = random_values(rows, 3);
    std::vector<float> y(static_cast<std::size_t>(batch * rows));
    const loom::QuantizedMatrix quantized =
        loom::QuantizedMatrix::quantize(w.data(), rows, cols, format == WeightFormat::fp32 ? WeightFormat::bf16 : format);
    for (auto _ : state) {
        if (format == WeightFormat::fp32) {
            loom::detail::bias_rows(bias.data(), batch, rows, y.data());
            loom::detail::gemm(batch, rows, cols, loom::detail::row_major(x.data(), cols),
                               loom::detail::row_major(w.data(), cols, true), y.data(), rows, true);
        } else {
            loom::quantized_gemm(x.data(), batch, quantized, bias.data(), y.data(), false, kernel);
        }
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    state.SetLabel(format == WeightFormat::fp32 ? "fp32" : loom::kernel_name(format, kernel));
    state.counters["weight_GBps"] = benchmark::Counter(
        static_cast<double>(rows * cols) * loom::bytes_per_weight(format) * static_cast<double>(state.iterations()),
        benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

void BM_Product(benchmark::State& state) { product(state, loom::QuantKernel::best); }
void BM_ProductPortable(benchmark::State& state) { product(state, loom::QuantKernel::portable); }

void product_shapes(benchmark::internal::Benchmark* b) {
    for (const int format : {0, 1, 2})
        for (const auto& shape : {std::vector<int64_t>{1, 1024, 256}, {1, 1024, 512}, {64, 1024, 256}, {1, 4096, 1024}})
            b->Args({format, shape[0], shape[1], shape[2]});
}
void portable_shapes(benchmark::internal::Benchmark* b) {
    for (const int format : {1, 2}) b->Args({format, 1, 1024, 256});
}
BENCHMARK(BM_Product)->Apply(product_shapes);
BENCHMARK(BM_ProductPortable)->Apply(portable_shapes);

void BM_LstmStep(benchmark::State& state) {
    const auto format = static_cast<WeightFormat>(state.range(0));
    const index_t batch = state.range(1);
    loom::Generator generator(4);
    loom::LSTM<float> lstm(64, 256, 2, generator);
    loom::quantize(lstm, format);
    loom::NoGradGuard no_grad;
    const loom::Tensor<float> x = loom::Tensor<float>::uniform(loom::Shape{batch, 64}, -1.0f, 1.0f, generator);
    loom::LstmState<float> lstm_state;
    for (auto _ : state) {
        lstm_state = lstm.step(x, lstm_state);
        benchmark::DoNotOptimize(lstm_state.h.data());
    }
    state.SetLabel(loom::to_string(format));
}
BENCHMARK(BM_LstmStep)->ArgsProduct({{0, 1, 2}, {1, 64}});

}  // namespace

BENCHMARK_MAIN();
