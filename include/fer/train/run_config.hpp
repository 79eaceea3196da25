#pragma once
// A run directory's description of itself: DIR/config.json (and config.yaml), written by `train` before the first
// epoch. Everything that a later step needs to rebuild the model and its input pipeline exactly is here, so
// `evaluate --run DIR`, `predict --run DIR`, `analyze --run DIR` and `--resume` need no other flag.
//
// The inference part (model, classes, input size, channels, normalization, head) is read by every program; the
// `train`, `data` and `build` objects describe how the run was made. Keys in `train` and `data` are named as
// train's flags (lr, batch_size, data_root, ...), so `train --resume DIR` takes every flag it is not given from here.
//
// The settings fingerprint (`settings_fingerprint()`) hashes everything that shapes the result: all of it but
// `build` (a rebuilt fer may continue a run), the paths of data and pretrained files (their hashes count, so data
// that moved still matches) and `train.epochs` (a finished run may be extended), except that epochs count when the
// learning-rate schedule depends on the total (cosine, onecycle).
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/data/image_set.hpp"
#include "fer/io/atomic_file.hpp"
#include "fer/io/sha256.hpp"
#include "fer/report/yaml.hpp"
#include "fer/io/json_text.hpp"

namespace fer::train {

struct RunConfig {
  // --- what rebuilds the model and its input
  std::string model;                     // registry name
  int64_t num_classes = 0;
  std::vector<std::string> class_names;  // index = label
  int64_t input_size = 48;               // square input side
  int64_t channels = 3;
  bool imagenet_norm = false;
  std::array<float, 3> mean{0.5f, 0.5f, 0.5f}, std{0.5f, 0.5f, 0.5f};
  int64_t hidden_head = 0;               // > 0: classifier -> hidden -> ReLU -> Dropout -> Linear
  double head_dropout = 0.0;
  double drop_path = 0.0;                // stochastic depth rate (models that have it)
  // --- how the run was made (free-form objects, filled by train)
  nlohmann::json train = nlohmann::json::object();  // optimizer, schedule, batch size, epochs, loss, sampler, ...
  nlohmann::json data = nlohmann::json::object();   // sources with fingerprints, synthetic source, ratio, label space
  nlohmann::json build = nlohmann::json::object();  // fer version (git describe), ISA, CUDA

  data::Preprocess preprocess() const {
    data::Preprocess p = imagenet_norm ? data::Preprocess::imagenet(input_size) : data::Preprocess{};
    p.size = input_size;
    p.channels = channels;
    p.mean = mean;
    p.std = std;
    return p;
  }

  nlohmann::json to_json() const {
    return {{"model", model},         {"num_classes", num_classes},   {"class_names", class_names},
            {"input_size", input_size}, {"channels", channels},       {"imagenet_norm", imagenet_norm},
            {"mean", mean},           {"std", std},                   {"hidden_head", hidden_head},
            {"head_dropout", head_dropout}, {"drop_path", drop_path}, {"train", train},
            {"data", data},           {"build", build}};
  }

  // What shapes the result (see the header comment): the fingerprinted part of to_json().
  nlohmann::json settings() const {
    nlohmann::json j = to_json();
    j.erase("build");
    // Paths are where things were, not what they were: contents are fingerprinted by their hashes and split lists.
    j["train"].erase("pretrained");
    for (const char* k : {"data_root", "description", "ferplus", "synthetic"}) j["data"].erase(k);
    if (j["data"].contains("source_files") && j["data"]["source_files"].is_array())
      for (auto& f : j["data"]["source_files"])
        if (f.is_object()) f.erase("path");
    const std::string sched = train.value("schedule", std::string("none"));
    if (sched != "cosine" && sched != "onecycle") j["train"].erase("epochs");
    return j;
  }
  std::string settings_fingerprint() const { return io::sha256_hex(fer::io::dump_json(settings())).substr(0, 16); }

