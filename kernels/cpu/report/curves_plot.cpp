// ROC, precision-recall and confidence-histogram figures of report/curves_plot.hpp, drawn with Cairo.
#include "fer/report/curves_plot.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/cpu/report/canvas.hpp"

namespace fer::report {

namespace {

using plot_detail::PlotArea;

// A unit-square chart: frame, 0.2 grid, axis labels; returns the area (both ranges [0, 1]).
PlotArea draw_unit_frame(plot_detail::Canvas& c, const std::string& title, const std::string& x_label,
                         const std::string& y_label, double right) {
  using namespace plot_detail;
  const double left = 70, top = 50;
  const PlotArea f{left, top, c.width() - left - right, c.height() - top - 60};
  c.color({0, 0, 0});
  c.text(title, f.left + f.pw / 2, f.top / 2, 17, 0.5, 0.5, true);
  for (int t = 0; t <= 5; ++t) {
    double v = t / 5.0;
    c.color({0.88, 0.88, 0.88});
    c.line(f.left, f.py(v), f.left + f.pw, f.py(v), 1);
    c.line(f.px(v), f.top, f.px(v), f.top + f.ph, 1);
    c.color({0, 0, 0});
    c.text(format_number(v, 1), f.left - 8, f.py(v), 12, 1.0, 0.5);
    c.text(format_number(v, 1), f.px(v), f.top + f.ph + 14, 12);
  }
  c.text(x_label, f.left + f.pw / 2, c.height() - 18, 14);
  c.text(y_label, 18, f.top + f.ph / 2, 14, 0.5, 0.5, false, -M_PI / 2);
  return f;
}

void frame_border(plot_detail::Canvas& c, const PlotArea& f) {
  c.color({0, 0, 0});
  cairo_set_line_width(c.cr(), 1.5);
  cairo_rectangle(c.cr(), f.left, f.top, f.pw, f.ph);
  cairo_stroke(c.cr());
}

// One polyline per class (points in the curve's own order); NaN points are not drawn.
void polyline(plot_detail::Canvas& c, const PlotArea& f, const std::vector<double>& x, const std::vector<double>& y) {
  bool pen = false;
  cairo_set_line_width(c.cr(), 2.2);
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i]) || !std::isfinite(y[i])) {
      pen = false;
      continue;
    }
    if (pen) cairo_line_to(c.cr(), f.px(x[i]), f.py(y[i]));
    else cairo_move_to(c.cr(), f.px(x[i]), f.py(y[i]));
    pen = true;
  }
  cairo_stroke(c.cr());
}

// Legend right of the frame: "class (AUC 0.912)", or "class (no AUC)" where the value is undefined.
void legend(plot_detail::Canvas& c, const PlotArea& f, const std::vector<std::string>& names,
                   const std::vector<double>& values, const std::string& what) {
  for (size_t k = 0; k < names.size(); ++k) {
    double x = f.left + f.pw + 16, y = f.top + 12 + 22 * double(k);
    c.color(plot_detail::palette(k));
    c.line(x, y, x + 26, y, 3);
    c.color({0, 0, 0});
    c.text(names[k] + (std::isfinite(values[k]) ? " (" + what + " " + plot_detail::format_number(values[k], 3) + ")"
                                                : " (no " + what + ")"),
           x + 34, y, 12, 0.0, 0.5);
  }
}

void check_names(const std::vector<metrics::ClassCurves>& curves, const std::vector<std::string>& names) {
  FER_CHECK(!curves.empty(), "plot: no curves");
  FER_CHECK(names.size() == curves.size(), "plot: ", names.size(), " class names for ", curves.size(), " curves");
}

}  // namespace

void save_roc_png(const std::vector<metrics::ClassCurves>& curves, const std::vector<std::string>& class_names,
                  const std::filesystem::path& path, const std::string& title, int width, int height) {
  using namespace plot_detail;
  check_names(curves, class_names);
  Canvas c(width, height);
  PlotArea f = draw_unit_frame(c, title, "false positive rate", "true positive rate", 230);
  c.color({0.3, 0.3, 0.3});
  const double dash[2] = {6.0, 4.0};
  cairo_set_dash(c.cr(), dash, 2, 0);
  c.line(f.px(0), f.py(0), f.px(1), f.py(1), 1.2);
  cairo_set_dash(c.cr(), nullptr, 0, 0);
  for (size_t k = 0; k < curves.size(); ++k) {
    if (!std::isfinite(curves[k].auroc)) continue;
    c.color(palette(k));
    polyline(c, f, curves[k].roc.fpr, curves[k].roc.tpr);
  }
  frame_border(c, f);
  std::vector<double> auc;
  for (const auto& cc : curves) auc.push_back(cc.auroc);
  legend(c, f, class_names, auc, "AUC");
  c.save_png(path);
}

