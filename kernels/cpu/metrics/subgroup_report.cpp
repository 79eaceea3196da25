// The functions declared in metrics/subgroup_report.hpp: compiled once here rather than in every program that includes the header.
#include "fer/metrics/subgroup_report.hpp"
#include "fer/io/json_text.hpp"

#include <nlohmann/json.hpp>

namespace fer::metrics {

double sorted_quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return NAN;
  double pos = q * double(sorted.size() - 1);
  size_t lo = size_t(std::floor(pos)), hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - double(lo)) * (sorted[hi] - sorted[lo]);
}

std::vector<double> subgroup_metrics_of(std::span<const double> probs, std::span<const int32_t> labels, int64_t c,
                                        std::span<const int64_t> sample) {
  std::vector<double> p;
  std::vector<int32_t> y;
  p.reserve(sample.size() * size_t(c)), y.reserve(sample.size());
  for (int64_t i : sample) {
    p.insert(p.end(), probs.begin() + i * c, probs.begin() + (i + 1) * c);
    y.push_back(labels[size_t(i)]);
  }
  ClassificationReport r = classification_report(p, y, c, {}, 1);
  return {r.accuracy, r.macro_f1, r.balanced_accuracy, r.auroc_macro};
}

SubgroupReport subgroup_report(std::span<const double> probs, std::span<const int32_t> labels, int64_t num_classes,
                               const std::vector<std::string>& group_of, const std::string& attribute,
                               const BootstrapOptions& o) {
  const int64_t n = int64_t(labels.size());
  FER_CHECK(int64_t(group_of.size()) == n, "subgroup_report: ", group_of.size(), " group values for ", n, " images");
  FER_CHECK(int64_t(probs.size()) == n * num_classes, "subgroup_report: ", probs.size(), " probabilities for ", n,
            " images x ", num_classes, " classes");
  SubgroupReport rep;
  rep.attribute = attribute, rep.num_classes = num_classes, rep.bootstrap = o;
  std::vector<std::string> names = {"all"};
  std::vector<std::vector<int64_t>> members(1);
  for (int64_t i = 0; i < n; ++i) {
    members[0].push_back(i);
    const std::string& v = group_of[size_t(i)];
    if (v.empty()) {
      ++rep.without_value;
      continue;
    }
    size_t g = size_t(std::find(names.begin() + 1, names.end(), v) - names.begin());
    if (g == names.size()) names.push_back(v), members.emplace_back();
    members[g].push_back(i);
  }
  for (size_t g = 0; g < names.size(); ++g) {
    const auto& m = members[g];
    BootstrapOptions og = o;
    og.seed = o.seed * 0x9E3779B97F4A7C15ull + g;  // each group its own stream, independent of the others' sizes
    auto iv = percentile_bootstrap(int64_t(m.size()), og, [&](std::span<const int64_t> sample) {
      std::vector<int64_t> global(sample.size());
      for (size_t k = 0; k < sample.size(); ++k) global[k] = m[size_t(sample[k])];
      return subgroup_metrics_of(probs, labels, num_classes, global);
    });
    SubgroupMetrics s;
    s.value = names[g], s.n = int64_t(m.size());
    s.accuracy = iv[0], s.macro_f1 = iv[1], s.balanced_accuracy = iv[2], s.auroc_macro = iv[3];
    s.support.assign(size_t(num_classes), 0);
    for (int64_t i : m) ++s.support[size_t(labels[size_t(i)])];
    rep.groups.push_back(s);
  }
  return rep;
}

Predictions predictions_of(const data::ImageSet& set, std::span<const int32_t> labels, std::span<const double> probs) {
  FER_CHECK(int64_t(labels.size()) == set.size() && int64_t(probs.size()) == set.size() * set.num_classes(),
            "predictions_of: ", labels.size(), " labels and ", probs.size(), " probabilities for ", set.size(), " images");
  Predictions p{{}, set.class_names(), {labels.begin(), labels.end()}, {probs.begin(), probs.end()}};
  for (int64_t i = 0; i < set.size(); ++i) p.ids.push_back(set.id(i));
  return p;
}

