// examples/quantize.cpp — convert a trained checkpoint (char_rnn, char_cnn or
// char_gpt) to bf16 or int8 weights for inference, measure what that costs in
// quality and saves in memory, and write the converted checkpoint.
//
//   quantize char_rnn_out/best.safetensors --weights int8 --out model.int8.safetensors
//   quantize char_gpt_out/best.safetensors --weights all --evaluate data/tinyshakespeare.txt
//   generate model.int8.safetensors --prompt "ROMEO:"            # runs in int8
//
// --weights all compares fp32, bf16 and int8 side by side. For each format it
// prints the bytes the weights take (loom::weight_bytes) and, with --evaluate,
// the mean negative log-likelihood (nats per token) of the last --validation
// fraction of that text — the held-out part the training examples validate on
// — read token by token through the model's decoder, as generation reads it
// (for char_gpt, with its key/value caches and re-reading when the block is
// full; --eval-tokens caps the count). The difference to fp32 is the
// quantization's cost. --out writes the converted checkpoint (a single format):
// the original metadata, the weights as BF16 or I8 + scales
// (loom/nn/quantized_state_dict.hpp); generate loads it as it is.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <loom/data/text_dataset.hpp>
#include <loom/data/utf8.hpp>
#include <loom/nn/quantize.hpp>
#include <loom/tensor/parallel.hpp>

#include "cli.hpp"
#include "data_path.hpp"
#include "model_loader.hpp"

namespace {

struct Options {
    std::string checkpoint;
    std::string weights = "int8";
    std::string out;
    std::string evaluate;
    double validation = 0.1;
    std::int64_t eval_tokens = 20000;
    std::int64_t threads = 1;
};

// Σ −log p(ids[t] | ids[< t]) / (N − 1), reading one token at a time.
double mean_nll(loom::Decoder<float>& decoder, const std::vector<loom::index_t>& ids) {
    loom::Tensor<float> log_probs = decoder.start({ids[0]}, 1);
    double total = 0;
    for (std::size_t t = 1; t < ids.size(); ++t) {
        total -= log_probs.data()[ids[t]];
        if (t + 1 < ids.size()) log_probs = decoder.advance({ids[t]});
    }
    return total / static_cast<double>(ids.size() - 1);
}

// The held-out end of the text, cut at a character boundary, as token ids.
std::vector<loom::index_t> held_out_ids(const Options& o, const loom::Tokenizer& tokenizer) {
    const std::string text = loom::read_file_bytes(examples::resolve_data_path(o.evaluate));
    std::size_t cut = static_cast<std::size_t>(std::floor(static_cast<double>(text.size()) * (1.0 - o.validation)));
    while (cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) ++cut;  // not mid-character
    std::vector<loom::index_t> ids = tokenizer.encode(text.substr(cut));
    if (static_cast<std::int64_t>(ids.size()) > o.eval_tokens) ids.resize(static_cast<std::size_t>(o.eval_tokens));
    if (ids.size() < 2) throw loom::Error("--evaluate: the held-out text has fewer than 2 tokens");
    return ids;
}

int run(const Options& o) {
    if (o.checkpoint.empty()) throw loom::Error("give a checkpoint to convert (see --help)");
    if (o.validation <= 0 || o.validation >= 1) throw loom::Error("--validation must be in (0, 1)");
    if (o.eval_tokens < 2) throw loom::Error("--eval-tokens must be >= 2");
    loom::set_num_threads(static_cast<int>(o.threads));
    std::vector<loom::WeightFormat> formats;
    if (o.weights == "all") formats = {loom::WeightFormat::fp32, loom::WeightFormat::bf16, loom::WeightFormat::int8};
    else formats = {loom::parse_weight_format(o.weights)};
    if (!o.out.empty() && formats.size() != 1) throw loom::Error("--out needs a single --weights format, not 'all'");

    std::vector<loom::index_t> ids;
    double fp32_loss = NAN;
    for (const loom::WeightFormat format : formats) {
        examples::LoadedModel model = examples::load_model(o.checkpoint, 0, format);
        if (ids.empty() && !o.evaluate.empty()) ids = held_out_ids(o, *model.tokenizer);
        std::printf("%-5s %-36s weights %9.3f MB", loom::to_string(format), model.description.c_str(),
                    static_cast<double>(loom::weight_bytes(*model.module)) / 1e6);
        if (!ids.empty()) {
            const auto start = std::chrono::steady_clock::now();
            const double loss = mean_nll(*model.decoder, ids);
            const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            if (format == loom::WeightFormat::fp32) fp32_loss = loss;
            std::printf("  held-out %.4f nats/token over %zu tokens (%.1f µs/token)", loss, ids.size(),
                        1e6 * seconds / static_cast<double>(ids.size()));
            if (format != loom::WeightFormat::fp32 && !std::isnan(fp32_loss))
                std::printf("  %+.4f vs fp32", loss - fp32_loss);
        }
        std::printf("\n");
        if (!o.out.empty()) {
            examples::save_converted(model, o.out);
            std::printf("wrote %s (%.3f MB; the fp32 checkpoint is %.3f MB)\n", o.out.c_str(),
                        static_cast<double>(std::filesystem::file_size(o.out)) / 1e6,
                        static_cast<double>(std::filesystem::file_size(o.checkpoint)) / 1e6);
        }
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    cli::Parser p("quantize", "Convert a checkpoint's weights to bf16 or int8; measure quality and size; save it.");
    p.add("--weights", o.weights, "bf16, int8, fp32, or all (compare the three; no --out)");
    p.add("--out", o.out, "write the converted checkpoint here");
    p.add("--evaluate", o.evaluate, "text file: report the held-out loss of each format on its end");
    p.add("--validation", o.validation, "fraction of the --evaluate text held out (its end), as in training");
    p.add("--eval-tokens", o.eval_tokens, "evaluate at most this many held-out tokens");
    p.add("--threads", o.threads, "threads");
    p.add("--checkpoint", o.checkpoint, "the checkpoint of char_rnn, char_cnn or char_gpt (or the first argument)");
    try {
        // The checkpoint may come first, without its option name.
        std::vector<char*> args(argv, argv + argc);
        if (argc > 1 && argv[1][0] != '-') {
            o.checkpoint = argv[1];
            args.erase(args.begin() + 1);
        }
        if (!p.parse(static_cast<int>(args.size()), args.data())) return 0;  // --help
        return run(o);
    } catch (const std::exception& error) {
        std::cerr << "quantize: " << error.what() << "\n";
        return 1;
    }
}
