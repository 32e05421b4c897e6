// tests/fixture_reader.hpp — reads the reference-value files that the PyTorch
// scripts in tests/fixtures/ write into tests/data/.
//
// Format (text, so a diff shows what changed):
//   loom-fixture 1
//   tensor <name> <rank> <size_0> ... <size_rank-1>
//   <all values in row-major order, space-separated, printed with 17 digits>
//   tensor <name> ...
// load_fixture(file) reads from LOOM_TEST_DATA_DIR (set by tests/CMakeLists.txt);
// get<T>(name) returns the named tensor as Tensor<float> or Tensor<double>.
#pragma once

#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <loom/tensor/tensor.hpp>

#ifndef LOOM_TEST_DATA_DIR
#define LOOM_TEST_DATA_DIR "tests/data"
#endif

namespace loom_test {

class Fixture {
public:
    struct Entry {
        loom::Shape shape;
        std::vector<double> values;
    };

    explicit Fixture(std::map<std::string, Entry> entries, std::string path)
        : entries_(std::move(entries)), path_(std::move(path)) {}

    bool has(const std::string& name) const { return entries_.count(name) != 0; }

    template <typename T>
    loom::Tensor<T> get(const std::string& name) const {
        const auto found = entries_.find(name);
        if (found == entries_.end()) throw std::runtime_error("fixture " + path_ + " has no tensor '" + name + "'");
        std::vector<T> values(found->second.values.begin(), found->second.values.end());
        return loom::Tensor<T>::from_vector(values, found->second.shape);
    }

    std::vector<std::string> names() const {
        std::vector<std::string> result;
        for (const auto& entry : entries_) result.push_back(entry.first);
        return result;
    }

private:
    std::map<std::string, Entry> entries_;
    std::string path_;
};

inline Fixture load_fixture(const std::string& file_name) {
    const std::string path = std::string(LOOM_TEST_DATA_DIR) + "/" + file_name;
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open fixture " + path);
    std::string line;
    std::getline(in, line);
    if (line != "loom-fixture 1") throw std::runtime_error("fixture " + path + ": bad header '" + line + "'");
    std::map<std::string, Fixture::Entry> entries;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        std::istringstream header(line);
        std::string keyword, name;
        int rank = 0;
        header >> keyword >> name >> rank;
        if (keyword != "tensor" || !header || rank < 0 || rank > loom::Shape::max_rank)
            throw std::runtime_error("fixture " + path + ": bad tensor line '" + line + "'");
        std::vector<loom::index_t> sizes(static_cast<std::size_t>(rank));
        for (auto& size : sizes) header >> size;
        if (!header) throw std::runtime_error("fixture " + path + ": bad sizes in '" + line + "'");
        Fixture::Entry entry{loom::Shape(sizes), {}};
        std::getline(in, line);
        std::istringstream values(line);
        for (double value; values >> value;) entry.values.push_back(value);
        if (static_cast<loom::index_t>(entry.values.size()) != entry.shape.numel())
            throw std::runtime_error("fixture " + path + ": tensor '" + name + "' has " +
                                     std::to_string(entry.values.size()) + " values for shape " +
                                     entry.shape.to_string());
        entries.emplace(name, std::move(entry));
    }
    return Fixture(std::move(entries), path);
}

}  // namespace loom_test
