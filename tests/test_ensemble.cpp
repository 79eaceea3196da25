// Ensembles against scikit-learn 1.2 and NumPy (tests/data/curves/ensemble.json, tools/make_curve_fixtures.py): the
// mean probabilities bit for bit, each member's and the mean's metrics, the majority vote with its tie rule (an
// independent Python implementation), the best member and the paired-bootstrap macro-F1 gain; mismatched members
// are refused with the member and sample named.
#include <doctest/doctest.h>

#include <cmath>

#include "fixture_json.hpp"
#include "fer/analysis/ensemble.hpp"

using namespace fer;

namespace {

std::vector<analysis::MemberPredictions> fixture_members(const nlohmann::json& fx) {
  std::vector<analysis::MemberPredictions> ms;
  std::vector<int32_t> y = fx["labels"].get<std::vector<int32_t>>();
  for (size_t m = 0; m < fx["members"].size(); ++m) {
    analysis::MemberPredictions mp;
    mp.name = "run" + std::to_string(m);
    mp.labels = y;
    mp.probs = fx["members"][m].get<std::vector<double>>();
    mp.num_classes = fx["c"];
    for (size_t i = 0; i < y.size(); ++i) mp.ids.push_back("img" + std::to_string(i) + ".png");
    ms.push_back(std::move(mp));
  }
  return ms;
}

void check_report(const metrics::ClassificationReport& r, const nlohmann::json& want) {
  CHECK(r.accuracy == doctest::Approx(want["accuracy"].get<double>()).epsilon(1e-12));
  CHECK(r.macro_f1 == doctest::Approx(want["macro_f1"].get<double>()).epsilon(1e-12));
  CHECK(r.auroc_macro == doctest::Approx(want["auroc_macro"].get<double>()).epsilon(1e-12));
  CHECK(r.confusion == want["confusion"].get<std::vector<std::vector<int64_t>>>());
}

}  // namespace

TEST_CASE("ensemble of three members equals the NumPy/scikit-learn reference") {
  auto fx = testing::load_json_fixture("curves/ensemble.json");
  auto members = fixture_members(fx);
  analysis::EnsembleOptions o;
  o.bootstrap_resamples = 500;
  o.seed = 7;
  auto r = analysis::evaluate_ensemble(members, o);
  CHECK(r.mean_probs == fx["mean"].get<std::vector<double>>());  // ((p0 + p1) + p2) / 3 exactly
  for (size_t m = 0; m < 3; ++m) {
    CAPTURE(m);
    check_report(r.members[m], fx["member_reports"][m]);
  }
  check_report(r.mean, fx["mean_report"]);
  CHECK(r.vote == fx["vote"].get<std::vector<int32_t>>());
  CHECK(r.vote_ties == 18);  // all three members disagree on 18 of 90 images: the tie rule decides them
  CHECK(r.vote_report.accuracy == doctest::Approx(fx["vote_accuracy"].get<double>()).epsilon(1e-12));
  CHECK(r.vote_report.macro_f1 == doctest::Approx(fx["vote_macro_f1"].get<double>()).epsilon(1e-12));
  // Best member by macro F1 (the reference's third member) and the gain of the mean over it.
  CHECK(r.best_member == 2);
  const double want_gain = fx["mean_report"]["macro_f1"].get<double>() - fx["member_reports"][2]["macro_f1"].get<double>();
  CHECK(r.gain.difference == doctest::Approx(want_gain).epsilon(1e-12));
  CHECK(r.gain.resamples == 500);
  CHECK(r.gain.ci_low < r.gain.difference);
  CHECK(r.gain.ci_high > r.gain.difference);
  // The same seed gives the same interval; JSON carries the numbers a CLI prints.
  auto again = analysis::evaluate_ensemble(members, o);
  CHECK(again.gain.ci_low == r.gain.ci_low);
  CHECK(again.gain.ci_high == r.gain.ci_high);
  auto j = r.to_json({"a", "b", "c", "d"});
  CHECK(j["best_member"] == "run2");
  CHECK(j["majority_vote"]["tied_samples"] == 18);
  CHECK(j["macro_f1_gain_over_best_member"]["difference"].get<double>() == r.gain.difference);
  CHECK(j["members"].size() == 3);
}

TEST_CASE("majority vote tie rule: most votes, then the highest mean probability, then the lowest class") {
  auto member = [](std::vector<double> p) {
    analysis::MemberPredictions m;
    m.name = "m";
    m.labels = {0};
    m.probs = std::move(p);
    m.num_classes = 3;
    return m;
  };
  // Votes 0, 1, 2: tied; class 2 has the highest mean probability although it is the last.
  std::vector<analysis::MemberPredictions> ms = {member({0.40, 0.35, 0.25}), member({0.30, 0.40, 0.30}), member({0.05, 0.05, 0.90})};
  auto mean = analysis::mean_probabilities(ms);
  int64_t ties = 0;
  CHECK(analysis::majority_vote(ms, mean, &ties) == std::vector<int32_t>{2});
  CHECK(ties == 1);
  // Two votes for class 1 beat a confident single vote for class 0.
  ms = {member({0.98, 0.01, 0.01}), member({0.30, 0.40, 0.30}), member({0.30, 0.40, 0.30})};
  mean = analysis::mean_probabilities(ms);
  CHECK(mean[0] > mean[1]);
  CHECK(analysis::majority_vote(ms, mean, &ties) == std::vector<int32_t>{1});
  CHECK(ties == 0);
  // Equal votes and equal mean probabilities: the lowest class.
  ms = {member({0.6, 0.4, 0.0}), member({0.4, 0.6, 0.0})};
  mean = analysis::mean_probabilities(ms);
  CHECK(analysis::majority_vote(ms, mean) == std::vector<int32_t>{0});
}

TEST_CASE("ensemble refuses members of other samples, labels, classes or sizes") {
  auto fx = testing::load_json_fixture("curves/ensemble.json");
  auto base = fixture_members(fx);
  auto ms = base;
  std::swap(ms[1].ids[3], ms[1].ids[4]);
  CHECK_THROWS_WITH_AS(analysis::evaluate_ensemble(ms), doctest::Contains("sample 3 is 'img4.png' in member 'run1'"), Error);
  ms = base;
  ms[2].labels[10] = (ms[2].labels[10] + 1) % 4;
  CHECK_THROWS_WITH_AS(analysis::evaluate_ensemble(ms), doctest::Contains("sample 10 has label"), Error);
  ms = base;
  ms[1].labels.pop_back(), ms[1].ids.pop_back(), ms[1].probs.resize(ms[1].probs.size() - 4);
  CHECK_THROWS_WITH_AS(analysis::evaluate_ensemble(ms), doctest::Contains("member 'run1' has 89 samples"), Error);
  ms = base;
  ms[2].num_classes = 3;
  CHECK_THROWS_WITH_AS(analysis::evaluate_ensemble(ms), doctest::Contains("member 'run2' has 3 classes"), Error);
  ms = base;
  ms[0].probs[4 * 7 + 2] = NAN;
  CHECK_THROWS_WITH_AS(analysis::evaluate_ensemble(ms), doctest::Contains("member 'run0' has a non-finite probability at sample 7 class 2"),
                       Error);
  ms = {base[0]};
  CHECK_THROWS_WITH_AS(analysis::evaluate_ensemble(ms), doctest::Contains("at least 2 members"), Error);
}
