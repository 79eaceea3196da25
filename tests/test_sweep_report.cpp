// The sweep report from run directories: tables with means and CIs, plots, YAML/JSON/Markdown/HTML, significance.
#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>

#include "fer/sweep/merge.hpp"
#include "fer/sweep/report.hpp"
#include "fer/sweep/state.hpp"

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

  StudyInfo info;
  info.data = "FER2013 CSV fer.csv: 300 test images";
  info.synthetic = "generator:G_fer.pkl";
  info.fer_version = "0.1.0 v0.1-42-gabcdef";
  info.settings_fingerprint = "00ff00ff00ff00ff";
  info.settings = {{"epochs", 30}, {"lr", 0.001}};
  info.notes = {"no test split in fer.csv: its validation split is the test set"};
  nlohmann::json s = write_sweep_report(root, results, {"cnn", "mlp"}, {0.0, 1.0}, 3, info, 300);
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
  // The report states the study: data, generator, settings, fer version, notes (summary.md and index.html).
  for (const std::string& doc : {text, page}) {
    CHECK(doc.find("FER2013 CSV fer.csv: 300 test images") != std::string::npos);
    CHECK(doc.find("generator:G_fer.pkl") != std::string::npos);
    CHECK(doc.find("0.1.0 v0.1-42-gabcdef") != std::string::npos);
    CHECK(doc.find("00ff00ff00ff00ff") != std::string::npos);
    CHECK(doc.find("its validation split is the test set") != std::string::npos);
  }
  CHECK(text.find("`epochs` 30") != std::string::npos);
  CHECK(page.find("<code>lr</code> 0.001") != std::string::npos);
  CHECK(s["study"]["fer_version"] == "0.1.0 v0.1-42-gabcdef");
  // index.html has the significance table that summary.md has, with the same figures.
  REQUIRE(page.find("<h2>Significance of macro-F1 differences</h2>") != std::string::npos);
  for (const auto& c : s["significance"]) {
    char diff[32];
    std::snprintf(diff, sizeof(diff), "%.4f", c["f1_difference"].get<double>());
    std::string comparison = c["comparison"].get<std::string>();
    CHECK(text.find("| " + comparison + " | " + diff + " |") != std::string::npos);
    CHECK(page.find("<tr><td>" + comparison + "</td><td>" + diff + "</td>") != std::string::npos);
  }
}

TEST_CASE("report: a run id given twice is refused (it would fake a seed), failed runs are listed") {
  auto root = std::filesystem::temp_directory_path() / "fer_test_report_dup";
  std::filesystem::remove_all(root);
  std::vector<int32_t> y = {0, 1, 2, 0, 1, 2}, p = {0, 1, 2, 0, 2, 1};
  RunSpec spec{"mlp", 1.0, 0, 0};
  RunResult a, b;
  REQUIRE(load_run_result(make_run(root / "a", spec, 0.7, 0.6, y, p), spec, a));
  REQUIRE(load_run_result(make_run(root / "b", spec, 0.7, 0.6, y, p), spec, b));
  CHECK_THROWS_WITH_AS(write_sweep_report(root, {a, b}, {"mlp"}, {1.0}, 3, StudyInfo{}),
                       doctest::Contains("run mlp-r1.00-s0 appears twice"), fer::Error);
  StudyInfo info;
  info.failed = {{"mlp-r0.00-s0", "mix: class 1 needs 4 synthetic images but the synthetic set has none"}};
  nlohmann::json s = write_sweep_report(root, {a}, {"mlp"}, {0.0, 1.0}, 3, info);
  REQUIRE(s["failed_runs"].size() == 1);
  CHECK(s["failed_runs"][0]["id"] == "mlp-r0.00-s0");
  std::ifstream md(root / "summary.md");
  std::string text((std::istreambuf_iterator<char>(md)), {});
  CHECK(text.find("1 runs, 1 FAILED") != std::string::npos);
  CHECK(text.find("| mlp-r0.00-s0 | mix: class 1 needs 4 synthetic images but the synthetic set has none |") != std::string::npos);
  std::ifstream html(root / "index.html");
  std::string page((std::istreambuf_iterator<char>(html)), {});
  CHECK(page.find("<tr><td>mlp-r0.00-s0</td><td>mix: class 1 needs 4") != std::string::npos);
}

