// Scatter plots of report/scatter_plot.hpp, drawn with Cairo.
#include "fer/report/scatter_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cpu/report/canvas.hpp"

namespace fer::report {

void save_scatter_png(const ScatterChart& chart, const std::filesystem::path& path, int width, int height) {
  using namespace plot_detail;
  FER_CHECK(chart.x.size() == chart.y.size() && chart.x.size() == chart.group.size(), "scatter '", chart.title, "': ",
            chart.x.size(), " x, ", chart.y.size(), " y and ", chart.group.size(), " group values");
  for (int g : chart.group)
    FER_CHECK(g >= 0 && size_t(g) < chart.group_names.size(), "scatter '", chart.title, "': group ", g, " has no name");
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (size_t i = 0; i < chart.x.size(); ++i) {
    if (!std::isfinite(chart.x[i]) || !std::isfinite(chart.y[i])) continue;
    x0 = std::min(x0, chart.x[i]), x1 = std::max(x1, chart.x[i]), y0 = std::min(y0, chart.y[i]), y1 = std::max(y1, chart.y[i]);
  }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
  if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
  double xpad = 0.04 * (x1 - x0), ypad = 0.04 * (y1 - y0);
  x0 -= xpad, x1 += xpad, y0 -= ypad, y1 += ypad;
  double xstep = nice_step(x1 - x0, 8), ystep = nice_step(y1 - y0, 6);

  Canvas c(width, height);
  const double left = 80, right = 220, top = 50, bottom = 70;
  const double pw = width - left - right, ph = height - top - bottom;
  const PlotArea area{left, top, pw, ph, x0, x1, y0, y1};
  draw_chart_titles(c, area, chart.title, chart.x_label, chart.y_label);
  for (double y = std::ceil(y0 / ystep) * ystep; y <= y1; y += ystep) {
    c.color({0.88, 0.88, 0.88});
    c.line(left, area.py(y), left + pw, area.py(y), 1);
    c.color({0, 0, 0});
    c.text(format_number(y + 0.0, decimals_for(ystep)), left - 8, area.py(y), 12, 1.0, 0.5);
  }
  for (double x = std::ceil(x0 / xstep) * xstep; x <= x1; x += xstep) {
    c.color({0, 0, 0});
    c.line(area.px(x), top + ph, area.px(x), top + ph + 5, 1);
    c.text(format_number(x + 0.0, decimals_for(xstep)), area.px(x), top + ph + 16, 12);
  }
  c.color({0, 0, 0});
  cairo_set_line_width(c.cr(), 1.5);
  cairo_rectangle(c.cr(), left, top, pw, ph);
  cairo_stroke(c.cr());
  const double radius = chart.x.size() > 2000 ? 2.0 : 3.5;
  std::vector<int64_t> counts(chart.group_names.size(), 0);
  for (size_t i = 0; i < chart.x.size(); ++i) {
    counts[size_t(chart.group[i])]++;
    if (!std::isfinite(chart.x[i]) || !std::isfinite(chart.y[i])) continue;
    c.color(palette(size_t(chart.group[i])), 0.65);
    cairo_arc(c.cr(), area.px(chart.x[i]), area.py(chart.y[i]), radius, 0, 2 * M_PI);
    cairo_fill(c.cr());
  }
  for (size_t g = 0; g < chart.group_names.size(); ++g) {
    double ly = top + 12 + 24 * double(g);
    c.color(palette(g));
    cairo_arc(c.cr(), left + pw + 26, ly, 5, 0, 2 * M_PI);
    cairo_fill(c.cr());
    c.color({0, 0, 0});
    c.text(chart.group_names[g] + " (" + std::to_string(counts[g]) + ")", left + pw + 40, ly, 13, 0.0, 0.5);
  }
  c.save_png(path);
}

}  // namespace fer::report
