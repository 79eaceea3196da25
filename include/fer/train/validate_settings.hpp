#pragma once
// Checks of training and evaluation settings that cost nothing, run before any data is read or model built, so a
// typo fails in the first second and not after minutes of loading (or, worse, runs with a meaningless value).
// Each error names the flag and the value. Shared by train, evaluate and train_sweep.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "fer/core/device.hpp"
#include "fer/core/error.hpp"

namespace fer::train {

inline void check_learning_rate(double lr, const std::string& flag = "--lr") {
  FER_CHECK(std::isfinite(lr) && lr > 0, flag, " must be a positive finite number, got ", lr);
}

inline void check_batch_size(int64_t b, const std::string& flag = "--batch_size") {
  FER_CHECK(b >= 1 && b <= 1 << 20, flag, " must be between 1 and 1048576, got ", b);
}

inline void check_fraction(double r, const std::string& flag) {
  FER_CHECK(std::isfinite(r) && r >= 0 && r <= 1, flag, " must be in [0, 1], got ", r);
}

inline void check_non_negative(double v, const std::string& flag) {
  FER_CHECK(std::isfinite(v) && v >= 0, flag, " must be a finite number >= 0, got ", v);
}

// `known`: the names the program's model factory builds (models::model_names()).
inline void check_model_name(const std::string& name, const std::vector<std::string>& known_names,
                             const std::string& flag = "--model") {
  for (const auto& n : known_names)
    if (n == name) return;
  std::string known;
  for (const auto& n : known_names) known += (known.empty() ? "" : ", ") + n;
  fail(flag, ": unknown model '", name, "' (known: ", known, ")");
}

// The smallest input side each model accepts: the stride of its last feature map (custom_cnn needs a multiple of 8
// for its flattened classifier; scratch_cnn pools 4 times; the torchvision/timm backbones downsample by 32).
inline int64_t min_input_size(const std::string& model) {
  if (model == "mlp") return 1;
  if (model == "custom_cnn") return 8;
  if (model == "scratch_cnn") return 16;
  return 32;
}
inline constexpr int64_t kMaxInputSize = 1024;

inline void check_input_size(const std::string& model, int64_t size, const std::string& flag = "--input_size") {
  FER_CHECK(size >= min_input_size(model) && size <= kMaxInputSize, flag, " ", size, " is out of range for ", model,
            " (", min_input_size(model), " to ", kMaxInputSize, ")");
  FER_CHECK(model != "custom_cnn" || size % 8 == 0, flag, " ", size, ": custom_cnn needs a multiple of 8");
}

inline void check_amp(bool amp, const Device& device) {
  FER_CHECK(!amp || device.is_cuda(), "--amp needs --device cuda (the CPU backend computes in f32/f64 only), got --device ",
            device.str());
}

// `dir` can be created and written: its nearest existing ancestor is a writable directory (nothing is created).
inline void check_writable_dir(const std::filesystem::path& dir, const std::string& flag = "--out") {
  FER_CHECK(!dir.empty(), flag, " is empty");
  std::filesystem::path p = std::filesystem::absolute(dir);
  while (!std::filesystem::exists(p) && p.has_parent_path() && p != p.parent_path()) p = p.parent_path();
  FER_CHECK(std::filesystem::is_directory(p), flag, " ", dir.string(), ": ", p.string(),
            " is not a directory, so the output directory cannot be created there");
  FER_CHECK(::access(p.c_str(), W_OK | X_OK) == 0, flag, " ", dir.string(), ": ", p.string(), " is not writable");
}

}  // namespace fer::train
