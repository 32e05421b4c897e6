// loom/tensor/random.hpp — a seeded random generator that gives the same
// numbers on every platform.
//
// The C++ standard fixes the output of std::mt19937 but not of
// std::uniform_real_distribution or std::normal_distribution, so loom draws its
// own: xoshiro256** for 64 random bits (state seeded by splitmix64), then
//   uniform in [0, 1):  u = (bits >> 11) * 2^-53
//   standard normal:    Box–Muller, z = sqrt(-2 ln u1) * cos(2π u2)
// Box–Muller makes two normals per pair of uniforms; the second is kept for the
// next call. There is no global generator: pass one explicitly.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>

#include "loom/tensor/error.hpp"

namespace loom {

class Generator {
public:
    explicit Generator(std::uint64_t seed = 0) { manual_seed(seed); }

    void manual_seed(std::uint64_t seed) {
        // splitmix64 spreads a small seed over the 256-bit state.
        std::uint64_t mix = seed;
        for (auto& word : state_) {
            mix += 0x9E3779B97F4A7C15ULL;
            std::uint64_t z = mix;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
            word = z ^ (z >> 31);
        }
        has_spare_normal_ = false;
    }

    // The whole state, as text: the four state words and the kept Box–Muller
    // normal (as its bit pattern), in hexadecimal. A generator restored from it
    // continues exactly where this one is, which is what a checkpoint needs to
    // resume training bit for bit.
    std::string state_string() const {
        std::ostringstream out;
        out << std::hex;
        for (std::uint64_t word : state_) out << word << ' ';
        std::uint64_t spare_bits = 0;
        std::memcpy(&spare_bits, &spare_normal_, sizeof spare_bits);
        out << spare_bits << ' ' << (has_spare_normal_ ? 1 : 0);
        return out.str();
    }

    void set_state_string(const std::string& text) {
        std::istringstream in(text);
        in >> std::hex;
        std::uint64_t words[4]{}, spare_bits = 0;
        int has_spare = -1;
        for (std::uint64_t& word : words) in >> word;
        in >> spare_bits >> has_spare;
        std::string rest;
        if (in.fail() || (in >> rest) || (has_spare != 0 && has_spare != 1) ||
            (words[0] | words[1] | words[2] | words[3]) == 0)
            throw Error("loom::Generator: not a generator state: '" + text + "'");
        for (int k = 0; k < 4; ++k) state_[k] = words[k];
        std::memcpy(&spare_normal_, &spare_bits, sizeof spare_bits);
        has_spare_normal_ = has_spare == 1;
    }

    // 64 uniformly random bits (xoshiro256**).
    std::uint64_t next_u64() {
        const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
        const std::uint64_t t = state_[1] << 17;
        state_[2] ^= state_[0];
        state_[3] ^= state_[1];
        state_[1] ^= state_[2];
        state_[0] ^= state_[3];
        state_[2] ^= t;
        state_[3] = rotl(state_[3], 45);
        return result;
    }

    // Uniform double in [0, 1) with 53 random bits.
    double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

    // Uniform double in [low, high). For u just below 1, low + (high - low) * u
    // can round up to high; that value is moved back to the largest double below.
    double uniform(double low, double high) {
        const double value = low + (high - low) * uniform();
        return low < high && value >= high ? std::nextafter(high, low) : value;
    }

    // Uniform integer in [0, bound) without modulo bias (rejection sampling).
    std::uint64_t below(std::uint64_t bound) {
        const std::uint64_t limit = bound == 0 ? 0 : (~std::uint64_t{0} - bound + 1) % bound;
        std::uint64_t bits = next_u64();
        while (bits < limit) bits = next_u64();
        return bound == 0 ? 0 : bits % bound;
    }

    double normal() {
        if (has_spare_normal_) {
            has_spare_normal_ = false;
            return spare_normal_;
        }
        // 1 - uniform() is in (0, 1], so the log is finite.
        const double radius = std::sqrt(-2.0 * std::log(1.0 - uniform()));
        const double angle = 2.0 * 3.14159265358979323846 * uniform();
        spare_normal_ = radius * std::sin(angle);
        has_spare_normal_ = true;
        return radius * std::cos(angle);
    }

    double normal(double mean, double stddev) { return mean + stddev * normal(); }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

    std::uint64_t state_[4]{};
    double spare_normal_ = 0.0;
    bool has_spare_normal_ = false;
};

}  // namespace loom