namespace {
// A sweep directory as train_sweep leaves it: sweep.json, sweep_state.json and runs/<id>/ with metrics.
void make_sweep(const std::filesystem::path& dir, const nlohmann::json& settings, const std::string& fingerprint,
                const std::vector<RunSpec>& done, const std::vector<std::string>& failed = {}) {
  StudyInfo info;
  info.data = "folders";
  info.settings = settings;
  info.settings_fingerprint = fingerprint;
  std::filesystem::create_directories(dir / "runs");
  write_study_file(dir / "sweep.json", info);
  SweepState state = SweepState::open(dir / "sweep_state.json", "any");
  std::vector<int32_t> y = {0, 1, 2, 0, 1, 2}, p = {0, 1, 2, 0, 2, 1};
  for (const RunSpec& r : done) {
    auto run_dir = make_run(dir, r, 0.5 + 0.1 * double(r.seed), 0.5, y, p);
    nlohmann::json m = nlohmann::json::parse(std::ifstream(run_dir / "metrics.json"));
    m["model"] = r.model, m["real_ratio"] = r.real_ratio, m["seed"] = r.seed;
    m["test"]["per_class"] = nlohmann::json::array({1, 2, 3});
    std::ofstream(run_dir / "metrics.json") << m.dump();
    state.mark(r.id(), {"done", 1, 1, ""});
  }
  for (const auto& id : failed) state.mark(id, {"failed", 0, 0, "out of memory"});
}
}  // namespace

TEST_CASE("merge: same settings merge (more seeds), other settings and repeated runs are refused") {
  auto root = std::filesystem::temp_directory_path() / "fer_test_merge";
  std::filesystem::remove_all(root);
  nlohmann::json settings = {{"epochs", 30}, {"lr", 0.001}};
  make_sweep(root / "seeds01", settings, "aaaa", {{"mlp", 1.0, 0, 0}, {"mlp", 1.0, 1, 1}}, {"mlp-r0.00-s0"});
  make_sweep(root / "seed2", settings, "aaaa", {{"mlp", 1.0, 2, 0}});
  MergedSweeps m = merge_sweeps({root / "seeds01", root / "seed2"});
  CHECK(m.results.size() == 3);
  CHECK(m.num_classes == 3);
  REQUIRE(m.info.failed.size() == 1);
  CHECK(m.info.failed[0].id == "mlp-r0.00-s0");
  nlohmann::json s = write_sweep_report(root / "merged", m.results, m.models, m.ratios, int(m.num_classes), m.info);
  CHECK(s["tables"]["accuracy"]["mlp"]["1.0"]["n"] == 3);
  CHECK(s["tables"]["accuracy"]["mlp"]["1.0"]["mean"].get<double>() == doctest::Approx(0.6));

  // The same directory twice, or a copy of a run: the run would count as another seed ("± 0.0000").
  CHECK_THROWS_WITH_AS(merge_sweeps({root / "seed2", root / "seed2"}), doctest::Contains("run mlp-r1.00-s2 is in both"),
                       fer::Error);
  std::filesystem::copy(root / "seed2", root / "seed2_copy", std::filesystem::copy_options::recursive);
  CHECK_THROWS_WITH_AS(merge_sweeps({root / "seeds01", root / "seed2", root / "seed2_copy"}),
                       doctest::Contains("seed2_copy; merged, it would count as an extra seed"), fer::Error);

  // Other settings: refused, naming the settings that differ.
  make_sweep(root / "other", {{"epochs", 2}, {"lr", 0.001}}, "bbbb", {{"mlp", 1.0, 5, 0}});
  CHECK_THROWS_WITH_AS(merge_sweeps({root / "seeds01", root / "other"}), doctest::Contains("epochs (2 vs 30)"), fer::Error);
  // A directory without sweep.json cannot be checked.
  std::filesystem::remove(root / "other" / "sweep.json");
  CHECK_THROWS_WITH_AS(merge_sweeps({root / "seeds01", root / "other"}), doctest::Contains("sweep.json: cannot open"),
                       fer::Error);
}

TEST_CASE("malformed predictions are reported with file and line") {
  auto dir = std::filesystem::temp_directory_path() / "fer_test_report_bad";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "predictions.csv") << "id,true,predicted\n0,1,2\n1,x,2\n";
  std::vector<int32_t> y, p;
  CHECK_THROWS_WITH_AS(read_predictions(dir / "predictions.csv", y, p), doctest::Contains("predictions.csv:3: malformed row"),
                       fer::Error);
}
