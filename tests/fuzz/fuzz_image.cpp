// Images (PNG, JPEG, BMP) through io::decode_image, in the file's channels and converted (the input's size picks
// the conversion, so both paths are fuzzed without decoding twice).
// seeds: tests/fuzz/seeds/image
#include "fer/io/image.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fer::fuzz::accept_or_refuse([&] {
    const std::vector<uint8_t> bytes(data, data + size);
    const fer::io::Image img = fer::io::decode_image(bytes, "input", int(size % 5));
    if (img.pixels.size() != size_t(img.height * img.width * img.channels)) __builtin_trap();
  });
}
