// Per-subgroup metrics with percentile-bootstrap intervals (include/fer/metrics/subgroup_report.hpp) against
// tools/make_subgroup_fixtures.py: scikit-learn's metrics on the same resamples (drawn there with its own
// implementation of fer's generator) and numpy.percentile, for groups from the attributes fixture's join.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "attributes_fixture.hpp"
#include "fer/data/attributes.hpp"
#include "fer/metrics/subgroup_report.hpp"

using namespace fer;

using attributes_fixture::expected;

TEST_CASE("subgroup metrics and bootstrap intervals equal scikit-learn + numpy on the same resamples") {
  nlohmann::json e = expected();
  auto set = attributes_fixture::images(e);
  data::AttributeTable t = data::read_attributes_csv(attributes_fixture::dir() / "faces.csv");
  data::AttributeJoin j = data::join_attributes(t, *set);
  auto probs = e["probs"].get<std::vector<double>>();
  auto labels = e["labels"].get<std::vector<int32_t>>();
  const auto& ref = e["report"];
  metrics::BootstrapOptions o;
  o.seed = ref["seed"], o.resamples = ref["resamples"], o.level = ref["level"];
  CHECK(o.resamples == metrics::BootstrapOptions{}.resamples);  // the fixture checks the default B = 1000
  for (const auto& attr : ref["attributes"]) {
    std::string name = attr["attribute"];
    CAPTURE(name);
    std::vector<std::string> group_of;
    for (int64_t i = 0; i < set->size(); ++i) group_of.push_back(data::attribute_value(t, j, t.column(name), i));
    metrics::SubgroupReport r = metrics::subgroup_report(probs, labels, 3, group_of, name, o);
    REQUIRE(r.groups.size() == attr["groups"].size());
    for (size_t g = 0; g < r.groups.size(); ++g) {
      const auto& want = attr["groups"][g];
      const metrics::SubgroupMetrics& got = r.groups[g];
      CAPTURE(got.value);
      CHECK(got.value == want["value"].get<std::string>());
      CHECK(got.n == want["n"].get<int64_t>());
      const metrics::Interval* iv[] = {&got.accuracy, &got.macro_f1, &got.balanced_accuracy, &got.auroc_macro};
      for (size_t k = 0; k < 4; ++k) {
        CAPTURE(k);
        CHECK(iv[k]->value == doctest::Approx(want["point"][k].get<double>()).epsilon(1e-12));
        CHECK(iv[k]->low == doctest::Approx(want["low"][k].get<double>()).epsilon(1e-12));
        CHECK(iv[k]->high == doctest::Approx(want["high"][k].get<double>()).epsilon(1e-12));
        CHECK(iv[k]->finite == want["finite"][k].get<int64_t>());
      }
    }
  }
  // The fixture has a 4-image group whose resamples sometimes hold one class only (undefined AUROC).
  CHECK(ref["attributes"][0]["groups"][3]["finite"][3].get<int64_t>() < 1000);
}

TEST_CASE("bootstrap interval properties") {
  // All correct: every resample gives accuracy 1, so the interval is exactly [1, 1].
  std::vector<double> p = {0.9, 0.1, 0.2, 0.8, 0.7, 0.3, 0.4, 0.6};
  std::vector<int32_t> y = {0, 1, 0, 1};
  metrics::SubgroupReport r = metrics::subgroup_report(p, y, 2, {"a", "a", "b", "b"}, "g");
  REQUIRE(r.groups.size() == 3);
  CHECK(r.groups[0].value == "all");
  CHECK(r.groups[0].accuracy.low == 1.0);
  CHECK(r.groups[0].accuracy.high == 1.0);
  // Wider intervals at a higher level; the same seed gives the same interval, another seed another one.
  nlohmann::json e = expected();
  auto probs = e["probs"].get<std::vector<double>>();
  auto labels = e["labels"].get<std::vector<int32_t>>();
  std::vector<std::string> none(labels.size());
  metrics::BootstrapOptions o90, o99;
  o90.level = 0.90, o99.level = 0.99;
  auto a = metrics::subgroup_report(probs, labels, 3, none, "x", o90).groups[0].accuracy;
  auto b = metrics::subgroup_report(probs, labels, 3, none, "x", o99).groups[0].accuracy;
  auto a2 = metrics::subgroup_report(probs, labels, 3, none, "x", o90).groups[0].accuracy;
  o90.seed = 1;
  // AUROC takes many more distinct values than accuracy on 120 images, so another seed moves its interval.
  auto u = metrics::subgroup_report(probs, labels, 3, none, "x", metrics::BootstrapOptions{1000, 0, 0.90}).groups[0].auroc_macro;
  auto u3 = metrics::subgroup_report(probs, labels, 3, none, "x", o90).groups[0].auroc_macro;
  CHECK(b.low < a.low);
  CHECK(b.high > a.high);
  CHECK(a.low < a.value);
  CHECK(a.high > a.value);
  CHECK(a2.low == a.low);
  CHECK(a2.high == a.high);
  CHECK(u3.low != u.low);
  CHECK(u3.high != u.high);
  // Bad input.
  CHECK_THROWS_WITH_AS(metrics::subgroup_report(p, y, 2, {"a"}, "g"), doctest::Contains("1 group values for 4 images"), Error);
  metrics::BootstrapOptions bad;
  bad.resamples = 1;
  CHECK_THROWS_WITH_AS(metrics::subgroup_report(p, y, 2, {"a", "a", "b", "b"}, "g", bad), doctest::Contains("at least 2 resamples"),
                       Error);
}

