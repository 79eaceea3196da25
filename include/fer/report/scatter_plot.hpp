#pragma once
// Scatter plots (PNG) of 2-D embeddings (PCA, t-SNE): one colour per group (class or domain) from plot.hpp's
// colour-blind-safe palette, semi-transparent markers, a legend with each group's count. Drawn with Cairo in
// kernels/cpu/report/scatter_plot.cpp.
#include <filesystem>
#include <string>
#include <vector>

namespace fer::report {

struct ScatterChart {
  std::string title, x_label, y_label;
  std::vector<double> x, y;
  std::vector<int> group;                // index into group_names per point
  std::vector<std::string> group_names;  // legend
};

void save_scatter_png(const ScatterChart& chart, const std::filesystem::path& path, int width = 900, int height = 700);

}  // namespace fer::report
