// Line charts, confusion matrices and reliability diagrams of report/plot.hpp, drawn with Cairo.
#include "fer/report/plot.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/cpu/report/canvas.hpp"

namespace fer::report {

void save_line_chart_png(const LineChart& chart, const std::filesystem::path& path, int width, int height) {
  using namespace plot_detail;
  FER_CHECK(!chart.series.empty(), "plot: '", chart.title, "' has no series");
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const Series& s : chart.series) {
    FER_CHECK(s.x.size() == s.y.size(), "plot: series '", s.label, "' has ", s.x.size(), " x and ", s.y.size(), " y values");
    FER_CHECK(s.err.empty() || s.err.size() == s.y.size(), "plot: series '", s.label, "' has a wrong number of error bars");
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;  // a missing point is not drawn
      double e = s.err.empty() || !std::isfinite(s.err[i]) ? 0 : s.err[i];
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i] - e), y1 = std::max(y1, s.y[i] + e);
    }
  }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;  // nothing finite: an empty frame
  if (std::isfinite(chart.y_min)) y0 = chart.y_min;
  if (std::isfinite(chart.y_max)) y1 = chart.y_max;
  if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
  if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
  double ystep = nice_step(y1 - y0, 6), xstep = nice_step(x1 - x0, 8);
  double xpad = 0.04 * (x1 - x0);  // keep end markers and error bars inside the frame
  x0 -= xpad, x1 += xpad;
  if (!std::isfinite(chart.y_min)) y0 = std::floor(y0 / ystep) * ystep;
  if (!std::isfinite(chart.y_max)) y1 = std::ceil(y1 / ystep) * ystep;

  Canvas c(width, height);
  const double left = 80, right = 200, top = 50, bottom = 70;
  const double pw = width - left - right, ph = height - top - bottom;
  const PlotArea area{left, top, pw, ph, x0, x1, y0, y1};

  draw_chart_titles(c, area, chart.title, chart.x_label, chart.y_label);
  // Grid and ticks.
  for (double y = y0; y <= y1 + ystep * 1e-6; y += ystep) {
    c.color({0.85, 0.85, 0.85});
    c.line(left, area.py(y), left + pw, area.py(y), 1);
    c.color({0, 0, 0});
    c.text(format_number(y, decimals_for(ystep)), left - 8, area.py(y), 12, 1.0, 0.5);
  }
  for (double x = std::ceil(x0 / xstep) * xstep; x <= x1 + xstep * 1e-6; x += xstep) {
    c.color({0, 0, 0});
    c.line(area.px(x), top + ph, area.px(x), top + ph + 5, 1);
    c.text(format_number(x + 0.0, decimals_for(xstep)), area.px(x), top + ph + 16, 12);  // + 0.0: no "-0.0"
  }
  c.color({0, 0, 0});
  cairo_set_line_width(c.cr(), 1.5);
  cairo_rectangle(c.cr(), left, top, pw, ph);
  cairo_stroke(c.cr());

  cairo_save(c.cr());
  cairo_rectangle(c.cr(), left, top, pw, ph);
  cairo_clip(c.cr());
  for (size_t k = 0; k < chart.series.size(); ++k) {
    const Series& s = chart.series[k];
    c.color(palette(k));
    bool pen_down = false;
    cairo_set_line_width(c.cr(), 2.5);
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
        pen_down = false;
        continue;
      }
      if (pen_down) cairo_line_to(c.cr(), area.px(s.x[i]), area.py(s.y[i]));
      else cairo_move_to(c.cr(), area.px(s.x[i]), area.py(s.y[i]));
      pen_down = true;
    }
    cairo_stroke(c.cr());
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      cairo_arc(c.cr(), area.px(s.x[i]), area.py(s.y[i]), 4.5, 0, 2 * M_PI);
      cairo_fill(c.cr());
      if (!s.err.empty() && std::isfinite(s.err[i]) && s.err[i] > 0) {
        double xa = area.px(s.x[i]), lo = area.py(s.y[i] - s.err[i]), hi = area.py(s.y[i] + s.err[i]);
        c.line(xa, lo, xa, hi, 1.5);
        c.line(xa - 5, lo, xa + 5, lo, 1.5);
        c.line(xa - 5, hi, xa + 5, hi, 1.5);
      }
    }
  }
  cairo_restore(c.cr());
  // Legend.
  for (size_t k = 0; k < chart.series.size(); ++k) {
    double ly = top + 12 + 24 * double(k);
    c.color(palette(k));
    c.line(left + pw + 16, ly, left + pw + 44, ly, 3);
    c.color({0, 0, 0});
    c.text(chart.series[k].label, left + pw + 52, ly, 13, 0.0, 0.5);
  }
  c.save_png(path);
}

