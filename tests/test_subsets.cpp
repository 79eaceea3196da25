// --subset filters and --subset_fraction draws (include/fer/data/subsets.hpp): exact selections for fixed seeds as
// recomputed by tools/make_subgroup_fixtures.py from the documented rule, counts, and every malformed spec.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "attributes_fixture.hpp"
#include "fer/data/subsets.hpp"
#include "fer/sweep/plan.hpp"

using namespace fer;
using namespace fer::data;

namespace {

std::filesystem::path subsets_fixture_dir() { return attributes_fixture::dir(); }

struct Fixture {
  nlohmann::json e;
  std::shared_ptr<InMemoryImageSet> set;
  AttributeTable table;
  AttributeJoin join;
  Fixture() {
    e = attributes_fixture::expected();
    set = attributes_fixture::images(e);
    table = read_attributes_csv(subsets_fixture_dir() / "faces.csv");
    join = join_attributes(table, *set);
  }
};

}  // namespace

TEST_CASE("--subset selects exactly the fixture's images") {
  Fixture f;
  for (const auto& s : f.e["subsets"]) {
    CAPTURE(s["spec"].get<std::string>());
    auto got = filter_subset(f.table, f.join, parse_subset(s["spec"].get<std::string>()));
    CHECK(got == s["indices"].get<std::vector<int64_t>>());
  }
}

TEST_CASE("--subset_fraction draws exactly the fixture's images for fixed seeds") {
  Fixture f;
  auto labels = f.set->labels();
  for (const auto& s : f.e["fractions"]) {
    std::string spec = s["spec"], cond = s["subset"];
    uint64_t seed = s["seed"];
    CAPTURE(spec);
    CAPTURE(seed);
    std::vector<int64_t> cand;
    if (!cond.empty()) cand = filter_subset(f.table, f.join, parse_subset(cond));
    SubsetSelection sel = select_fractions(labels, 3, f.table, f.join, parse_subset_fractions(spec), seed,
                                           cond.empty() ? nullptr : &cand);
    CHECK(sel.indices == s["indices"].get<std::vector<int64_t>>());
    auto per_class = s["kept_per_class"].get<std::vector<std::vector<int64_t>>>();
    REQUIRE(sel.counts.size() == per_class.size());
    for (size_t v = 0; v < per_class.size(); ++v) CHECK(sel.counts[v].kept_per_class == per_class[v]);
  }
}

TEST_CASE("--subset_fraction counts: round(f * N) per value, stratified, values recorded, unlisted left out") {
  Fixture f;
  auto labels = f.set->labels();
  SubsetSelection sel = select_fractions(labels, 3, f.table, f.join, parse_subset_fractions("gender=female:1.0,male:0.75"), 0);
  const size_t g = f.table.column("gender");
  int64_t female = 0, male = 0, other = 0;
  std::vector<std::vector<int64_t>> per_class(2, std::vector<int64_t>(3, 0));
  for (int64_t i = 0; i < f.set->size(); ++i) {
    const std::string& v = attribute_value(f.table, f.join, g, i);
    if (v == "female") ++female, ++per_class[0][size_t(labels[size_t(i)])];
    else if (v == "male") ++male, ++per_class[1][size_t(labels[size_t(i)])];
    else ++other;
  }
  REQUIRE(sel.counts.size() == 2);
  CHECK(sel.counts[0].available == female);
  CHECK(sel.counts[0].kept == female);  // fraction 1.0 keeps all
  CHECK(sel.counts[1].available == male);
  CHECK(sel.counts[1].kept == std::llround(0.75 * double(male)));
  CHECK(sel.unlisted == other);  // nonbinary, unknown and no row
  CHECK(int64_t(sel.indices.size()) == sel.counts[0].kept + sel.counts[1].kept);
  // Per class within one of the exact share (largest remainder).
  for (size_t c = 0; c < 3; ++c) CHECK(std::abs(double(sel.counts[1].kept_per_class[c]) - 0.75 * double(per_class[1][c])) < 1.0);
  // Each kept image carries its value; indices ascend without repeats.
  for (size_t k = 0; k < sel.indices.size(); ++k) {
    CHECK(attribute_value(f.table, f.join, g, sel.indices[k]) == sel.values[k]);
    if (k) CHECK(sel.indices[k - 1] < sel.indices[k]);
  }
  // The order of the listed values does not change the draw; the seed does.
  SubsetSelection swapped = select_fractions(labels, 3, f.table, f.join, parse_subset_fractions("gender=male:0.75,female:1.0"), 0);
  CHECK(swapped.indices == sel.indices);
  SubsetSelection other_seed = select_fractions(labels, 3, f.table, f.join, parse_subset_fractions("gender=female:1.0,male:0.75"), 1);
  CHECK(other_seed.indices != sel.indices);
  CHECK(other_seed.indices.size() == sel.indices.size());
}

