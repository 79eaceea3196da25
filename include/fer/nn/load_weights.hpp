#pragma once
// Weights from a file into a model, whatever the file: safetensors, or a PyTorch checkpoint (.pt/.pth, zip or legacy
// format; a bare state dict or one under "state_dict"/"model"; "module." prefixes removed). The format is recognized
// from the file's first bytes, not its name.
//
// Two ways to load, and neither can go silently wrong:
//  - strict (verify, evaluate): every name and shape must match; any difference throws, listing the missing,
//    unexpected and mismatched names, and nothing is loaded;
//  - pretrained (train --pretrained): every tensor of the backbone must load; only the head (names under
//    head_prefixes that the model has) may be absent or of another size, and is then left at its fresh
//    initialization and reported. Weights of another architecture are refused, naming the first mismatches.
// Both accept state dicts without BatchNorm's num_batches_tracked (many exporters drop it; PyTorch's loader accepts
// them too): those counters keep their value (0 in a fresh model) and a note says so.
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "fer/io/safetensors.hpp"
#include "fer/io/torch_checkpoint.hpp"
#include "fer/nn/module.hpp"

namespace fer::nn {

struct WeightsOptions {
  bool pretrained = false;  // false: strict; true: the backbone strictly, the head may be re-initialized
  std::vector<std::string> head_prefixes = {"fc.", "classifier.", "head.", "hidden_head."};
  bool convert_dtype = true;  // f16/bf16/f64 files into f32 models
};

struct WeightsReport {
  std::string format;                   // "safetensors", "torch zip", "torch legacy"
  size_t source_tensors = 0;
  LoadReport load;
  std::vector<std::string> reinitialized;  // head tensors not taken from the file (pretrained mode)
  std::vector<std::string> notes;
  // One line per fact, for the user.
  std::string summary(const std::string& path) const {
    std::string s = path + " (" + format + ", " + std::to_string(source_tensors) + " tensors): " +
                    std::to_string(load.loaded.size()) + " loaded";
    if (!reinitialized.empty()) {
      s += "; head re-initialized (not in the file or of another size):";
      for (const auto& n : reinitialized) s += " " + n;
    }
    for (const auto& n : notes) s += "\n  note: " + n;
    return s;
  }
};

namespace load_weights_detail {

inline bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
inline bool ends_with(const std::string& s, const std::string& e) {
  return s.size() >= e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0;
}

}  // namespace load_weights_detail

// The named tensors of a weights file (PyTorch names and layouts), its format, and notes on what was unwrapped.
inline io::NamedTensors read_weights(const std::string& path, std::string* format = nullptr,
                                     std::vector<std::string>* notes = nullptr) {
  auto file = io::MappedFile::open(path);
  std::span<const uint8_t> head(file->data(), std::min<size_t>(file->size(), 64));
  if (io::looks_like_zip(head) || io::looks_like_legacy_torch(head)) {
    io::TorchCheckpoint ck = io::read_torch_checkpoint(std::span<const uint8_t>(file->data(), file->size()), "'" + path + "'");
    if (format) *format = ck.format;
    if (notes) notes->insert(notes->end(), ck.notes.begin(), ck.notes.end());
    return std::move(ck.tensors);
  }
  // safetensors: an 8-byte little-endian header length, then a JSON object.
  if (head.size() > 8 && head[8] == '{') {
    if (format) *format = "safetensors";
    return io::SafetensorsFile(path).borrow_all();
  }
  fail("'", path, "': not a weights file fer can read (expected safetensors, or a PyTorch .pt/.pth written by torch.save)");
}

// Loads `path` into `module` (see the top of this file). Throws fer::Error naming the file on any refusal.
inline WeightsReport load_weights(Module& module, const std::string& path, const WeightsOptions& opt = {}) {
  using namespace load_weights_detail;
  WeightsReport rep;
  io::NamedTensors source = read_weights(path, &rep.format, &rep.notes);
  rep.source_tensors = source.size();
  const std::string where = "'" + path + "'";

  std::map<std::string, const Tensor*> by_name;
  for (const auto& [n, t] : source) by_name[n] = &t;
  const StateDict model = module.state_dict();
  auto is_head = [&](const std::string& name) {
    for (const auto& p : opt.head_prefixes)
      if (starts_with(name, p)) return true;
    return false;
  };

  // num_batches_tracked absent from the file: kept as they are (skipped, as exact names).
  LoadOptions lo;
  lo.convert_dtype = opt.convert_dtype;
  size_t nbt = 0;
  for (const auto& [name, t] : model)
    if (ends_with(name, "num_batches_tracked") && !by_name.count(name)) lo.skip_prefixes.push_back(name), ++nbt;
  if (nbt)
    rep.notes.push_back(std::to_string(nbt) + " BatchNorm num_batches_tracked counters are not in the file (as many "
                        "exporters write state dicts); they keep their value, as PyTorch's loader does");

  if (!opt.pretrained) {
    lo.strict = true;
    rep.load = module.load_state_dict(source, lo, where);
    return rep;
  }

  // Pretrained: the backbone must load completely before anything is touched.
  std::vector<std::string> problems;
  size_t backbone = 0, backbone_ok = 0;
  for (const auto& [name, t] : model) {
    if (is_head(name) || ends_with(name, "num_batches_tracked")) continue;
    ++backbone;
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      problems.push_back(name + ": not in the file");
    } else if (!(it->second->shape() == t.shape())) {
      problems.push_back(name + ": shape " + it->second->shape().str() + " in the file, the model expects " + t.shape().str());
    } else if (is_floating(it->second->dtype()) != is_floating(t.dtype())) {
      problems.push_back(name + ": dtype " + std::string(dtype_name(it->second->dtype())) + " in the file, the model has " +
                         std::string(dtype_name(t.dtype())));
    } else {
      ++backbone_ok;
    }
  }
  if (!problems.empty()) {
    std::string first;
    for (size_t i = 0; i < problems.size() && i < 8; ++i) first += "\n  " + problems[i];
    std::string extra;
    size_t unexpected = 0;
    for (const auto& entry : source) {  // (no structured binding: clang 14 cannot capture one in the lambda)
      const std::string& n = entry.first;
      if (!is_head(n) && !std::any_of(model.begin(), model.end(), [&](const auto& m) { return m.first == n; })) {
        if (unexpected++ < 3) extra += (extra.empty() ? "" : ", ") + n;
      }
    }
    fail(where, ": refusing these weights: only ", backbone_ok, " of the model's ", backbone,
         " backbone tensors would load (weights of another architecture or size?). First mismatches:", first,
         problems.size() > 8 ? "\n  ..." : "",
         unexpected ? "\n  the file also has " + std::to_string(unexpected) + " names the model lacks, e.g. " + extra : "");
  }
  // The head: the names under head_prefixes that do not load.
  for (const auto& [name, t] : model) {
    if (!is_head(name)) continue;
    auto it = by_name.find(name);
    if (it == by_name.end() || !(it->second->shape() == t.shape())) lo.skip_prefixes.push_back(name), rep.reinitialized.push_back(name);
  }
  // Source names the model lacks (after the above, only head leftovers or extras): skipped and noted.
  std::vector<std::string> extras;
  for (const auto& entry : source) {
    const std::string& n = entry.first;
    if (!std::any_of(model.begin(), model.end(), [&](const auto& m) { return m.first == n; })) extras.push_back(n), lo.skip_prefixes.push_back(n);
  }
  if (!extras.empty()) {
    std::string list;
    for (size_t i = 0; i < extras.size() && i < 8; ++i) list += " " + extras[i];
    rep.notes.push_back(std::to_string(extras.size()) + " tensors of the file are not in the model and were ignored:" + list +
                        (extras.size() > 8 ? " ..." : ""));
  }
  lo.strict = true;  // everything else must now match exactly
  rep.load = module.load_state_dict(source, lo, where);
  return rep;
}

}  // namespace fer::nn
