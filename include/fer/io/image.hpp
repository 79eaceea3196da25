#pragma once
// Image files: PNG, JPEG and BMP decoded with stb_image; PNG written with stb_image_write. Decoding checks the
// header first against a budget of decoded bytes (width x height x channels), so a hostile file of a few bytes
// that declares a huge image cannot make us allocate gigabytes or spend seconds; every failure names the file and
// stb's reason. Only those three formats are decoded (by their signature), not the others stb knows.
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#include <unistd.h>

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
#include "fer/io/atomic_file.hpp"
#include "fer/io/image_work.hpp"

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
inline Image decode_image(const std::vector<uint8_t>& bytes, const std::string& name, int channels = 0,
                          int64_t max_bytes = kMaxImageBytes) {
  FER_CHECK(channels >= 0 && channels <= 4, name, ": cannot convert to ", channels, " channels");
  FER_CHECK(!bytes.empty(), name, ": empty file, not an image");
  FER_CHECK(bytes.size() < (size_t(1) << 31), name, ": file too large to decode (", bytes.size(), " bytes)");
  const char* format = image_format(bytes);
  FER_CHECK(format, name, ": not a readable PNG/JPEG/BMP image (no PNG, JPEG or BMP signature)");
  int w = 0, h = 0, c = 0;
  if (!stbi_info_from_memory(bytes.data(), int(bytes.size()), &w, &h, &c))
    fail(name, ": not a readable PNG/JPEG/BMP image (", stbi_failure_reason(), ")");
  FER_CHECK(w > 0 && h > 0 && w <= kMaxImageSide && h <= kMaxImageSide, name, ": implausible image size ", w, "x", h);
  // stb decodes at the file's channels, then converts: the larger of the two is what it allocates.
  const int64_t decoded = int64_t(w) * int64_t(h) * int64_t(std::max(std::max(c, channels), 1));
  FER_CHECK(decoded <= max_bytes, name, ": ", format, " header declares ", w, "x", h, "x", c, " pixels (", decoded,
            " bytes decoded), more than the budget of ", max_bytes, " bytes");
  // What stb will do beyond the header's size: inflate a PNG's data (at most 8 bytes a pixel, 16-bit RGBA, and a
  // filter byte per row and interlace pass), pass over a JPEG's coefficients once per scan.
  if (format == std::string_view("PNG")) {
    const uint64_t need = uint64_t(h) * (8 * uint64_t(w) + 7) + 64;
    FER_CHECK(png_inflated_bytes(bytes, need) <= need, name, ": PNG image data inflates to more than the ", need,
              " bytes that ", w, "x", h, " pixels can use (a decompression bomb?)");
  }
  if (format == std::string_view("JPEG")) {
    const int64_t scans = jpeg_scan_count(bytes);
    FER_CHECK(scans * decoded <= 16 * max_bytes, name, ": JPEG of ", w, "x", h, " pixels has ", scans,
              " scans, more decoding work than the budget allows");
  }
  int got = 0, w2 = 0, h2 = 0;
  stbi_uc* data = stbi_load_from_memory(bytes.data(), int(bytes.size()), &w2, &h2, &got, channels);
  if (!data) fail(name, ": corrupt image (", stbi_failure_reason(), ")");
  if (w2 != w || h2 != h) {
    stbi_image_free(data);
    fail(name, ": corrupt image (the header says ", w, "x", h, ", the decoder found ", w2, "x", h2, ")");
  }
  Image img;
  img.height = h, img.width = w, img.channels = channels ? channels : got;
  img.pixels.assign(data, data + size_t(h) * size_t(w) * size_t(img.channels));
  stbi_image_free(data);
  return img;
}

inline Image read_image(const std::filesystem::path& path, int channels = 0) {
  return decode_image(read_bytes(path), path.string(), channels);
}

// Gray -> 3 identical channels; gray+alpha -> 3 channels; RGBA -> RGB (alpha dropped); RGB unchanged.
inline Image to_rgb(const Image& in) {
  if (in.channels == 3) return in;
  FER_CHECK(in.channels >= 1 && in.channels <= 4, "to_rgb: ", in.channels, " channels");
  Image out;
  out.height = in.height, out.width = in.width, out.channels = 3;
  out.pixels.resize(size_t(in.height * in.width * 3));
  int64_t n = in.height * in.width;
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < 3; ++k) {
      int64_t src = in.channels >= 3 ? k : 0;
      out.pixels[size_t(i * 3 + k)] = in.pixels[size_t(i * in.channels + src)];
    }
  return out;
}

// Encodes PNG into memory, then writes it atomically.
inline void write_png(const std::filesystem::path& path, const Image& img) {
  FER_CHECK(img.channels >= 1 && img.channels <= 4 && img.height > 0 && img.width > 0 &&
                img.pixels.size() == size_t(img.height * img.width * img.channels),
            path.string(), ": cannot write an image of ", img.height, "x", img.width, "x", img.channels, " from ",
            img.pixels.size(), " bytes");
  std::string png;
  auto sink = [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size_t(size)); };
  int ok = stbi_write_png_to_func(sink, &png, int(img.width), int(img.height), int(img.channels), img.pixels.data(),
                                  int(img.width * img.channels));
  FER_CHECK(ok && !png.empty(), path.string(), ": PNG encoding failed");
  write_file_atomically(path, png);
}

}  // namespace fer::io
