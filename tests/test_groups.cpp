// Emotion groups: the specification parser (every class in exactly one group, errors naming the culprits) and the
// grouped metrics against scikit-learn 1.2 on grouped probabilities (tests/data/curves/groups.json from
// tools/make_curve_fixtures.py): accuracy, per-group and macro F1, one-vs-rest AUROC, confusion matrix.
#include <doctest/doctest.h>

#include <cmath>

#include "fixture_json.hpp"
#include "fer/metrics/groups.hpp"

using namespace fer;

namespace {
const std::vector<std::string> kFer = {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"};
const char* kSpec = "positive=happy,surprise;negative=angry,disgust,fear,sad;neutral=neutral";
}  // namespace

TEST_CASE("parse_emotion_groups maps every class to its group") {
  auto g = metrics::parse_emotion_groups(kSpec, kFer);
  CHECK(g.names == std::vector<std::string>{"positive", "negative", "neutral"});
  CHECK(g.members[0] == std::vector<int32_t>{3, 5});
  CHECK(g.members[1] == std::vector<int32_t>{0, 1, 2, 4});
  CHECK(g.members[2] == std::vector<int32_t>{6});
  CHECK(g.group_of == std::vector<int32_t>{1, 1, 1, 0, 1, 0, 2});
  // Case and spaces do not matter; a trailing ';' is allowed.
  auto h = metrics::parse_emotion_groups(" positive = Happy, SURPRISE ; negative=angry,disgust,fear,sad;neutral=neutral;", kFer);
  CHECK(h.group_of == g.group_of);
}

TEST_CASE("parse_emotion_groups names unknown, repeated and missing classes") {
  CHECK_THROWS_WITH_AS(metrics::parse_emotion_groups("pos=happy,joy;neg=angry,disgust,fear,sad,rage;neu=neutral,surprise", kFer),
                       doctest::Contains("unknown class names: joy, rage"), Error);
  CHECK_THROWS_WITH_AS(metrics::parse_emotion_groups("pos=happy,surprise;neg=angry,disgust,fear,sad,happy;neu=neutral", kFer),
                       doctest::Contains("classes in more than one group: happy (in pos and neg)"), Error);
  CHECK_THROWS_WITH_AS(metrics::parse_emotion_groups("pos=happy;neg=angry,disgust,fear,sad", kFer),
                       doctest::Contains("classes in no group: surprise, neutral"), Error);
  CHECK_THROWS_WITH_AS(metrics::parse_emotion_groups("pos=happy,surprise;angry,disgust", kFer),
                       doctest::Contains("not of the form name=class,class"), Error);
  CHECK_THROWS_WITH_AS(metrics::parse_emotion_groups("a=happy,surprise;a=angry,disgust,fear,sad,neutral", kFer),
                       doctest::Contains("group 'a' appears twice"), Error);
  CHECK_THROWS_WITH_AS(metrics::parse_emotion_groups("all=angry,disgust,fear,happy,sad,surprise,neutral", kFer),
                       doctest::Contains("at least 2 are needed"), Error);
  CHECK_THROWS_WITH_AS(metrics::parse_emotion_groups("a=;b=angry,disgust,fear,happy,sad,surprise,neutral", kFer),
                       doctest::Contains("group 'a' has no classes"), Error);
}

TEST_CASE("grouped metrics equal scikit-learn's on summed probabilities") {
  auto fx = testing::load_json_fixture("curves/groups.json");
  REQUIRE(fx["classes"].get<std::vector<std::string>>() == kFer);
  int cases = 0;
  for (const auto& cs : fx["cases"]) {
    CAPTURE(cs["name"].get<std::string>());
    auto g = metrics::parse_emotion_groups(cs["spec"], kFer);
    CHECK(g.names == cs["group_names"].get<std::vector<std::string>>());
    std::vector<double> probs = cs["probs"].get<std::vector<double>>();
    std::vector<int32_t> labels = cs["labels"].get<std::vector<int32_t>>();
    // The summed probabilities and mapped labels are exactly numpy's.
    CHECK(metrics::group_probabilities(probs, 7, g) == cs["group_probs"].get<std::vector<double>>());
    CHECK(metrics::group_labels(labels, g) == cs["group_labels"].get<std::vector<int32_t>>());
    auto r = metrics::grouped_report(probs, labels, 7, g);
    CHECK(r.num_classes == g.size());
    CHECK(r.accuracy == doctest::Approx(cs["accuracy"].get<double>()).epsilon(1e-12));
    CHECK(r.macro_f1 == doctest::Approx(cs["macro_f1"].get<double>()).epsilon(1e-12));
    for (int64_t k = 0; k < g.size(); ++k) {
      CHECK(r.f1[size_t(k)] == doctest::Approx(cs["f1"][size_t(k)].get<double>()).epsilon(1e-12));
      const auto& a = cs["auroc"][size_t(k)];
      if (a.is_null()) CHECK(std::isnan(r.auroc[size_t(k)]));
      else CHECK(r.auroc[size_t(k)] == doctest::Approx(a.get<double>()).epsilon(1e-12));
    }
    CHECK(r.auroc_macro == doctest::Approx(cs["auroc_macro"].get<double>()).epsilon(1e-12));
    CHECK(r.confusion == cs["confusion"].get<std::vector<std::vector<int64_t>>>());
    ++cases;
  }
  CHECK(cases == 3);
}

TEST_CASE("group_probabilities refuses a grouping of another class count and out-of-range labels") {
  auto g = metrics::parse_emotion_groups(kSpec, kFer);
  std::vector<double> p6(12, 1.0 / 6);
  CHECK_THROWS_WITH_AS(metrics::group_probabilities(p6, 6, g), doctest::Contains("over 7 classes, the data has 6"), Error);
  std::vector<int32_t> bad = {0, 7};
  CHECK_THROWS_WITH_AS(metrics::group_labels(bad, g), doctest::Contains("label 7 of sample 1"), Error);
}
