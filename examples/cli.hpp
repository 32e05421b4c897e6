// examples/cli.hpp — a small command-line parser for the example programs.
//
//   cli::Parser parser("char_rnn", "what it does");
//   parser.add("--steps", options.steps, "training steps");   // default = current value
//   if (!parser.parse(argc, argv)) return 0;                  // --help was printed
//
// Accepts "--name value" and "--name=value". Unknown options, missing values and
// values that are not numbers (or do not fit) are errors that name the option.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace cli {

class Parser {
public:
    Parser(std::string program, std::string description)
        : program_(std::move(program)), description_(std::move(description)) {}

    void add(const std::string& name, std::string& target, const std::string& help) {
        options_.push_back({name, help, target, [&target](const std::string& v) { target = v; }});
    }
    void add(const std::string& name, double& target, const std::string& help) {
        options_.push_back({name, help, to_text(target), [&target, name](const std::string& v) {
                                target = parse_double(name, v);
                            }});
    }
    void add(const std::string& name, std::int64_t& target, const std::string& help) {
        options_.push_back({name, help, to_text(target), [&target, name](const std::string& v) {
                                target = parse_integer(name, v);
                            }});
    }
    void add(const std::string& name, int& target, const std::string& help) {
        options_.push_back({name, help, to_text(target), [&target, name](const std::string& v) {
                                const std::int64_t value = parse_integer(name, v);
                                if (value < INT32_MIN || value > INT32_MAX) fail(name, v, "is out of range");
                                target = static_cast<int>(value);
                            }});
    }
    void add(const std::string& name, std::uint64_t& target, const std::string& help) {
        options_.push_back({name, help, to_text(target), [&target, name](const std::string& v) {
                                const std::int64_t value = parse_integer(name, v);
                                if (value < 0) fail(name, v, "must not be negative");
                                target = static_cast<std::uint64_t>(value);
                            }});
    }

    // true/false, yes/no, on/off or 1/0.
    void add(const std::string& name, bool& target, const std::string& help) {
        options_.push_back({name, help, target ? "true" : "false", [&target, name](const std::string& v) {
                                if (v == "true" || v == "yes" || v == "on" || v == "1") target = true;
                                else if (v == "false" || v == "no" || v == "off" || v == "0") target = false;
                                else fail(name, v, "is not true or false");
                            }});
    }

    // Returns false if --help was given (the usage has been printed).
    bool parse(int argc, char** argv) {
        for (int i = 1; i < argc; ++i) {
            std::string arg = argv[i];
            if (arg == "--help" || arg == "-h") {
                print_usage(std::cout);
                return false;
            }
            std::string value;
            bool has_value = false;
            const auto equals = arg.find('=');
            if (equals != std::string::npos) {
                value = arg.substr(equals + 1);
                arg = arg.substr(0, equals);
                has_value = true;
            }
            Option* option = find(arg);
            if (option == nullptr)
                throw std::invalid_argument("unknown option '" + arg + "' (see " + program_ + " --help)");
            if (!has_value) {
                if (i + 1 >= argc) throw std::invalid_argument("option " + arg + " needs a value");
                value = argv[++i];
            }
            option->set(value);
        }
        return true;
    }

    void print_usage(std::ostream& out) const {
        out << "usage: " << program_ << " [options]\n" << description_ << "\n\noptions:\n";
        for (const Option& option : options_) {
            std::string head = "  " + option.name + " <value>";
            head.resize(std::max<std::size_t>(head.size() + 1, 28), ' ');
            out << head << option.help << " (default: " << (option.default_value.empty() ? "\"\"" : option.default_value)
                << ")\n";
        }
        out << "  --help                    show this message\n";
    }

private:
    struct Option {
        std::string name, help, default_value;
        std::function<void(const std::string&)> set;
    };

    Option* find(const std::string& name) {
        for (Option& option : options_)
            if (option.name == name) return &option;
        return nullptr;
    }

    template <typename V>
    static std::string to_text(const V& value) {
        std::ostringstream out;
        out << value;
        return out.str();
    }

    [[noreturn]] static void fail(const std::string& name, const std::string& value, const std::string& why) {
        throw std::invalid_argument("option " + name + ": '" + value + "' " + why);
    }

    static std::int64_t parse_integer(const std::string& name, const std::string& text) {
        char* end = nullptr;
        errno = 0;
        const long long value = std::strtoll(text.c_str(), &end, 10);
        if (text.empty() || *end != '\0') fail(name, text, "is not an integer");
        if (errno == ERANGE) fail(name, text, "is out of range");
        return value;
    }

    static double parse_double(const std::string& name, const std::string& text) {
        char* end = nullptr;
        errno = 0;
        const double value = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0') fail(name, text, "is not a number");
        if (errno == ERANGE) fail(name, text, "is out of range");
        return value;
    }

    std::string program_, description_;
    std::vector<Option> options_;
};

}  // namespace cli
