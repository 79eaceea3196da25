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
io::NamedTensors read_weights(const std::string& path, std::string* format = nullptr,
                              std::vector<std::string>* notes = nullptr);

// Loads `path` into `module` (see the top of this file). Throws fer::Error naming the file on any refusal.
WeightsReport load_weights(Module& module, const std::string& path, const WeightsOptions& opt = {});

}  // namespace fer::nn
