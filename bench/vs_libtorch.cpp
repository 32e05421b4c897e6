// bench/vs_libtorch.cpp — loom against libtorch (PyTorch's C++ API) on the same
// workloads, timed in the same process, one line per workload and thread count:
//
//   workload=<name> threads=<n> loom_ms=<x> libtorch_ms=<y> speedup=<y/x>
//
// Workloads (float32, batch-first, as in examples/char_model.hpp):
//   lstm_train, gru_train, rnn_train — Embedding(65→64) → 1-layer cell(256) →
//       Linear(256→65) → cross-entropy, B=32, T=64: forward + backward + SGD step.
//   lstm_gen_greedy — Embedding(65→64) → 2-layer LSTM(256) → Linear(→65),
//       generating 1,000 characters one at a time at batch 1 with argmax
//       (time per 1,000 characters).
//   lstm_gen_beam5 — the same model, beam search of width 5 for 200 characters:
//       the 5 hypotheses are one batch of 5 rows per step; each step scores
//       [5·V] extensions (beam score + log_softmax), keeps the top 5 and
//       gathers the h/c rows of their parents (loom: loom/decode/beam_search.hpp
//       with examples' CharDecoder; libtorch: topk + index_select)
//       (time per 200 characters).
//   conv_train — Embedding(65→128) → 4 × [h + ReLU(causal Conv1d(128→128, k=3,
//       dilation 1, 2, 4, 8)(h))] → Linear(128→65) → cross-entropy, B=32, T=64:
//       forward + backward + SGD step (loom: examples' CharCnnModel; libtorch:
//       torch::nn::Conv1d without padding on the input left-padded with
//       (k−1)·dilation zeros by F::pad, the same math). Both stacks run in the
//       channels-first layout [B, C, T], transposing after the embedding and
//       before the head.
//   gpt_train — the mini-GPT of examples/char_gpt (nanoGPT's baby GPT): vocab 65,
//       d=128, 4 heads, 4 pre-LN blocks (LayerNorm → fused qkv Linear(128→384) →
//       causal softmax(q·kᵀ/√32)·v → out proj → residual; LayerNorm →
//       Linear(128→512) → GELU(tanh) → Linear(512→128) → residual), final
//       LayerNorm, head Linear(128→65, no bias); T=64, B=32: forward +
//       cross-entropy + backward + clip_grad_norm_(1.0) + AdamW step (lr 1e-3,
//       betas 0.9/0.99, weight decay 0.1 on the rank-2 parameters, none on biases
//       and LayerNorm parameters; gradients dropped, not zeroed, on both sides).
//       loom: examples' CharGptModel, optimizer_groups(0.1), loom::AdamW,
//       loom::clip_grad_norm_. libtorch: the same model written with torch::nn,
//       attention by 1.13's at::_scaled_dot_product_attention(q, k, v,
//       is_causal=true) — differentiable (its CPU path is the composite math
//       kernel) and 5-10% faster per step here than the explicit matmul →
//       masked_fill(precomputed bool mask) → softmax → matmul, which
//       LOOM_VS_LIBTORCH_GPT_ATTENTION=explicit selects; 1.13's other fused
//       paths (at::_native_multi_head_attention, _transformer_encoder_layer_fwd)
//       have no backward, and flash attention is CUDA-only —
//       torch::optim::AdamW with the same two groups,
//       torch::nn::utils::clip_grad_norm_.
//   gpt_gen — 500 new characters at batch 1 from the same model after a
//       64-character prompt, greedy (argmax) (time per 500 characters). loom:
//       examples' CharGptDecoder (key/value caches; when the block is full it
//       re-reads the last block/2 = 32 characters). libtorch: as nanoGPT's
//       generate, under torch::NoGradGuard: for every new character, crop to the
//       last 64, the whole forward, the last position's logits, argmax.
//   gpt_gen_window — gpt_gen with loom's decoder re-reading the last 64
//       characters (context_keep = block size) whenever the block is full:
//       nanoGPT's exact sliding window, so every prediction sees the same
//       context as libtorch's. The libtorch side is gpt_gen's.
//   ctc_loss — log_softmax + CTC loss + backward on logits [T=200, B=32, C=60]
//       with targets of 40 labels (bench/vs_libtorch_ctc.hpp).
//   seq2seq_train, seq2seq_beam5 — examples/seq2seq's BiLSTM encoder–decoder
//       with Bahdanau attention: a training step on 64 date pairs, and beam
//       search of width 5 over 16 sources (bench/vs_libtorch_seq2seq.hpp).
//   lstm_gen_greedy_bf16, lstm_gen_greedy_int8 — lstm_gen_greedy with loom's
//       model converted by loom::quantize (bf16, or int8 with per-row scales;
//       loom/nn/quantize.hpp); the libtorch side is lstm_gen_greedy's fp32.
//   gpt_gen_bf16, gpt_gen_int8 — gpt_gen with loom's model quantized; the
//       libtorch side is gpt_gen's. Their loom_ms against gpt_gen's loom_ms is
//       quantization's gain over loom's own fp32 key/value-cache path, printed
//       as a "# loom fp32/<format>" line when both ran.
//   Both sides read the same ids (loom::Generator, fixed seeds).
// Each side gets warm-up runs, then the median of --iterations runs (≥ 20).
//
// A fair baseline: Debian's libtorch does its GEMMs through the system BLAS.
// With OpenBLAS 0.3.21 that means setting OPENBLAS_CORETYPE=SkylakeX (it does
// not recognise this CPU and would fall back to SSE3 kernels; an inherited
// OPENBLAS_CORETYPE=Haswell is overridden on AVX-512 machines) and, with two
// threads, OMP_WAIT_POLICY=PASSIVE (so OpenBLAS's and OpenMP's thread pools
// don't spin against each other). Both must be in the environment before the
// libraries load, so the program sets them and re-executes itself. It then
// times a 1024³ torch::mm; below 50 GFLOP/s the baseline is misconfigured and
// every speedup is printed as "invalid".
// OMP_WAIT_POLICY=PASSIVE would also put loom's OpenMP threads to sleep between
// parallel regions (the two libraries share one OpenMP runtime), which is not
// loom's configuration; so the loom side runs in a child process (this program
// with --loom-side) with the environment the user started it with.
#include <torch/torch.h>

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <loom/autograd/engine.hpp>
#include <loom/decode/beam_search.hpp>
#include <loom/decode/sample.hpp>
#include <loom/nn/loss.hpp>
#include <loom/nn/quantize.hpp>
#include <loom/optim/adam.hpp>
#include <loom/optim/clip_grad.hpp>
#include <loom/optim/sgd.hpp>
#include <loom/tensor/parallel.hpp>

