// train_sweep's YAML configuration (--config), read by the program's own load_yaml: the example is compiled into
// this target with its main renamed, so what is fuzzed is exactly what train_sweep runs.
// seeds: tests/fuzz/seeds/sweep_config
#define main train_sweep_main
#include "../../examples/train_sweep.cpp"
#undef main

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fer::fuzz::accept_or_refuse([&] {
    SweepConfig c;
    load_yaml(fer::fuzz::input_file(data, size, "sweep.yaml").string(), c);
  });
}