void save_pr_png(const std::vector<metrics::ClassCurves>& curves, const std::vector<std::string>& class_names,
                 const std::filesystem::path& path, const std::string& title, int width, int height) {
  using namespace plot_detail;
  check_names(curves, class_names);
  Canvas c(width, height);
  PlotArea f = draw_unit_frame(c, title, "recall", "precision", 230);
  const double dot[2] = {2.0, 4.0};
  for (size_t k = 0; k < curves.size(); ++k) {
    if (!std::isfinite(curves[k].average_precision)) continue;
    double prevalence = double(curves[k].positives) / double(curves[k].positives + curves[k].negatives);
    c.color(palette(k), 0.7);
    cairo_set_dash(c.cr(), dot, 2, 0);
    c.line(f.px(0), f.py(prevalence), f.px(1), f.py(prevalence), 1);
    cairo_set_dash(c.cr(), nullptr, 0, 0);
    c.color(palette(k));
    polyline(c, f, curves[k].pr.recall, curves[k].pr.precision);
  }
  frame_border(c, f);
  std::vector<double> ap;
  for (const auto& cc : curves) ap.push_back(cc.average_precision);
  legend(c, f, class_names, ap, "AP");
  c.save_png(path);
}


void save_confidence_histograms_png(const metrics::ConfidenceHistograms& h, const std::vector<std::string>& class_names,
                                    const std::filesystem::path& path, const std::string& title) {
  using namespace plot_detail;
  FER_CHECK(h.bins >= 1 && class_names.size() == h.per_class.size(), "plot: ", class_names.size(), " class names for ",
            h.per_class.size(), " confidence histograms");
  std::vector<const metrics::ConfidenceHistogram*> panels{&h.overall};
  std::vector<std::string> names{"all"};
  for (size_t k = 0; k < h.per_class.size(); ++k) panels.push_back(&h.per_class[k]), names.push_back(class_names[k]);
  const int cols = std::min<int>(4, int(panels.size())), rows = (int(panels.size()) + cols - 1) / cols;
  const double pw = 260, ph = 170, gap_x = 50, gap_y = 64, left = 50, top = 90;
  const int width = int(left + cols * (pw + gap_x)), height = int(top + rows * (ph + gap_y));
  Canvas c(width, height);
  c.color({0, 0, 0});
  c.text(title, width / 2.0, 26, 17, 0.5, 0.5, true);
  // Legend under the title.
  c.color(correct_color());
  cairo_rectangle(c.cr(), width / 2.0 - 150, 48, 20, 12);
  cairo_fill(c.cr());
  c.color(incorrect_color());
  cairo_rectangle(c.cr(), width / 2.0 + 20, 48, 20, 12);
  cairo_fill(c.cr());
  c.color({0, 0, 0});
  c.text("correct", width / 2.0 - 124, 54, 12, 0.0, 0.5);
  c.text("incorrect", width / 2.0 + 46, 54, 12, 0.0, 0.5);
  const double bw = pw / double(h.bins);
  for (size_t p = 0; p < panels.size(); ++p) {
    const double x0 = left + double(p % size_t(cols)) * (pw + gap_x), y0 = top + double(p / size_t(cols)) * (ph + gap_y);
    const metrics::ConfidenceHistogram& g = *panels[p];
    int64_t mx = 0;
    for (int64_t b = 0; b < h.bins; ++b) mx = std::max({mx, g.correct[size_t(b)], g.incorrect[size_t(b)]});
    for (int64_t b = 0; b < h.bins && mx > 0; ++b) {
      double hc = ph * double(g.correct[size_t(b)]) / double(mx), hi = ph * double(g.incorrect[size_t(b)]) / double(mx);
      c.color(correct_color());
      cairo_rectangle(c.cr(), x0 + bw * double(b), y0 + ph - hc, bw / 2, hc);
      cairo_fill(c.cr());
      c.color(incorrect_color());
      cairo_rectangle(c.cr(), x0 + bw * double(b) + bw / 2, y0 + ph - hi, bw / 2, hi);
      cairo_fill(c.cr());
    }
    c.color({0, 0, 0});
    cairo_set_line_width(c.cr(), 1);
    cairo_rectangle(c.cr(), x0, y0, pw, ph);
    cairo_stroke(c.cr());
    c.text(names[p] + " (n=" + std::to_string(g.total()) + ")", x0 + pw / 2, y0 - 12, 13, 0.5, 0.5, true);
    c.text("max " + std::to_string(mx), x0 + 4, y0 + 4, 10, 0.0, 0.0);
    for (int t = 0; t <= 4; ++t) c.text(format_number(t / 4.0, 2), x0 + pw * t / 4.0, y0 + ph + 12, 10);
  }
  c.save_png(path);
}

std::vector<metrics::ClassCurves> write_curve_outputs(const std::filesystem::path& dir, std::span<const double> probs,
                                                      std::span<const int32_t> labels,
                                                      const std::vector<std::string>& class_names,
                                                      int64_t histogram_bins) {
  const int64_t c = int64_t(class_names.size());
  std::filesystem::create_directories(dir);
  auto curves = metrics::one_vs_rest_curves(probs, labels, c);
  metrics::write_curves_csv(dir / "curves.csv", curves, class_names);
  save_roc_png(curves, class_names, dir / "roc.png");
  save_pr_png(curves, class_names, dir / "pr.png");
  auto hist = metrics::confidence_histograms(probs, labels, c, histogram_bins);
  metrics::write_confidence_histograms_csv(dir / "confidence_histograms.csv", hist, class_names);
  save_confidence_histograms_png(hist, class_names, dir / "confidence_histograms.png");
  return curves;
}

}  // namespace fer::report
