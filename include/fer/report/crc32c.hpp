#pragma once
// CRC-32C (Castagnoli), as TFRecord framing uses it, and TensorFlow's "masked" form of it.
#include <array>
#include <cstddef>
#include <cstdint>

namespace fer::report {

namespace crc32c_detail {
constexpr std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;  // reflected polynomial
    table[i] = c;
  }
  return table;
}
inline constexpr std::array<uint32_t, 256> table = make_table();
}  // namespace crc32c_detail

inline uint32_t crc32c(const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = crc32c_detail::table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

// Rotated and offset so a CRC stored inside CRC'd data does not weaken the check (TFRecord's convention).
inline uint32_t masked_crc32c(const void* data, size_t n) {
  uint32_t c = crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

}  // namespace fer::report
