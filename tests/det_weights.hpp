#pragma once
// Deterministic weights and inputs shared with the Python fixture makers: every parameter and buffer gets a value from
// a formula of its state_dict name (det_uniform / det_values / det_input in tools/make_fixtures.py), so reference
// outputs of PyTorch models are committed without their weights.
#include <cmath>
#include <string>
#include <vector>

#include "fer/nn/module.hpp"
#include "fer/ops/shape.hpp"
#include "rel_l2.hpp"

namespace fer::testing {

inline uint32_t fnv1a32(const std::string& s) {
  uint32_t h = 0x811C9DC5u;
  for (unsigned char b : s) h = (h ^ b) * 0x01000193u;
  return h;
}

// Keep in step with det_uniform / det_values in tools/make_fixtures.py (uint32 hash: exact in both languages).
inline Tensor det_values(const std::string& name, const Shape& shape, DType dtype) {
  int64_t n = shape.numel();
  auto ends = [&](const char* suffix) {
    std::string s(suffix);
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  if (ends("num_batches_tracked")) return Tensor::zeros(shape, dtype);
  const uint32_t h = fnv1a32(name);
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    uint32_t x = uint32_t(i) + h;
    for (uint32_t mul : {0x9E3779B1u, 0x85EBCA6Bu, 0xC2B2AE35u}) x *= mul, x ^= x >> 15;
    double s = double(x) / 2147483648.0 - 1.0;
    if (ends("running_var")) v[size_t(i)] = 0.75 + 0.25 * s;
    else if (ends("running_mean")) v[size_t(i)] = 0.1 * s;
    else if (ends("layer_scale")) v[size_t(i)] = 0.5 + 0.1 * s;
    else if (shape.size() >= 2) v[size_t(i)] = s * std::sqrt(6.0 / double(n / shape[0]));
    else if (ends("weight")) v[size_t(i)] = 1.0 + 0.1 * s;
    else v[size_t(i)] = 0.05 * s;
  }
  return Tensor::from_vector<double>(v, shape).to(dtype);
}

inline void fill_det_weights(nn::Module& m) {
  nn::StateDict sd;
  for (const auto& [name, t] : m.state_dict()) sd.emplace_back(name, det_values(name, t.shape(), t.dtype()));
  m.load_state_dict(sd);
}

// NCHW sin pattern, as the script's det_input, returned NHWC f32.
inline Tensor det_input(int64_t size, int64_t batch = 2) {
  int64_t n = batch * 3 * size * size;
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = std::sin(0.013 * double(i) + 0.5);
  return nchw_to_nhwc(Tensor::from_vector<double>(v, {batch, 3, size, size}).to(DType::f32));
}

}  // namespace fer::testing
