// IDX files (MNIST, Fashion-MNIST), plain or gzip'd, as io::read_idx reads them from disk.
// seeds: tests/fuzz/seeds/idx
#include "fer/io/idx.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fer::fuzz::accept_or_refuse([&] { (void)fer::io::read_idx(fer::fuzz::input_file(data, size, "input.idx").string()); });
}
