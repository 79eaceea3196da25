// Training checkpoint directories as `train --resume` reads them: model.safetensors (strict, into a model),
// optimizer.safetensors (Adam state), trainer.json and its RNG state. One input holds the three files joined by
// fuzz::kFileSeparator (a part left out is a file left out).
// seeds: tests/fuzz/seeds/checkpoint (written by this target: FER_FUZZ_WRITE_SEED=<file> build-fuzz/.../fuzz_checkpoint)
#include <cstdlib>
#include <sstream>

#include "fer/nn/layers.hpp"
#include "fer/optim/adam.hpp"
#include "fer/train/checkpoint.hpp"
#include "fuzz_input.hpp"

namespace {

// A real checkpoint of the fuzzed model after one Adam step, packed as one input.
void write_seed(const char* out) {
  namespace fs = std::filesystem;
  const fs::path dir = fer::fuzz::scratch_dir() / "seed";
  fer::Generator gen(7);
  fer::nn::Linear model(4, 3, true, gen);
  fer::optim::Adam opt(model.parameters());
  opt.zero_grad();
  opt.step();
  nlohmann::json st = {{"epoch", 1}, {"rng", fer::train::generator_state_json(gen)}, {"best_epoch", 0},
                       {"best_val_f1", 0.5}, {"bad_epochs", 0}, {"train_seconds", 1.25},
                       {"history", {{{"epoch", 1}, {"csv", "0.9,0.5,0.8,0.6,0.5,0.001,1.2,100"}}}}};
  fer::train::save_checkpoint(dir, model, &opt, st);
  std::ostringstream packed;
  const char* names[] = {"model.safetensors", "optimizer.safetensors", "trainer.json"};
  for (size_t i = 0; i < std::size(names); ++i) {
    if (i) packed << fer::fuzz::kFileSeparator;
    packed << std::ifstream(dir / names[i], std::ios::binary).rdbuf();
  }
  fer::fuzz::write_bytes(out, packed.str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* out = std::getenv("FER_FUZZ_WRITE_SEED")) {
    write_seed(out);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  const fs::path dir = fer::fuzz::scratch_dir() / "checkpoint";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::vector<std::string_view> parts = fer::fuzz::split_files(data, size);
  const char* names[] = {"model.safetensors", "optimizer.safetensors", "trainer.json"};
  for (size_t i = 0; i < parts.size() && i < std::size(names); ++i) fer::fuzz::write_bytes(dir / names[i], parts[i]);
  return fer::fuzz::accept_or_refuse([&] {
    fer::nn::Linear model(4, 3);
    fer::optim::Adam opt(model.parameters());
    const nlohmann::json st = fer::train::load_checkpoint(dir, model, &opt);
    fer::Generator gen(0);
    fer::train::set_generator_state(gen, st.is_object() && st.contains("rng") ? st["rng"] : nlohmann::json(), dir.string());
  });
}
