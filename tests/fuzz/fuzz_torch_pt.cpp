// PyTorch checkpoints (.pt/.pth) as train --pretrained, evaluate --weights and verify read them: torch.save's zip
// format through libzip (central directory, CRCs, stored and deflated entries) and its legacy format, the restricted
// unpickler, the storage ids and tensor views, the choice of the state dict. Read from memory, so the fuzzer
// reaches the zip and pickle layers directly.
// seeds: tests/data/pt (including the hostile bad_*.pt files)
#include "fer/io/torch_checkpoint.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fer::fuzz::accept_or_refuse([&] {
    fer::io::TorchCheckpointLimits limits;
    limits.max_total_bytes = uint64_t(64) << 20;  // storages of a fuzz input stay small; the limit is itself tested
    const fer::io::TorchCheckpoint ck = fer::io::read_torch_checkpoint(std::span<const uint8_t>(data, size), "input.pt", limits);
    for (const auto& [name, t] : ck.tensors) (void)t.to_vector();  // every element of every view is readable
  });
}
