// Attribute subsets (data/subsets.hpp), compiled once.
#include "fer/data/subsets.hpp"
#include "fer/io/json_text.hpp"

namespace fer::data {

namespace subsets_detail {

std::string trimmed(const std::string& s) {
  size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t p = s.find(sep, start);
    out.push_back(trimmed(s.substr(start, p == std::string::npos ? std::string::npos : p - start)));
    if (p == std::string::npos) return out;
    start = p + 1;
  }
}

std::pair<std::string, std::string> split_assignment(const std::string& s, const char* flag) {
  size_t eq = s.find('=');
  FER_CHECK(eq != std::string::npos, flag, " '", s, "': expected attribute=value");
  std::string a = trimmed(s.substr(0, eq)), v = trimmed(s.substr(eq + 1));
  FER_CHECK(!a.empty() && !v.empty(), flag, " '", s, "': expected attribute=value with both parts non-empty");
  return {a, v};
}

void check_value(const AttributeTable& t, size_t col, const std::string& value, const char* flag) {
  auto known = t.distinct_values(col);
  if (std::find(known.begin(), known.end(), value) != known.end()) return;
  std::string all;
  for (const auto& k : known) all += (all.empty() ? "" : ", ") + k;
  fail(flag, ": no row of ", t.path, " has ", t.columns[col], "=", value, " (values: ", all, ")");
}

}  // namespace subsets_detail

SubsetFilter parse_subset(const std::string& spec) {
  using namespace subsets_detail;
  SubsetFilter f;
  for (const std::string& cond : split(spec, ';')) {
    if (cond.empty()) continue;
    auto [attr, rest] = split_assignment(cond, "--subset");
    SubsetCondition c{attr, {}};
    for (const std::string& v : split(rest, ',')) {
      FER_CHECK(!v.empty(), "--subset '", cond, "': an empty value");
      c.values.push_back(v);
    }
    for (const auto& prev : f.conditions)
      FER_CHECK(prev.attribute != attr, "--subset '", spec, "': attribute '", attr, "' is given twice (list its values "
                "with commas: ", attr, "=a,b)");
    f.conditions.push_back(c);
  }
  FER_CHECK(!f.conditions.empty(), "--subset '", spec, "': no condition (expected attribute=value[,value][;...])");
  return f;
}

