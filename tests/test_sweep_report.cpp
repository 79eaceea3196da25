// The sweep report from run directories: tables with means and CIs, plots, YAML/JSON/Markdown/HTML, significance.
#include <doctest/doctest.h>

#include <fstream>

#include "fer/sweep/report.hpp"

using namespace fer::sweep;

namespace {
std::filesystem::path make_run(const std::filesystem::path& root, const RunSpec& spec, double acc, double f1,
                               const std::vector<int32_t>& y, const std::vector<int32_t>& pred) {
  auto dir = root / "runs" / spec.id();
  std::filesystem::create_directories(dir);
  nlohmann::json m = {{"test", {{"accuracy", acc}, {"macro_f1", f1}, {"auroc_macro", 0.8}, {"macro_precision", 0.5},
                                {"macro_recall", 0.4}}},
                      {"wall_seconds", 10.0}, {"images_per_second", 250.0}};
  std::ofstream(dir / "metrics.json") << m.dump();
  std::ofstream p(dir / "predictions.csv");
  p << "id,true,predicted,p_0,p_1,p_2\n";
  for (size_t i = 0; i < y.size(); ++i) p << i << ',' << y[i] << ',' << pred[i] << ",0.3,0.3,0.4\n";
  return dir;
}
}  // namespace

TEST_CASE("report: tables, CIs over seeds, plots, significance, html") {
  auto root = std::filesystem::temp_directory_path() / "fer_test_report";
  std::filesystem::remove_all(root);
  auto runs = plan_runs({"cnn", "mlp"}, {0.0, 1.0}, {1, 2});
  std::vector<int32_t> y(300), good(300), poor(300);
  fer::Generator gen(2);
  for (size_t i = 0; i < y.size(); ++i) {
    y[i] = int32_t(gen.below(3));
    good[i] = gen.uniform() < 0.9 ? y[i] : int32_t(gen.below(3));
    poor[i] = gen.uniform() < 0.3 ? y[i] : int32_t(gen.below(3));
  }
  std::vector<RunResult> results;
  for (const RunSpec& r : runs) {
    bool strong = r.model == "cnn" && r.real_ratio == 1.0;
    double acc = (strong ? 0.9 : 0.5) + 0.01 * double(r.seed);
    auto dir = make_run(root, r, acc, acc - 0.1, y, strong ? good : poor);
    RunResult res;
    REQUIRE(load_run_result(dir, r, res));
    results.push_back(res);
  }
  RunResult missing;
  CHECK_FALSE(load_run_result(root / "nowhere", runs[0], missing));

  nlohmann::json s = write_sweep_report(root, results, {"cnn", "mlp"}, {0.0, 1.0}, 3, 300);
  auto cell = s["tables"]["accuracy"]["cnn"]["1.0"];
  CHECK(cell["mean"].get<double>() == doctest::Approx(0.915));
  // Two seeds 0.91, 0.92: sd 0.00707, t(1) = 12.706 -> half-width 0.0635
  CHECK(cell["ci95"].get<double>() == doctest::Approx(12.706205 * 0.0070710678 / std::sqrt(2.0)).epsilon(1e-5));
  CHECK(cell["n"] == 2);
  bool found = false;
  for (const auto& c : s["significance"])
    if (c["comparison"] == "cnn: r=1.0 vs r=0.0") {
      found = true;
      CHECK(c["significant"] == true);
      CHECK(c["f1_difference"].get<double>() > 0.3);
    }
  CHECK(found);
  for (const char* f : {"summary.json", "summary.yaml", "summary.md", "index.html", "acc_vs_realrate.png",
                        "f1_vs_realrate.png", "recall_vs_realrate.png", "auroc_vs_realrate.png"})
    CHECK_MESSAGE(std::filesystem::exists(root / f), f);
  YAML::Node yaml = YAML::LoadFile((root / "summary.yaml").string());
  CHECK(yaml["num_runs"].as<int>() == 8);
  std::ifstream md(root / "summary.md");
  std::string text((std::istreambuf_iterator<char>(md)), {});
  CHECK(text.find("| cnn | 0.5150 ± 0.0635 | 0.9150 ± 0.0635 |") != std::string::npos);
  CHECK(text.find("## AUROC (macro, one-vs-rest)") != std::string::npos);
  std::ifstream html(root / "index.html");
  std::string page((std::istreambuf_iterator<char>(html)), {});
  CHECK(page.find("runs/cnn-r1.00-s2/confusion_matrix.png") != std::string::npos);
}

TEST_CASE("malformed predictions are reported with file and line") {
  auto dir = std::filesystem::temp_directory_path() / "fer_test_report_bad";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "predictions.csv") << "id,true,predicted\n0,1,2\n1,x,2\n";
  std::vector<int32_t> y, p;
  CHECK_THROWS_WITH_AS(read_predictions(dir / "predictions.csv", y, p), doctest::Contains("predictions.csv:3: malformed row"),
                       fer::Error);
}
