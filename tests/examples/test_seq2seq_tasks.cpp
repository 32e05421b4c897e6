#include "test_util.hpp"

// Tests for examples/seq2seq_tasks.hpp: the calendar conversion round-trips
// over the whole date range with the right weekdays, every format writes the
// date it is given (against the strings written out by hand), the ambiguous
// formats follow their conventions, number words are right at the edges, the
// held-out split is disjoint and about 1 in 20, and draws are reproducible.

#include <cstdlib>
#include <set>
#include <string>

#include "../../examples/seq2seq_tasks.hpp"

using loom_test::contains;
using loom_test::error_message;

namespace examples_seq2seq_tasks_test {

using seq2seq_tasks::Date;

TEST_CASE("days_from_civil and civil_from_days round-trip, with the weekday", "[seq2seq_tasks]") {
    CHECK(seq2seq_tasks::days_from_civil(1970, 1, 1) == 0);
    CHECK(seq2seq_tasks::days_from_civil(2000, 3, 1) == 11017);
    const Date leap = seq2seq_tasks::civil_from_days(seq2seq_tasks::days_from_civil(2000, 2, 29));
    CHECK((leap.year == 2000 && leap.month == 2 && leap.day == 29 && leap.weekday == 2));  // a Tuesday
    CHECK(seq2seq_tasks::civil_from_days(seq2seq_tasks::days_from_civil(1998, 3, 3)).weekday == 2);
    CHECK(seq2seq_tasks::civil_from_days(seq2seq_tasks::days_from_civil(1950, 1, 1)).weekday == 0);  // a Sunday
    const std::int64_t first = seq2seq_tasks::days_from_civil(1950, 1, 1), last = seq2seq_tasks::days_from_civil(2049, 12, 31);
    CHECK(last - first + 1 == 36525);  // 100 years with the 25 leap days 1952, 1956, ..., 2048 (2000 is one)
    int weekday = 0;
    for (std::int64_t day = first; day <= last; ++day, weekday = (weekday + 1) % 7) {
        const Date d = seq2seq_tasks::civil_from_days(day);
        REQUIRE(seq2seq_tasks::days_from_civil(d.year, d.month, d.day) == day);
        REQUIRE(d.weekday == weekday);
    }
}

TEST_CASE("every date format writes the date it is given", "[seq2seq_tasks]") {
    const Date d = seq2seq_tasks::civil_from_days(seq2seq_tasks::days_from_civil(1998, 3, 4));  // a Wednesday
    const std::vector<std::string> expected{"March 4, 1998",
                                            "4 March 1998",
                                            "Mar 4, 1998",
                                            "4 Mar 1998",
                                            "Wednesday, March 4, 1998",
                                            "Wed, 4 Mar 1998",
                                            "03/04/1998",
                                            "04.03.1998",
                                            "3/4/98",
                                            "4.3.98",
                                            "1998/03/04",
                                            "the 4th of March, 1998",
                                            "MARCH 4TH, 1998",
                                            "19980304",
                                            "4-Mar-98",
                                            "MAR 04 1998"};
    REQUIRE(expected.size() == static_cast<std::size_t>(seq2seq_tasks::date_formats));
    for (int f = 0; f < seq2seq_tasks::date_formats; ++f) CHECK(seq2seq_tasks::format_date(d, f) == expected[static_cast<std::size_t>(f)]);
    CHECK(seq2seq_tasks::iso_date(d) == "1998-03-04");
    const Date y2k = seq2seq_tasks::civil_from_days(seq2seq_tasks::days_from_civil(2012, 11, 22));
    CHECK(seq2seq_tasks::format_date(y2k, 8) == "11/22/12");
    CHECK(seq2seq_tasks::format_date(y2k, 11) == "the 22nd of November, 2012");
    const Date eleventh = seq2seq_tasks::civil_from_days(seq2seq_tasks::days_from_civil(2031, 1, 11));
    CHECK(seq2seq_tasks::format_date(eleventh, 12) == "JANUARY 11TH, 2031");
    CHECK(contains(error_message([&] { seq2seq_tasks::format_date(d, 16); }), "format 16 is outside [0, 16)"));
}

TEST_CASE("every source and target uses the tasks' alphabets", "[seq2seq_tasks]") {
    loom::Generator generator(3);
    for (const auto task : {seq2seq_tasks::Task::dates, seq2seq_tasks::Task::numbers})
        for (int i = 0; i < 3000; ++i) {
            const auto pair = seq2seq_tasks::draw_pair(task, i % 2 == 0, generator);
            REQUIRE(!pair.source.empty());
            for (char c : pair.source) REQUIRE(seq2seq_tasks::source_alphabet().find(c) != std::string::npos);
            for (char c : pair.target) REQUIRE(seq2seq_tasks::target_alphabet().find(c) != std::string::npos);
        }
}

TEST_CASE("number words", "[seq2seq_tasks]") {
    CHECK(seq2seq_tasks::number_words(0) == "zero");
    CHECK(seq2seq_tasks::number_words(15) == "fifteen");
    CHECK(seq2seq_tasks::number_words(40) == "forty");
    CHECK(seq2seq_tasks::number_words(342007) == "three hundred forty-two thousand seven");
    CHECK(seq2seq_tasks::number_words(100000) == "one hundred thousand");
    CHECK(seq2seq_tasks::number_words(999999) == "nine hundred ninety-nine thousand nine hundred ninety-nine");
    CHECK(seq2seq_tasks::number_words(1010) == "one thousand ten");
    CHECK(contains(error_message([] { seq2seq_tasks::number_words(1000000); }), "1000000 is outside [0, 999999]"));
}

TEST_CASE("the held-out part is disjoint from training, about 1 in 20, and reproducible", "[seq2seq_tasks]") {
    loom::Generator generator(9);
    std::set<std::string> training_targets;
    for (int i = 0; i < 20000; ++i) training_targets.insert(seq2seq_tasks::draw_pair(seq2seq_tasks::Task::dates, false, generator).target);
    const auto held_out = seq2seq_tasks::held_out_pairs(seq2seq_tasks::Task::dates, 2000, 5);
    for (const auto& pair : held_out) REQUIRE(training_targets.count(pair.target) == 0);
    CHECK(held_out[17].source == seq2seq_tasks::held_out_pairs(seq2seq_tasks::Task::dates, 2000, 5)[17].source);
    int count = 0;
    for (std::uint64_t item = 0; item < 100000; ++item) count += seq2seq_tasks::held_out(item) ? 1 : 0;
    CHECK(std::abs(count - 5000) < 300);
    CHECK(contains(error_message([] { seq2seq_tasks::parse_task("sort"); }), "--task must be dates or numbers, got 'sort'"));
}

}  // namespace examples_seq2seq_tasks_test
