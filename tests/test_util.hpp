// tests/test_util.hpp — small helpers shared by the test files.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <fstream>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include <loom/loom.hpp>

#include "loom_catch.hpp"

namespace loom_test {

// The message of the loom::Error that fn throws, or "" if it throws none.
template <typename Fn>
std::string error_message(Fn&& fn) {
    try {
        fn();
    } catch (const loom::Error& error) {
        return error.what();
    }
    return "";
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

template <typename T>
loom::Tensor<T> random_tensor(const loom::Shape& shape, std::uint64_t seed, double low = -1.0, double high = 1.0) {
    loom::Generator generator(seed);
    return loom::Tensor<T>::uniform(shape, static_cast<T>(low), static_cast<T>(high), generator);
}

// Largest |a_i - b_i|; shapes must match.
template <typename T>
double max_abs_diff(const loom::Tensor<T>& a, const loom::Tensor<T>& b) {
    REQUIRE(a.shape() == b.shape());
    double worst = 0.0;
    for (loom::index_t i = 0; i < a.numel(); ++i)
        worst = std::max(worst, std::abs(static_cast<double>(a.data()[i]) - static_cast<double>(b.data()[i])));
    return worst;
}

// Checks |got_i - want_i| <= tol · max(1, |want_i|) for every element (a
// relative error, absolute near zero), reporting the largest difference. The
// shapes must match, except that a scalar matches a one-element tensor (the
// fixture files store scalars as [1]).
template <typename T>
void check_matches(const loom::Tensor<T>& got, const loom::Tensor<T>& want, double tol) {
    REQUIRE(got.defined());
    REQUIRE(want.defined());
    const bool scalar_pair = got.numel() == 1 && want.numel() == 1;
    REQUIRE((got.shape() == want.shape() || scalar_pair));
    double worst = 0.0;
    for (loom::index_t i = 0; i < got.numel(); ++i) {
        const double ref = static_cast<double>(want.data()[i]);
        const double diff = std::abs(static_cast<double>(got.data()[i]) - ref) / std::max(1.0, std::abs(ref));
        worst = std::isnan(diff) ? diff : std::max(worst, diff);
        if (std::isnan(worst)) break;
    }
    INFO("largest relative difference " << worst << ", tolerance " << tol);
    CHECK(worst <= tol);
}

// A file name in the temporary directory that no other test uses at the same
// time: ctest runs test cases as parallel processes (the float and double
// instances of one TEMPLATE_TEST_CASE among them), so a fixed name would be
// written and read by two of them at once.
inline std::string unique_temp_path(const std::string& stem, const std::string& extension = "") {
    std::random_device random;
    return (std::filesystem::temp_directory_path() /
            (stem + "_" + std::to_string(random()) + "_" + std::to_string(random()) + extension))
        .string();
}

// A fresh directory under the system temp directory, removed with everything
// in it when the TempDir goes out of scope.
class TempDir {
public:
    explicit TempDir(const std::string& stem = "loom_test") : path_(unique_temp_path(stem)) {
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

// Writes `text` to `path` byte for byte (binary mode: no line-end translation).
inline void write_text_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    REQUIRE(out.good());
}

// The bytes of a file ("" if it cannot be read).
inline std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Sets loom's thread count for a scope, then restores the previous one (also
// when the test fails and unwinds).
class ThreadScope {
public:
    explicit ThreadScope(int threads) : previous_(loom::get_num_threads()) { loom::set_num_threads(threads); }
    ~ThreadScope() { loom::set_num_threads(previous_); }
    ThreadScope(const ThreadScope&) = delete;
    ThreadScope& operator=(const ThreadScope&) = delete;

private:
    int previous_;
};

}  // namespace loom_test

// Runs loom::gradcheck in double precision and fails the test, printing the
// report, unless every gradient matches finite differences to 1e-6.
#define LOOM_CHECK_GRADIENTS(fn, inputs)                                   \
    do {                                                                   \
        const auto loom_report_ = loom::gradcheck((fn), (inputs));         \
        INFO(loom_report_.summary());                                      \
        CHECK(loom_report_.passed);                                        \
        CHECK(loom_report_.max_rel_error < 1e-6);                          \
    } while (false)
