#include "test_util.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "loom/data/text_dataset.hpp"
#include "loom/data/vocabulary.hpp"

using loom::index_t;
using loom_test::contains;
using loom_test::error_message;

namespace data_text_dataset_test {  // named, not anonymous: the test files are compiled together in unity batches

const std::string english = "To be, or not to be";
const std::string chinese = "床前明月光，疑是地上霜。举头望明月，低头思故乡。";

using loom_test::TempDir;
using loom_test::write_text_file;

std::vector<index_t> iota_ids(index_t count) {
    std::vector<index_t> ids(static_cast<std::size_t>(count));
    std::iota(ids.begin(), ids.end(), index_t{0});
    return ids;
}

TEST_CASE("CharDataset encodes a text as one id per character", "[data][dataset]") {
    SECTION("with a given vocabulary") {
        const loom::Vocabulary vocabulary = loom::Vocabulary::from_text(english + chinese);
        const loom::CharDataset dataset = loom::CharDataset::from_text(chinese, vocabulary);
        CHECK(dataset.size() == 24);
        CHECK(dataset.ids() == vocabulary.encode(chinese));
        CHECK(dataset.vocabulary() == vocabulary);
        CHECK(dataset.vocabulary().decode(dataset.ids()) == chinese);
    }
    SECTION("with the vocabulary of the text itself") {
        const loom::CharDataset dataset = loom::CharDataset::from_text(english);
        CHECK(dataset.size() == static_cast<index_t>(english.size()));
        CHECK(dataset.vocabulary().size() == 9);
        CHECK(dataset.vocabulary().decode(dataset.ids()) == english);
    }
    SECTION("ids must fit the vocabulary") {
        const loom::Vocabulary vocabulary = loom::Vocabulary::from_text("ab");
        CHECK_NOTHROW(loom::CharDataset(vocabulary, {0, 1, 1}));
        REQUIRE_THROWS_AS(loom::CharDataset(vocabulary, {0, 2}), loom::Error);
        CHECK(contains(error_message([&] { loom::CharDataset(vocabulary, {0, 2}); }), "id 2 at position 1"));
    }
}

TEST_CASE("CharDataset::from_file reads a UTF-8 file", "[data][dataset]") {
    TempDir dir;
    const std::string path = dir.file("poem.txt");
    const std::string text = english + "\n" + chinese + "\n";
    write_text_file(path, text);

    SECTION("round trip") {
        const loom::CharDataset dataset = loom::CharDataset::from_file(path);
        CHECK(dataset.size() == static_cast<index_t>(english.size()) + 1 + 24 + 1);
        CHECK(dataset.vocabulary().decode(dataset.ids()) == text);
        CHECK(loom::read_file_bytes(path) == text);
    }
    SECTION("with a saved vocabulary") {
        const std::string vocabulary_path = dir.file("poem.vocab");
        loom::Vocabulary::from_text(text).save(vocabulary_path);
        const loom::CharDataset dataset = loom::CharDataset::from_file(path, loom::Vocabulary::load(vocabulary_path));
        CHECK(dataset.ids() == loom::CharDataset::from_text(text).ids());
    }
    SECTION("errors name the file") {
        const std::string missing = dir.file("missing.txt");
        REQUIRE_THROWS_AS(loom::CharDataset::from_file(missing), loom::Error);
        CHECK(contains(error_message([&] { loom::CharDataset::from_file(missing); }), missing));

        const loom::Vocabulary english_only = loom::Vocabulary::from_text(english + "\n");
        REQUIRE_THROWS_AS(loom::CharDataset::from_file(path, english_only), loom::Error);
        const std::string unknown = error_message([&] { loom::CharDataset::from_file(path, english_only); });
        CHECK(contains(unknown, path));
        CHECK(contains(unknown, "U+5E8A '床'"));

        const std::string broken = dir.file("broken.txt");
        write_text_file(broken, "abc\xC3");
        REQUIRE_THROWS_AS(loom::CharDataset::from_file(broken), loom::Error);
        const std::string invalid = error_message([&] { loom::CharDataset::from_file(broken); });
        CHECK(contains(invalid, broken));
        CHECK(contains(invalid, "byte offset 3 (byte 0xC3)"));
    }
}

TEST_CASE("split_train_validation cuts the corpus once, train first", "[data][dataset]") {
    SECTION("the default is the 90/10 split") {
        const std::vector<index_t> ids = iota_ids(100);
        const loom::TrainValidationSplit split = loom::split_train_validation(ids);
        REQUIRE(split.train.size() == 90);
        REQUIRE(split.validation.size() == 10);
        CHECK(split.train.front() == 0);
        CHECK(split.train.back() == 89);
        CHECK(split.validation.front() == 90);
        CHECK(split.validation.back() == 99);
    }
    SECTION("tinyshakespeare's size splits as nanoGPT's int(0.9 * n)") {
        const loom::TrainValidationSplit split = loom::split_train_validation(iota_ids(1115394));
        CHECK(split.train.size() == 1003854);
        CHECK(split.validation.size() == 111540);
    }
    SECTION("the parts are contiguous and together give the corpus back") {
        const std::vector<index_t> ids = loom::CharDataset::from_text(chinese).ids();
        const loom::TrainValidationSplit split = loom::split_train_validation(ids, 0.25);
        CHECK(split.train.size() == 18);
        CHECK(split.validation.size() == 6);
        std::vector<index_t> joined = split.train;
        joined.insert(joined.end(), split.validation.begin(), split.validation.end());
        CHECK(joined == ids);
    }
    SECTION("deterministic") {
        const std::vector<index_t> ids = loom::CharDataset::from_text(english).ids();
        const loom::TrainValidationSplit first = loom::split_train_validation(ids, 0.3);
        const loom::TrainValidationSplit second = loom::split_train_validation(ids, 0.3);
        CHECK(first.train == second.train);
        CHECK(first.validation == second.validation);
    }
    SECTION("small corpora: a part may be small but not empty") {
        const loom::TrainValidationSplit two = loom::split_train_validation(iota_ids(2));
        CHECK(two.train.size() == 1);
        CHECK(two.validation.size() == 1);
    }
}

TEST_CASE("split_train_validation rejects bad fractions and empty parts", "[data][dataset]") {
    const std::vector<index_t> ids = iota_ids(50);
    for (const double fraction : {0.0, 1.0, -0.1, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
        INFO("validation_fraction " << fraction);
        REQUIRE_THROWS_AS(loom::split_train_validation(ids, fraction), loom::Error);
        CHECK(contains(error_message([&] { loom::split_train_validation(ids, fraction); }),
                       "strictly between 0 and 1"));
    }

    REQUIRE_THROWS_AS(loom::split_train_validation(iota_ids(1)), loom::Error);
    std::string message = error_message([] { loom::split_train_validation(iota_ids(1)); });
    CHECK(contains(message, "splitting 1 ids"));
    CHECK(contains(message, "0 for training and 1 for validation"));

    // A fraction so small that nothing is left for validation.
    message = error_message([&] { loom::split_train_validation(ids, 1e-20); });
    CHECK(contains(message, "50 for training and 0 for validation"));

    CHECK(contains(error_message([] { loom::split_train_validation({}); }), "splitting 0 ids"));
}

}  // namespace data_text_dataset_test