SubsetFractions parse_subset_fractions(const std::string& spec) {
  using namespace subsets_detail;
  FER_CHECK(spec.find(';') == std::string::npos, "--subset_fraction '", spec,
            "': one attribute only (attribute=value:fraction,value:fraction)");
  auto [attr, rest] = split_assignment(spec, "--subset_fraction");
  SubsetFractions s;
  s.attribute = attr;
  for (const std::string& item : split(rest, ',')) {
    size_t colon = item.rfind(':');
    FER_CHECK(colon != std::string::npos && colon > 0, "--subset_fraction '", spec, "': '", item,
              "' is not value:fraction");
    std::string value = trimmed(item.substr(0, colon)), num = trimmed(item.substr(colon + 1));
    double f = NAN;
    size_t used = 0;
    try {
      f = std::stod(num, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    FER_CHECK(used == num.size() && !num.empty() && f >= 0 && f <= 1, "--subset_fraction '", spec, "': fraction '", num,
              "' of ", value, " is not a number in [0, 1]");
    FER_CHECK(std::find(s.values.begin(), s.values.end(), value) == s.values.end(), "--subset_fraction '", spec,
              "': value '", value, "' is given twice");
    s.values.push_back(value);
    s.fractions.push_back(f);
  }
  return s;
}

void check_subset(const SubsetFilter& f, const AttributeTable& t) {
  for (const auto& c : f.conditions) {
    size_t col = t.column(c.attribute);
    for (const auto& v : c.values) subsets_detail::check_value(t, col, v, "--subset");
  }
}

std::vector<int64_t> filter_subset(const AttributeTable& t, const AttributeJoin& j, const SubsetFilter& f) {
  check_subset(f, t);
  std::vector<size_t> cols;
  for (const auto& c : f.conditions) cols.push_back(t.column(c.attribute));
  std::vector<int64_t> out;
  for (int64_t i = 0; i < int64_t(j.row_of.size()); ++i) {
    bool all = j.row_of[size_t(i)] >= 0;
    for (size_t k = 0; all && k < cols.size(); ++k) {
      const std::string& v = attribute_value(t, j, cols[k], i);
      const auto& want = f.conditions[k].values;
      all = std::find(want.begin(), want.end(), v) != want.end();
    }
    if (all) out.push_back(i);
  }
  return out;
}

SubsetSelection select_fractions(const std::vector<int32_t>& labels, size_t num_classes, const AttributeTable& t,
                                 const AttributeJoin& j, const SubsetFractions& spec, uint64_t seed,
                                 const std::vector<int64_t>* candidates) {
  FER_CHECK(labels.size() == j.row_of.size(), "select_fractions: ", labels.size(), " labels for ", j.row_of.size(), " images");
  const size_t col = t.column(spec.attribute);
  for (const auto& v : spec.values) subsets_detail::check_value(t, col, v, "--subset_fraction");
  std::vector<int64_t> all;
  if (!candidates)
    for (int64_t i = 0; i < int64_t(labels.size()); ++i) all.push_back(i);
  const std::vector<int64_t>& cand = candidates ? *candidates : all;
  SubsetSelection s;
  s.attribute = spec.attribute;
  // pools[v][c]: candidates with value v and class c, ascending.
  std::vector<std::vector<std::vector<int64_t>>> pools(spec.values.size(), std::vector<std::vector<int64_t>>(num_classes));
  for (int64_t i : cand) {
    const std::string& v = attribute_value(t, j, col, i);
    auto it = std::find(spec.values.begin(), spec.values.end(), v);
    if (v.empty() || it == spec.values.end()) {
      ++s.unlisted;
      continue;
    }
    int32_t c = labels[size_t(i)];
    FER_CHECK(c >= 0 && size_t(c) < num_classes, "select_fractions: image ", i, " has label ", c, " outside 0..",
              num_classes - 1);
    pools[size_t(it - spec.values.begin())][size_t(c)].push_back(i);
  }
  std::vector<std::pair<int64_t, size_t>> kept;  // (index, value)
  for (size_t v = 0; v < spec.values.size(); ++v) {
    SubsetSelection::Count cnt;
    cnt.value = spec.values[v], cnt.fraction = spec.fractions[v];
    std::vector<double> exact(num_classes);
    for (size_t c = 0; c < num_classes; ++c)
      exact[c] = spec.fractions[v] * double(pools[v][c].size()), cnt.available += int64_t(pools[v][c].size());
    cnt.kept_per_class = mixing_detail::apportion(exact);
    const std::string& name = spec.values[v];
    Generator gen(seed * 0x9E3779B97F4A7C15ull ^ fnv1a64(reinterpret_cast<const uint8_t*>(name.data()), name.size()));
    for (size_t c = 0; c < num_classes; ++c) {
      mixing_detail::shuffle(pools[v][c], gen);
      for (int64_t k = 0; k < cnt.kept_per_class[c]; ++k) kept.push_back({pools[v][c][size_t(k)], v});
      cnt.kept += cnt.kept_per_class[c];
    }
    s.counts.push_back(cnt);
  }
  std::sort(kept.begin(), kept.end());
  for (const auto& [i, v] : kept) s.indices.push_back(i), s.values.push_back(spec.values[v]);
  return s;
}

void write_subset_manifest(const std::filesystem::path& path, const ImageSet& source, const std::vector<int64_t>& indices,
                           const std::string& attribute, const std::vector<std::string>& values) {
  FER_CHECK(attribute.empty() || values.size() == indices.size(), path.string(), ": ", values.size(), " values for ",
            indices.size(), " images");
  std::string csv = "id,label,class" + (attribute.empty() ? std::string() : "," + attribute) + "\n";
  for (size_t k = 0; k < indices.size(); ++k) {
    int32_t c = source.label(indices[k]);
    csv += source.id(indices[k]) + "," + std::to_string(c) + "," +
           (c >= 0 && c < source.num_classes() ? source.class_names()[size_t(c)] : std::string()) +
           (attribute.empty() ? std::string() : "," + values[k]) + "\n";
  }
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  io::write_file_atomically(path, csv);
}

std::shared_ptr<ImageSet> apply_subset_options(std::shared_ptr<ImageSet> set, const SubsetOptions& o,
                                               const std::filesystem::path& manifest,
                                               nlohmann::json* info, bool quiet) {
  if (!o.active()) return set;
  FER_CHECK(!o.attributes.empty(), "--subset and --subset_fraction need --attributes FILE.csv");
  AttributeTable t = read_attributes_csv(o.attributes);
  AttributeJoin j = join_attributes(t, *set);
  if (!quiet) std::printf("attributes: %s\n", j.summary(t).c_str());
  std::vector<int64_t> pick;
  const std::vector<int64_t>* cand = nullptr;
  nlohmann::json js = {{"attributes", o.attributes}, {"images", set->size()}, {"images_without_row", j.images_without_row.size()},
                       {"rows_matching_no_image", j.unmatched_rows.size()}};
  if (!o.subset.empty()) {
    pick = filter_subset(t, j, parse_subset(o.subset));
    cand = &pick;
    js["subset"] = o.subset, js["subset_images"] = pick.size();
  }
  std::string attribute;
  std::vector<std::string> values;
  if (!o.subset_fraction.empty()) {
    SubsetSelection s = select_fractions(set->labels(), size_t(set->num_classes()), t, j, parse_subset_fractions(o.subset_fraction),
                                         o.seed, cand);
    pick = s.indices, attribute = s.attribute, values = s.values;
    js["subset_fraction"] = o.subset_fraction, js["selection"] = s.to_json();
    if (!quiet)
      for (const auto& c : s.counts)
        std::printf("subset: %s=%s: kept %lld of %lld (fraction %.2f)\n", s.attribute.c_str(), c.value.c_str(),
                    (long long)c.kept, (long long)c.available, c.fraction);
  }
  FER_CHECK(!pick.empty(), "subset: no image of ", set->size(), " is left after ",
            o.subset.empty() ? "--subset_fraction " + o.subset_fraction : "--subset " + o.subset);
  if (!quiet) std::printf("subset: %zu of %lld images\n", pick.size(), (long long)set->size());
  if (!manifest.empty()) {
    write_subset_manifest(manifest, *set, pick, attribute, values);
    io::write_file_atomically(manifest.parent_path() / "subset.json", fer::io::dump_json(js, 2) + "\n");
  }
  if (info) *info = js;
  return std::make_shared<SubsetImageSet>(std::move(set), std::move(pick));
}

}  // namespace fer::data
