#pragma once
// Training checkpoints: a directory with model.safetensors (the state dict, PyTorch names and layouts),
// optimizer.safetensors (the optimizer state), trainer.json (epoch, RNG state, best metric, early-stopping
// counter, history) and manifest.json (size and SHA-256 of each of those files, checked at every load, so a
// bit-flipped or truncated file is refused with its name instead of evaluating to garbage). The directory is
// written beside its final name and swapped in by renames, so a kill at any moment leaves the previous checkpoint
// (or the new one) complete.
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "fer/core/rng.hpp"
#include "fer/io/atomic_file.hpp"
#include "fer/io/safetensors.hpp"
#include "fer/io/sha256.hpp"
#include "fer/nn/state_dict.hpp"
#include "fer/optim/optimizer.hpp"
#include "fer/io/json_text.hpp"

namespace fer::train {

inline nlohmann::json generator_state_json(const Generator& g) {
  nlohmann::json j = nlohmann::json::array();
  for (uint64_t w : g.state()) j.push_back(std::to_string(w));  // as strings: JSON numbers are doubles to many readers
  return j;
}
inline void set_generator_state(Generator& g, const nlohmann::json& j, const std::string& where) {
  FER_CHECK(j.is_array() && j.size() == 4, where, ": malformed generator state");
  Generator::State s{};
  for (size_t i = 0; i < 4; ++i) {
    // Typed and checked: a wrong type or text is this file's error, not a JSON or std::stoull exception.
    const std::string text = j[i].is_string() ? j[i].get<std::string>() : "";
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), s[i]);
    FER_CHECK(!text.empty() && ec == std::errc() && end == text.data() + text.size(), where,
              ": malformed generator state (word ", i, " is not a decimal uint64 string)");
  }
  g.set_state(s);
}

inline constexpr const char* kCheckpointFiles[] = {"model.safetensors", "optimizer.safetensors", "trainer.json"};

// manifest.json: {"files": {name: {"bytes": n, "sha256": hex}}} for the checkpoint files present in `dir`.
inline void write_checkpoint_manifest(const std::filesystem::path& dir) {
  nlohmann::json files = nlohmann::json::object();
  for (const char* f : kCheckpointFiles)
    if (std::filesystem::exists(dir / f))
      files[f] = {{"bytes", std::filesystem::file_size(dir / f)}, {"sha256", io::sha256_file(dir / f)}};
  io::write_file_atomically(dir / "manifest.json", fer::io::dump_json(nlohmann::json{{"files", files}}, 2) + "\n");
}

// Checks every file listed in dir/manifest.json against its size and SHA-256; a mismatch, a listed file that is
// missing, or a malformed manifest is an error naming the file. A checkpoint written before manifests existed
// (no manifest.json) cannot be checked: `legacy_ok` says whether that is accepted (with a warning on stderr).
inline void verify_checkpoint(const std::filesystem::path& dir, bool legacy_ok = true) {
  const std::filesystem::path mp = dir / "manifest.json";
  if (!std::filesystem::exists(mp)) {
    FER_CHECK(legacy_ok, dir.string(), ": no manifest.json, so the checkpoint's integrity cannot be checked");
    std::fprintf(stderr, "warning: %s has no manifest.json (written by an older fer): its files are not verified\n",
                 dir.string().c_str());
    return;
  }
  nlohmann::json m;
  try {
    m = fer::io::parse_json(std::ifstream(mp, std::ios::binary));
  } catch (const std::exception& e) {
    fail(mp.string(), ": unreadable (", e.what(), "); the checkpoint is corrupt");
  }
  FER_CHECK(m.is_object() && m.contains("files") && m["files"].is_object() && m["files"].contains("model.safetensors"),
            mp.string(), ": malformed (expected {\"files\": {\"model.safetensors\": ...}}); the checkpoint is corrupt");
  for (const auto& [name, e] : m["files"].items()) {
    const std::filesystem::path f = dir / name;
    FER_CHECK(name.find('/') == std::string::npos && e.is_object() && e.contains("sha256") && e["sha256"].is_string() &&
                  e.contains("bytes") && e["bytes"].is_number_unsigned(),
              mp.string(), ": malformed entry for \"", name, "\"; the checkpoint is corrupt");
    FER_CHECK(std::filesystem::exists(f), f.string(), ": missing, but listed in ", mp.string(), " (checkpoint incomplete)");
    const auto bytes = std::filesystem::file_size(f);
    FER_CHECK(bytes == e["bytes"].get<uint64_t>(), f.string(), ": ", bytes, " bytes, but the checkpoint manifest says ",
              e["bytes"].get<uint64_t>(), " (truncated or altered file: the checkpoint is corrupt)");
    const std::string sha = io::sha256_file(f);
    FER_CHECK(sha == e["sha256"].get<std::string>(), f.string(), ": SHA-256 ", sha, " does not match the manifest's ",
              e["sha256"].get<std::string>(), " (the file was altered or damaged: the checkpoint is corrupt)");
  }
}

