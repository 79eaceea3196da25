#pragma once
// Image files: PNG, JPEG and BMP decoded, PNG written (kernels/cpu/io/image.cpp, with stb_image compiled there for
// exactly these formats, so no program pays for stb's headers). Decoding checks the file's structure and header
// first against a budget of decoded bytes (width x height x channels), so a hostile file of a few bytes that
// declares a huge image cannot make us allocate gigabytes or spend seconds; every failure names the file and the
// reason.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "fer/core/error.hpp"

namespace fer::io {

struct Image {
  int64_t height = 0, width = 0, channels = 0;  // HWC, u8
  std::vector<uint8_t> pixels;
  uint8_t* row(int64_t y) { return pixels.data() + y * width * channels; }
  const uint8_t* row(int64_t y) const { return pixels.data() + y * width * channels; }
  uint8_t at(int64_t y, int64_t x, int64_t c) const { return pixels[size_t((y * width + x) * channels + c)]; }
};

inline constexpr int64_t kMaxImageSide = 16384;
// Decoded bytes (width x height x channels) one image may take: 128 MiB, e.g. 8192 x 4096 RGBA or 6500 x 6500 RGB,
// far above the faces and grids read here.
inline constexpr int64_t kMaxImageBytes = int64_t(1) << 27;

// "PNG", "JPEG" or "BMP" by the file's signature; nullptr for anything else.
inline const char* image_format(const std::vector<uint8_t>& b) {
  static constexpr uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (b.size() >= sizeof png && std::equal(std::begin(png), std::end(png), b.begin())) return "PNG";
  if (b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return "JPEG";
  if (b.size() >= 2 && b[0] == 'B' && b[1] == 'M') return "BMP";
  return nullptr;
}

inline std::vector<uint8_t> read_bytes(const std::filesystem::path& path) {
  std::error_code ec;
  FER_CHECK(std::filesystem::is_regular_file(path, ec), path.string(), ": no such file");
  std::ifstream in(path, std::ios::binary);
  FER_CHECK(in.good(), path.string(), ": cannot open for reading");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  FER_CHECK(!in.bad(), path.string(), ": read error");
  return bytes;
}

// Decodes an image from memory; `channels` 0 keeps the file's own, 1..4 converts (stb's luma for gray).
// `max_bytes` bounds the decoded size (and with it time and memory), checked from the header before decoding.
Image decode_image(const std::vector<uint8_t>& bytes, const std::string& name, int channels = 0,
                   int64_t max_bytes = kMaxImageBytes);

inline Image read_image(const std::filesystem::path& path, int channels = 0) {
  return decode_image(read_bytes(path), path.string(), channels);
}

// The image with `channels` (1..4; 0 keeps its own), converted as stb converts: luma = (77 r + 150 g + 29 b) >> 8,
// gray replicated into colour, alpha dropped or made opaque. The JPEG decoder converts through it, so a JPEG
// converts exactly as stb converts a PNG or BMP.
Image convert_channels(Image in, int channels);

// Gray -> 3 identical channels; gray+alpha -> 3 channels; RGBA -> RGB (alpha dropped); RGB unchanged.
inline Image to_rgb(const Image& in) {
  FER_CHECK(in.channels >= 1 && in.channels <= 4, "to_rgb: ", in.channels, " channels");
  return convert_channels(in, 3);
}

// PNG bytes of an image held in memory.
std::string encode_png(const Image& img);

// Encodes PNG into memory, then writes it atomically.
void write_png(const std::filesystem::path& path, const Image& img);

}  // namespace fer::io