#include "../examples/char_cnn_model.hpp"
#include "../examples/char_gpt_model.hpp"
#include "../examples/char_model.hpp"
#include "vs_libtorch_beam.hpp"
#include "vs_libtorch_ctc.hpp"
#include "vs_libtorch_seq2seq.hpp"

namespace {

constexpr loom::index_t vocab = 65, embedding_dim = 64, hidden = 256, batch = 32, steps = 64, generated = 1000;
constexpr loom::index_t beam_width = 5, beam_generated = 200;
constexpr loom::index_t conv_channels = 128, conv_layers = 4, conv_kernel = 3;
constexpr loom::index_t gpt_block = 64, gpt_dim = 128, gpt_heads = 4, gpt_layers = 4, gpt_feedforward = 512;
constexpr loom::index_t gpt_generated = 500;
constexpr double gpt_learning_rate = 1e-3, gpt_beta1 = 0.9, gpt_beta2 = 0.99, gpt_weight_decay = 0.1, gpt_clip = 1.0;
constexpr std::uint64_t gpt_data_seed = 5, gpt_prompt_seed = 6;

// Random ids in [0, vocab) from a fixed seed: the same data on both sides.
std::vector<loom::index_t> random_ids(std::uint64_t seed, loom::index_t count) {
    loom::Generator generator(seed);
    std::vector<loom::index_t> ids(static_cast<std::size_t>(count));
    for (auto& id : ids) id = static_cast<loom::index_t>(generator.below(vocab));
    return ids;
}

// ---- environment ---------------------------------------------------------

void reexec_with_blas_environment(char** argv) {
    if (std::getenv("LOOM_VS_LIBTORCH_CONFIGURED") != nullptr) return;
    setenv("LOOM_VS_LIBTORCH_CONFIGURED", "1", 1);
    // Remember the user's own wait policy for the loom child process.
    const char* wait_policy = std::getenv("OMP_WAIT_POLICY");
    setenv("LOOM_VS_LIBTORCH_USER_WAIT_POLICY", wait_policy ? wait_policy : "", 1);
    // The machine's environment may already name a core type (some images set
    // OPENBLAS_CORETYPE=Haswell); on an AVX-512 CPU that halves OpenBLAS's
    // GEMM speed (measured here: 106 vs 217 GFLOP/s on one core), which would
    // flatter loom. So SkylakeX wins over an inherited value, unless
    // LOOM_VS_LIBTORCH_CORETYPE names another on purpose.
    const char* chosen = std::getenv("LOOM_VS_LIBTORCH_CORETYPE");
    if (chosen != nullptr && *chosen != '\0') setenv("OPENBLAS_CORETYPE", chosen, 1);
    else if (__builtin_cpu_supports("avx512f")) setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
    else setenv("OPENBLAS_CORETYPE", "Haswell", 0);
    setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
    execv("/proc/self/exe", argv);
    std::perror("vs_libtorch: re-exec failed; continuing without the BLAS environment");
}

// OpenBLAS keeps its own thread pool; torch::set_num_threads does not size it.
void set_blas_threads(int threads) {
    using SetThreads = void (*)(int);
    if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(threads);
}

std::string blas_name() {
    using GetConfig = char* (*)();
    if (auto config = reinterpret_cast<GetConfig>(dlsym(RTLD_DEFAULT, "openblas_get_config"))) return config();
    return "not OpenBLAS (reference BLAS?)";
}

// ---- timing --------------------------------------------------------------

double median_ms(const std::function<void()>& run, int warmup, int iterations) {
    for (int i = 0; i < warmup; ++i) run();
    std::vector<double> times;
    for (int i = 0; i < iterations; ++i) {
        const auto start = std::chrono::steady_clock::now();
        run();
        times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

double torch_gemm_gflops() {
    torch::NoGradGuard no_grad;
    const auto a = torch::randn({1024, 1024}), b = torch::randn({1024, 1024});
    const double ms = median_ms([&] { torch::mm(a, b); }, 2, 7);
    return 2.0 * 1024 * 1024 * 1024 / (ms * 1e6);
}

// ---- the libtorch side ---------------------------------------------------

struct TorchCharModel : torch::nn::Module {
    TorchCharModel(const std::string& cell, int64_t layers) : cell(cell) {
        encoder = register_module("encoder", torch::nn::Embedding(vocab, embedding_dim));
        const auto options = [&](auto o) { return o.num_layers(layers).batch_first(true); };
        if (cell == "lstm") lstm = register_module("rnn", torch::nn::LSTM(options(torch::nn::LSTMOptions(embedding_dim, hidden))));
        if (cell == "gru") gru = register_module("rnn", torch::nn::GRU(options(torch::nn::GRUOptions(embedding_dim, hidden))));
        if (cell == "rnn") rnn = register_module("rnn", torch::nn::RNN(options(torch::nn::RNNOptions(embedding_dim, hidden))));
        decoder = register_module("decoder", torch::nn::Linear(hidden, vocab));
    }

    torch::Tensor forward(const torch::Tensor& ids) {
        const auto x = encoder(ids);
        const auto h = cell == "lstm" ? std::get<0>(lstm(x)) : cell == "gru" ? std::get<0>(gru(x)) : std::get<0>(rnn(x));
        return decoder(h);
    }

    std::string cell;
    torch::nn::Embedding encoder{nullptr};
    torch::nn::LSTM lstm{nullptr};
    torch::nn::GRU gru{nullptr};
    torch::nn::RNN rnn{nullptr};
    torch::nn::Linear decoder{nullptr};
};

struct TorchTrain {
    explicit TorchTrain(const std::string& cell)
        : model(std::make_shared<TorchCharModel>(cell, 1)),
          optimizer(model->parameters(), torch::optim::SGDOptions(0.1)),
          inputs(torch::randint(vocab, {batch, steps}, torch::kLong)),
          targets(torch::randint(vocab, {batch, steps}, torch::kLong)) {}

    void step() {
        const auto logits = model->forward(inputs);
        const auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, vocab}), targets.reshape({-1}));
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
    }

