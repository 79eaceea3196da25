#pragma once
// A Module's state dict to and from safetensors files (PyTorch names and layouts, so files interoperate with
// torchvision/NVIDIA exports).
#include <string>

#include "fer/io/safetensors.hpp"
#include "fer/nn/module.hpp"

namespace fer::nn {

// Writes the module's state dict atomically (keys sorted, as torch-side tools write them).
inline void save_safetensors(const Module& module, const std::string& path, const io::Metadata& metadata = {}) {
  io::save_safetensors(path, module.state_dict(), metadata, io::KeyOrder::sorted);
}

// Loads a safetensors file into the module (tensors are read straight from the mapping, converted as needed).
inline LoadReport load_safetensors(Module& module, const std::string& path, const LoadOptions& options = {}) {
  io::SafetensorsFile file(path);
  return module.load_state_dict(file.borrow_all(), options, "'" + path + "'");
}

}  // namespace fer::nn
