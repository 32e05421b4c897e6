// loom/train/loss_plot.hpp — the training log (log.csv, written by CsvLog) as
// an SVG picture, with no dependencies: two panels side by side, the loss
// against the step and against the wall-clock time (the log's seconds, shown
// in s, min or h), each with the training loss as a line and the validation
// loss as dots joined by a dashed line.
//
//   save_loss_plot(read_loss_log("out/log.csv"), "out/loss.svg", "training loss", "nats/char");
//
// Scaling: a value x in the axis range [x_min, x_max] lands at
//   x_px = left + (x - x_min) / (x_max - x_min) · width
//   y_px = bottom - (y - y_min) / (y_max - y_min) · height   (SVG's y points down)
// Ticks: the step between ticks is the smallest of 1, 2, 5 or 10 times a power
// of ten that is at least (data span) / 6, so the data spans 2.4 to 6 steps;
// the axis range is the data's range widened to the nearest multiples of that
// step, so both ends get a labelled tick. A range of zero width (one point, a
// constant loss) is first widened around its value: the division above never
// divides by zero.
// Values that are not finite (NaN: not measured in that row; Inf: diverged)
// are not drawn; with nothing to draw, a panel says "no data".
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <locale>
#include <sstream>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include "loom/tensor/error.hpp"
#include "loom/train/csv_log.hpp"