    std::shared_ptr<TorchCharModel> model;
    torch::optim::SGD optimizer;
    torch::Tensor inputs, targets;
};

int64_t torch_generate() {
    static auto model = std::make_shared<TorchCharModel>("lstm", 2);
    torch::NoGradGuard no_grad;
    model->eval();
    std::tuple<torch::Tensor, torch::Tensor> state{torch::zeros({2, 1, hidden}), torch::zeros({2, 1, hidden})};
    int64_t token = 0, checksum = 0;
    for (loom::index_t i = 0; i < generated; ++i) {
        const auto x = model->encoder(torch::full({1, 1}, token, torch::kLong));
        auto [output, new_state] = model->lstm(x, state);
        state = new_state;
        token = model->decoder(output).argmax(-1).item<int64_t>();
        checksum += token;
    }
    return checksum;
}

// Beam search, width 5, 200 characters after a one-character prompt (id 0):
// the prompt is read once at batch 1 and its state copied to the 5 rows; the
// first expansion takes only row 0 (the rows are identical). Each step: scores
// [5, V] = beam scores + log_softmax(logits), topk(5) over the flattened [5·V],
// parent = index / V, token = index % V, h/c rows gathered by parent, the 5
// tokens fed as one batch. Token histories are kept on the host as loom's
// beam search keeps them. Returns a checksum of the best hypothesis.
int64_t torch_generate_beam() {
    static auto model = std::make_shared<TorchCharModel>("lstm", 2);
    torch::NoGradGuard no_grad;
    model->eval();
    std::tuple<torch::Tensor, torch::Tensor> state{torch::zeros({2, 1, hidden}), torch::zeros({2, 1, hidden})};
    auto [output, prompt_state] = model->lstm(model->encoder(torch::zeros({1, 1}, torch::kLong)), state);
    const auto replicate = torch::zeros({beam_width}, torch::kLong);
    auto h = std::get<0>(prompt_state).index_select(1, replicate), c = std::get<1>(prompt_state).index_select(1, replicate);
    auto log_probs = torch::log_softmax(model->decoder(output).reshape({1, vocab}), -1).expand({beam_width, vocab});
    vs_libtorch_beam::TorchBeam beam(beam_width);
    for (loom::index_t i = 0; i < beam_generated; ++i) {
        const auto [parent, token] = beam.extend(log_probs);
        if (i + 1 == beam_generated) break;  // the last character needs no further step
        h = h.index_select(1, parent);
        c = c.index_select(1, parent);
        auto [out, next] = model->lstm(model->encoder(token.unsqueeze(1)), std::make_tuple(h, c));
        h = std::get<0>(next);
        c = std::get<1>(next);
        log_probs = torch::log_softmax(model->decoder(out).reshape({beam_width, vocab}), -1);
    }
    return beam.checksum();
}

// The conv_train stack: Embedding → 4 × [h + relu(causal conv(h))] → Linear.
struct TorchConvModel : torch::nn::Module {
    TorchConvModel() {
        embedding = register_module("embedding", torch::nn::Embedding(vocab, conv_channels));
        for (int64_t l = 0; l < conv_layers; ++l) {
            const int64_t dilation = int64_t{1} << l;
            convs.push_back(register_module(
                "conv" + std::to_string(l),
                torch::nn::Conv1d(torch::nn::Conv1dOptions(conv_channels, conv_channels, conv_kernel).dilation(dilation))));
            left_pads.push_back((conv_kernel - 1) * dilation);
        }
        head = register_module("head", torch::nn::Linear(conv_channels, vocab));
    }

