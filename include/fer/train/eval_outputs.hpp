#pragma once
// The files an evaluation leaves for one split: predictions.csv, confusion_matrix.png and reliability.png.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "fer/data/image_set.hpp"
#include "fer/io/atomic_file.hpp"
#include "fer/metrics/classification.hpp"
#include "fer/report/plot.hpp"
#include "fer/train/evaluate.hpp"

namespace fer::train {

// predictions.csv (the reference's submission file), confusion matrix and reliability PNGs for one split.
inline void write_eval_outputs(const std::filesystem::path& dir, const data::ImageSet& set, const EvalResult& r,
                               const std::string& prefix = "") {
  const int64_t c = set.num_classes();
  std::string csv = "id,true,predicted";
  for (int64_t k = 0; k < c; ++k) csv += ",p_" + set.class_names()[size_t(k)];
  csv += "\n";
  char buf[32];
  for (int64_t i = 0; i < set.size(); ++i) {
    const double* p = r.probs.data() + i * c;
    std::string id = set.id(i);
    for (char& ch : id)
      if (ch == ',') ch = ';';
    csv += id + "," + std::to_string(r.labels[size_t(i)]) + "," + std::to_string(metrics::argmax_row(p, c));
    // %.9g: every float digit, so AUROC and calibration recompute exactly from the file.
    for (int64_t k = 0; k < c; ++k) std::snprintf(buf, sizeof(buf), ",%.9g", p[k]), csv += buf;
    csv += "\n";
  }
  io::write_file_atomically(dir / (prefix + "predictions.csv"), csv);
  report::ConfusionMatrixChart cm;
  cm.class_names = set.class_names();
  for (const auto& row : r.report.confusion) cm.counts.push_back(std::vector<double>(row.begin(), row.end()));
  report::save_confusion_matrix_png(cm, dir / (prefix + "confusion_matrix.png"));
  report::ReliabilityChart rc;
  for (const auto& b : r.report.reliability) rc.confidence.push_back(b.confidence), rc.accuracy.push_back(b.accuracy), rc.count.push_back(b.count);
  rc.ece = r.report.ece;
  report::save_reliability_png(rc, dir / (prefix + "reliability.png"));
}

}  // namespace fer::train
