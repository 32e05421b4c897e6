#include "test_util.hpp"

// Tests for loom/train/loss_plot.hpp: the CSV log reads back to the right
// points (missing and "nan" values included), the SVG has the curves, dots,
// ticks and labels the data predicts, empty and one-point logs still give a
// valid picture with no NaN in it, the output does not depend on the global
// locale, save_loss_plot is atomic, and every bad log is an error that names
// the function, the file and the line.

#include <cmath>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <limits>
#include <locale>
#include <sstream>
#include <string>
#include <vector>

#include "loom/train/csv_log.hpp"
#include "loom/train/loss_plot.hpp"

namespace train_loss_plot_test {  // named, not anonymous: the test files are compiled together in unity batches

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

// A file in the temporary directory, removed (with its .tmp) at the end of the test.
struct TempFile {
    explicit TempFile(const std::string& extension) : path(loom_test::unique_temp_path("loom_loss_plot", extension)) {}
    ~TempFile() {
        std::error_code ignored;
        std::filesystem::remove(path, ignored);
        std::filesystem::remove(path + ".tmp", ignored);
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    std::string path;
};

std::size_t count(const std::string& text, const std::string& part) {
    std::size_t n = 0;
    for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
    return n;
}

// The points="..." attribute of the k-th polyline of a class.
std::string polyline_points(const std::string& svg, const std::string& css_class, std::size_t k) {
    std::size_t at = 0;
    for (std::size_t i = 0; i <= k; ++i) {
        at = svg.find("<polyline class=\"" + css_class + "\"", i == 0 ? 0 : at + 1);
        if (at == std::string::npos) return "<missing>";
    }
    const std::size_t begin = svg.find("points=\"", at) + 8;
    return svg.substr(begin, svg.find('"', begin) - begin);
}

bool valid_document(const std::string& svg) {
    const std::string end = "</svg>\n";
    return svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0 && svg.size() > end.size() &&
           svg.compare(svg.size() - end.size(), end.size(), end) == 0 && count(svg, "<svg") == 1;
}

bool has_non_finite_text(const std::string& svg) {
    for (const char* word : {"nan", "NaN", "NAN", "inf", "Inf", "INF"})
        if (loom_test::contains(svg, word)) return true;
    return false;
}

// Steps 0, 10, ..., 100 at 0.6 s each; training loss falls from 4 to 2;
// validation loss 3 at step 50 and 2 at step 100.
std::vector<loom::LossPoint> falling_loss() {
    std::vector<loom::LossPoint> points;
    for (int step = 0; step <= 100; step += 10) {
        loom::LossPoint p;
        p.step = step;
        p.seconds = 0.6 * step;
        p.train_loss = 4.0 - 0.02 * step;
        if (step == 50) p.val_loss = 3.0;
        if (step == 100) p.val_loss = 2.0;
        points.push_back(p);
    }
    return points;
}

// Decimal comma and thousands grouping: what a German locale would do to streams.
struct CommaPunct : std::numpunct<char> {
    char do_decimal_point() const override { return ','; }
    char do_thousands_sep() const override { return '.'; }
    std::string do_grouping() const override { return "\3"; }
};

struct GlobalLocaleScope {
    explicit GlobalLocaleScope(const std::locale& locale) : previous(std::locale::global(locale)) {}
    ~GlobalLocaleScope() { std::locale::global(previous); }
    GlobalLocaleScope(const GlobalLocaleScope&) = delete;
    GlobalLocaleScope& operator=(const GlobalLocaleScope&) = delete;
    std::locale previous;
};

TEST_CASE("read_loss_log reads rows with missing and nan values", "[loss_plot]") {
    TempFile log(".csv");
    loom_test::write_text_file(log.path,
               "step,train_loss,val_loss,tokens_per_s,seconds\n"
               "10,2.5,,1000,1.5\n"
               "20,2.25,2.375,1000,3\n"
               "30,nan,2.125,999.5,4.5\n"
               "\n"
               "40,,-inf,0,6\r\n");
    const std::vector<loom::LossPoint> points = loom::read_loss_log(log.path);
    REQUIRE(points.size() == 4);
    CHECK(points[0].step == 10);
    CHECK(points[0].seconds == 1.5);
    CHECK(points[0].train_loss == 2.5);
    CHECK(std::isnan(points[0].val_loss));
    CHECK(points[1].step == 20);
    CHECK(points[1].train_loss == 2.25);
    CHECK(points[1].val_loss == 2.375);
    CHECK(std::isnan(points[2].train_loss));
    CHECK(points[2].val_loss == 2.125);
    CHECK(points[3].step == 40);
    CHECK(points[3].seconds == 6.0);
    CHECK(std::isnan(points[3].train_loss));
    CHECK(std::isinf(points[3].val_loss));
}

TEST_CASE("read_loss_log reads back what CsvLog writes", "[loss_plot]") {
    TempFile log(".csv");
    loom::CsvLog writer(log.path);
    writer.add(50, 2.41032815, nan, 81234.5, 3.1);
    writer.add(250, 1.98213458, 2.01544893, 80321.2, 15.6);
    writer.add(250, nan, 2.0, 0.0, 15.7);  // the final row: no training loss
    writer.flush();
    const std::vector<loom::LossPoint> points = loom::read_loss_log(log.path);
    REQUIRE(points.size() == 3);
    CHECK(points[0].step == 50);
    CHECK(points[0].train_loss == 2.41032815);
    CHECK(std::isnan(points[0].val_loss));
    CHECK(points[0].seconds == 3.1);
    CHECK(points[1].val_loss == 2.01544893);
    CHECK(std::isnan(points[2].train_loss));
    CHECK(points[2].val_loss == 2.0);
}

TEST_CASE("read_loss_log errors name the function, the file and the line", "[loss_plot]") {
    using loom_test::contains;
    using loom_test::error_message;
    const std::string header = "step,train_loss,val_loss,tokens_per_s,seconds\n";
    TempFile log(".csv");

    const std::string missing = log.path + ".missing";
    std::string message = error_message([&] { loom::read_loss_log(missing); });
    CHECK(contains(message, "loom::read_loss_log"));
    CHECK(contains(message, "'" + missing + "'"));

    loom_test::write_text_file(log.path, "step,loss\n1,2\n");
    message = error_message([&] { loom::read_loss_log(log.path); });
    CHECK(contains(message, "loom::read_loss_log: line 1 of '" + log.path + "'"));
    CHECK(contains(message, "step,train_loss,val_loss,tokens_per_s,seconds"));

    loom_test::write_text_file(log.path, "");
    message = error_message([&] { loom::read_loss_log(log.path); });
    CHECK(contains(message, "line 1 of '" + log.path + "'"));

    loom_test::write_text_file(log.path, header + "1,2.5,,100,1\n2,2.4,100,2\n");
    message = error_message([&] { loom::read_loss_log(log.path); });
    CHECK(contains(message, "loom::read_loss_log: line 3 of '" + log.path + "'"));
    CHECK(contains(message, "expected 5 fields, got 4"));

    loom_test::write_text_file(log.path, header + "1,2.5x,,100,1\n");
    message = error_message([&] { loom::read_loss_log(log.path); });
    CHECK(contains(message, "loom::read_loss_log: line 2 of '" + log.path + "'"));
    CHECK(contains(message, "train_loss"));

    loom_test::write_text_file(log.path, header + "1,2.5,,100,1\n\n3.5,2.5,,100,1\n");  // the blank line still counts
    message = error_message([&] { loom::read_loss_log(log.path); });
    CHECK(contains(message, "line 4 of '" + log.path + "'"));
    CHECK(contains(message, "the step field"));

    loom_test::write_text_file(log.path, header + "1,2.5,,100,\n");
    message = error_message([&] { loom::read_loss_log(log.path); });
    CHECK(message.empty());  // an empty field is "not measured", not an error...
    loom_test::write_text_file(log.path, header + "1,2.5,,100,1,5\n");
    message = error_message([&] { loom::read_loss_log(log.path); });
    CHECK(contains(message, "expected 5 fields, got 6"));  // ...but a sixth field is
}

TEST_CASE("nice_step follows the 1-2-5 rule", "[loss_plot]") {
    using loom::detail::plot::nice_step;
    // span / 6, rounded up to 1, 2, 5 or 10 times a power of ten
    CHECK(nice_step(120) == Approx(20));    // 20
    CHECK(nice_step(3) == Approx(0.5));     // 0.5
    CHECK(nice_step(3.3) == Approx(1));     // 0.55 -> 1
    CHECK(nice_step(0.084) == Approx(0.02));  // 0.014 -> 0.02
    CHECK(nice_step(6000) == Approx(1000));   // 1000
    CHECK(nice_step(10.8) == Approx(2));    // 1.8 -> 2
    CHECK(nice_step(15) == Approx(5));      // 2.5 -> 5
    CHECK(nice_step(27) == Approx(5));      // 4.5 -> 5
    CHECK(nice_step(33) == Approx(10));     // 5.5 -> 10
    const loom::detail::plot::Axis axis = loom::detail::plot::make_axis(0.13, 0.91);
    CHECK(axis.step == Approx(0.2));
    CHECK(axis.low == Approx(0.0));
    CHECK(axis.high == Approx(1.0));
    // Zero-width ranges are widened by 10% of the value (by 1 around zero), never below zero.
    const loom::detail::plot::Axis flat = loom::detail::plot::make_axis(2.0, 2.0);
    CHECK(flat.low == Approx(1.8));
    CHECK(flat.high == Approx(2.2));
    CHECK(flat.step == Approx(0.1));
    const loom::detail::plot::Axis zero = loom::detail::plot::make_axis(0.0, 0.0);
    CHECK(zero.low == 0.0);
    CHECK(zero.high == Approx(1.0));
    CHECK(loom::detail::plot::ticks(zero).size() == 6);
}

TEST_CASE("loss_plot_svg draws both curves with predictable ticks", "[loss_plot]") {
    const std::string svg = loom::loss_plot_svg(falling_loss(), "char_rnn", "nats/char");
    CHECK(valid_document(svg));
    CHECK_FALSE(has_non_finite_text(svg));
    CHECK(loom_test::contains(svg, ">char_rnn</text>"));
    CHECK(loom_test::contains(svg, ">loss (nats/char)</text>"));
    CHECK(loom_test::contains(svg, ">step</text>"));
    CHECK(loom_test::contains(svg, ">time (s)</text>"));
    CHECK(loom_test::contains(svg, ">training loss</text>"));
    CHECK(loom_test::contains(svg, ">validation loss</text>"));

    // x ticks: steps 0, 20, ..., 100 (6) and seconds 0, 10, ..., 60 (7); y ticks 2, 2.5, ..., 4 in each panel.
    CHECK(count(svg, "class=\"tick-x\"") == 13);
    CHECK(count(svg, "class=\"tick-y\"") == 10);
    for (const char* label : {">0</text>", ">20</text>", ">40</text>", ">60</text>"})
        CHECK(count(svg, std::string("text-anchor=\"middle\"") + label) == 2);
    for (const char* label : {">10</text>", ">30</text>", ">50</text>", ">80</text>", ">100</text>"})
        CHECK(count(svg, std::string("text-anchor=\"middle\"") + label) == 1);
    for (const char* label : {">2</text>", ">2.5</text>", ">3</text>", ">3.5</text>", ">4</text>"})
        CHECK(count(svg, std::string("text-anchor=\"end\"") + label) == 2);

    // Plot area of the step panel: x 70..460, y 70..345. (0, 4) is its top left
    // corner, (100, 2) its bottom right; the time panel starts 480 px further right.
    const std::string by_step = polyline_points(svg, "train", 0);
    CHECK(by_step.rfind("70.0,70.0 ", 0) == 0);
    CHECK(by_step.size() > 12);
    CHECK(by_step.substr(by_step.size() - 11) == "460.0,345.0");
    CHECK(count(by_step, ",") == 11);
    CHECK(polyline_points(svg, "train", 1).rfind("550.0,70.0 ", 0) == 0);
    // Tick labels sit at their values: step 20 at 70 + 0.2·390, loss 3 at 345 - 0.5·275 (+4 to centre the text).
    CHECK(loom_test::contains(svg, "<text class=\"tick-x\" x=\"148.0\" y=\"361.0\" text-anchor=\"middle\">20</text>"));
    CHECK(loom_test::contains(svg, "<text class=\"tick-y\" x=\"64.0\" y=\"211.5\" text-anchor=\"end\">3</text>"));

    // Validation: a dot at (50, 3) in each panel, and the dashed line through them.
    CHECK(count(svg, "<circle class=\"validation\"") == 4);
    CHECK(loom_test::contains(svg, "<circle class=\"validation\" cx=\"265.0\" cy=\"207.5\""));
    CHECK(polyline_points(svg, "validation", 0) == "265.0,207.5 460.0,345.0");
}

TEST_CASE("loss_plot_svg skips values that are not finite", "[loss_plot]") {
    std::vector<loom::LossPoint> points = falling_loss();
    points[3].train_loss = nan;
    points[4].train_loss = std::numeric_limits<double>::infinity();
    points[10].val_loss = -std::numeric_limits<double>::infinity();
    const std::string svg = loom::loss_plot_svg(points, "t", "u");
    CHECK(valid_document(svg));
    CHECK_FALSE(has_non_finite_text(svg));
    CHECK(count(polyline_points(svg, "train", 0), ",") == 9);
    CHECK(count(svg, "<circle class=\"validation\"") == 2);
}

TEST_CASE("loss_plot_svg picks minutes or hours for long runs", "[loss_plot]") {
    std::vector<loom::LossPoint> points = falling_loss();
    for (loom::LossPoint& p : points) p.seconds = 30.0 * static_cast<double>(p.step);  // up to 50 min
    std::string svg = loom::loss_plot_svg(points, "t", "u");
    CHECK(loom_test::contains(svg, ">time (min)</text>"));
    CHECK(loom_test::contains(svg, "text-anchor=\"middle\">50</text>"));
    for (loom::LossPoint& p : points) p.seconds = 360.0 * static_cast<double>(p.step);  // up to 10 h
    svg = loom::loss_plot_svg(points, "t", "u");
    CHECK(loom_test::contains(svg, ">time (h)</text>"));
    CHECK(loom_test::contains(svg, "text-anchor=\"middle\">10</text>"));
}

TEST_CASE("loss_plot_svg escapes the title and the unit", "[loss_plot]") {
    const std::string svg = loom::loss_plot_svg(falling_loss(), "a<b&c", "\"x\">'y'");
    CHECK(loom_test::contains(svg, ">a&lt;b&amp;c</text>"));
    CHECK_FALSE(loom_test::contains(svg, "a<b"));
    CHECK(loom_test::contains(svg, ">loss (&quot;x&quot;&gt;&apos;y&apos;)</text>"));
}

TEST_CASE("loss_plot_svg gives a valid picture for empty and one-point logs", "[loss_plot]") {
    const std::string empty = loom::loss_plot_svg({}, "empty", "");
    CHECK(valid_document(empty));
    CHECK(count(empty, ">no data</text>") == 2);
    CHECK_FALSE(has_non_finite_text(empty));
    CHECK_FALSE(loom_test::contains(empty, "<polyline"));

    loom::LossPoint only_nan;
    only_nan.seconds = nan;
    const std::string nothing = loom::loss_plot_svg({only_nan}, "nothing", "u");
    CHECK(count(nothing, ">no data</text>") == 2);
    CHECK_FALSE(has_non_finite_text(nothing));

    loom::LossPoint one;
    one.step = 5;
    one.train_loss = 1.0;
    one.val_loss = 1.0;
    const std::string single = loom::loss_plot_svg({one}, "one", "u");
    CHECK(valid_document(single));
    CHECK_FALSE(has_non_finite_text(single));
    CHECK_FALSE(loom_test::contains(single, "no data"));
    CHECK(count(single, "<circle class=\"train\"") == 2);  // a one-point line would be invisible
    CHECK(count(single, "<circle class=\"validation\"") == 2);
    // The step range [5, 5] is widened and ticks stay whole steps: 4, 5, 6.
    for (const char* label : {"middle\">4</text>", "middle\">5</text>", "middle\">6</text>"})
        CHECK(loom_test::contains(single, label));
    CHECK_FALSE(loom_test::contains(single, "middle\">4.5</text>"));
}

TEST_CASE("loss_plot_svg does not depend on the global locale", "[loss_plot]") {
    std::vector<loom::LossPoint> points = falling_loss();
    for (loom::LossPoint& p : points) p.step *= 1000;  // ticks up to 100000: grouping would show
    const std::string classic = loom::loss_plot_svg(points, "t", "u");
    std::string comma;
    {
        GlobalLocaleScope scope(std::locale(std::locale::classic(), new CommaPunct));
        std::ostringstream probe;
        probe << 1234.5;
        REQUIRE(probe.str() == "1.234,5");  // the locale is in effect
        comma = loom::loss_plot_svg(points, "t", "u");
    }
    CHECK(comma == classic);
    CHECK(loom_test::contains(classic, ">100000</text>"));
    CHECK(loom_test::contains(classic, ">2.5</text>"));
}

TEST_CASE("save_loss_plot writes the SVG atomically", "[loss_plot]") {
    TempFile plot(".svg");
    loom_test::write_text_file(plot.path, "old contents");
    const std::vector<loom::LossPoint> points = falling_loss();
    loom::save_loss_plot(points, plot.path, "training loss", "nats/token");
    CHECK(loom_test::read_text_file(plot.path) == loom::loss_plot_svg(points, "training loss", "nats/token"));
    CHECK_FALSE(std::filesystem::exists(plot.path + ".tmp"));

    const std::string nowhere = plot.path + ".missing-dir/loss.svg";
    const std::string message = loom_test::error_message([&] { loom::save_loss_plot(points, nowhere, "t", "u"); });
    CHECK(loom_test::contains(message, "loom::save_loss_plot"));
    CHECK(loom_test::contains(message, nowhere));
}

TEST_CASE("save_loss_plot draws a log read with read_loss_log", "[loss_plot]") {
    TempFile log(".csv");
    TempFile plot(".svg");
    loom::CsvLog writer(log.path);
    writer.add(10, 3.0, nan, 100.0, 1.0);
    writer.add(20, 2.0, 2.5, 100.0, 2.0);
    writer.flush();
    loom::save_loss_plot(loom::read_loss_log(log.path), plot.path, "training loss", "nats/char");
    const std::string svg = loom_test::read_text_file(plot.path);
    CHECK(valid_document(svg));
    CHECK(count(polyline_points(svg, "train", 0), ",") == 2);
    CHECK(count(svg, "<circle class=\"validation\"") == 2);
}

}  // namespace train_loss_plot_test