    torch::Tensor forward(const torch::Tensor& ids) {
        namespace F = torch::nn::functional;
        auto h = embedding(ids).transpose(1, 2);  // [B, C, T]
        for (std::size_t l = 0; l < convs.size(); ++l)
            h = h + torch::relu(convs[l](F::pad(h, F::PadFuncOptions({left_pads[l], 0}))));
        return head(h.transpose(1, 2));
    }

    torch::nn::Embedding embedding{nullptr};
    std::vector<torch::nn::Conv1d> convs;
    std::vector<int64_t> left_pads;
    torch::nn::Linear head{nullptr};
};

struct TorchConvTrain {
    TorchConvTrain()
        : model(std::make_shared<TorchConvModel>()),
          optimizer(model->parameters(), torch::optim::SGDOptions(0.1)),
          inputs(torch::randint(vocab, {batch, steps}, torch::kLong)),
          targets(torch::randint(vocab, {batch, steps}, torch::kLong)) {}

    void step() {
        const auto logits = model->forward(inputs);
        const auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, vocab}), targets.reshape({-1}));
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
    }

    std::shared_ptr<TorchConvModel> model;
    torch::optim::SGD optimizer;
    torch::Tensor inputs, targets;
};

// The gpt_* model, as nanoGPT writes it (pre-LN blocks, fused qkv projection,
// causal self-attention, GELU(tanh) MLP), initialised as nanoGPT (weights
// N(0, 0.02), the residual projections N(0, 0.02/√(2·layers)), biases 0).
struct TorchGptBlock : torch::nn::Module {
    TorchGptBlock() {
        namespace nn = torch::nn;
        norm1 = register_module("norm1", nn::LayerNorm(nn::LayerNormOptions({gpt_dim})));
        qkv = register_module("qkv", nn::Linear(gpt_dim, 3 * gpt_dim));
        out_proj = register_module("out_proj", nn::Linear(gpt_dim, gpt_dim));
        norm2 = register_module("norm2", nn::LayerNorm(nn::LayerNormOptions({gpt_dim})));
        linear1 = register_module("linear1", nn::Linear(gpt_dim, gpt_feedforward));
        linear2 = register_module("linear2", nn::Linear(gpt_feedforward, gpt_dim));
    }

    // x [B, T, d]; masked [block, block] is true above the diagonal.
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& masked, bool fused_attention) {
        const int64_t b = x.size(0), t = x.size(1), head_dim = gpt_dim / gpt_heads;
        const auto parts = qkv(norm1(x)).view({b, t, 3, gpt_heads, head_dim}).permute({2, 0, 3, 1, 4});  // [3, B, H, T, D]
        const auto q = parts[0], k = parts[1], v = parts[2];
        torch::Tensor y;
        if (fused_attention) {
            y = std::get<0>(at::_scaled_dot_product_attention(q, k, v, {}, 0.0, false, true));
        } else {
            auto scores = torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(head_dim)));
            scores = scores.masked_fill(masked.slice(0, 0, t).slice(1, 0, t), -std::numeric_limits<float>::infinity());
            y = torch::matmul(torch::softmax(scores, -1), v);  // [B, H, T, D]
        }
        const auto h = x + out_proj(y.transpose(1, 2).reshape({b, t, gpt_dim}));
        return h + linear2(torch::gelu(linear1(norm2(h)), "tanh"));
    }

    torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
    torch::nn::Linear qkv{nullptr}, out_proj{nullptr}, linear1{nullptr}, linear2{nullptr};
};

struct TorchGpt : torch::nn::Module {
    explicit TorchGpt(bool fused_attention) : fused_attention(fused_attention) {
        namespace nn = torch::nn;
        token_embedding = register_module("token_embedding", nn::Embedding(vocab, gpt_dim));
        position_embedding = register_module("position_embedding", nn::Embedding(gpt_block, gpt_dim));
        for (int64_t l = 0; l < gpt_layers; ++l)
            blocks.push_back(register_module("block" + std::to_string(l), std::make_shared<TorchGptBlock>()));
        norm = register_module("norm", nn::LayerNorm(nn::LayerNormOptions({gpt_dim})));
        head = register_module("head", nn::Linear(nn::LinearOptions(gpt_dim, vocab).bias(false)));
        masked = register_buffer("masked", torch::ones({gpt_block, gpt_block}, torch::kBool).triu(1));
        positions = register_buffer("positions", torch::arange(gpt_block, torch::kLong));
        torch::NoGradGuard no_grad;
        const double residual_std = 0.02 / std::sqrt(2.0 * gpt_layers);
        for (auto& named : named_parameters()) {
            const std::string& name = named.key();
            auto& p = named.value();
            const auto ends_with = [&](const std::string& suffix) {
                return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
            };
            if (ends_with("bias")) p.zero_();
            else if (ends_with("out_proj.weight") || ends_with("linear2.weight")) p.normal_(0.0, residual_std);
            else if (p.dim() >= 2) p.normal_(0.0, 0.02);
        }
    }

    // ids [B, T] -> logits [B, T, V].
    torch::Tensor forward(const torch::Tensor& ids) {
        const int64_t t = ids.size(1);
        auto x = token_embedding(ids) + position_embedding(positions.slice(0, 0, t));
        for (auto& block : blocks) x = block->forward(x, masked, fused_attention);
        return head(norm(x));
    }

