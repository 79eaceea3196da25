// Charts: files are valid PNGs of the expected size whose pixels carry the data (colour counts, not just
// existence), and bad input is refused with a clear error.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>

#include "png_probe.hpp"
#include "fer/report/plot.hpp"

using namespace fer::report;
using fer::testing::Png;

namespace {

std::filesystem::path plot_scratch(const char* name) {
  auto dir = std::filesystem::temp_directory_path() / "fer_test_plot";
  std::filesystem::create_directories(dir);
  return dir / name;
}

}  // namespace

TEST_CASE("line chart: one colour per series, error bars, missing points skipped") {
  LineChart chart{"Accuracy vs real-data ratio", "real-data ratio", "accuracy", {}};
  chart.series.push_back({"resnet18", {0, 0.1, 0.3, 0.5, 1.0}, {0.40, 0.52, 0.60, 0.63, 0.66}, {0.02, 0.02, 0.01, 0.01, 0.0}});
  chart.series.push_back({"convnext_tiny", {0, 0.1, 0.3, 0.5, 1.0}, {0.35, NAN, 0.58, 0.64, 0.69}, {}});
  auto path = plot_scratch("line.png");
  save_line_chart_png(chart, path, 900, 600);
  Png png(path);
  CHECK(png.width() == 900);
  CHECK(png.height() == 600);
  int64_t blue = png.count(0.000, 0.447, 0.698), orange = png.count(0.902, 0.624, 0.000);
  CHECK(blue > 1000);    // 4 segments of 2.5 px lines + 5 markers + legend
  CHECK(orange > 600);   // 3 segments (the NaN point breaks the line)
  CHECK(png.count(1, 1, 1, 0) > 900 * 600 / 2);  // mostly white background
  CHECK_FALSE(std::filesystem::exists(path.string() + ".tmp." + std::to_string(::getpid())));
}

TEST_CASE("confusion matrix: diagonal dark, off-diagonal white for a perfect classifier") {
  ConfusionMatrixChart cm;
  cm.class_names = {"angry", "disgust", "fear"};
  cm.counts = {{10, 0, 0}, {0, 5, 0}, {0, 0, 7}};
  auto path = plot_scratch("cm.png");
  save_confusion_matrix_png(cm, path);
  Png png(path);
  CHECK(png.width() == 130 + 3 * 72 + 40);
  // Rate 1.0 cells are drawn in (0.08, 0.25, 0.65); three 72x72 cells minus their printed numbers.
  int64_t dark = png.count(0.08, 0.25, 0.65, 2);
  CHECK(dark > 3 * 72 * 72 * 8 / 10);
  CHECK(dark <= 3 * 72 * 72);
}

TEST_CASE("reliability diagram draws a bar per non-empty bin") {
  ReliabilityChart rc;
  rc.confidence = {0.1, 0.5, 0.9};
  rc.accuracy = {0.2, 0.5, 0.8};
  rc.count = {10, 0, 30};
  rc.ece = 0.1;
  auto path = plot_scratch("rel.png");
  save_reliability_png(rc, path, 600);
  Png png(path);
  CHECK(png.width() == 600);
  CHECK(png.count(0.000, 0.447, 0.698, 40) > 1000);
}

TEST_CASE("charts refuse bad input and unwritable paths") {
  LineChart bad{"t", "x", "y", {{"s", {0, 1}, {0.5}, {}}}};
  CHECK_THROWS_WITH_AS(save_line_chart_png(bad, plot_scratch("bad.png")), doctest::Contains("1 y values"), fer::Error);
  ConfusionMatrixChart cm;
  cm.counts = {{1, 2}, {3}};
  cm.class_names = {"a", "b"};
  CHECK_THROWS_WITH_AS(save_confusion_matrix_png(cm, plot_scratch("bad_cm.png")), doctest::Contains("not square"), fer::Error);
  LineChart ok{"t", "x", "y", {{"s", {0, 1}, {0.5, 0.6}, {}}}};
  CHECK_THROWS_WITH_AS(save_line_chart_png(ok, "/nonexistent_dir/x.png"), doctest::Contains("cannot create"), fer::Error);
}
