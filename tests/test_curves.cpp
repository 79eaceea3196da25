// ROC / PR curves and average precision against scikit-learn 1.2 (tests/data/curves, tools/make_curve_fixtures.py):
// every point, threshold and AP equal bit for bit (ties, an absent class, all-equal scores, a single label); the
// confidence histograms counted by hand; the curve, histogram and reliability figures carry their data in pixels.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "fixture_json.hpp"
#include "png_probe.hpp"
#include "fer/metrics/confidence.hpp"
#include "fer/metrics/curves.hpp"
#include "fer/report/curves_plot.hpp"

using namespace fer;

namespace {

using testing::Png;

// Fixture arrays hold null for NaN.
std::vector<double> values(const nlohmann::json& j) {
  std::vector<double> v;
  for (const auto& x : j) v.push_back(x.is_null() ? NAN : x.get<double>());
  return v;
}

// Equal element for element, NaN matching NaN; returns the first mismatch for the message.
std::string mismatch(const std::vector<double>& got, const std::vector<double>& want) {
  if (got.size() != want.size()) return "length " + std::to_string(got.size()) + " vs " + std::to_string(want.size());
  for (size_t i = 0; i < got.size(); ++i)
    if (!(got[i] == want[i] || (std::isnan(got[i]) && std::isnan(want[i]))))
      return "point " + std::to_string(i) + ": " + std::to_string(got[i]) + " vs " + std::to_string(want[i]);
  return "";
}

std::filesystem::path curves_scratch(const char* name) {
  auto dir = std::filesystem::temp_directory_path() / "fer_test_curves";
  std::filesystem::create_directories(dir);
  return dir / name;
}

}  // namespace

TEST_CASE("roc_curve, precision_recall_curve and average_precision equal scikit-learn's point for point") {
  auto fx = testing::load_json_fixture("curves/curves.json");
  REQUIRE(fx["sklearn"].get<std::string>().rfind("1.2", 0) == 0);
  int checked = 0;
  for (const auto& cs : fx["cases"]) {
    const std::string name = cs["name"];
    const int64_t c = cs["c"];
    std::vector<double> probs = cs["probs"].get<std::vector<double>>();
    std::vector<int32_t> labels = cs["labels"].get<std::vector<int32_t>>();
    const int64_t n = int64_t(labels.size());
    auto curves = metrics::one_vs_rest_curves(probs, labels, c);
    auto curves_all = metrics::one_vs_rest_curves(probs, labels, c, /*drop_intermediate=*/false);
    for (int64_t k = 0; k < c; ++k) {
      CAPTURE(name);
      CAPTURE(k);
      const auto& want = cs["classes"][size_t(k)];
      const auto& got = curves[size_t(k)];
      CHECK(mismatch(got.roc.fpr, values(want["roc"][0])) == "");
      CHECK(mismatch(got.roc.tpr, values(want["roc"][1])) == "");
      CHECK(mismatch(got.roc.thresholds, values(want["roc"][2])) == "");
      CHECK(mismatch(curves_all[size_t(k)].roc.fpr, values(want["roc_all"][0])) == "");
      CHECK(mismatch(curves_all[size_t(k)].roc.tpr, values(want["roc_all"][1])) == "");
      CHECK(mismatch(curves_all[size_t(k)].roc.thresholds, values(want["roc_all"][2])) == "");
      CHECK(mismatch(got.pr.precision, values(want["pr"][0])) == "");
      CHECK(mismatch(got.pr.recall, values(want["pr"][1])) == "");
      CHECK(mismatch(got.pr.thresholds, values(want["pr"][2])) == "");
      // The binary AP equals sklearn's bit for bit, also where sklearn defines it without positives (0).
      std::vector<double> scores;
      std::vector<bool> positive;
      for (int64_t i = 0; i < n; ++i) scores.push_back(probs[size_t(i * c + k)]), positive.push_back(labels[size_t(i)] == k);
      CHECK(metrics::average_precision(scores, positive) == want["ap"].get<double>());
      // The per-class summary leaves AP undefined without positives.
      if (got.positives > 0) CHECK(got.average_precision == want["ap"].get<double>());
      else CHECK(std::isnan(got.average_precision));
      ++checked;
    }
  }
  CHECK(checked == 4 + 3 + 4 + 3 + 2);
}

