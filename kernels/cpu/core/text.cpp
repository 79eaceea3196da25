// How shapes and devices are printed in messages (fer/core/shape.hpp, fer/core/device.hpp).
#include "fer/core/device.hpp"
#include "fer/core/shape.hpp"

namespace fer {

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < nd; ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

}  // namespace fer