    // AdamW's groups, as nanoGPT: decay on rank >= 2, none on the rest.
    std::vector<torch::optim::OptimizerParamGroup> optimizer_groups(double weight_decay) {
        std::vector<torch::Tensor> decay, no_decay;
        for (const auto& p : parameters()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
        const auto options = [](double wd) {
            return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(gpt_learning_rate)
                                                                    .betas(std::make_tuple(gpt_beta1, gpt_beta2))
                                                                    .weight_decay(wd));
        };
        std::vector<torch::optim::OptimizerParamGroup> groups;
        groups.emplace_back(decay, options(weight_decay));
        groups.emplace_back(no_decay, options(0.0));
        return groups;
    }

    bool fused_attention;
    torch::nn::Embedding token_embedding{nullptr}, position_embedding{nullptr};
    std::vector<std::shared_ptr<TorchGptBlock>> blocks;
    torch::nn::LayerNorm norm{nullptr};
    torch::nn::Linear head{nullptr};
    torch::Tensor masked, positions;
};

torch::Tensor torch_ids(const std::vector<loom::index_t>& ids, int64_t rows, int64_t columns) {
    std::vector<int64_t> values(ids.begin(), ids.end());
    return torch::tensor(values, torch::kLong).reshape({rows, columns});
}

// The attention path for gpt_*: at::_scaled_dot_product_attention (is_causal),
// the faster here; LOOM_VS_LIBTORCH_GPT_ATTENTION=explicit picks the explicit
// matmul/masked_fill/softmax/matmul.
bool torch_gpt_fused_attention() {
    const char* choice = std::getenv("LOOM_VS_LIBTORCH_GPT_ATTENTION");
    return choice == nullptr || std::string(choice) != "explicit";
}

struct TorchGptTrain {
    TorchGptTrain()
        : model(std::make_shared<TorchGpt>(torch_gpt_fused_attention())),
          optimizer(model->optimizer_groups(gpt_weight_decay),
                    torch::optim::AdamWOptions(gpt_learning_rate).betas(std::make_tuple(gpt_beta1, gpt_beta2))),
          inputs(torch_ids(random_ids(gpt_data_seed, batch * gpt_block), batch, gpt_block)),
          targets(torch_ids(random_ids(gpt_data_seed + 1, batch * gpt_block), batch, gpt_block)),
          parameters(model->parameters()) {
        model->train();
    }

    void step() {
        const auto logits = model->forward(inputs);
        const auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, vocab}), targets.reshape({-1}));
        for (auto& p : parameters) p.mutable_grad().reset();  // zero_grad(set_to_none=True), as loom's zero_grad
        loss.backward();
        torch::nn::utils::clip_grad_norm_(parameters, gpt_clip);
        optimizer.step();
    }

    std::shared_ptr<TorchGpt> model;
    torch::optim::AdamW optimizer;
    torch::Tensor inputs, targets;
    std::vector<torch::Tensor> parameters;
};

// nanoGPT's generate: crop to the last block_size ids, the whole forward, the
// last position's logits, argmax; gpt_generated times. Returns a checksum.
int64_t torch_generate_gpt() {
    static auto model = std::make_shared<TorchGpt>(torch_gpt_fused_attention());
    static const std::vector<loom::index_t> prompt = random_ids(gpt_prompt_seed, gpt_block);
    torch::NoGradGuard no_grad;
    model->eval();
    std::vector<int64_t> ids(prompt.begin(), prompt.end());
    ids.reserve(ids.size() + gpt_generated);
    int64_t checksum = 0;
    for (loom::index_t i = 0; i < gpt_generated; ++i) {
        const int64_t start = std::max<int64_t>(0, static_cast<int64_t>(ids.size()) - gpt_block);
        const auto context = torch::from_blob(ids.data() + start, {1, static_cast<int64_t>(ids.size()) - start}, torch::kLong);
        const auto logits = model->forward(context);  // [1, T, V]
        const int64_t token = logits.select(1, -1).argmax(-1).item<int64_t>();
        ids.push_back(token);
        checksum += token;
    }
    return checksum;
}

// ---- the loom side -------------------------------------------------------

char_gpt::Config gpt_config() {
    char_gpt::Config c;
    c.vocabulary_size = vocab;
    c.block_size = gpt_block;
    c.embedding_dim = gpt_dim;
    c.num_heads = gpt_heads;
    c.num_layers = gpt_layers;
    c.feedforward_dim = gpt_feedforward;
    return c;
}

struct LoomGptTrain {
    LoomGptTrain()
        : generator(7),
          model(gpt_config(), generator),
          optimizer(model.optimizer_groups(gpt_weight_decay), gpt_learning_rate, gpt_beta1, gpt_beta2),
          inputs(random_ids(gpt_data_seed, batch * gpt_block), loom::Shape{batch, gpt_block}),
          targets(random_ids(gpt_data_seed + 1, batch * gpt_block), loom::Shape{batch, gpt_block}),
          parameters(model.parameters()) {
        model.train();
    }

    void step() {
        const loom::Tensor<float> loss = loom::cross_entropy(model.forward(inputs), targets);
        optimizer.zero_grad();
        loss.backward();
        loom::clip_grad_norm_(parameters, gpt_clip);
        optimizer.step();
    }

