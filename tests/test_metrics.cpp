// Classification metrics against scikit-learn 1.2 (tools/make_metric_fixtures.py): every number of every case to
// 1e-12 (double inputs), including an absent class, a never-predicted class, score ties, perfect and worst
// predictions and the binary case; plus hand-made cases and errors.
#include <doctest/doctest.h>

#include <cmath>

#include "fer/metrics/classification.hpp"
#include "fixture_json.hpp"

using namespace fer::metrics;

TEST_CASE("classification metrics equal scikit-learn on every fixture case") {
  auto cases = fer::testing::load_json_fixture("metrics/cases.json");
  REQUIRE(cases.size() == 8);
  for (const auto& k : cases) {
    std::string name = k["name"];
    CAPTURE(name);
    int64_t c = k["c"];
    std::vector<double> p = k["probs"];
    std::vector<int32_t> y = k["labels"];
    ClassificationReport r = classification_report(p, y, c, {1, 2, 3});
    const double tol = 1e-12;
    CHECK(r.accuracy == doctest::Approx(k["accuracy"].get<double>()).epsilon(tol));
    CHECK(r.balanced_accuracy == doctest::Approx(k["balanced_accuracy"].get<double>()).epsilon(tol));
    for (int64_t j = 0; j < c; ++j) {
      CAPTURE(j);
      CHECK(r.precision[size_t(j)] == doctest::Approx(k["precision"][size_t(j)].get<double>()).epsilon(tol));
      CHECK(r.recall[size_t(j)] == doctest::Approx(k["recall"][size_t(j)].get<double>()).epsilon(tol));
      CHECK(r.f1[size_t(j)] == doctest::Approx(k["f1"][size_t(j)].get<double>()).epsilon(tol));
      CHECK(r.support[size_t(j)] == k["support"][size_t(j)].get<int64_t>());
      if (k["auroc"][size_t(j)].is_null()) CHECK(std::isnan(r.auroc[size_t(j)]));
      else CHECK(r.auroc[size_t(j)] == doctest::Approx(k["auroc"][size_t(j)].get<double>()).epsilon(tol));
      for (int64_t i = 0; i < c; ++i) CHECK(r.confusion[size_t(j)][size_t(i)] == k["confusion"][size_t(j)][size_t(i)].get<int64_t>());
    }
    CHECK(r.macro_precision == doctest::Approx(k["macro"][0].get<double>()).epsilon(tol));
    CHECK(r.macro_recall == doctest::Approx(k["macro"][1].get<double>()).epsilon(tol));
    CHECK(r.macro_f1 == doctest::Approx(k["macro"][2].get<double>()).epsilon(tol));
    CHECK(r.weighted_precision == doctest::Approx(k["weighted"][0].get<double>()).epsilon(tol));
    CHECK(r.weighted_recall == doctest::Approx(k["weighted"][1].get<double>()).epsilon(tol));
    CHECK(r.weighted_f1 == doctest::Approx(k["weighted"][2].get<double>()).epsilon(tol));
    CHECK(r.auroc_macro == doctest::Approx(k["auroc_macro"].get<double>()).epsilon(tol));
    for (const auto& [kk, v] : r.top_k)
      if (k["top_k"].contains(std::to_string(kk)))
        CHECK(v == doctest::Approx(k["top_k"][std::to_string(kk)].get<double>()).epsilon(tol));
    CHECK(r.log_loss == doctest::Approx(k["log_loss"].get<double>()).epsilon(1e-10));
    CHECK(r.ece == doctest::Approx(k["ece"].get<double>()).epsilon(tol));
  }
}

TEST_CASE("hand-checkable metrics, absent-class policy, json keys") {
  // 3 samples, 3 classes; class 2 never occurs in the labels.
  std::vector<double> p = {0.7, 0.2, 0.1, 0.3, 0.6, 0.1, 0.5, 0.1, 0.4};
  std::vector<int32_t> y = {0, 1, 1};
  ClassificationReport r = classification_report(p, y, 3);
  CHECK(r.accuracy == doctest::Approx(2.0 / 3));
  CHECK(r.recall[1] == doctest::Approx(0.5));
  CHECK(r.precision[0] == doctest::Approx(0.5));
  CHECK(r.auroc_skipped == std::vector<int64_t>{2});
  CHECK(std::isnan(r.auroc[2]));
  CHECK(r.confusion_normalized()[2] == std::vector<double>{0, 0, 0});
  auto j = r.to_json({"angry", "happy", "sad"});
  for (const char* key : {"accuracy", "macro_f1", "auroc_macro", "macro_precision", "macro_recall", "ece", "log_loss",
                          "confusion_matrix", "per_class", "reliability", "top_1_accuracy"})
    CHECK_MESSAGE(j.contains(key), key);
  CHECK(j["per_class"][2]["auroc"].is_null());
  CHECK(j["per_class"][1]["class"] == "happy");
}

TEST_CASE("metrics refuse bad input") {
  std::vector<double> p = {0.5, 0.5};
  CHECK_THROWS_WITH_AS(classification_report(p, std::vector<int32_t>{3}, 2), doctest::Contains("label 3 of sample 0"), fer::Error);
  CHECK_THROWS_WITH_AS(classification_report(p, std::vector<int32_t>{0, 1}, 2), doctest::Contains("2 probabilities for 2 samples"), fer::Error);
  std::vector<double> bad = {NAN, 1.0};
  CHECK_THROWS_WITH_AS(classification_report(bad, std::vector<int32_t>{0}, 2), doctest::Contains("not finite"), fer::Error);
}
