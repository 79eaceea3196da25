// The functions declared in sweep/merge.hpp: compiled once here rather than in every program that includes the header.
#include "fer/sweep/merge.hpp"
#include "fer/io/json_text.hpp"

namespace fer::sweep {

MergedSweeps merge_sweeps(const std::vector<std::filesystem::path>& dirs) {
  FER_CHECK(!dirs.empty(), "--merge: no sweep directories given");
  MergedSweeps m;
  std::map<std::string, std::filesystem::path> seen;  // run id -> the directory that has it
  for (size_t k = 0; k < dirs.size(); ++k) {
    const auto& d = dirs[k];
    FER_CHECK(std::filesystem::is_directory(d / "runs"), d.string(), ": not a sweep directory (no runs/)");
    StudyInfo si = read_study_file(d / "sweep.json");
    FER_CHECK(!si.settings.contains("subset_fractions") || si.settings["subset_fractions"].empty(), "--merge: ", d.string(),
              " is a sweep over --subset_fractions; its per-subset reports are in ", (d / "subsets").string(),
              " (merging such sweeps is not supported)");
    if (k == 0) {
      m.info = si;
    } else {
      FER_CHECK(si.settings_fingerprint == m.info.settings_fingerprint, "--merge: ", d.string(),
                " was made with other settings than ", dirs[0].string(), " (fingerprint ", si.settings_fingerprint, " vs ",
                m.info.settings_fingerprint, "; they differ in ", settings_difference(si.settings, m.info.settings),
                "); its runs are not more seeds of the same study");
      for (const auto& n : si.notes)
        if (std::find(m.info.notes.begin(), m.info.notes.end(), n) == m.info.notes.end()) m.info.notes.push_back(n);
    }
    auto state_path = d / "sweep_state.json";
    std::ifstream in(state_path);
    FER_CHECK(in.good(), state_path.string(), ": cannot open (no sweep state in ", d.string(), ")");
    nlohmann::json state;
    try {
      state = fer::io::parse_json(in);
    } catch (const std::exception& e) {
      fail(state_path.string(), ": unreadable sweep state (", e.what(), ")");
    }
    FER_CHECK(state.is_object() && state.contains("runs") && state["runs"].is_object(), state_path.string(),
              ": not a sweep state file");
    for (const auto& [id, rec] : state["runs"].items()) {
      std::string status = rec.is_object() ? rec.value("status", "") : "";
      if (status == "failed") m.info.failed.push_back({id, rec.value("error", "")});
      if (status != "done") continue;
      auto [it, fresh] = seen.emplace(id, d);
      FER_CHECK(fresh, "--merge: run ", id, " is in both ", it->second.string(), " and ", d.string(),
                "; merged, it would count as an extra seed (remove one copy)");
      auto run_dir = d / "runs" / id;
      auto mpath = run_dir / "metrics.json";
      FER_CHECK(std::filesystem::exists(mpath), mpath.string(), ": missing, although ", state_path.string(),
                " says the run is done");
      nlohmann::json mj;
      try {
        mj = fer::io::parse_json(std::ifstream(mpath));
        RunSpec spec{mj.at("model").get<std::string>(), mj.at("real_ratio").get<double>(), mj.at("seed").get<uint64_t>(), 0,
                     ""};  // no subset fraction: such sweeps are refused above
        FER_CHECK(spec.id() == id, mpath.string(), ": holds run ", spec.id(), ", not ", id);
        RunResult r;
        load_run_result(run_dir, spec, r);
        m.num_classes = std::max<int64_t>(m.num_classes, int64_t(mj.at("test").at("per_class").size()));
        m.results.push_back(r);
      } catch (const nlohmann::json::exception& e) {
        fail(mpath.string(), ": not a run's metrics (", e.what(), ")");
      }
    }
  }
  m.info.failed.erase(std::remove_if(m.info.failed.begin(), m.info.failed.end(),
                                     [&](const StudyInfo::FailedRun& f) { return seen.count(f.id) > 0; }),
                      m.info.failed.end());  // failed in one directory, done in another
  FER_CHECK(!m.results.empty(), "--merge: no finished runs in the given directories");
  std::sort(m.results.begin(), m.results.end(), [](const auto& a, const auto& b) { return a.spec.id() < b.spec.id(); });
  for (const RunResult& r : m.results) {
    if (std::find(m.models.begin(), m.models.end(), r.spec.model) == m.models.end()) m.models.push_back(r.spec.model);
    if (std::find(m.ratios.begin(), m.ratios.end(), r.spec.real_ratio) == m.ratios.end()) m.ratios.push_back(r.spec.real_ratio);
  }
  std::sort(m.ratios.begin(), m.ratios.end());
  return m;
}

}  // namespace fer::sweep
