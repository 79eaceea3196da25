// safetensors files (weights, checkpoints): header validation, then every tensor loaded and borrowed.
// seeds: tests/data/safetensors
#include "fer/io/safetensors.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fer::fuzz::accept_or_refuse([&] {
    const fer::io::SafetensorsFile f(fer::fuzz::input_file(data, size, "input.safetensors").string());
    for (const auto& [name, t] : f.load_all()) (void)t.numel();
    for (const auto& [name, t] : f.borrow_all()) (void)t.numel();
  });
}
