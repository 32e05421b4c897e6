// examples/plot_log.cpp — draw a training log as an SVG picture: the training
// and validation loss against the step and against the wall-clock time
// (loom/train/loss_plot.hpp, the same picture the Trainer leaves as loss.svg).
// Any log.csv written by loom::CsvLog works, also one of a run still going on
// or one that was interrupted; open the SVG in a browser.
//
//   plot_log char_rnn_out/log.csv                      # writes char_rnn_out/loss.svg
//   plot_log run/log.csv run.svg --title "LSTM, 2 layers" --unit nats/char
//   plot_log --help
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <loom/train/loss_plot.hpp>

#include "cli.hpp"

namespace {

struct Options {
    std::string log;
    std::string out;  // "": loss.svg next to the log
    std::string title = "training loss";
    std::string unit = "nats";
};

// The log and the output file are positional; everything else goes to cli::Parser.
std::vector<std::string> prepare_arguments(int argc, char** argv, Options& o) {
    std::vector<std::string> args{argv[0]};
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg.rfind("--", 0) == 0 || arg == "-h") {
            args.push_back(arg);
            if (arg.find('=') == std::string::npos && arg != "--help" && arg != "-h" && i + 1 < argc)
                args.push_back(argv[++i]);  // its value, even if it starts with '-'
        } else if (o.log.empty()) {
            o.log = arg;
        } else if (o.out.empty()) {
            o.out = arg;
        } else {
            throw std::invalid_argument("unexpected argument '" + arg + "' (the log is '" + o.log +
                                        "', the output '" + o.out + "')");
        }
    }
    return args;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    cli::Parser parser("plot_log <log.csv> [out.svg]",
                       "Draw a training log (log.csv) as an SVG: training and validation loss against the step and "
                       "against the time.\nout.svg defaults to loss.svg in the log's folder.");
    parser.add("--title", options.title, "the title on top of the picture");
    parser.add("--unit", options.unit, "the unit of the loss, shown on the y axes (e.g. nats/char, nats/token)");
    try {
        std::vector<std::string> args = prepare_arguments(argc, argv, options);
        std::vector<char*> pointers;
        for (std::string& arg : args) pointers.push_back(arg.data());
        if (!parser.parse(static_cast<int>(pointers.size()), pointers.data())) return 0;  // --help
        if (options.log.empty()) throw std::invalid_argument("no log given (see plot_log --help)");
        if (options.out.empty()) options.out = (std::filesystem::path(options.log).parent_path() / "loss.svg").string();

        const std::vector<loom::LossPoint> points = loom::read_loss_log(options.log);
        loom::save_loss_plot(points, options.out, options.title, options.unit);
        std::cout << "plot_log: wrote " << options.out << " from " << options.log << " (" << points.size()
                  << (points.size() == 1 ? " row" : " rows") << ")\n";
        return 0;
    } catch (const std::exception& error) {
        std::fflush(stdout);
        std::cerr << "plot_log: " << error.what() << "\n";
        return 1;
    }
}