TEST_CASE("malformed or unknown subset specs are clear errors") {
  Fixture f;
  CHECK_THROWS_WITH_AS(parse_subset("gender"), doctest::Contains("--subset 'gender': expected attribute=value"), Error);
  CHECK_THROWS_WITH_AS(parse_subset("gender="), doctest::Contains("both parts non-empty"), Error);
  CHECK_THROWS_WITH_AS(parse_subset("gender=female,"), doctest::Contains("an empty value"), Error);
  CHECK_THROWS_WITH_AS(parse_subset(";"), doctest::Contains("no condition"), Error);
  CHECK_THROWS_WITH_AS(parse_subset("gender=female;gender=male"), doctest::Contains("'gender' is given twice"), Error);
  CHECK_THROWS_WITH_AS(filter_subset(f.table, f.join, parse_subset("gender=femal")),
                       doctest::Contains("faces.csv has gender=femal (values: male, female, nonbinary)"),
                       Error);
  CHECK_THROWS_WITH_AS(filter_subset(f.table, f.join, parse_subset("sex=female")), doctest::Contains("no attribute 'sex'"), Error);
  CHECK_THROWS_WITH_AS(parse_subset_fractions("gender=female:1.5"), doctest::Contains("fraction '1.5' of female is not a number in [0, 1]"),
                       Error);
  CHECK_THROWS_WITH_AS(parse_subset_fractions("gender=female:x"), doctest::Contains("fraction 'x'"), Error);
  CHECK_THROWS_WITH_AS(parse_subset_fractions("gender=female"), doctest::Contains("'female' is not value:fraction"), Error);
  CHECK_THROWS_WITH_AS(parse_subset_fractions("gender=female:1,female:0.5"), doctest::Contains("'female' is given twice"), Error);
  CHECK_THROWS_WITH_AS(parse_subset_fractions("gender=female:1;age_group=0-19:1"), doctest::Contains("one attribute only"), Error);
  CHECK_THROWS_WITH_AS(select_fractions(f.set->labels(), 3, f.table, f.join, parse_subset_fractions("gender=woman:1"), 0),
                       doctest::Contains("--subset_fraction: no row of"), Error);
}

TEST_CASE("apply_subset_options narrows a set and writes the manifest with the attribute value") {
  Fixture f;
  auto dir = std::filesystem::temp_directory_path() / "fer_test_subsets";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  SubsetOptions o;
  o.attributes = (subsets_fixture_dir() / "faces.csv").string();
  o.subset = "age_group=20-39,40+";
  o.subset_fraction = "gender=female:0.3,male:0.6";
  o.seed = 11;
  nlohmann::json info;
  auto sub = apply_subset_options(f.set, o, dir / "subset_manifest.csv", &info, true);
  const auto& want = f.e["fractions"][4];
  REQUIRE(want["seed"] == 11);
  auto idx = want["indices"].get<std::vector<int64_t>>();
  REQUIRE(sub->size() == int64_t(idx.size()));
  for (size_t k = 0; k < idx.size(); ++k) {
    CHECK(sub->id(int64_t(k)) == f.set->id(idx[k]));
    CHECK(sub->label(int64_t(k)) == f.set->label(idx[k]));
  }
  CHECK(info["selection"]["kept"] == idx.size());
  CHECK(nlohmann::json::parse(std::ifstream(dir / "subset.json")) == info);
  std::ifstream in(dir / "subset_manifest.csv");
  std::string header, first;
  std::getline(in, header), std::getline(in, first);
  CHECK(header == "id,label,class,gender");
  const size_t g = f.table.column("gender");
  CHECK(first == f.set->id(idx[0]) + "," + std::to_string(f.set->label(idx[0])) + "," +
                     f.set->class_names()[size_t(f.set->label(idx[0]))] + "," + attribute_value(f.table, f.join, g, idx[0]));
  // Nothing asked: the set itself. A subset without attributes, or one that keeps nothing: errors.
  CHECK(apply_subset_options(f.set, SubsetOptions{}) == f.set);
  SubsetOptions no_csv;
  no_csv.subset = "gender=female";
  CHECK_THROWS_WITH_AS(apply_subset_options(f.set, no_csv), doctest::Contains("need --attributes"), Error);
  SubsetOptions none = o;
  none.subset = "gender=nonbinary";
  none.subset_fraction = "gender=female:1";
  CHECK_THROWS_WITH_AS(apply_subset_options(f.set, none, {}, nullptr, true), doctest::Contains("no image of 120 is left"), Error);
  std::filesystem::remove_all(dir);
}

TEST_CASE("train_sweep's subset-fraction axis: run ids and the plan") {
  CHECK(sweep::subset_fraction_label("gender=female:1.0,male:0.75") == "gender-female1.0-male0.75");
  CHECK(sweep::subset_fraction_label("age group=20/29:0.5") == "agegroup-20_290.5");  // blanks dropped, unsafe characters -> _
  auto runs = sweep::plan_runs({"mlp"}, {0.5, 1.0}, {0, 1}, {"gender=female:1.0,male:0.75", "gender=female:0.75,male:1.0"});
  REQUIRE(runs.size() == 8);
  CHECK(runs[0].id() == "mlp-r0.50-s0-gender-female1.0-male0.75");
  CHECK(runs[1].id() == "mlp-r0.50-s1-gender-female1.0-male0.75");
  CHECK(runs[2].id() == "mlp-r0.50-s0-gender-female0.75-male1.0");
  CHECK(runs[7].subset_fraction == "gender=female:0.75,male:1.0");
  CHECK(runs[7].index == 7);
  // Without the axis, ids are as before.
  CHECK(sweep::plan_runs({"mlp"}, {0.3}, {2})[0].id() == "mlp-r0.30-s2");
  CHECK_THROWS_WITH_AS(sweep::plan_runs({"mlp"}, {1.0}, {0}, {"g=a:1", "g=a:1"}), doctest::Contains("appears twice"), Error);
}
