#include "fer/train/run_flags.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "fer/core/error.hpp"
#include "fer/io/json_text.hpp"

namespace fer::train {

nlohmann::json run_config_value(const nlohmann::json& cfg, const std::string& key) {
  if (cfg.contains(key)) return cfg[key];
  for (const char* obj : {"train", "data"})
    if (cfg.contains(obj) && cfg[obj].is_object() && cfg[obj].contains(key)) return cfg[obj][key];
  return nullptr;
}

namespace {

std::string show(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : fer::io::dump_json(v); }

// Whether what was given on the command line (`given`, CLI11's strings; a flag: present) equals the config's value.
bool same_value(const std::vector<std::string>& given, const nlohmann::json& v) {
  if (v.is_boolean()) return v.get<bool>();  // a flag that was given is true
  if (v.is_array()) {
    std::vector<std::string> want;
    for (const auto& e : v) want.push_back(show(e));
    return want == given;
  }
  if (given.size() != 1) return false;
  if (v.is_number()) {
    try {
      size_t used = 0;
      double x = std::stod(given[0], &used);
      return used == given[0].size() && x == v.get<double>();
    } catch (const std::exception&) {
      return false;
    }
  }
  return given[0] == show(v);
}

}  // namespace

std::vector<std::string> config_arguments(const CLI::App& app, const nlohmann::json& cfg, const std::string& origin,
                                          const std::set<std::string>& free) {
  std::vector<std::string> extra;
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_lnames().empty()) continue;
    const std::string name = opt->get_lnames()[0];
    if (free.count(name)) continue;
    nlohmann::json v = run_config_value(cfg, name);
    if (v.is_null() || v.is_object()) continue;
    if (opt->count() > 0) {
      std::vector<std::string> given = opt->results();
      if (!same_value(given, v)) {
        std::string g;
        for (const auto& x : given) g += (g.empty() ? "" : " ") + x;
        fail("--", name, " ", g, " contradicts ", origin, ", where ", name, " is ", show(v),
             ": leave the flag out to use the run's value, or train a new run into another --out");
      }
      continue;
    }
    if (v.is_boolean()) {
      if (v.get<bool>()) extra.push_back("--" + name);
    } else if (v.is_array()) {
      if (v.empty()) continue;
      extra.push_back("--" + name);
      for (const auto& e : v) extra.push_back(show(e));
    } else if (!(v.is_string() && v.get<std::string>().empty())) {
      extra.push_back("--" + name);
      extra.push_back(show(v));
    }
  }
  return extra;
}

void reparse_with(CLI::App& app, int argc, char** argv, const std::vector<std::string>& extra) {
  std::vector<std::string> args(argv, argv + argc);
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<const char*> ptrs;
  for (const auto& a : args) ptrs.push_back(a.c_str());
  app.clear();
  app.parse(int(ptrs.size()), ptrs.data());
}

}  // namespace fer::train
