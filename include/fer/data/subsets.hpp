#pragma once
// Attribute subsets of a source (see attributes.hpp for the CSV and the join):
//
//   --subset "gender=female"                       images whose gender is female
//   --subset "age_group=20-29,30-39"               either value
//   --subset "gender=female;age_group=20-29"       all conditions (';' separates them)
//   --subset_fraction "gender=female:1.0,male:0.75"
//       the thesis's training splits: for each listed value v, round(f_v * N_v) of its N_v images are kept, split
//       over the classes by largest remainder (class c keeps about f_v * N_{v,c}; the total is exact), each
//       class's images drawn by a seeded shuffle. Images with an unlisted or unknown value are left out (counted).
//       The draw for a value depends only on (seed, value), not on the order the values are listed in.
//
// Attributes and values are checked against the table: a name that is not a column, or a value that no row has,
// is an error (a typo would otherwise select nothing). Images without a row never match.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/core/rng.hpp"
#include "fer/data/attributes.hpp"
#include "fer/data/hygiene.hpp"
#include "fer/data/image_set.hpp"
#include "fer/data/mixing.hpp"
#include "fer/io/atomic_file.hpp"

namespace fer::data {

struct SubsetCondition {
  std::string attribute;
  std::vector<std::string> values;  // any of them
};

struct SubsetFilter {
  std::vector<SubsetCondition> conditions;  // all of them
};

struct SubsetFractions {
  std::string attribute;
  std::vector<std::string> values;
  std::vector<double> fractions;
};

namespace subsets_detail {

std::string trimmed(const std::string& s);

std::vector<std::string> split(const std::string& s, char sep);

// "attr=rest" -> {attr, rest}, both non-empty.
std::pair<std::string, std::string> split_assignment(const std::string& s, const char* flag);

void check_value(const AttributeTable& t, size_t col, const std::string& value, const char* flag);

}  // namespace subsets_detail

SubsetFilter parse_subset(const std::string& spec);

SubsetFractions parse_subset_fractions(const std::string& spec);

// Checks that every attribute and value of the filter occurs in the table.
void check_subset(const SubsetFilter& f, const AttributeTable& t);

// Indices (ascending) of the images that satisfy every condition.
std::vector<int64_t> filter_subset(const AttributeTable& t, const AttributeJoin& j, const SubsetFilter& f);

struct SubsetSelection {
  std::string attribute;
  std::vector<int64_t> indices;     // ascending, into the source
  std::vector<std::string> values;  // the attribute value of each kept image
  struct Count {
    std::string value;
    double fraction = 1;
    int64_t available = 0, kept = 0;
    std::vector<int64_t> kept_per_class;
  };
  std::vector<Count> counts;        // per listed value
  int64_t unlisted = 0;             // candidates left out: no row, unknown value or a value not listed

  nlohmann::json to_json() const {
    nlohmann::json j = {{"attribute", attribute}, {"kept", indices.size()}, {"left_out_unlisted_or_unknown", unlisted}};
    for (const auto& c : counts)
      j["values"].push_back({{"value", c.value}, {"fraction", c.fraction}, {"available", c.available}, {"kept", c.kept},
                             {"kept_per_class", c.kept_per_class}});
    return j;
  }
};

// The --subset_fraction draw over `candidates` (all images when null), stratified by `labels` (0..num_classes-1).
SubsetSelection select_fractions(const std::vector<int32_t>& labels, size_t num_classes, const AttributeTable& t,
                                 const AttributeJoin& j, const SubsetFractions& spec, uint64_t seed,
                                 const std::vector<int64_t>* candidates = nullptr);

// A view of some images of another set (ids, labels and pixels are the parent's).
class SubsetImageSet : public ImageSet {
 public:
  SubsetImageSet(std::shared_ptr<const ImageSet> parent, std::vector<int64_t> indices)
      : parent_(std::move(parent)), idx_(std::move(indices)) {
    for (int64_t i : idx_) FER_CHECK(i >= 0 && i < parent_->size(), "subset: index ", i, " of a set of ", parent_->size());
  }
  int64_t size() const override { return int64_t(idx_.size()); }
  int32_t label(int64_t i) const override { return parent_->label(idx_[size_t(i)]); }
  std::string id(int64_t i) const override { return parent_->id(idx_[size_t(i)]); }
  io::Image raw(int64_t i) const override { return parent_->raw(idx_[size_t(i)]); }
  const std::vector<std::string>& class_names() const override { return parent_->class_names(); }

 private:
  std::shared_ptr<const ImageSet> parent_;
  std::vector<int64_t> idx_;
};

// The manifest of a subset: id,label,class,<attribute> per kept image (the attribute column when there is one).
void write_subset_manifest(const std::filesystem::path& path, const ImageSet& source, const std::vector<int64_t>& indices,
                           const std::string& attribute = "", const std::vector<std::string>& values = {});

// What the programs' --attributes/--subset/--subset_fraction flags ask for.
struct SubsetOptions {
  std::string attributes;       // the CSV
  std::string subset;           // --subset
  std::string subset_fraction;  // --subset_fraction
  uint64_t seed = 0;
  bool active() const { return !subset.empty() || !subset_fraction.empty(); }
};

// Narrows `set` as `o` asks (the set itself when it asks nothing), printing the join's counts; with `manifest`
// the kept images are listed there (write_subset_manifest) and the counts written next to it as subset.json.
// `info` (optional) receives the counts as JSON.
std::shared_ptr<ImageSet> apply_subset_options(std::shared_ptr<ImageSet> set, const SubsetOptions& o,
                                               const std::filesystem::path& manifest = {},
                                               nlohmann::json* info = nullptr, bool quiet = false);

}  // namespace fer::data