Predictions read_predictions_csv(const std::filesystem::path& path) {
  std::ifstream in(path);
  FER_CHECK(in.good(), path.string(), ": cannot open (no predictions; was the run tested?)");
  Predictions p;
  std::string line;
  std::getline(in, line);
  std::vector<std::string> head;
  std::stringstream hs(line);
  for (std::string f; std::getline(hs, f, ',');) head.push_back(f);
  FER_CHECK(head.size() >= 4 && head[0] == "id" && head[1] == "true" && head[2] == "predicted", path.string(),
            ":1: expected the header id,true,predicted,p_<class>,...");
  for (size_t k = 3; k < head.size(); ++k) p.class_names.push_back(head[k].rfind("p_", 0) == 0 ? head[k].substr(2) : head[k]);
  const size_t c = p.class_names.size();
  for (int64_t line_no = 2; std::getline(in, line); ++line_no) {
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    FER_CHECK(f.size() == c + 3, path.string(), ":", line_no, ": ", f.size(), " fields, the header has ", c + 3);
    try {
      size_t used = 0;
      int64_t y = std::stoll(f[1], &used);
      FER_CHECK(used == f[1].size() && y >= 0 && y < int64_t(c), "label");
      p.labels.push_back(int32_t(y));
      for (size_t k = 0; k < c; ++k) {
        double v = std::stod(f[3 + k], &used);
        FER_CHECK(used == f[3 + k].size() && std::isfinite(v), "probability");
        p.probs.push_back(v);
      }
    } catch (const std::exception&) {
      fail(path.string(), ":", line_no, ": malformed row (label 0..", c - 1, " and ", c, " probabilities expected)");
    }
    p.ids.push_back(f[0]);
  }
  FER_CHECK(!p.ids.empty(), path.string(), ": no predictions");
  return p;
}

nlohmann::json write_subgroup_reports(const std::filesystem::path& dir, const Predictions& p,
                                      const std::string& attributes_csv, const std::string& columns,
                                      const BootstrapOptions& o, bool quiet) {
  data::AttributeTable t = data::read_attributes_csv(attributes_csv);
  data::AttributeJoin j = data::join_attributes(t, p.ids);
  if (!quiet) std::printf("attributes: %s\n", j.summary(t).c_str());
  std::vector<std::string> cols;
  std::stringstream cs(columns);
  for (std::string c; std::getline(cs, c, ',');)
    if (!c.empty()) cols.push_back(c);
  if (cols.empty()) cols = t.columns;
  nlohmann::json out = {{"attributes", attributes_csv}, {"images", p.ids.size()},
                        {"images_without_row", j.images_without_row.size()}, {"rows_matching_no_image", j.unmatched_rows.size()},
                        {"reports", nlohmann::json::array()}};
  std::string md = "# Metrics per subgroup\n\n" + j.summary(t) + ".\n";
  for (const std::string& name : cols) {
    const size_t col = t.column(name);
    std::vector<std::string> group_of(p.ids.size());
    for (size_t i = 0; i < p.ids.size(); ++i) group_of[i] = data::attribute_value(t, j, col, int64_t(i));
    SubgroupReport r = subgroup_report(p.probs, p.labels, p.num_classes(), group_of, name, o);
    out["reports"].push_back(r.to_json());
    md += "\n## " + name + "\n\n" + r.markdown();
    if (r.without_value) md += std::to_string(r.without_value) + " images have no " + name + " value (in \"all\" only).\n";
  }
  std::filesystem::create_directories(dir);
  io::write_file_atomically(dir / "subgroups.json", fer::io::dump_json(out, 2) + "\n");
  io::write_file_atomically(dir / "subgroups.md", md);
  if (!quiet) std::printf("%s", md.c_str());
  return out;
}

nlohmann::json SubgroupReport::to_json() const {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  auto iv = [&](const Interval& i) {
    return nlohmann::json{{"value", num(i.value)}, {"ci_low", num(i.low)}, {"ci_high", num(i.high)}, {"finite_resamples", i.finite}};
  };
  nlohmann::json j = {{"attribute", attribute}, {"resamples", bootstrap.resamples}, {"seed", bootstrap.seed},
                      {"level", bootstrap.level}, {"images_without_value", without_value}, {"groups", nlohmann::json::array()}};
  for (const auto& g : groups)
    j["groups"].push_back({{"value", g.value}, {"n", g.n}, {"support", g.support}, {"accuracy", iv(g.accuracy)},
                           {"macro_f1", iv(g.macro_f1)}, {"balanced_accuracy", iv(g.balanced_accuracy)},
                           {"auroc_macro", iv(g.auroc_macro)}});
  return j;
}

std::string SubgroupReport::markdown() const {
  char buf[160];
  std::snprintf(buf, sizeof(buf), "| %s | n | accuracy | macro F1 | balanced accuracy | AUROC (macro) |\n|---|---|---|---|---|---|\n",
                attribute.c_str());
  std::string s = buf;
  auto cell = [&](const Interval& i) {
    std::snprintf(buf, sizeof(buf), " %.4f [%.4f, %.4f] |", i.value, i.low, i.high);
    return std::string(buf);
  };
  for (const auto& g : groups)
    s += "| " + g.value + " | " + std::to_string(g.n) + " |" + cell(g.accuracy) + cell(g.macro_f1) +
         cell(g.balanced_accuracy) + cell(g.auroc_macro) + "\n";
  std::snprintf(buf, sizeof(buf), "\n%lld-resample percentile bootstrap, %.0f%% intervals, seed %llu.\n",
                (long long)bootstrap.resamples, bootstrap.level * 100, (unsigned long long)bootstrap.seed);
  return s + buf;
}

}  // namespace fer::metrics