TEST_CASE("drop_intermediate keeps fewer points on distinct scores and the same on ties-only curves") {
  auto fx = testing::load_json_fixture("curves/curves.json");
  const auto& d = fx["cases"][0];  // dirichlet: 60 distinct scores
  REQUIRE(d["name"] == "dirichlet");
  std::vector<double> probs = d["probs"].get<std::vector<double>>();
  std::vector<int32_t> labels = d["labels"].get<std::vector<int32_t>>();
  auto dropped = metrics::one_vs_rest_curves(probs, labels, 4, true), all = metrics::one_vs_rest_curves(probs, labels, 4, false);
  for (size_t k = 0; k < 4; ++k) {
    CHECK(all[k].roc.fpr.size() == 61);  // 60 thresholds + the (0, 0) start
    CHECK(dropped[k].roc.fpr.size() < all[k].roc.fpr.size());
    CHECK(dropped[k].roc.fpr.front() == 0.0);
    CHECK(dropped[k].roc.tpr.back() == 1.0);
  }
}

TEST_CASE("AP sums in NumPy's order: pairwise within 8192-element buffers") {
  auto fx = testing::load_json_fixture("curves/curves.json");
  for (const auto& s : fx["numpy_sums"]) {
    const size_t n = s["n"];
    std::vector<double> v(n);
    for (size_t i = 0; i < n; ++i) {
      double x = double(i);
      v[i] = (std::fmod(x * 7919.0, 10007.0) - 5003.0) / 7.0 * (1.0 + std::fmod(x, 13.0) / 3.0);
    }
    CAPTURE(n);
    CHECK(metrics::curves_detail::numpy_sum(v) == s["sum"].get<double>());
  }
}

TEST_CASE("curves CSV round-trips every point and refuses bad input") {
  std::vector<double> probs = {0.9, 0.1, 0.4, 0.6, 0.4, 0.6, 0.2, 0.8};
  std::vector<int32_t> labels = {0, 1, 0, 1};
  auto curves = metrics::one_vs_rest_curves(probs, labels, 2);
  auto path = curves_scratch("curves.csv");
  metrics::write_curves_csv(path, curves, {"a", "b"});
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  CHECK(line == "class,curve,x,y,threshold");
  size_t roc_rows = 0, pr_rows = 0;
  std::vector<double> fpr_a;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string cls, curve, x;
    std::getline(ss, cls, ','), std::getline(ss, curve, ','), std::getline(ss, x, ',');
    if (curve == "roc") ++roc_rows;
    if (curve == "pr") ++pr_rows;
    if (cls == "a" && curve == "roc") fpr_a.push_back(std::stod(x));
  }
  CHECK(roc_rows == curves[0].roc.fpr.size() + curves[1].roc.fpr.size());
  CHECK(pr_rows == curves[0].pr.recall.size() + curves[1].pr.recall.size());
  CHECK(fpr_a == curves[0].roc.fpr);
  CHECK_THROWS_WITH_AS(metrics::write_curves_csv(path, curves, {"a"}), doctest::Contains("1 class names for 2"), Error);
  std::vector<int32_t> bad = {0, 1, 2, 0};
  CHECK_THROWS_WITH_AS(metrics::one_vs_rest_curves(probs, bad, 2), doctest::Contains("label 2 of sample 2"), Error);
  std::vector<double> nan_probs = probs;
  nan_probs[3] = NAN;
  CHECK_THROWS_WITH_AS(metrics::one_vs_rest_curves(nan_probs, labels, 2), doctest::Contains("not finite"), Error);
}