  // "key: mine vs theirs" for every setting that differs (JSON pointers without the leading '/').
  std::vector<std::string> differences(const RunConfig& other, const std::string& mine_name = "this run",
                                       const std::string& theirs_name = "the directory's") const {
    nlohmann::json a = settings().flatten(), b = other.settings().flatten();
    std::map<std::string, std::pair<std::string, std::string>> diff;
    for (auto& [k, v] : a.items())
      if (!b.contains(k) || b[k] != v) diff[k] = {fer::io::dump_json(v), b.contains(k) ? fer::io::dump_json(b[k]) : "(absent)"};
    for (auto& [k, v] : b.items())
      if (!a.contains(k)) diff[k] = {"(absent)", fer::io::dump_json(v)};
    std::vector<std::string> out;
    for (auto& [k, v] : diff) out.push_back(k.substr(1) + ": " + v.first + " (" + mine_name + ") vs " + v.second + " (" + theirs_name + ")");
    return out;
  }

  // Strict: a missing or mistyped inference key is an error naming `origin` (the file) and the key.
  static RunConfig from_json(const nlohmann::json& j, const std::string& origin) {
    FER_CHECK(j.is_object(), origin, ": not a JSON object");
    RunConfig c;
    auto get = [&](const char* key, auto& dst, bool required) {
      auto it = j.find(key);
      if (it == j.end()) {
        FER_CHECK(!required, origin, ": missing key \"", key, "\"");
        return;
      }
      try {
        it->get_to(dst);
      } catch (const nlohmann::json::exception&) {
        fail(origin, ": key \"", key, "\" has the wrong type (", it->type_name(), ")");
      }
    };
    get("model", c.model, true);
    get("num_classes", c.num_classes, true);
    get("class_names", c.class_names, true);
    get("input_size", c.input_size, true);
    get("channels", c.channels, false);
    get("imagenet_norm", c.imagenet_norm, false);
    get("mean", c.mean, false);
    get("std", c.std, false);
    get("hidden_head", c.hidden_head, false);
    get("head_dropout", c.head_dropout, false);
    get("drop_path", c.drop_path, false);
    for (const char* k : {"train", "data", "build"})
      if (auto it = j.find(k); it != j.end() && it->is_object()) (k[0] == 't' ? c.train : k[0] == 'd' ? c.data : c.build) = *it;
    FER_CHECK(c.num_classes > 0 && size_t(c.num_classes) == c.class_names.size(), origin, ": num_classes ", c.num_classes,
              " but ", c.class_names.size(), " class names");
    FER_CHECK(c.input_size > 0 && c.input_size <= 4096, origin, ": input_size ", c.input_size, " out of range");
    FER_CHECK(c.channels == 1 || c.channels == 3, origin, ": channels must be 1 or 3, not ", c.channels);
    return c;
  }
};

inline std::filesystem::path run_config_path(const std::filesystem::path& run_dir) { return run_dir / "config.json"; }

inline RunConfig load_run_config(const std::filesystem::path& run_dir) {
  std::filesystem::path p = run_config_path(run_dir);
  FER_CHECK(std::filesystem::exists(p), p.string(), ": no config.json (is ", run_dir.string(), " a run directory written by train?)");
  std::ifstream in(p, std::ios::binary);
  FER_CHECK(in, p.string(), ": cannot open");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j;
  try {
    j = fer::io::parse_json(text.str());
  } catch (const nlohmann::json::exception& e) {
    fail(p.string(), ": not valid JSON: ", e.what());
  }
  return RunConfig::from_json(j, p.string());
}

// config.json, and config.yaml with the same content for people (the JSON is the one programs read).
inline void save_run_config(const std::filesystem::path& run_dir, const RunConfig& c) {
  nlohmann::json j = c.to_json();
  io::write_file_atomically(run_config_path(run_dir), fer::io::dump_json(j, 2) + "\n");
  report::write_yaml_file(run_dir / "config.yaml", j);
}

}  // namespace fer::train