// Whether `dir` holds a checkpoint that passes verify_checkpoint; the reason when not.
inline bool checkpoint_is_intact(const std::filesystem::path& dir, std::string* why = nullptr) {
  try {
    verify_checkpoint(dir);
    return true;
  } catch (const std::exception& e) {
    if (why) *why = e.what();
    return false;
  }
}

inline void save_checkpoint(const std::filesystem::path& dir, const nn::Module& model, const optim::Optimizer* opt,
                            const nlohmann::json& trainer_state) {
  std::filesystem::path tmp = dir, old = dir;
  tmp += ".tmp";
  old += ".old";
  std::filesystem::remove_all(tmp);
  std::filesystem::create_directories(tmp);
  nn::save_safetensors(model, (tmp / "model.safetensors").string(), {{"format", "fer checkpoint"}});
  if (opt) {
    io::NamedTensors named;
    for (auto& [k, v] : opt->state_dict()) named.emplace_back(k, v);
    io::save_safetensors((tmp / "optimizer.safetensors").string(), named, {{"optimizer", opt->name()}});
  }
  io::write_file_atomically(tmp / "trainer.json", fer::io::dump_json(trainer_state, 2) + "\n");
  write_checkpoint_manifest(tmp);
  std::filesystem::remove_all(old);
  if (std::filesystem::exists(dir)) std::filesystem::rename(dir, old);
  std::filesystem::rename(tmp, dir);
  std::filesystem::remove_all(old);
}

// The checkpoint directory to read: `dir`, or the previous one left by a kill during the swap.
inline std::filesystem::path find_checkpoint(const std::filesystem::path& dir) {
  if (std::filesystem::exists(dir / "trainer.json")) return dir;
  std::filesystem::path old = dir;
  old += ".old";
  if (std::filesystem::exists(old / "trainer.json")) return old;
  fail(dir.string(), ": no checkpoint here (expected trainer.json, model.safetensors)");
}

// The verified model.safetensors of a checkpoint directory (or the file itself when given one).
inline std::filesystem::path verified_weights(const std::filesystem::path& path) {
  if (!std::filesystem::is_directory(path)) return path;
  std::filesystem::path dir = find_checkpoint(path);
  verify_checkpoint(dir);
  return dir / "model.safetensors";
}

// Verifies the files, loads weights (strict) and, when `opt` is given, the optimizer state, which must be there:
// resuming without it would silently restart the moments and not continue the run exactly. Returns trainer.json.
inline nlohmann::json load_checkpoint(const std::filesystem::path& dir_in, nn::Module& model, optim::Optimizer* opt) {
  std::filesystem::path dir = find_checkpoint(dir_in);
  verify_checkpoint(dir);
  FER_CHECK(!opt || std::filesystem::exists(dir / "optimizer.safetensors"), (dir / "optimizer.safetensors").string(),
            ": missing: this checkpoint has no optimizer state, so training cannot resume exactly from it (resume from "
            "the run's checkpoints/last, or evaluate this one with evaluate)");
  nn::load_safetensors(model, (dir / "model.safetensors").string());
  if (opt) {
    std::map<std::string, Tensor> st;
    for (auto& [k, v] : io::load_safetensors((dir / "optimizer.safetensors").string())) st[k] = v;
    opt->load_state_dict(st);
  }
  std::ifstream in(dir / "trainer.json");
  try {
    return fer::io::parse_json(in);
  } catch (const std::exception& e) {
    fail((dir / "trainer.json").string(), ": unreadable (", e.what(), ")");
  }
}

}  // namespace fer::train