TEST_CASE("confidence histograms split top-class confidence into correct and incorrect, overall and per class") {
  // 3 classes; confidence = max probability; 10 bins.
  std::vector<double> probs = {
      0.95, 0.03, 0.02,  // y 0, pred 0, conf 0.95 -> bin 9 correct
      0.50, 0.45, 0.05,  // y 1, pred 0, conf 0.50 -> bin 5 incorrect
      0.10, 0.62, 0.28,  // y 1, pred 1, conf 0.62 -> bin 6 correct
      0.34, 0.33, 0.33,  // y 2, pred 0, conf 0.34 -> bin 3 incorrect
      0.00, 0.00, 1.00,  // y 2, pred 2, conf 1.00 -> bin 9 (clamped) correct
      0.40, 0.40, 0.20,  // y 1, pred 0 (tie -> lowest), conf 0.40 -> bin 4 incorrect
  };
  std::vector<int32_t> labels = {0, 1, 1, 2, 2, 1};
  auto h = metrics::confidence_histograms(probs, labels, 3, 10);
  CHECK(h.overall.correct == std::vector<int64_t>{0, 0, 0, 0, 0, 0, 1, 0, 0, 2});
  CHECK(h.overall.incorrect == std::vector<int64_t>{0, 0, 0, 1, 1, 1, 0, 0, 0, 0});
  CHECK(h.per_class[1].correct == std::vector<int64_t>{0, 0, 0, 0, 0, 0, 1, 0, 0, 0});
  CHECK(h.per_class[1].incorrect == std::vector<int64_t>{0, 0, 0, 0, 1, 1, 0, 0, 0, 0});
  CHECK(h.per_class[2].total() == 2);
  CHECK(h.overall.total() == 6);
  std::string csv = metrics::confidence_histograms_csv(h, {"x", "y", "z"});
  CHECK(csv.find("all,0.9,1,2,0\n") != std::string::npos);
  CHECK(csv.find("y,0.4,0.5,0,1\n") != std::string::npos);
  CHECK_THROWS_WITH_AS(metrics::confidence_histograms(probs, labels, 3, 0), doctest::Contains("bins must be >= 1"), Error);

  auto path = curves_scratch("confidence.png");
  report::save_confidence_histograms_png(h, {"x", "y", "z"}, path);
  Png png(path);
  CHECK(png.width() == 50 + 4 * (260 + 50));
  // Bars: panel "all" has 3 correct and 3 incorrect samples; its tallest bar (2 correct) is the full 170 px high,
  // each bar 13 px wide (half of a 26 px bin).
  auto green = report::correct_color(), red = report::incorrect_color();
  const int64_t all_green = png.count(green.r, green.g, green.b, 2, 50, 90, 310, 260);
  const int64_t all_red = png.count(red.r, red.g, red.b, 2, 50, 90, 310, 260);
  CHECK(all_green == doctest::Approx(13 * (170 + 85)).epsilon(0.05));  // bins 9 (2) and 6 (1)
  CHECK(all_red == doctest::Approx(13 * 3 * 85).epsilon(0.05));        // three bins of 1
}

TEST_CASE("ROC and PR figures draw one colour per class with a defined curve") {
  auto fx = testing::load_json_fixture("curves/curves.json");
  const auto& d = fx["cases"][2];  // absent_class: class 3 has no positives
  REQUIRE(d["name"] == "absent_class");
  std::vector<double> probs = d["probs"].get<std::vector<double>>();
  std::vector<int32_t> labels = d["labels"].get<std::vector<int32_t>>();
  auto curves = metrics::one_vs_rest_curves(probs, labels, 4);
  std::vector<std::string> names = {"angry", "happy", "sad", "fear"};
  auto roc = curves_scratch("roc.png"), pr = curves_scratch("pr.png");
  report::save_roc_png(curves, names, roc);
  report::save_pr_png(curves, names, pr);
  for (const auto& p : {roc, pr}) {
    Png png(p);
    CHECK(png.width() == 820);
    const int plot_right = 820 - 230;
    for (size_t k = 0; k < 4; ++k) {
      auto col = report::plot_detail::palette(k);
      int64_t in_plot = png.count(col.r, col.g, col.b, 10, 70, 50, plot_right, 600 - 60);
      int64_t in_legend = png.count(col.r, col.g, col.b, 10, plot_right, 0, 820, 600);
      CAPTURE(k);
      CHECK(in_legend > 40);  // every class has a legend entry
      if (k < 3) CHECK(in_plot > 300);  // a drawn curve
      else CHECK(in_plot == 0);         // no positives: nothing drawn
    }
  }
}