void save_confusion_matrix_png(const ConfusionMatrixChart& chart, const std::filesystem::path& path) {
  using namespace plot_detail;
  size_t n = chart.counts.size();
  FER_CHECK(n > 0, "plot: empty confusion matrix");
  for (const auto& row : chart.counts) FER_CHECK(row.size() == n, "plot: the confusion matrix is not square");
  FER_CHECK(chart.class_names.size() == n, "plot: ", chart.class_names.size(), " class names for a ", n, "x", n, " matrix");
  const double cell = n <= 10 ? 72 : std::max(24.0, 720.0 / double(n));
  const double left = 130, top = 70, right = 40, bottom = 120;
  int width = int(left + cell * double(n) + right), height = int(top + cell * double(n) + bottom);
  Canvas c(width, height);
  c.color({0, 0, 0});
  c.text(chart.title, left + cell * double(n) / 2, top / 2, 18, 0.5, 0.5, true);
  for (size_t i = 0; i < n; ++i) {
    double row_sum = 0;
    for (double v : chart.counts[i]) row_sum += v;
    for (size_t j = 0; j < n; ++j) {
      double v = chart.counts[i][j];
      double rate = row_sum > 0 ? v / row_sum : 0;
      double shade = chart.normalize_rows ? rate : 0;
      if (!chart.normalize_rows) {
        double mx = 0;
        for (const auto& r : chart.counts)
          for (double u : r) mx = std::max(mx, u);
        shade = mx > 0 ? v / mx : 0;
      }
      // White to deep blue.
      c.color({1 - 0.92 * shade, 1 - 0.75 * shade, 1 - 0.35 * shade});
      cairo_rectangle(c.cr(), left + cell * double(j), top + cell * double(i), cell, cell);
      cairo_fill(c.cr());
      c.color(shade > 0.5 ? Rgb{1, 1, 1} : Rgb{0, 0, 0});
      double cx = left + cell * (double(j) + 0.5), cy = top + cell * (double(i) + 0.5);
      if (cell >= 48) {
        c.text(chart.normalize_rows ? format_number(rate, 2) : format_number(v, 0), cx, cy - 8, 13, 0.5, 0.5, true);
        c.text(format_number(v, 0), cx, cy + 11, 10);
      } else {
        c.text(format_number(chart.normalize_rows ? rate : v, chart.normalize_rows ? 2 : 0), cx, cy, 9);
      }
    }
    c.color({0, 0, 0});
    c.text(chart.class_names[i], left - 8, top + cell * (double(i) + 0.5), 12, 1.0, 0.5);
    c.text(chart.class_names[i], left + cell * (double(i) + 0.5), top + cell * double(n) + 8, 12, 1.0, 0.5, false,
           -M_PI / 4);
  }
  c.color({0.3, 0.3, 0.3});
  cairo_set_line_width(c.cr(), 1);
  cairo_rectangle(c.cr(), left, top, cell * double(n), cell * double(n));
  cairo_stroke(c.cr());
  c.color({0, 0, 0});
  c.text("predicted", left + cell * double(n) / 2, height - 16, 14);
  c.text("true", 18, top + cell * double(n) / 2, 14, 0.5, 0.5, false, -M_PI / 2);
  c.save_png(path);
}

