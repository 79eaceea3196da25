#pragma once
// Loading JSON fixtures from tests/data and turning their flat arrays into tensors.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "fer/core/tensor.hpp"

namespace fer::testing {

inline nlohmann::json load_json_fixture(const std::string& relative) {
  std::string path = std::string(FER_TEST_DATA) + "/" + relative;
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "missing fixture ", path);
  return nlohmann::json::parse(in);
}

inline Shape shape_of(const nlohmann::json& j) {
  Shape s;
  for (const auto& d : j) s.push_back(d.get<int64_t>());
  return s;
}

inline Tensor tensor_of(const nlohmann::json& values, const Shape& shape, DType dtype = DType::f64) {
  std::vector<double> v = values.get<std::vector<double>>();
  REQUIRE(int64_t(v.size()) == shape.numel());
  return Tensor::from_vector<double>(v, shape).to(dtype);
}

}  // namespace fer::testing