    loom::Generator generator;
    char_gpt::CharGptModel<float> model;
    loom::AdamW<float> optimizer;
    loom::IndexTensor inputs, targets;
    std::vector<loom::Tensor<float>> parameters;
};

// gpt_generated characters after the 64-character prompt, greedy, with
// examples' CharGptDecoder: the prompt is read once (prefill), then one
// cached step per character, re-reading the last context_keep characters
// whenever the block is full (0: block / 2). Returns a checksum.
// The same model (seed 11) with its weights in `format`, built once per format.
char_gpt::CharGptModel<float>& gpt_model(loom::WeightFormat format) {
    static std::map<loom::WeightFormat, std::unique_ptr<char_gpt::CharGptModel<float>>> models;
    auto& model = models[format];
    if (!model) {
        loom::Generator generator(11);
        model = std::make_unique<char_gpt::CharGptModel<float>>(gpt_config(), generator);
        loom::quantize(*model, format);
    }
    return *model;
}

loom::index_t loom_generate_gpt(loom::index_t context_keep, loom::WeightFormat format = loom::WeightFormat::fp32) {
    char_gpt::CharGptModel<float>& model = gpt_model(format);
    static const std::vector<loom::index_t> prompt = random_ids(gpt_prompt_seed, gpt_block);
    char_gpt::CharGptDecoder<float> decoder(model, context_keep);
    loom::Tensor<float> log_probs = decoder.start(prompt, 1);
    loom::index_t checksum = 0;
    for (loom::index_t i = 0; i < gpt_generated; ++i) {
        const loom::index_t token = loom::argmax(log_probs.data(), vocab);
        checksum += token;
        if (i + 1 < gpt_generated) log_probs = decoder.advance({token});  // the last character needs no further step
    }
    return checksum;
}


struct LoomConvTrain {
    LoomConvTrain() : generator(7), model(config(), generator), optimizer(model.parameters(), 0.1) {
        std::vector<loom::index_t> in(batch * steps), out(batch * steps);
        for (std::size_t i = 0; i < in.size(); ++i) {
            in[i] = static_cast<loom::index_t>(generator.below(vocab));
            out[i] = static_cast<loom::index_t>(generator.below(vocab));
        }
        inputs = loom::IndexTensor(in, loom::Shape{batch, steps});
        targets = loom::IndexTensor(out, loom::Shape{batch, steps});
    }

    static char_cnn::Config config() {
        char_cnn::Config c;
        c.vocabulary_size = vocab;
        c.channels = conv_channels;
        c.num_layers = conv_layers;
        c.kernel_size = conv_kernel;
        c.dilation_cycle = conv_layers;  // dilations 1, 2, 4, 8
        c.activation = char_cnn::Activation::relu;
        return c;
    }

    void step() {
        const loom::Tensor<float> loss = loom::cross_entropy(model.forward(inputs), targets);
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
    }

    loom::Generator generator;
    char_cnn::CharCnnModel<float> model;
    loom::SGD<float> optimizer;
    loom::IndexTensor inputs, targets;
};

struct LoomTrain {
    explicit LoomTrain(const std::string& cell) : generator(7), model(config(cell, 1), generator),
          optimizer(model.parameters(), 0.1) {
        std::vector<loom::index_t> in(batch * steps), out(batch * steps);
        for (std::size_t i = 0; i < in.size(); ++i) {
            in[i] = static_cast<loom::index_t>(generator.below(vocab));
            out[i] = static_cast<loom::index_t>(generator.below(vocab));
        }
        inputs = loom::IndexTensor(in, loom::Shape{batch, steps});
        targets = loom::IndexTensor(out, loom::Shape{batch, steps});
    }

    static char_model::Config config(const std::string& cell, loom::index_t layers) {
        char_model::Config c;
        c.vocabulary_size = vocab;
        c.embedding_dim = embedding_dim;
        c.hidden_size = hidden;
        c.num_layers = layers;
        c.cell = char_model::parse_cell(cell);
        return c;
    }

    void step() {
        char_model::State<float> state;
        const loom::Tensor<float> loss = loom::cross_entropy(model.forward(inputs, state), targets);
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
    }

    loom::Generator generator;
    char_model::CharModel<float> model;
    loom::SGD<float> optimizer;
    loom::IndexTensor inputs, targets;
};

// fp32: the weights packed once, as a deployed model would; bf16/int8: the
// model converted by loom::quantize (its step() runs the quantized kernels).
loom::index_t loom_generate(loom::WeightFormat format = loom::WeightFormat::fp32) {
    static std::map<loom::WeightFormat, std::unique_ptr<char_model::CharModel<float>>> models;
    static std::optional<loom::LstmInferenceWeights<float>> packed;
    auto& model = models[format];
    if (!model) {
        loom::Generator generator(11);
        model = std::make_unique<char_model::CharModel<float>>(LoomTrain::config("lstm", 2), generator);
        loom::quantize(*model, format);
        if (format == loom::WeightFormat::fp32) packed = model->lstm->pack_for_inference();
    }
    const loom::LstmInferenceWeights<float>* packed_weights = format == loom::WeightFormat::fp32 ? &*packed : nullptr;
    loom::NoGradGuard no_grad;
    model->eval();
    char_model::State<float> state;
    loom::index_t token = 0, checksum = 0;
    for (loom::index_t i = 0; i < generated; ++i) {
        const loom::Tensor<float> logits = model->step(loom::IndexTensor({token}), state, packed_weights);
        token = loom::argmax(logits.data(), vocab);
        checksum += token;
    }
    return checksum;
}