void save_reliability_png(const ReliabilityChart& chart, const std::filesystem::path& path, int size) {
  using namespace plot_detail;
  size_t nb = chart.confidence.size();
  FER_CHECK(chart.accuracy.size() == nb && chart.count.size() == nb, "plot: reliability bins disagree in length");
  FER_CHECK(nb > 0, "plot: reliability diagram without bins");
  Canvas c(size, size);
  const double left = 70, top = 50, right = 30, bottom = 60;
  const double pw = size - left - right, ph = size - top - bottom;
  const PlotArea area{left, top, pw, ph};
  c.color({0, 0, 0});
  c.text(chart.title + "  (ECE " + format_number(chart.ece, 4) + ")", left + pw / 2, top / 2, 16, 0.5, 0.5, true);
  for (int t = 0; t <= 5; ++t) {
    double v = t / 5.0;
    c.color({0.88, 0.88, 0.88});
    c.line(left, area.py(v), left + pw, area.py(v), 1);
    c.color({0, 0, 0});
    c.text(format_number(v, 1), left - 8, area.py(v), 12, 1.0, 0.5);
    c.text(format_number(v, 1), area.px(v), top + ph + 14, 12);
  }
  double bw = 1.0 / double(nb);
  // Per-bin sample counts are printed above the bars: a bin of 3 samples and one of 3,000 look alike otherwise.
  const double count_size = std::clamp(bw * pw * 0.45, 6.0, 11.0);
  for (size_t b = 0; b < nb; ++b) {
    if (chart.count[b] == 0) continue;
    double lo = bw * double(b);
    c.color(palette(0), 0.85);
    cairo_rectangle(c.cr(), area.px(lo) + 1, area.py(chart.accuracy[b]), bw * pw - 2, ph * chart.accuracy[b]);
    cairo_fill(c.cr());
    // Gap to the mean confidence of the bin (red: the miscalibration ECE averages).
    c.color(palette(3), 0.6);
    double a = chart.accuracy[b], conf = chart.confidence[b];
    cairo_rectangle(c.cr(), area.px(lo) + 1, area.py(std::max(a, conf)), bw * pw - 2, ph * std::abs(conf - a));
    cairo_fill(c.cr());
    c.color({0, 0, 0});
    double label_y = std::max(area.py(std::max(a, conf)) - 4, top + count_size);
    c.text(std::to_string(chart.count[b]), area.px(lo + bw / 2), label_y, count_size, 0.5, 1.0, false,
           bw * pw < 4 * count_size ? -M_PI / 2 : 0);
  }
  c.color({0.2, 0.2, 0.2});
  const double dash[2] = {6.0, 4.0};
  cairo_set_dash(c.cr(), dash, 2, 0);
  c.line(area.px(0), area.py(0), area.px(1), area.py(1), 1.5);
  cairo_set_dash(c.cr(), nullptr, 0, 0);
  c.color({0, 0, 0});
  cairo_set_line_width(c.cr(), 1.5);
  cairo_rectangle(c.cr(), left, top, pw, ph);
  cairo_stroke(c.cr());
  // Legend in the upper-left corner, where a calibrated model's bars are short.
  const double lx = left + 12, ly = top + 14, sw = 22, row = 20;
  c.color({1, 1, 1}, 0.9);
  cairo_rectangle(c.cr(), lx - 6, ly - 10, 210, 3 * row + 4);
  cairo_fill(c.cr());
  c.color(palette(0), 0.85);
  cairo_rectangle(c.cr(), lx, ly - 6, sw, 12);
  cairo_fill(c.cr());
  c.color(palette(3), 0.6);
  cairo_rectangle(c.cr(), lx, ly + row - 6, sw, 12);
  cairo_fill(c.cr());
  c.color({0.2, 0.2, 0.2});
  cairo_set_dash(c.cr(), dash, 2, 0);
  c.line(lx, ly + 2 * row, lx + sw, ly + 2 * row, 1.5);
  cairo_set_dash(c.cr(), nullptr, 0, 0);
  c.color({0, 0, 0});
  c.text("accuracy (count above)", lx + sw + 8, ly, 12, 0.0, 0.5);
  c.text("gap to mean confidence", lx + sw + 8, ly + row, 12, 0.0, 0.5);
  c.text("perfect calibration", lx + sw + 8, ly + 2 * row, 12, 0.0, 0.5);
  c.text("confidence", left + pw / 2, size - 18, 14);
  c.text("accuracy", 18, top + ph / 2, 14, 0.5, 0.5, false, -M_PI / 2);
  c.save_png(path);
}

}  // namespace fer::report
