#pragma once
// PNG charts: line charts with error bars (metric vs real-data ratio, training curves), confusion-matrix heat maps,
// and reliability diagrams (with a legend and each bin's sample count). Files are written atomically. Drawn with
// Cairo in kernels/cpu/report/plot.cpp, so that programs including this header do not compile Cairo's drawing.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "fer/core/error.hpp"  // bad input: fer::Error naming what is wrong

namespace fer::report {

struct Series {
  std::string label;
  std::vector<double> x, y;
  std::vector<double> err;  // optional half-width of an error bar per point (e.g. a 95% CI); empty = none
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  double y_min = std::numeric_limits<double>::quiet_NaN();  // NaN: from the data
  double y_max = std::numeric_limits<double>::quiet_NaN();
};

struct ConfusionMatrixChart {
  std::vector<std::vector<double>> counts;  // rows: true class, columns: predicted class
  std::vector<std::string> class_names;
  bool normalize_rows = true;  // colour (and print) the row-normalized rate; counts are printed beneath
  std::string title = "Confusion matrix";
};

struct ReliabilityChart {
  std::vector<double> confidence, accuracy;  // per bin (mean confidence and accuracy of its samples)
  std::vector<int64_t> count;                // samples per bin (empty bins are not drawn)
  double ece = 0;
  std::string title = "Reliability";
};

namespace plot_detail {

struct Rgb {
  double r, g, b;
};
// A colour-blind-safe categorical palette (Okabe-Ito).
inline Rgb palette(size_t i) {
  static const Rgb colors[] = {{0.000, 0.447, 0.698}, {0.902, 0.624, 0.000}, {0.000, 0.620, 0.451},
                               {0.835, 0.369, 0.000}, {0.800, 0.475, 0.655}, {0.337, 0.706, 0.914},
                               {0.941, 0.894, 0.259}, {0.000, 0.000, 0.000}};
  return colors[i % 8];
}

}  // namespace plot_detail

void save_line_chart_png(const LineChart& chart, const std::filesystem::path& path, int width = 900, int height = 600);
void save_confusion_matrix_png(const ConfusionMatrixChart& chart, const std::filesystem::path& path);
void save_reliability_png(const ReliabilityChart& chart, const std::filesystem::path& path, int size = 600);

}  // namespace fer::report
