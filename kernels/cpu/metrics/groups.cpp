// The functions declared in metrics/groups.hpp: compiled once here rather than in every program that includes the header.
#include "fer/metrics/groups.hpp"

namespace fer::metrics::groups_detail {

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

std::string lower(std::string s) {
  for (char& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == sep) out.push_back(trim(s.substr(start, i - start))), start = i + 1;
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace fer::metrics::groups_detail

namespace fer::metrics {

EmotionGroups parse_emotion_groups(const std::string& spec, const std::vector<std::string>& class_names) {
  using namespace groups_detail;
  FER_CHECK(!class_names.empty(), "groups: no class names to group");
  EmotionGroups g;
  g.group_of.assign(class_names.size(), -1);
  std::vector<std::string> unknown, repeated;
  for (const std::string& part : split(spec, ';')) {
    if (part.empty()) continue;  // a trailing ';'
    size_t eq = part.find('=');
    FER_CHECK(eq != std::string::npos, "groups: '", part, "' in \"", spec, "\" is not of the form name=class,class");
    std::string name = trim(part.substr(0, eq));
    FER_CHECK(!name.empty(), "groups: a group without a name in \"", spec, "\"");
    FER_CHECK(std::find(g.names.begin(), g.names.end(), name) == g.names.end(), "groups: group '", name,
              "' appears twice in \"", spec, "\"");
    const int32_t gi = int32_t(g.names.size());
    g.names.push_back(name);
    g.members.emplace_back();
    for (const std::string& cls : split(part.substr(eq + 1), ',')) {
      if (cls.empty()) continue;
      auto it = std::find_if(class_names.begin(), class_names.end(), [&](const std::string& c) { return lower(c) == lower(cls); });
      if (it == class_names.end()) {
        unknown.push_back(cls);
        continue;
      }
      size_t k = size_t(it - class_names.begin());
      if (g.group_of[k] >= 0) {
        repeated.push_back(class_names[k] + " (in " + g.names[size_t(g.group_of[k])] + " and " + name + ")");
        continue;
      }
      g.group_of[k] = gi;
      g.members.back().push_back(int32_t(k));
    }
    FER_CHECK(!g.members.back().empty() || !unknown.empty(), "groups: group '", name, "' has no classes");
  }
  FER_CHECK(unknown.empty(), "groups: unknown class names: ", join(unknown), " (the classes are: ", join(class_names), ")");
  FER_CHECK(repeated.empty(), "groups: classes in more than one group: ", join(repeated));
  std::vector<std::string> missing;
  for (size_t k = 0; k < class_names.size(); ++k)
    if (g.group_of[k] < 0) missing.push_back(class_names[k]);
  FER_CHECK(missing.empty(), "groups: classes in no group: ", join(missing), " (every class must be in exactly one group)");
  FER_CHECK(g.size() >= 2, "groups: \"", spec, "\" defines ", g.size(), " group; at least 2 are needed");
  for (auto& m : g.members) std::sort(m.begin(), m.end());
  return g;
}

std::vector<double> group_probabilities(std::span<const double> probs, int64_t num_classes, const EmotionGroups& g) {
  FER_CHECK(int64_t(g.group_of.size()) == num_classes, "groups: defined over ", g.group_of.size(), " classes, the data has ",
            num_classes);
  FER_CHECK(num_classes >= 1 && probs.size() % size_t(num_classes) == 0, "groups: ", probs.size(),
            " probabilities are not rows of ", num_classes);
  const size_t n = probs.size() / size_t(num_classes), ng = g.names.size();
  std::vector<double> out(n * ng, 0.0);
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k < size_t(num_classes); ++k) out[i * ng + size_t(g.group_of[k])] += probs[i * size_t(num_classes) + k];
  return out;
}

std::vector<int32_t> group_labels(std::span<const int32_t> labels, const EmotionGroups& g) {
  std::vector<int32_t> out;
  out.reserve(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    FER_CHECK(labels[i] >= 0 && size_t(labels[i]) < g.group_of.size(), "groups: label ", labels[i], " of sample ", i,
              " is not in 0..", g.group_of.size() - 1);
    out.push_back(g.group_of[size_t(labels[i])]);
  }
  return out;
}

ClassificationReport grouped_report(std::span<const double> probs, std::span<const int32_t> labels,
                                    int64_t num_classes, const EmotionGroups& g) {
  std::vector<double> gp = group_probabilities(probs, num_classes, g);
  std::vector<int32_t> gl = group_labels(labels, g);
  return classification_report(gp, gl, g.size(), {1});
}

}  // namespace fer::metrics