TEST_CASE("subgroup report JSON and Markdown") {
  std::vector<double> p = {0.9, 0.1, 0.2, 0.8, 0.7, 0.3, 0.6, 0.4};
  std::vector<int32_t> y = {0, 1, 0, 1};
  metrics::SubgroupReport r = metrics::subgroup_report(p, y, 2, {"f", "m", "", "m"}, "gender");
  nlohmann::json j = r.to_json();
  CHECK(j["attribute"] == "gender");
  CHECK(j["images_without_value"] == 1);
  REQUIRE(j["groups"].size() == 3);
  CHECK(j["groups"][1]["value"] == "f");
  CHECK(j["groups"][2]["n"] == 2);
  CHECK(j["groups"][0]["accuracy"]["value"] == 0.75);
  CHECK(j["groups"][1]["auroc_macro"]["value"].is_null());  // one image: no AUROC
  std::string md = r.markdown();
  CHECK(md.find("| gender | n | accuracy |") == 0);
  CHECK(md.find("| all | 4 | 0.7500 [") != std::string::npos);
  CHECK(md.find("1000-resample percentile bootstrap, 95% intervals, seed 0.") != std::string::npos);
}

TEST_CASE("subgroup reports from a run's predictions.csv") {
  nlohmann::json e = expected();
  auto dir = std::filesystem::temp_directory_path() / "fer_test_subgroups";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto ids = e["ids"].get<std::vector<std::string>>();
  auto labels = e["labels"].get<std::vector<int32_t>>();
  auto probs = e["probs"].get<std::vector<double>>();
  std::string csv = "id,true,predicted,p_angry,p_happy,p_sad\n";
  char buf[64];
  for (size_t i = 0; i < ids.size(); ++i) {
    csv += ids[i] + "," + std::to_string(labels[i]) + "," + std::to_string(metrics::argmax_row(probs.data() + i * 3, 3));
    for (size_t k = 0; k < 3; ++k) std::snprintf(buf, sizeof(buf), ",%.17g", probs[i * 3 + k]), csv += buf;
    csv += "\n";
  }
  fer::io::write_file_atomically(dir / "predictions.csv", csv);
  metrics::Predictions p = metrics::read_predictions_csv(dir / "predictions.csv");
  CHECK(p.class_names == std::vector<std::string>{"angry", "happy", "sad"});
  CHECK(p.probs == probs);
  metrics::BootstrapOptions o;
  o.seed = e["report"]["seed"];
  nlohmann::json j = metrics::write_subgroup_reports(dir, p, (attributes_fixture::dir() / "faces.csv").string(), "age_group", o, true);
  CHECK(j["images_without_row"] == 3);
  CHECK(j["rows_matching_no_image"] == 2);
  REQUIRE(j["reports"].size() == 1);
  const auto& want = e["report"]["attributes"][1];
  REQUIRE(want["attribute"] == "age_group");
  for (size_t g = 0; g < want["groups"].size(); ++g) {
    CHECK(j["reports"][0]["groups"][g]["value"] == want["groups"][g]["value"]);
    CHECK(j["reports"][0]["groups"][g]["macro_f1"]["ci_low"].get<double>() ==
          doctest::Approx(want["groups"][g]["low"][1].get<double>()).epsilon(1e-12));
  }
  CHECK(std::filesystem::exists(dir / "subgroups.md"));
  CHECK(nlohmann::json::parse(std::ifstream(dir / "subgroups.json")) == j);
  // Malformed predictions name the line.
  fer::io::write_file_atomically(dir / "bad.csv", "id,true,predicted,p_a,p_b\nx,0,0,0.5,0.5\ny,1,1,0.5\n");
  CHECK_THROWS_WITH_AS(metrics::read_predictions_csv(dir / "bad.csv"), doctest::Contains("bad.csv:3: 4 fields, the header has 5"), Error);
  fer::io::write_file_atomically(dir / "bad.csv", "id,true,predicted,p_a,p_b\nx,2,0,0.5,0.5\n");
  CHECK_THROWS_WITH_AS(metrics::read_predictions_csv(dir / "bad.csv"), doctest::Contains("bad.csv:2: malformed row"), Error);
  fer::io::write_file_atomically(dir / "bad.csv", "file,label\n");
  CHECK_THROWS_WITH_AS(metrics::read_predictions_csv(dir / "bad.csv"), doctest::Contains("bad.csv:1: expected the header"), Error);
  std::filesystem::remove_all(dir);
}
