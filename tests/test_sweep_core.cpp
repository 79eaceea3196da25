// Sweep bookkeeping: run plan and shards, the resumable state file, confidence intervals and the paired bootstrap.
#include <doctest/doctest.h>

#include <fstream>
#include <set>

#include "fer/sweep/config_keys.hpp"
#include "fer/sweep/plan.hpp"
#include "fer/sweep/state.hpp"
#include "fer/sweep/statistics.hpp"

using namespace fer::sweep;

TEST_CASE("plan: models x ratios x seeds with stable ids; shards partition it") {
  auto runs = plan_runs({"resnet18", "convnext_tiny"}, {0.0, 0.1, 0.3, 0.5, 1.0}, {1, 2});
  REQUIRE(runs.size() == 20);
  CHECK(runs[0].id() == "resnet18-r0.00-s1");
  CHECK(runs[19].id() == "convnext_tiny-r1.00-s2");
  std::set<std::string> all;
  for (int64_t i = 0; i < 3; ++i)
    for (const RunSpec& r : shard_runs(runs, parse_shard(std::to_string(i) + "/3"))) CHECK(all.insert(r.id()).second);
  CHECK(all.size() == 20);
  CHECK(shard_runs(runs, parse_shard("1/3"))[0].index == 1);
  CHECK_THROWS_WITH_AS(parse_shard("3/3"), doctest::Contains("expected i/n"), fer::Error);
  CHECK_THROWS_WITH_AS(parse_shard("1-3"), doctest::Contains("expected i/n"), fer::Error);
  CHECK_THROWS_WITH_AS(plan_runs({"a"}, {1.5}, {1}), doctest::Contains("not in [0, 1]"), fer::Error);
  CHECK_THROWS_WITH_AS(plan_runs({"a", "a"}, {1.0}, {1}), doctest::Contains("appears twice"), fer::Error);
}

TEST_CASE("state file: done runs survive a restart, settings are checked") {
  auto dir = std::filesystem::temp_directory_path() / "fer_test_sweep_state";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto path = dir / "sweep_state.json";
  {
    SweepState s = SweepState::open(path, "cfg-1");
    CHECK_FALSE(s.is_done("a"));
    s.mark("a", {"done", 12.5, 300.0, ""});
    s.mark("b", {"failed", 1.0, 0.0, "NaN loss"});
  }
  SweepState again = SweepState::open(path, "cfg-1");
  CHECK(again.is_done("a"));
  CHECK_FALSE(again.is_done("b"));
  CHECK(again.runs().at("a").wall_seconds == 12.5);
  CHECK(again.runs().at("b").error == "NaN loss");
  CHECK_THROWS_WITH_AS(SweepState::open(path, "cfg-2"), doctest::Contains("different settings"), fer::Error);
  std::ofstream(dir / "broken.json") << "{not json";
  CHECK_THROWS_WITH_AS(SweepState::open(dir / "broken.json", "x"), doctest::Contains("unreadable sweep state"), fer::Error);
}

TEST_CASE("mean and 95% CI equal scipy's t interval") {
  // scipy: st.t.ppf(0.975, 4) * np.std([1,2,3,4,5], ddof=1) / sqrt(5) = 1.9632431614775607
  MeanCI m = mean_ci95({1, 2, 3, 4, 5});
  CHECK(m.mean == 3.0);
  CHECK(m.half_width == doctest::Approx(1.9632431614775607).epsilon(1e-5));
  CHECK(std::isnan(mean_ci95({0.7}).half_width));
  // scipy.stats.t.ppf(0.975, [31, 60, 120]) = 2.03951345, 2.00029782, 1.97993041
  CHECK(t_quantile_975(31) == doctest::Approx(2.03951345).epsilon(1e-4));
  CHECK(t_quantile_975(60) == doctest::Approx(2.00029782).epsilon(1e-4));
  CHECK(t_quantile_975(120) == doctest::Approx(1.97993041).epsilon(1e-4));
}

TEST_CASE("macro F1 equals scikit-learn; paired bootstrap separates real from null differences") {
  // sklearn f1_score([0,1,2,2,1,0,3,3], [0,2,2,2,1,1,3,0], average='macro', labels=range(5), zero_division=0)
  CHECK(macro_f1({0, 1, 2, 2, 1, 0, 3, 3}, {0, 2, 2, 2, 1, 1, 3, 0}, 5) == doctest::Approx(0.49333333333333335).epsilon(1e-12));
  fer::Generator gen(4);
  std::vector<int32_t> y(600), good(600), bad(600);
  for (size_t i = 0; i < y.size(); ++i) {
    y[i] = int32_t(gen.below(7));
    good[i] = gen.uniform() < 0.8 ? y[i] : int32_t(gen.below(7));
    bad[i] = gen.uniform() < 0.4 ? y[i] : int32_t(gen.below(7));
  }
  PairedDifference d = paired_bootstrap_f1(y, good, bad, 7, 500, 1);
  CHECK(d.difference > 0.3);
  CHECK(d.significant());
  CHECK(d.ci_low > 0.2);
  CHECK(d.p_value < 0.01);
  PairedDifference same = paired_bootstrap_f1(y, good, good, 7, 200, 1);
  CHECK(same.difference == 0.0);
  CHECK_FALSE(same.significant());
  CHECK(same.p_value == 1.0);
  CHECK_THROWS_WITH_AS(paired_bootstrap_f1(y, good, {1, 2}, 7), doctest::Contains("same non-zero length"), fer::Error);
}

TEST_CASE("configuration keys: an unknown key is an error naming the nearest valid key") {
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("ratios", "ratios") == 0);
  std::vector<std::string> valid = {"models", "ratios", "seeds", "epochs", "learning_rate", "data"};
  CHECK(nearest_key("ratio", valid) == "ratios");
  CHECK(nearest_key("epoch", valid) == "epochs");
  CHECK(nearest_key("modles", valid) == "models");
  CHECK_NOTHROW(check_keys({"models", "data"}, valid, "sweep.yaml"));
  CHECK_THROWS_WITH_AS(check_keys({"models", "ratio"}, valid, "sweep.yaml"),
                       doctest::Contains("sweep.yaml: unknown key 'ratio' (did you mean 'ratios'?)"), fer::Error);
}