TEST_CASE("reliability diagram: legend and per-bin counts") {
  report::ReliabilityChart rc;
  rc.confidence = {0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95};
  rc.accuracy = {0, 0, 0, 0.3, 0, 0.5, 0, 0, 0.8, 0.9};
  rc.count = {0, 0, 0, 12, 0, 345, 0, 0, 7, 1000};
  auto path = curves_scratch("reliability.png");
  report::save_reliability_png(rc, path, 600);
  Png png(path);
  // Text (black) just above each non-empty bar, none above the empty ones: pixels in a 16 px band over the bar top.
  const double left = 70, top = 50, pw = 600 - 70 - 30, ph = 600 - 50 - 60;
  for (size_t b = 0; b < 10; ++b) {
    int x0 = int(left + pw * double(b) / 10 + 3), x1 = int(left + pw * double(b + 1) / 10 - 3);
    double bar_top = top + (1 - std::max(rc.accuracy[b], rc.confidence[b])) * ph;
    int64_t dark = png.count(0, 0, 0, 40, x0, int(bar_top) - 18, x1, int(bar_top) - 2);
    CAPTURE(b);
    if (rc.count[b] > 0) CHECK(dark > 5);  // a one-digit count at 11 px has ~8 near-black pixels
    else CHECK(dark == 0);  // the dashed diagonal (grey 0.2) is outside the tolerance
  }
  // Legend swatches: the accuracy colour and the gap colour inside the legend box (upper left).
  auto blue = report::plot_detail::palette(0);
  CHECK(png.count(blue.r, blue.g, blue.b, 40, 80, 55, 106, 72) > 100);
  CHECK(png.count(0, 0, 0, 60, 110, 55, 290, 120) > 200);  // the three legend labels
}

TEST_CASE("write_curve_outputs writes the CSVs and figures of one prediction set; the summary carries AP and AUROC") {
  auto fx = testing::load_json_fixture("curves/curves.json");
  const auto& d = fx["cases"][2];  // absent_class
  std::vector<double> probs = d["probs"].get<std::vector<double>>();
  std::vector<int32_t> labels = d["labels"].get<std::vector<int32_t>>();
  std::vector<std::string> names = {"angry", "happy", "sad", "fear"};
  auto dir = curves_scratch("outputs");
  std::filesystem::remove_all(dir);
  auto curves = report::write_curve_outputs(dir, probs, labels, names);
  for (const char* f : {"curves.csv", "roc.png", "pr.png", "confidence_histograms.csv", "confidence_histograms.png"})
    CHECK_MESSAGE(std::filesystem::file_size(dir / f) > 100, f);
  auto j = metrics::curves_summary_json(curves, names);
  for (size_t k = 0; k < 3; ++k) CHECK(j["per_class"][k]["average_precision"].get<double>() == d["classes"][k]["ap"].get<double>());
  CHECK(j["per_class"][3]["average_precision"].is_null());  // no positives
  CHECK(j["per_class"][3]["auroc"].is_null());
  const double macro = (d["classes"][0]["ap"].get<double>() + d["classes"][1]["ap"].get<double>() + d["classes"][2]["ap"].get<double>()) / 3;
  CHECK(j["macro_average_precision"].get<double>() == doctest::Approx(macro).epsilon(1e-15));
}
