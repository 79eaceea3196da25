// train_sweep's YAML configuration (--config), read by the program's own load_yaml: the example is compiled into
// this target (its code is in namespace train_sweep_program, its entry point program_main), so what is fuzzed is
// exactly what train_sweep runs.
// seeds: tests/fuzz/seeds/sweep_config
#include "../../examples/train_sweep.cpp"

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fer::fuzz::accept_or_refuse([&] {
    train_sweep_program::SweepConfig c;
    train_sweep_program::load_yaml(fer::fuzz::input_file(data, size, "sweep.yaml").string(), c);
  });
}
