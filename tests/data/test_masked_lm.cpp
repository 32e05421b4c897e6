#include "test_util.hpp"

// Tests for loom/data/masked_lm.hpp (loom::mask_tokens, BERT's masked-LM
// corruption): the selection rate and the 80/10/10 split over many positions,
// within binomial tolerance; targets are the original ids exactly at the
// selected positions and ignore_index elsewhere; inputs change only there;
// random replacements avoid the mask and special ids; at least one selection
// per row; special ids never selected; determinism for a seed; the errors.

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include <loom/data/masked_lm.hpp>

namespace data_masked_lm_test {  // named, not anonymous: the test files are compiled together in unity batches

using loom::index_t;
using loom::IndexTensor;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

// ids [rows, length] drawn uniformly from [0, characters).
inline IndexTensor random_ids(index_t rows, index_t length, index_t characters, std::uint64_t seed) {
    loom::Generator generator(seed);
    std::vector<index_t> values(static_cast<std::size_t>(rows * length));
    for (index_t& v : values) v = static_cast<index_t>(generator.below(static_cast<std::uint64_t>(characters)));
    return IndexTensor(values, Shape{rows, length});
}

// |observed − n·p| within `sigmas` binomial standard deviations.
inline void check_binomial(const char* what, index_t observed, index_t n, double p, double sigmas = 5.0) {
    const double expected = static_cast<double>(n) * p;
    const double sd = std::sqrt(static_cast<double>(n) * p * (1.0 - p));
    INFO(what << ": " << observed << " of " << n << ", expected " << expected << " ± " << sigmas << " · " << sd);
    CHECK(std::abs(static_cast<double>(observed) - expected) <= sigmas * sd);
}

TEST_CASE("mask_tokens selects 15% and splits them 80/10/10", "[masked_lm][data]") {
    const index_t characters = 30, mask_id = 30, vocab = 31;  // [MASK] is the id after the characters
    const IndexTensor ids = random_ids(200, 250, characters, 1);
    loom::Generator generator(2);
    const loom::MaskedLmBatch batch = loom::mask_tokens(ids, vocab, mask_id, generator);
    REQUIRE(batch.inputs.shape() == ids.shape());
    REQUIRE(batch.targets.shape() == ids.shape());
    CHECK(batch.ignore_index == -100);

    // Count from the tensors themselves, not only from the reported counts.
    index_t selected = 0, masked = 0, changed_to_other = 0;
    for (index_t i = 0; i < ids.numel(); ++i) {
        const index_t target = batch.targets[i], input = batch.inputs[i];
        if (target == -100) {
            CHECK(input == ids[i]);  // not selected: untouched
            continue;
        }
        ++selected;
        CHECK(target == ids[i]);  // selected: the target is the original
        if (input == mask_id) ++masked;
        else if (input != ids[i]) ++changed_to_other;
        CHECK(input >= 0);
        CHECK(input < vocab);
    }
    CHECK(selected == batch.selected);
    CHECK(masked == batch.masked);
    CHECK(batch.selected == batch.masked + batch.randomised + batch.kept);
    // A random replacement equals the original with probability 1/30: those look kept.
    CHECK(changed_to_other <= batch.randomised);
    CHECK(changed_to_other >= batch.randomised * 9 / 10);

    check_binomial("selected", batch.selected, ids.numel(), 0.15);
    check_binomial("[MASK]", batch.masked, batch.selected, 0.8);
    check_binomial("random", batch.randomised, batch.selected, 0.1);
    check_binomial("kept", batch.kept, batch.selected, 0.1);
}

TEST_CASE("mask_tokens follows other probabilities and fractions", "[masked_lm][data]") {
    const IndexTensor ids = random_ids(100, 100, 20, 3);
    loom::MaskedLmOptions options;
    options.mask_probability = 0.4;
    options.mask_token_fraction = 0.5;
    options.random_token_fraction = 0.25;
    loom::Generator generator(4);
    const loom::MaskedLmBatch batch = loom::mask_tokens(ids, 21, 20, generator, options);
    check_binomial("selected", batch.selected, ids.numel(), 0.4);
    check_binomial("[MASK]", batch.masked, batch.selected, 0.5);
    check_binomial("random", batch.randomised, batch.selected, 0.25);

    // Probability 1 selects everything; fraction 1 masks everything selected.
    options.mask_probability = 1.0;
    options.mask_token_fraction = 1.0;
    options.random_token_fraction = 0.0;
    const loom::MaskedLmBatch all = loom::mask_tokens(ids, 21, 20, generator, options);
    CHECK(all.selected == ids.numel());
    CHECK(all.masked == ids.numel());
    for (index_t i = 0; i < ids.numel(); ++i) {
        CHECK(all.inputs[i] == 20);
        CHECK(all.targets[i] == ids[i]);
    }
    // All random: no mask id anywhere, and (with 0.7 + 0.3 = 1 in doubles) nothing kept.
    options.mask_token_fraction = 0.7;
    options.random_token_fraction = 0.3;
    const loom::MaskedLmBatch mixed = loom::mask_tokens(ids, 21, 20, generator, options);
    CHECK(mixed.kept == 0);
    options.mask_token_fraction = 0.0;
    options.random_token_fraction = 1.0;
    const loom::MaskedLmBatch random = loom::mask_tokens(ids, 21, 20, generator, options);
    CHECK(random.randomised == ids.numel());
    for (index_t i = 0; i < ids.numel(); ++i) CHECK(random.inputs[i] != 20);
}

TEST_CASE("mask_tokens never selects or draws special ids and keeps a custom ignore_index", "[masked_lm][data]") {
    // Vocabulary: 0 = [PAD], 1 = [SEP], 2..9 characters, 10 = [MASK].
    std::vector<index_t> values;
    for (index_t row = 0; row < 50; ++row)
        for (index_t t = 0; t < 40; ++t) values.push_back(t >= 30 ? 0 : t == 15 ? 1 : 2 + (row + t) % 8);
    const IndexTensor ids(values, Shape{50, 40});
    loom::MaskedLmOptions options;
    options.special_ids = {0, 1};
    options.mask_probability = 0.5;
    options.random_token_fraction = 0.5;
    options.mask_token_fraction = 0.3;
    options.ignore_index = -1;
    loom::Generator generator(5);
    const loom::MaskedLmBatch batch = loom::mask_tokens(ids, 11, 10, generator, options);
    CHECK(batch.ignore_index == -1);
    std::set<index_t> drawn;
    for (index_t i = 0; i < ids.numel(); ++i) {
        if (ids[i] <= 1) {
            CHECK(batch.targets[i] == -1);  // special: never selected
            CHECK(batch.inputs[i] == ids[i]);
        } else if (batch.targets[i] != -1 && batch.inputs[i] != 10) {
            drawn.insert(batch.inputs[i]);
        }
    }
    CHECK(batch.randomised > 100);
    CHECK(*drawn.begin() >= 2);   // no [PAD] or [SEP] drawn
    CHECK(*drawn.rbegin() <= 9);  // no [MASK] drawn as a "random" id
    check_binomial("selected", batch.selected, 50 * 29, 0.5);  // 29 maskable positions per row
}

TEST_CASE("mask_tokens selects at least one position in every row", "[masked_lm][data]") {
    loom::MaskedLmOptions options;
    options.mask_probability = 1e-9;  // the draws select (almost surely) nothing
    const IndexTensor ids = random_ids(40, 7, 5, 6);
    loom::Generator generator(7);
    const loom::MaskedLmBatch batch = loom::mask_tokens(ids, 6, 5, generator, options);
    CHECK(batch.selected == 40);
    std::set<index_t> positions;
    for (index_t row = 0; row < 40; ++row) {
        index_t in_row = 0;
        for (index_t t = 0; t < 7; ++t)
            if (batch.targets[row * 7 + t] != -100) {
                ++in_row;
                positions.insert(t);
            }
        CHECK(in_row == 1);
    }
    CHECK(positions.size() >= 5);  // the fallback position is drawn, not always the first

    // A row with nothing to mask (all special ids or already [MASK]) stays without a selection.
    const IndexTensor mixed({0, 0, 0, 5, 5, 5, 2, 3, 4}, Shape{3, 3});
    options.special_ids = {0};
    const loom::MaskedLmBatch some = loom::mask_tokens(mixed, 6, 5, generator, options);
    CHECK(some.selected == 1);
    for (index_t i = 0; i < 6; ++i) CHECK(some.targets[i] == -100);
}

TEST_CASE("mask_tokens is deterministic for a seed", "[masked_lm][data]") {
    const IndexTensor ids = random_ids(8, 64, 65, 8);
    loom::Generator a(9), b(9), c(10);
    const loom::MaskedLmBatch first = loom::mask_tokens(ids, 66, 65, a);
    const loom::MaskedLmBatch same = loom::mask_tokens(ids, 66, 65, b);
    const loom::MaskedLmBatch other = loom::mask_tokens(ids, 66, 65, c);
    CHECK(first.inputs.values() == same.inputs.values());
    CHECK(first.targets.values() == same.targets.values());
    CHECK(first.targets.values() != other.targets.values());
    CHECK(a.state_string() == b.state_string());
    // The generator moves on: the next call masks differently.
    const loom::MaskedLmBatch next = loom::mask_tokens(ids, 66, 65, a);
    CHECK(next.targets.values() != first.targets.values());
}

TEST_CASE("mask_tokens reports bad arguments", "[masked_lm][data]") {
    const IndexTensor ids = random_ids(2, 5, 4, 11);
    loom::Generator generator(12);
    const auto message = [&](const loom::MaskedLmOptions& options, index_t vocab = 5, index_t mask = 4,
                             const IndexTensor& input = IndexTensor()) {
        return error_message([&] { loom::mask_tokens(input.numel() > 0 ? input : ids, vocab, mask, generator, options); });
    };
    loom::MaskedLmOptions o;
    CHECK(contains(message(o, 5, 5), "loom::mask_tokens: mask id 5 is out of range for a vocabulary of 5"));
    CHECK(contains(message(o, 5, -1), "mask id -1 is out of range"));
    CHECK(contains(message(o, 0, 0), "vocab_size must be at least 1, got 0"));
    for (const double p : {0.0, -0.1, 1.5, std::nan("")}) {
        o.mask_probability = p;
        CHECK(contains(message(o), "mask_probability must be in (0, 1]"));
    }
    o = loom::MaskedLmOptions();
    o.mask_token_fraction = -0.2;
    CHECK(contains(message(o), "mask_token_fraction must be in [0, 1], got -0.2"));
    o = loom::MaskedLmOptions();
    o.random_token_fraction = 1.2;
    CHECK(contains(message(o), "random_token_fraction must be in [0, 1], got 1.2"));
    o = loom::MaskedLmOptions();
    o.mask_token_fraction = 0.8;
    o.random_token_fraction = 0.3;
    CHECK(contains(message(o), "is more than 1"));
    o = loom::MaskedLmOptions();
    o.ignore_index = 2;
    CHECK(contains(message(o), "ignore_index 2 is a token id"));
    o = loom::MaskedLmOptions();
    o.special_ids = {1, 7};
    CHECK(contains(message(o), "special id 7 at index 1 is out of range"));
    o = loom::MaskedLmOptions();
    o.special_ids = {0, 1, 2, 3};
    CHECK(contains(message(o), "every id of the vocabulary of 5 is the mask id or special"));
    o.random_token_fraction = 0.0;
    CHECK(contains(message(o), "no position of the [2, 5] ids can be masked"));
    o = loom::MaskedLmOptions();
    CHECK(contains(message(o, 5, 4, IndexTensor({1, 9}, Shape{1, 2})), "id 9 at position 1 is out of range"));
    CHECK(contains(message(o, 5, 4, IndexTensor({1, 2})), "expected ids [batch, length]"));
    CHECK(contains(error_message([&] { loom::mask_tokens(IndexTensor::zeros(Shape{0, 3}), 5, 4, generator); }),
                   "expected ids [batch, length] with at least one id"));
}

}  // namespace data_masked_lm_test
