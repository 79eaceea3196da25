// NVIDIA network pickles (.pkl): the pickle VM, the torch tensor records, the module tree and the generator's
// configuration, as `generate --generator G.pkl` reads them (weights and configuration, no synthesis).
// seeds: tests/data/pickle
#include "fuzz_input.hpp"
#include "models/stylegan2.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fer::fuzz::accept_or_refuse([&] {
    (void)fer::models::Stylegan2Generator::load(fer::fuzz::input_file(data, size, "input.pkl"));
  });
}
