#pragma once
// Training checkpoints: a directory with model.safetensors (the state dict, PyTorch names and layouts),
// optimizer.safetensors (the optimizer state) and trainer.json (epoch, RNG state, best metric, early-stopping
// counter, history). The directory is written beside its final name and swapped in by renames, so a kill at any
// moment leaves the previous checkpoint (or the new one) complete.
#include <charconv>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "fer/core/rng.hpp"
#include "fer/io/atomic_file.hpp"
#include "fer/io/safetensors.hpp"
#include "fer/nn/state_dict.hpp"
#include "fer/optim/optimizer.hpp"

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
  io::write_file_atomically(tmp / "trainer.json", trainer_state.dump(2) + "\n");
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

// Loads weights (strict), optimizer state when both exist, and returns trainer.json.
inline nlohmann::json load_checkpoint(const std::filesystem::path& dir_in, nn::Module& model, optim::Optimizer* opt) {
  std::filesystem::path dir = find_checkpoint(dir_in);
  nn::load_safetensors(model, (dir / "model.safetensors").string());
  if (opt && std::filesystem::exists(dir / "optimizer.safetensors")) {
    std::map<std::string, Tensor> st;
    for (auto& [k, v] : io::load_safetensors((dir / "optimizer.safetensors").string())) st[k] = v;
    opt->load_state_dict(st);
  }
  std::ifstream in(dir / "trainer.json");
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    fail((dir / "trainer.json").string(), ": unreadable (", e.what(), ")");
  }
}

}  // namespace fer::train
