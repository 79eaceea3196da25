#pragma once
// Reading the StyleGAN2 op fixtures (tests/data/sg2ops/*.json, written by tools/make_sg2_op_fixtures.py).
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "fer/core/tensor.hpp"

namespace fer::testing {

inline nlohmann::json load_sg2_fixture(const std::string& file) {
  std::string path = std::string(FER_TEST_DATA) + "/sg2ops/" + file;
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot open ", path);
  return nlohmann::json::parse(in);
}

// {"shape": [...], "data": [...]} as a tensor of `dtype`.
inline Tensor fixture_tensor(const nlohmann::json& j, DType dtype) {
  Shape s;
  for (const auto& d : j.at("shape")) s.push_back(d.get<int64_t>());
  const auto& data = j.at("data");
  REQUIRE(int64_t(data.size()) == s.numel());
  Tensor t = Tensor::empty(s, dtype);
  for (int64_t i = 0; i < s.numel(); ++i) t.set_flat(i, data[size_t(i)].get<double>());
  return t;
}

// The cotangent the fixture script backpropagates: cot[i] = cos(0.7 i + 0.3).
inline Tensor fixture_cotangent(const Shape& s, DType dtype) {
  Tensor t = Tensor::empty(s, dtype);
  for (int64_t i = 0; i < s.numel(); ++i) t.set_flat(i, std::cos(0.7 * double(i) + 0.3));
  return t;
}

// Largest |got - want| relative to the largest |want| (the scale of the values compared).
inline double rel_error(const Tensor& got, const Tensor& want) {
  REQUIRE_MESSAGE(got.shape() == want.shape(), "shape ", got.shape().str(), " vs expected ", want.shape().str());
  double err = 0, scale = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    err = std::max(err, std::abs(got.flat(i) - want.flat(i)));
    scale = std::max(scale, std::abs(want.flat(i)));
  }
  return err / std::max(scale, 1e-30);
}

}  // namespace fer::testing
