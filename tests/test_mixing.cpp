// Real/synthetic mixing: exact per-class counts at every study ratio, determinism by seed, and clear errors.
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <set>

#include "fer/data/mixing.hpp"

using namespace fer::data;

namespace {
// Class c appears counts[c] times.
std::vector<int32_t> labels_with(const std::vector<int>& counts) {
  std::vector<int32_t> l;
  for (size_t c = 0; c < counts.size(); ++c)
    for (int k = 0; k < counts[c]; ++k) l.push_back(int32_t(c));
  return l;
}
}  // namespace

TEST_CASE("fixed-total mix: N stays the real size, per-class real share round(r * N_c), exact total") {
  auto real = labels_with({40, 5, 51, 90, 61, 40, 63});  // FER2013-like imbalance, N = 350
  auto synth = labels_with({100, 100, 100, 100, 100, 100, 100});
  for (double r : {0.0, 0.1, 0.3, 0.5, 1.0}) {
    CAPTURE(r);
    MixOptions opt;
    opt.real_ratio = r;
    opt.seed = 3;
    Mix m = make_mix(real, synth, 7, opt);
    CHECK(int64_t(m.items.size()) == 350);
    CHECK(m.real_count() == std::llround(r * 350));
    for (size_t c = 0; c < 7; ++c) {
      int64_t nc = std::count(real.begin(), real.end(), int32_t(c));
      CHECK(m.real_per_class[c] + m.synthetic_per_class[c] == nc);  // class distribution preserved
      CHECK(std::abs(double(m.real_per_class[c]) - r * double(nc)) < 1.0);
    }
    std::set<std::pair<bool, int64_t>> seen;
    for (const MixItem& it : m.items) {
      CHECK(seen.insert({it.synthetic, it.index}).second);  // no image twice
      CHECK(it.label == (it.synthetic ? synth : real)[size_t(it.index)]);
    }
  }
}

TEST_CASE("mix is a function of the seed") {
  auto real = labels_with({30, 30, 30});
  auto synth = labels_with({50, 50, 50});
  MixOptions a;
  a.real_ratio = 0.5;
  a.seed = 11;
  MixOptions b = a;
  b.seed = 12;
  auto key = [](const Mix& m) {
    std::vector<int64_t> v;
    for (const auto& it : m.items) v.push_back(it.index * 2 + it.synthetic);
    return v;
  };
  CHECK(key(make_mix(real, synth, 3, a)) == key(make_mix(real, synth, 3, a)));
  CHECK(key(make_mix(real, synth, 3, a)) != key(make_mix(real, synth, 3, b)));
}

TEST_CASE("all real plus k x synthetic") {
  MixOptions opt;
  opt.mode = MixOptions::Mode::real_plus_synthetic;
  opt.synthetic_multiple = 2;
  Mix m = make_mix(labels_with({10, 20}), labels_with({40, 40}), 2, opt);
  CHECK(m.real_count() == 30);
  CHECK(m.synthetic_per_class == std::vector<int64_t>{20, 40});
}

TEST_CASE("mix errors: too few synthetic images, bad ratio, bad labels; manifest rows") {
  MixOptions opt;
  opt.real_ratio = 0.0;
  CHECK_THROWS_WITH_AS(make_mix(labels_with({10, 10}), labels_with({10, 3}), 2, opt),
                       doctest::Contains("class 1 needs 10 synthetic images but the synthetic set has 3"), fer::Error);
  opt.allow_repeats = true;
  CHECK(make_mix(labels_with({10, 10}), labels_with({10, 3}), 2, opt).items.size() == 20);
  opt.real_ratio = 1.5;
  CHECK_THROWS_WITH_AS(make_mix(labels_with({1}), labels_with({1}), 1, opt), doctest::Contains("not in [0, 1]"), fer::Error);
  opt.real_ratio = 0.5;
  CHECK_THROWS_WITH_AS(make_mix({0, 4}, {0}, 2, opt), doctest::Contains("real image 1 has label 4"), fer::Error);

  opt.real_ratio = 0.5;
  opt.allow_repeats = false;
  Mix m = make_mix(labels_with({2, 2}), labels_with({2, 2}), 2, opt);
  auto path = std::filesystem::temp_directory_path() / "fer_test_mix_manifest.csv";
  write_mix_manifest(path, m, {"r0", "r1", "r2", "r3"}, {"s0", "s1", "s2", "s3"}, {"happy", "sad"});
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  CHECK(line == "source,id,label,class,repeat");
  int rows = 0, synthetic = 0;
  while (std::getline(in, line)) ++rows, synthetic += line.rfind("synthetic,s", 0) == 0;
  CHECK(rows == 4);
  CHECK(synthetic == 2);
}

TEST_CASE("synthetic images repeated to fill a ratio are counted in the manifest and summarized") {
  MixOptions opt;
  opt.real_ratio = 0.0;
  opt.allow_repeats = true;
  // Class 0 needs 4 synthetic images and has 4; class 1 needs 7 and has 2 (drawn 4x, 3x).
  Mix m = make_mix(labels_with({4, 7}), labels_with({4, 2}), 2, opt);
  CHECK(m.synthetic_distinct_per_class == std::vector<int64_t>{4, 2});
  std::map<std::pair<int64_t, int32_t>, int> uses;
  int max_repeat = 0;
  for (const MixItem& it : m.items) {
    ++uses[{it.index, it.label}];
    max_repeat = std::max(max_repeat, int(it.repeat));
    if (it.label == 0) CHECK(it.repeat == 0);
  }
  CHECK(max_repeat == 3);
  CHECK(repeat_summary(m, {"happy", "sad"}) == "synthetic images repeated to fill the ratio: sad 7 drawn from 2 (up to 4x)");
  CHECK(repeat_summary(make_mix(labels_with({4, 7}), labels_with({4, 7}), 2, opt), {"happy", "sad"}).empty());

  auto path = std::filesystem::temp_directory_path() / "fer_test_mix_repeats.csv";
  write_mix_manifest(path, m, {"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10"},
                     {"s0", "s1", "s2", "s3", "s4", "s5"}, {"happy", "sad"});
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  std::map<std::string, int> repeats_of;  // synthetic id -> highest repeat index in the manifest
  while (std::getline(in, line)) {
    std::string id = line.substr(line.find(',') + 1);
    id = id.substr(0, id.find(','));
    repeats_of[id] = std::max(repeats_of[id], std::stoi(line.substr(line.rfind(',') + 1)));
  }
  CHECK(repeats_of.size() == 6);
  CHECK(repeats_of["s4"] + repeats_of["s5"] == 3 + 2);  // 7 draws of 2 images: 4 and 3 uses
}