// Beam search, width 5, 200 characters after the one-character prompt 0, with
// the decoding library: loom::beam_search over examples' CharDecoder (prompt
// read once at batch 1, the live hypotheses advanced as one batch per step,
// state rows gathered by parent in reorder). Returns a checksum of the best.
loom::index_t loom_generate_beam() {
    static loom::Generator generator(11);
    static char_model::CharModel<float> model(LoomTrain::config("lstm", 2), generator);
    char_model::CharDecoder<float> decoder(model);
    loom::BeamSearchOptions options;
    options.beam_width = beam_width;
    options.max_new_tokens = beam_generated;
    const std::vector<loom::Hypothesis> best = loom::beam_search(decoder, {0}, options);
    loom::index_t checksum = 0;
    for (const loom::index_t token : best.front().tokens) checksum += token;
    return checksum;
}

// Runs the loom side in a child process with the user's OpenMP wait policy and
// returns its median times, one per workload.
std::vector<double> loom_side_in_child(int threads, const std::string& workloads, int iterations) {
    const char* user_policy = std::getenv("LOOM_VS_LIBTORCH_USER_WAIT_POLICY");
    std::string command = user_policy && *user_policy ? std::string("env OMP_WAIT_POLICY=") + user_policy
                                                      : std::string("env -u OMP_WAIT_POLICY");
    command += " /proc/" + std::to_string(getpid()) + "/exe --loom-side --threads " + std::to_string(threads) +
               " --workloads " + workloads + " --iterations " + std::to_string(iterations);
    FILE* child = popen(command.c_str(), "r");
    if (child == nullptr) throw std::runtime_error("vs_libtorch: cannot start " + command);
    std::vector<double> times;
    char line[256];
    while (std::fgets(line, sizeof line, child) != nullptr) {
        double ms = 0;
        if (std::sscanf(line, "loom_ms=%lf", &ms) == 1) times.push_back(ms);
    }
    if (pclose(child) != 0) throw std::runtime_error("vs_libtorch: the loom side failed: " + command);
    return times;
}

double loom_workload_ms(const std::string& workload, int iterations) {
    if (workload == "lstm_gen_greedy") return median_ms([] { loom_generate(); }, 2, iterations);
    if (workload == "lstm_gen_greedy_bf16")
        return median_ms([] { loom_generate(loom::WeightFormat::bf16); }, 2, iterations);
    if (workload == "lstm_gen_greedy_int8")
        return median_ms([] { loom_generate(loom::WeightFormat::int8); }, 2, iterations);
    if (workload == "gpt_gen_bf16") return median_ms([] { loom_generate_gpt(0, loom::WeightFormat::bf16); }, 2, iterations);
    if (workload == "gpt_gen_int8") return median_ms([] { loom_generate_gpt(0, loom::WeightFormat::int8); }, 2, iterations);
    if (workload == "lstm_gen_beam5") return median_ms([] { loom_generate_beam(); }, 2, iterations);
    if (workload == "conv_train") {
        LoomConvTrain side;
        return median_ms([&] { side.step(); }, 3, iterations);
    }
    if (workload == "gpt_train") {
        LoomGptTrain side;
        return median_ms([&] { side.step(); }, 3, iterations);
    }
    if (workload == "gpt_gen") return median_ms([] { loom_generate_gpt(0); }, 2, iterations);
    if (workload == "gpt_gen_window") return median_ms([] { loom_generate_gpt(gpt_block); }, 2, iterations);
    if (workload == "ctc_loss") {
        vs_libtorch_ctc::LoomCtc side;
        return median_ms([&] { side.step(); }, 3, iterations);
    }
    if (workload == "seq2seq_train") {
        vs_libtorch_seq2seq::LoomTrain side;
        return median_ms([&] { side.step(); }, 3, iterations);
    }
    if (workload == "seq2seq_beam5") return median_ms([] { vs_libtorch_seq2seq::loom_beam(); }, 2, iterations);
    LoomTrain side(workload.substr(0, workload.size() - 6));
    return median_ms([&] { side.step(); }, 3, iterations);
}

double torch_workload_ms(const std::string& workload, int iterations) {
    if (workload == "lstm_gen_greedy" || workload == "lstm_gen_greedy_bf16" || workload == "lstm_gen_greedy_int8")
        return median_ms([] { torch_generate(); }, 2, iterations);
    if (workload == "lstm_gen_beam5") return median_ms([] { torch_generate_beam(); }, 2, iterations);
    if (workload == "conv_train") {
        TorchConvTrain side;
        return median_ms([&] { side.step(); }, 3, iterations);
    }
    if (workload == "gpt_train") {
        TorchGptTrain side;
        return median_ms([&] { side.step(); }, 3, iterations);
    }
    if (workload == "gpt_gen" || workload == "gpt_gen_window" || workload == "gpt_gen_bf16" || workload == "gpt_gen_int8")
        return median_ms([] { torch_generate_gpt(); }, 2, iterations);
    if (workload == "ctc_loss") {
        vs_libtorch_ctc::TorchCtc side;
        return median_ms([&] { side.step(); }, 3, iterations);
    }
    if (workload == "seq2seq_train") {
        vs_libtorch_seq2seq::TorchTrain side;
        return median_ms([&] { side.step(); }, 3, iterations);
    }
    if (workload == "seq2seq_beam5") return median_ms([] { vs_libtorch_seq2seq::torch_beam(); }, 2, iterations);
    TorchTrain side(workload.substr(0, workload.size() - 6));
    return median_ms([&] { side.step(); }, 3, iterations);
}

