// Samplers, class weights, class-distribution tables and dataset hygiene.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "fer/data/hygiene.hpp"
#include "fer/data/sampling.hpp"

using namespace fer::data;

TEST_CASE("balanced class weights equal scikit-learn's compute_class_weight('balanced')") {
  // sklearn.utils.class_weight.compute_class_weight("balanced", classes=[0,1,2], y=[0]*10+[1]*30+[2]*60)
  //   -> [3.33333333, 1.11111111, 0.55555556]
  auto w = balanced_class_weights({10, 30, 60});
  CHECK(w[0] == doctest::Approx(100.0 / 30.0).epsilon(1e-12));
  CHECK(w[1] == doctest::Approx(100.0 / 90.0).epsilon(1e-12));
  CHECK(w[2] == doctest::Approx(100.0 / 180.0).epsilon(1e-12));
  CHECK(balanced_class_weights({5, 0, 5})[1] == 0.0);
  CHECK_THROWS_AS(balanced_class_weights({0, 0}), fer::Error);
}

TEST_CASE("balanced sampler draws classes uniformly, deterministic per (seed, epoch)") {
  std::vector<int32_t> labels;
  const int counts[4] = {1000, 50, 10, 0};  // class 3 absent
  for (int c = 0; c < 4; ++c)
    for (int k = 0; k < counts[c]; ++k) labels.push_back(c);
  BalancedSampler s(labels, 4, 42, 30000);
  auto e0 = s.epoch(0);
  REQUIRE(e0.size() == 30000);
  std::vector<int64_t> hist(4, 0);
  for (int64_t i : e0) ++hist[size_t(labels[size_t(i)])];
  // Each present class ~ 10000 draws; binomial sd = sqrt(30000 * 1/3 * 2/3) ~ 82; allow 5 sd.
  for (int c = 0; c < 3; ++c) CHECK(std::abs(double(hist[c]) - 10000.0) < 410.0);
  CHECK(hist[3] == 0);
  CHECK(s.epoch(0) == e0);
  CHECK(s.epoch(1) != e0);
  CHECK(BalancedSampler(labels, 4, 43, 30000).epoch(0) != e0);
  CHECK_THROWS_WITH_AS(BalancedSampler({0, 5}, 3, 1), doctest::Contains("label 5 of sample 1"), fer::Error);
}

TEST_CASE("shuffle sampler is a permutation per epoch") {
  ShuffleSampler s(1000, 7);
  auto a = s.epoch(3);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) CHECK(sorted[size_t(i)] == i);
  CHECK(s.epoch(3) == a);
  CHECK(s.epoch(4) != a);
}

TEST_CASE("class distribution table") {
  std::string t = class_distribution_table({"happy", "sad"}, {{"train", {3, 1}}, {"test", {1, 1}}});
  CHECK(t.find("| happy | 3 | 75.0 | 1 | 50.0 |") != std::string::npos);
  CHECK(t.find("| **total** | 4 | 100.0 | 2 | 100.0 |") != std::string::npos);
}

TEST_CASE("hygiene: blank images and duplicates (with conflicting labels) are found and dropped") {
  LabeledImages d;
  d.height = d.width = 4, d.channels = 1, d.class_names = {"a", "b"};
  auto add = [&](uint8_t base, int32_t label, const char* id, bool flat = false) {
    uint8_t img[16];
    for (int i = 0; i < 16; ++i) img[i] = flat ? base : uint8_t(base + i * 9);
    d.push_back(img, label, id);
  };
  add(10, 0, "img0");
  add(0, 1, "black", true);
  add(10, 0, "img0-copy");
  add(20, 1, "img3");
  add(10, 1, "img0-relabelled");
  add(255, 0, "white", true);
  HygieneReport r = inspect_images(d);
  CHECK(r.keep == std::vector<int64_t>{0, 3});
  CHECK(r.blank == 2);
  CHECK(r.duplicates == 2);
  CHECK(r.conflicting_duplicates == 1);
  REQUIRE(r.dropped.size() == 4);
  CHECK(r.dropped[1].reason == "duplicate of img0");
  CHECK(r.dropped[2].reason == "duplicate of img0 with a different label");
  CHECK(r.dropped[0].reason.rfind("blank", 0) == 0);
  LabeledImages clean = select_images(d, r.keep);
  CHECK(clean.count() == 2);
  CHECK(clean.ids[1] == "img3");
  CHECK(clean.image(1)[1] == 29);
}
