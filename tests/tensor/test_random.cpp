#include "test_util.hpp"

// Tests for loom/tensor/random.hpp: the seeded, platform-independent Generator.

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace tensor_random_test {  // named, not anonymous: the test files are compiled together in unity batches

// The first outputs of next_u64(), recorded once. They pin the generator
// (splitmix64 seeding + xoshiro256**): every platform and compiler must
// produce exactly these, or checkpoints and tests stop being reproducible.
constexpr std::array<std::uint64_t, 4> golden_seed_0{0x99EC5F36CB75F2B4ULL, 0xBF6E1F784956452AULL,
                                                     0x1A5F849D4933E6E0ULL, 0x6AA594F1262D2D2CULL};
constexpr std::array<std::uint64_t, 4> golden_seed_42{0x15780B2E0C2EC716ULL, 0x6104D9866D113A7EULL,
                                                      0xAE17533239E499A1ULL, 0xECB8AD4703B360A1ULL};

TEST_CASE("Generator reproduces its golden sequences", "[random]") {
    SECTION("seed 0") {
        loom::Generator g(0);
        for (std::size_t i = 0; i < golden_seed_0.size(); ++i) {
            INFO("draw " << i);
            CHECK(g.next_u64() == golden_seed_0[i]);
        }
    }
    SECTION("seed 42") {
        loom::Generator g(42);
        for (std::size_t i = 0; i < golden_seed_42.size(); ++i) {
            INFO("draw " << i);
            CHECK(g.next_u64() == golden_seed_42[i]);
        }
    }
    SECTION("the default seed is 0") {
        loom::Generator g;
        CHECK(g.next_u64() == golden_seed_0[0]);
    }
    SECTION("uniform() is the top 53 bits of next_u64() times 2^-53") {
        loom::Generator g(42);
        CHECK(g.uniform() == static_cast<double>(golden_seed_42[0] >> 11) * 0x1.0p-53);
        CHECK(g.uniform() == static_cast<double>(golden_seed_42[1] >> 11) * 0x1.0p-53);
    }
}

TEST_CASE("manual_seed restarts the sequence, including a pending normal", "[random]") {
    loom::Generator g(42);
    g.next_u64();
    g.normal();  // leaves the second Box-Muller value pending
    g.manual_seed(0);
    CHECK(g.next_u64() == golden_seed_0[0]);

    loom::Generator fresh(9), reseeded(1);
    reseeded.normal();
    reseeded.manual_seed(9);
    CHECK(reseeded.normal() == fresh.normal());
    CHECK(reseeded.normal() == fresh.normal());
    CHECK(reseeded.next_u64() == fresh.next_u64());
}

TEST_CASE("Generator::uniform stays in range", "[random]") {
    SECTION("[0, 1)") {
        loom::Generator g(3);
        double lowest = 1.0, highest = 0.0;
        for (int i = 0; i < 100000; ++i) {
            const double u = g.uniform();
            REQUIRE(u >= 0.0);
            REQUIRE(u < 1.0);
            lowest = std::min(lowest, u);
            highest = std::max(highest, u);
        }
        CHECK(lowest < 1e-3);
        CHECK(highest > 1.0 - 1e-3);
    }
    SECTION("[low, high), even when rounding would reach high") {
        loom::Generator g(4);
        for (int i = 0; i < 1000; ++i) {
            const double u = g.uniform(-3.0, 2.0);
            REQUIRE(u >= -3.0);
            REQUIRE(u < 2.0);
        }
        // One ulp wide: low + (high - low) * u rounds to high for u > 1/2.
        const double low = 1.0;
        const double high = std::nextafter(low, 2.0);
        for (int i = 0; i < 1000; ++i) REQUIRE(g.uniform(low, high) == low);
    }
}

TEST_CASE("Generator::below", "[random]") {
    loom::Generator g(11);
    SECTION("stays in [0, bound)") {
        for (std::uint64_t bound : {std::uint64_t{1}, std::uint64_t{2}, std::uint64_t{3}, std::uint64_t{7},
                                    std::uint64_t{1000}, (std::uint64_t{1} << 63) + 1,
                                    std::numeric_limits<std::uint64_t>::max()}) {
            INFO("bound " << bound);
            for (int i = 0; i < 2000; ++i) REQUIRE(g.below(bound) < bound);
        }
    }
    SECTION("bound 1 is always 0") {
        for (int i = 0; i < 100; ++i) CHECK(g.below(1) == 0);
    }
    SECTION("every value is about equally likely") {
        std::vector<int> counts(6, 0);
        for (int i = 0; i < 60000; ++i) ++counts[static_cast<std::size_t>(g.below(6))];
        for (int count : counts) {
            INFO("count " << count);
            // Expected 10000, standard deviation ~91.
            CHECK(std::abs(count - 10000) < 600);
        }
    }
    SECTION("the same seed gives the same indices") {
        loom::Generator a(5), b(5);
        for (int i = 0; i < 100; ++i) REQUIRE(a.below(97) == b.below(97));
    }
}

TEST_CASE("Generator::normal is Box-Muller on two uniforms", "[random]") {
    loom::Generator g(7), reference(7);
    const double u1 = reference.uniform();
    const double u2 = reference.uniform();
    const double radius = std::sqrt(-2.0 * std::log(1.0 - u1));
    const double angle = 2.0 * 3.14159265358979323846 * u2;
    CHECK(std::abs(g.normal() - radius * std::cos(angle)) < 1e-12);
    // The pair's second value comes next, without drawing more bits.
    CHECK(std::abs(g.normal() - radius * std::sin(angle)) < 1e-12);
    CHECK(g.next_u64() == reference.next_u64());

    SECTION("mean and stddev") {
        loom::Generator a(8), b(8);
        CHECK(std::abs(a.normal(2.0, 3.0) - (2.0 + 3.0 * b.normal())) < 1e-12);
    }
    SECTION("100k draws: mean ~0, variance ~1, all finite") {
        loom::Generator h(12);
        double sum = 0.0, sum_sq = 0.0;
        for (int i = 0; i < 100000; ++i) {
            const double z = h.normal();
            REQUIRE(std::isfinite(z));
            sum += z;
            sum_sq += z * z;
        }
        CHECK(std::abs(sum / 1e5) < 0.02);
        CHECK(std::abs(sum_sq / 1e5 - 1.0) < 0.02);
    }
}

TEST_CASE("Generator state_string restores the exact position, kept normal included", "[random]") {
    loom::Generator g(99);
    for (int i = 0; i < 5; ++i) g.next_u64();
    g.normal();  // leaves the pair's second normal kept
    const std::string saved = g.state_string();

    loom::Generator restored(1);
    restored.set_state_string(saved);
    CHECK(restored.state_string() == saved);
    CHECK(restored.normal() == g.normal());  // the kept value, bit for bit
    for (int i = 0; i < 10; ++i) CHECK(restored.next_u64() == g.next_u64());
    CHECK(restored.normal() == g.normal());
}

TEST_CASE("Generator set_state_string rejects text that is not a state", "[random][errors]") {
    loom::Generator g(3);
    const std::string before = g.state_string();
    for (const std::string bad : {"", "1 2 3", "1 2 3 4 0 7", "0 0 0 0 0 0", "1 2 3 4 0 0 extra", "zz 2 3 4 0 0"}) {
        const std::string message = loom_test::error_message([&] { g.set_state_string(bad); });
        CHECK(loom_test::contains(message, "not a generator state"));
    }
    CHECK(g.state_string() == before);  // a failed restore leaves the generator as it was
}

}  // namespace tensor_random_test
