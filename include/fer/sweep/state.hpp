#pragma once
// The sweep's state file (sweep_state.json): which runs are done, with their wall time and throughput. It is
// rewritten atomically after every change, so a killed sweep resumes from the last finished run and never
// redoes one. A run that was in progress when the sweep died is simply pending again.
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "fer/core/error.hpp"
#include "fer/io/atomic_file.hpp"
#include "fer/io/json_text.hpp"

namespace fer::sweep {

struct RunRecord {
  std::string status = "pending";  // pending | done | failed
  double wall_seconds = 0;
  double images_per_second = 0;
  std::string error;               // for failed runs
};

class SweepState {
 public:
  SweepState() = default;
  // Loads `path` if it exists (a fresh state otherwise). `fingerprint` identifies the sweep's settings: resuming a
  // directory made with different settings is refused instead of silently mixing results.
  static SweepState open(const std::filesystem::path& path, const std::string& fingerprint) {
    SweepState s;
    s.path_ = path;
    s.fingerprint_ = fingerprint;
    if (!std::filesystem::exists(path)) return s;
    std::ifstream in(path);
    nlohmann::json j;
    try {
      j = fer::io::parse_json(in);
    } catch (const std::exception& e) {
      fail(path.string(), ": unreadable sweep state (", e.what(), "); move it away to start over");
    }
    FER_CHECK(j.is_object() && j.contains("runs") && j["runs"].is_object(), path.string(), ": not a sweep state file");
    std::string theirs = j.value("fingerprint", "");
    FER_CHECK(theirs == fingerprint, path.string(), ": this directory holds a sweep with different settings (",
              theirs, " vs ", fingerprint, "); use another --out or the same settings");
    for (auto& [id, r] : j["runs"].items()) {
      RunRecord rec;
      rec.status = r.value("status", "pending");
      rec.wall_seconds = r.value("wall_seconds", 0.0);
      rec.images_per_second = r.value("images_per_second", 0.0);
      rec.error = r.value("error", "");
      if (rec.status == "done" || rec.status == "failed") s.runs_[id] = rec;
    }
    return s;
  }

  bool is_done(const std::string& id) const {
    auto it = runs_.find(id);
    return it != runs_.end() && it->second.status == "done";
  }
  const std::map<std::string, RunRecord>& runs() const { return runs_; }
  void mark(const std::string& id, const RunRecord& rec) {
    runs_[id] = rec;
    save();
  }
  void save() const {
    nlohmann::json j;
    j["fingerprint"] = fingerprint_;
    j["runs"] = nlohmann::json::object();
    for (const auto& [id, r] : runs_) {
      nlohmann::json o = {{"status", r.status}, {"wall_seconds", r.wall_seconds}, {"images_per_second", r.images_per_second}};
      if (!r.error.empty()) o["error"] = r.error;
      j["runs"][id] = o;
    }
    io::write_file_atomically(path_, fer::io::dump_json(j, 2) + "\n");
  }

 private:
  std::filesystem::path path_;
  std::string fingerprint_;
  std::map<std::string, RunRecord> runs_;
};

}  // namespace fer::sweep
