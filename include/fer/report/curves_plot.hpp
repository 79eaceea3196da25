#pragma once
// PNG figures of the per-class curves (metrics/curves.hpp) and confidence histograms (metrics/confidence.hpp):
// ROC curves with the chance diagonal, precision-recall curves with each class's prevalence as its chance level,
// and a grid of correct-vs-incorrect confidence histograms (all samples, then one panel per true class).
// Drawn with Cairo in kernels/cpu/report/curves_plot.cpp.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "fer/metrics/confidence.hpp"
#include "fer/metrics/curves.hpp"
#include "fer/report/plot.hpp"

namespace fer::report {

// ROC curves of every class with a defined AUROC, legend "class (AUC 0.912)"; classes without positives or
// negatives are listed as "(no AUC)" and not drawn.
void save_roc_png(const std::vector<metrics::ClassCurves>& curves, const std::vector<std::string>& class_names,
                  const std::filesystem::path& path, const std::string& title = "ROC (one vs rest)", int width = 820,
                  int height = 600);

// Precision-recall curves, legend "class (AP 0.734)"; a thin dotted line per class at its prevalence (the AP of a
// random ranking). Classes without positives are listed as "(no AP)" and not drawn.
void save_pr_png(const std::vector<metrics::ClassCurves>& curves, const std::vector<std::string>& class_names,
                 const std::filesystem::path& path, const std::string& title = "Precision-recall (one vs rest)",
                 int width = 820, int height = 600);

// Colours of the confidence histograms (Okabe-Ito bluish green and vermillion).
inline plot_detail::Rgb correct_color() { return plot_detail::palette(2); }
inline plot_detail::Rgb incorrect_color() { return plot_detail::palette(3); }

// A grid of panels ("all" first, then each true class): per bin a correct bar (left half) and an incorrect bar
// (right half), heights as counts on the panel's own scale (its maximum printed in the corner).
void save_confidence_histograms_png(const metrics::ConfidenceHistograms& h, const std::vector<std::string>& class_names,
                                    const std::filesystem::path& path,
                                    const std::string& title = "Top-class confidence: correct vs incorrect");

// Everything this header draws for one prediction set, into `dir`: curves.csv (every ROC/PR point), roc.png, pr.png,
// confidence_histograms.csv and confidence_histograms.png. Returns the curves (for curves_summary_json).
std::vector<metrics::ClassCurves> write_curve_outputs(const std::filesystem::path& dir, std::span<const double> probs,
                                                      std::span<const int32_t> labels,
                                                      const std::vector<std::string>& class_names,
                                                      int64_t histogram_bins = 20);

}  // namespace fer::report