namespace loom {

struct LossPoint {
    std::int64_t step = 0;
    double seconds = 0;
    double train_loss = std::numeric_limits<double>::quiet_NaN();  // NaN: no value in that row
    double val_loss = std::numeric_limits<double>::quiet_NaN();
};

namespace detail::plot {

// ---- reading the CSV -------------------------------------------------------

// A line without its end: "\n" is gone already, "\r" stays in files edited on Windows.
inline bool read_line(std::istream& in, std::string& line) {
    if (!std::getline(in, line)) return false;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return true;
}

inline std::vector<std::string> split_fields(const std::string& line) {
    std::vector<std::string> fields(1);
    for (const char c : line) {
        if (c == ',') fields.emplace_back();
        else fields.back() += c;
    }
    return fields;
}

// from_chars, not strtod: strtod depends on the locale (under a German one it
// stops at the "." of "2.5"). It takes what CsvLog writes: "2.41032815",
// "nan", "inf", "-inf"; an empty field is a value that was not measured (NaN),
// but the step must be there.
template <typename Number>
inline bool parse_number(const std::string& field, Number& value) {
    if constexpr (std::is_floating_point_v<Number>) {
        value = std::numeric_limits<Number>::quiet_NaN();
        if (field.empty()) return true;
    }
    const char* end = field.data() + field.size();
    const auto result = std::from_chars(field.data(), end, value);
    return result.ec == std::errc() && result.ptr == end;
}

}  // namespace detail::plot

// The rows of a CsvLog file. Blank lines are skipped; anything else that is not
// a row of five fields (step, train_loss, val_loss, tokens_per_s, seconds) is an
// error naming the file and the line, so a damaged log is never half-plotted.
inline std::vector<LossPoint> read_loss_log(const std::string& csv_path) {
    std::ifstream in(csv_path, std::ios::binary);
    detail::check(static_cast<bool>(in), "loom::read_loss_log: cannot open the log '", csv_path, "'");
    std::string line;
    const bool has_header = detail::plot::read_line(in, line);
    detail::check(has_header && line == CsvLog::header, "loom::read_loss_log: line 1 of '",
                  csv_path, "': expected the header '", CsvLog::header, "', got '", line, "'");
    std::vector<LossPoint> points;
    for (std::int64_t number = 2; detail::plot::read_line(in, line); ++number) {
        if (line.empty()) continue;
        const std::vector<std::string> fields = detail::plot::split_fields(line);
        detail::check(fields.size() == 5, "loom::read_loss_log: line ", number, " of '", csv_path,
                      "': expected 5 fields, got ", fields.size(), ": '", line, "'");
        LossPoint point;
        double tokens_per_s = 0;  // read only to check it
        using detail::plot::parse_number;
        const char* bad = !parse_number(fields[0], point.step)         ? "step"
                          : !parse_number(fields[1], point.train_loss) ? "train_loss"
                          : !parse_number(fields[2], point.val_loss)   ? "val_loss"
                          : !parse_number(fields[3], tokens_per_s)     ? "tokens_per_s"
                          : !parse_number(fields[4], point.seconds)    ? "seconds"
                                                                       : nullptr;
        if (bad != nullptr)
            detail::fail("loom::read_loss_log: line ", number, " of '", csv_path, "': the ", bad,
                         " field is not a number: '", line, "'");
        points.push_back(point);
    }
    return points;
}

namespace detail::plot {

// ---- text ------------------------------------------------------------------

inline std::string xml_escape(const std::string& text) {
    std::string out;
    for (const char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default: out += c;
        }
    }
    return out;
}

// The classic locale: a program that set a German locale must not get "2,5"
// inside an SVG attribute.
inline std::string number(double value, int precision, bool fixed) {
    std::ostringstream out;
    out.imbue(std::locale::classic());
    if (fixed) out << std::fixed;
    out << std::setprecision(precision) << value;
    return out.str();
}

inline std::string px(double value) { return number(value, 1, true); }

// Whole numbers in full ("20000", not "2e+04"); others to 6 significant digits.
inline std::string tick_label(double value) {
    if (value == std::round(value) && std::abs(value) < 1e15) return number(value, 0, true);
    return number(value, 6, false);
}

// ---- axes ------------------------------------------------------------------

// Past 1e150 the arithmetic on spans could overflow to Inf: such values are not drawn.
inline bool drawable(double value) { return std::isfinite(value) && std::abs(value) <= 1e150; }

// The 1-2-5 rule: the smallest of {1, 2, 5, 10}·10^k that is >= span / 6.
inline double nice_step(double span) {
    const double raw = span / 6;
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    const double fraction = raw / magnitude;  // in [1, 10)
    const double factor = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
    return factor * magnitude;
}

struct Axis { double low = 0, high = 1, step = 1; };  // ticks at the multiples of step in [low, high]

// min_step > 0 keeps the step axis from ticking at fractional steps.
// Data that is never negative (steps, seconds, cross-entropy) gets no negative ticks.
inline Axis make_axis(double low, double high, double min_step = 0) {
    const double size = std::max(std::abs(low), std::abs(high));
    const bool non_negative = low >= 0;
    if (high - low <= 1e-9 * size) {  // (nearly) zero width: one point, or a constant loss
        low -= size > 0 ? 0.1 * size : 1.0;
        high += size > 0 ? 0.1 * size : 1.0;
        if (non_negative) low = std::max(low, 0.0);
    }
    Axis axis;
    axis.step = std::max(nice_step(high - low), min_step);
    // The 1e-9 keeps 0.9 / 0.05 = 17.999... from adding a tick below the data.
    axis.low = std::floor(low / axis.step + 1e-9) * axis.step;
    axis.high = std::ceil(high / axis.step - 1e-9) * axis.step;
    return axis;
}

// k·step, not low + i·step: no rounding drift, and the tick at zero is exactly 0.
inline std::vector<double> ticks(const Axis& axis) {
    std::vector<double> values;
    const auto first = static_cast<std::int64_t>(std::llround(axis.low / axis.step));
    const auto last = static_cast<std::int64_t>(std::llround(axis.high / axis.step));
    for (std::int64_t k = first; k <= last; ++k) values.push_back(static_cast<double>(k) * axis.step);
    return values;
}

// ---- drawing ---------------------------------------------------------------

struct Series { std::vector<double> x, y; };

struct Panel {
    std::string x_title;
    Series train, validation;
    double min_x_step = 0;
};

struct Frame { double left, top, width, height; };  // a panel's plot area, in pixels

// The scaling of the header comment; y uses start = bottom, length = -height.
inline double scale(double value, const Axis& axis, double start, double length) {
    return start + (value - axis.low) / (axis.high - axis.low) * length;
}

inline std::string attr(const char* name, double value) { return std::string(" ") + name + "=\"" + px(value) + "\""; }

// Seconds as s up to two minutes, min up to two hours, h beyond: the labels
// stay short numbers of a unit one can picture.
struct TimeUnit { const char* name; double seconds; };

inline TimeUnit time_unit(double max_seconds) {
    if (max_seconds <= 120) return {"s", 1};
    if (max_seconds <= 7200) return {"min", 60};
    return {"h", 3600};
}

inline void add_point(Series& series, double x, double y) {
    if (!drawable(x) || !drawable(y)) return;
    series.x.push_back(x);
    series.y.push_back(y);
}

inline void widen_to(const std::vector<double>& values, double& low, double& high) {
    for (const double v : values) {
        low = std::min(low, v);
        high = std::max(high, v);
    }
}

constexpr const char* train_colour = "#1f77b4";
constexpr const char* validation_colour = "#d62728";

// Grid lines and labels at every tick of both axes.
inline std::string grid(const Axis& ax, const Axis& ay, const Frame& f) {
    std::string svg;
    const double bottom = f.top + f.height;
    for (const double t : ticks(ax)) {
        const double x = scale(t, ax, f.left, f.width);
        svg += "<line" + attr("x1", x) + attr("y1", f.top) + attr("x2", x) + attr("y2", bottom) +
               " stroke=\"#e4e4e4\"/>\n<text class=\"tick-x\"" + attr("x", x) + attr("y", bottom + 16) +
               " text-anchor=\"middle\">" + tick_label(t) + "</text>\n";
    }
    for (const double t : ticks(ay)) {
        const double y = scale(t, ay, bottom, -f.height);
        svg += "<line" + attr("x1", f.left) + attr("y1", y) + attr("x2", f.left + f.width) + attr("y2", y) +
               " stroke=\"#e4e4e4\"/>\n<text class=\"tick-y\"" + attr("x", f.left - 6) + attr("y", y + 4) +
               " text-anchor=\"end\">" + tick_label(t) + "</text>\n";
    }
    return svg;
}

// A line through the points, and a dot at each (dots: always for validation,
// which is measured rarely; for training only when one point makes no line).
inline std::string curve(const Series& s, const Axis& ax, const Axis& ay, const Frame& f, const std::string& name,
                         const char* colour, bool dots, const char* line_style) {
    if (s.x.empty()) return "";
    std::string points, circles;
    for (std::size_t i = 0; i < s.x.size(); ++i) {
        const double x = scale(s.x[i], ax, f.left, f.width), y = scale(s.y[i], ay, f.top + f.height, -f.height);
        points += (i == 0 ? "" : " ") + px(x) + "," + px(y);
        if (dots)
            circles += "<circle class=\"" + name + "\"" + attr("cx", x) + attr("cy", y) + " r=\"3\" fill=\"" +
                       colour + "\"/>\n";
    }
    return "<polyline class=\"" + name + "\" fill=\"none\" stroke=\"" + colour + "\" " + line_style + " points=\"" +
           points + "\"/>\n" + circles;
}

inline std::string draw_panel(const Panel& p, const Frame& f, const std::string& y_title) {
    const double mid_x = f.left + f.width / 2, mid_y = f.top + f.height / 2;
    const std::string frame = "<rect" + attr("x", f.left) + attr("y", f.top) + attr("width", f.width) +
                              attr("height", f.height) + " fill=\"none\" stroke=\"#444\"/>\n";
    if (p.train.x.empty() && p.validation.x.empty())
        return "<g>\n" + frame + "<text class=\"no-data\"" + attr("x", mid_x) + attr("y", mid_y) +
               " text-anchor=\"middle\" fill=\"#888\">no data</text>\n</g>\n";

    double x_low = std::numeric_limits<double>::infinity(), x_high = -x_low, y_low = x_low, y_high = -x_low;
    for (const Series* s : {&p.train, &p.validation}) {
        widen_to(s->x, x_low, x_high);
        widen_to(s->y, y_low, y_high);
    }
    const Axis ax = make_axis(x_low, x_high, p.min_x_step), ay = make_axis(y_low, y_high);

    std::string svg = "<g>\n" + grid(ax, ay, f) + frame;  // the frame over the grid lines at its edges
    svg += "<text class=\"axis-title\"" + attr("x", mid_x) + attr("y", f.top + f.height + 38) +
           " text-anchor=\"middle\">" + xml_escape(p.x_title) + "</text>\n";
    svg += "<text class=\"axis-title\" transform=\"translate(" + px(f.left - 48) + "," + px(mid_y) +
           ") rotate(-90)\" text-anchor=\"middle\">" + xml_escape(y_title) + "</text>\n";
    svg += curve(p.train, ax, ay, f, "train", train_colour, p.train.x.size() == 1, "stroke-width=\"1.5\"");
    svg += curve(p.validation, ax, ay, f, "validation", validation_colour, true,
                 "stroke-width=\"1\" stroke-dasharray=\"4 3\"");
    return svg + "</g>\n";
}

inline std::string legend(double centre_x, double y) {
    return std::string("<g class=\"legend\">\n<line") + attr("x1", centre_x - 110) + attr("y1", y) +
           attr("x2", centre_x - 86) + attr("y2", y) + " stroke=\"" + train_colour +
           "\" stroke-width=\"1.5\"/>\n<text" + attr("x", centre_x - 80) + attr("y", y + 4) +
           ">training loss</text>\n<circle" + attr("cx", centre_x + 20) + attr("cy", y) + " r=\"3\" fill=\"" +
           validation_colour + "\"/>\n<text" + attr("x", centre_x + 28) + attr("y", y + 4) +
           ">validation loss</text>\n</g>\n";
}

}  // namespace detail::plot