bool known_workload(const std::string& w) {
    return w == "lstm_gen_greedy" || w == "lstm_gen_beam5" || w == "lstm_train" || w == "gru_train" || w == "rnn_train" ||
           w == "conv_train" || w == "gpt_train" || w == "gpt_gen" || w == "gpt_gen_window" || w == "ctc_loss" ||
           w == "lstm_gen_greedy_bf16" || w == "lstm_gen_greedy_int8" || w == "gpt_gen_bf16" || w == "gpt_gen_int8" ||
           w == "seq2seq_train" || w == "seq2seq_beam5";
}

std::vector<std::string> split(const std::string& text) {
    std::vector<std::string> parts;
    std::stringstream in(text);
    for (std::string part; std::getline(in, part, ',');)
        if (!part.empty()) parts.push_back(part);
    return parts;
}

}  // namespace

int main(int argc, char** argv) {
    reexec_with_blas_environment(argv);
    int iterations = 20;
    bool loom_side = false;
    std::string thread_list = "1,2", workload_list =
        "lstm_train,gru_train,rnn_train,lstm_gen_greedy,lstm_gen_greedy_bf16,lstm_gen_greedy_int8,lstm_gen_beam5,"
        "conv_train,gpt_train,gpt_gen,gpt_gen_bf16,gpt_gen_int8,gpt_gen_window,ctc_loss,seq2seq_train,seq2seq_beam5";
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const bool has_value = i + 1 < argc;
        if (arg == "--iterations" && has_value) iterations = std::max(20, std::atoi(argv[++i]));
        else if (arg == "--threads" && has_value) thread_list = argv[++i];
        else if (arg == "--workloads" && has_value) workload_list = argv[++i];
        else if (arg == "--loom-side") loom_side = true;
        else {
            std::cout << "usage: vs_libtorch [--iterations N>=20] [--threads 1,2] [--workloads "
                      << workload_list << "]\n";
            return arg == "--help" ? 0 : 2;
        }
    }
    const std::vector<std::string> workloads = split(workload_list);
    for (const std::string& w : workloads)
        if (!known_workload(w)) {
            std::cerr << "vs_libtorch: unknown workload " << w << "\n";
            return 2;
        }

    if (loom_side) {  // the child: loom only, one line per workload
        loom::set_num_threads(std::atoi(thread_list.c_str()));
        for (const std::string& w : workloads) std::printf("loom_ms=%.6f\n", loom_workload_ms(w, iterations));
        return 0;
    }

    std::cout << "# libtorch " << TORCH_VERSION << ", BLAS: " << blas_name()
              << "\n# libtorch side: OPENBLAS_CORETYPE=" << (std::getenv("OPENBLAS_CORETYPE") ? std::getenv("OPENBLAS_CORETYPE") : "")
              << " OMP_WAIT_POLICY=" << (std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "")
              << " (set by this program); loom side: a child process with the caller's environment\n";
    torch::set_num_threads(1);
    set_blas_threads(1);
    const double gflops = torch_gemm_gflops();
    const bool valid = gflops >= 50.0;
    std::printf("# libtorch 1024^3 torch::mm on 1 thread: %.1f GFLOP/s%s\n", gflops,
                valid ? "" : " (below 50: the baseline is misconfigured, speedups are invalid)");

    for (const std::string& threads_text : split(thread_list)) {
        const int threads = std::atoi(threads_text.c_str());
        const std::vector<double> loom_times = loom_side_in_child(threads, workload_list, iterations);
        if (loom_times.size() != workloads.size()) {
            std::cerr << "vs_libtorch: the loom side returned " << loom_times.size() << " times\n";
            return 1;
        }
        torch::set_num_threads(threads);
        set_blas_threads(threads);
        for (std::size_t k = 0; k < workloads.size(); ++k) {
            const double torch_ms = torch_workload_ms(workloads[k], iterations);
            std::printf("workload=%s threads=%d loom_ms=%.3f libtorch_ms=%.3f speedup=", workloads[k].c_str(),
                        threads, loom_times[k], torch_ms);
            if (valid) std::printf("%.2f\n", torch_ms / loom_times[k]);
            else std::printf("invalid\n");
            std::fflush(stdout);
        }
        // Quantization's gain over loom's own fp32 path, same run.
        for (const std::string base : {"lstm_gen_greedy", "gpt_gen"})
            for (const std::string format : {"bf16", "int8"}) {
                const auto fp32 = std::find(workloads.begin(), workloads.end(), base);
                const auto quantized = std::find(workloads.begin(), workloads.end(), base + "_" + format);
                if (fp32 == workloads.end() || quantized == workloads.end()) continue;
                std::printf("# loom fp32/%s %s threads=%d: %.2f\n", format.c_str(), base.c_str(), threads,
                            loom_times[static_cast<std::size_t>(fp32 - workloads.begin())] /
                                loom_times[static_cast<std::size_t>(quantized - workloads.begin())]);
            }
    }
    return 0;
}