// The whole picture as one self-contained SVG document: no scripts, no fonts
// or styles to fetch, so it shows the same in a browser, an editor or a README.
inline std::string loss_plot_svg(const std::vector<LossPoint>& points, const std::string& title,
                                 const std::string& unit) {
    namespace plot = detail::plot;

    double max_seconds = 0;
    for (const LossPoint& p : points)
        if (plot::drawable(p.seconds)) max_seconds = std::max(max_seconds, p.seconds);
    const plot::TimeUnit time = plot::time_unit(max_seconds);

    plot::Panel by_step{"step", {}, {}, 1.0}, by_time{std::string("time (") + time.name + ")", {}, {}, 0.0};
    for (const LossPoint& p : points) {
        const auto step = static_cast<double>(p.step);
        plot::add_point(by_step.train, step, p.train_loss);
        plot::add_point(by_step.validation, step, p.val_loss);
        plot::add_point(by_time.train, p.seconds / time.seconds, p.train_loss);
        plot::add_point(by_time.validation, p.seconds / time.seconds, p.val_loss);
    }

    // 960 × 400 px: title and legend in the top 70 px; two panels of 480 px,
    // each leaving 70 px on its left and 55 below for tick labels and axis titles.
    const std::string y_title = unit.empty() ? "loss" : "loss (" + unit + ")";
    std::string svg =
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"960\" height=\"400\" viewBox=\"0 0 960 400\" "
        "font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"960\" height=\"400\" fill=\"white\"/>\n";
    svg += "<text class=\"title\" x=\"480\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">" +
           plot::xml_escape(title) + "</text>\n";
    svg += plot::legend(480, 46);
    svg += plot::draw_panel(by_step, {70, 70, 390, 275}, y_title);
    svg += plot::draw_panel(by_time, {550, 70, 390, 275}, y_title);
    return svg + "</svg>\n";
}

// Atomic: the SVG goes to path + ".tmp", which is then renamed over path, so a
// browser reloading loss.svg during training never sees half a file.
inline void save_loss_plot(const std::vector<LossPoint>& points, const std::string& path, const std::string& title,
                           const std::string& unit) {
    const std::string temp = path + ".tmp";
    {
        std::ofstream out(temp, std::ios::binary | std::ios::trunc);
        out << loss_plot_svg(points, title, unit);
        out.flush();
        detail::check(static_cast<bool>(out), "loom::save_loss_plot: cannot write '", temp, "'");
    }
    std::error_code error;
    std::filesystem::rename(temp, path, error);
    if (error) {
        std::error_code ignored;  // the rename's error is the one to report
        std::filesystem::remove(temp, ignored);
        detail::fail("loom::save_loss_plot: cannot rename '", temp, "' to '", path, "': ", error.message());
    }
}

}  // namespace loom
