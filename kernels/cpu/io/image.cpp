// Image decoding and PNG encoding. stb_image is compiled here from the Debian package's header for exactly the three
// formats fer reads, and every file is checked structurally before stb sees it: stb is not written for hostile
// input, so what it would trust (chunk lengths, declared sizes, scan counts) is verified first.
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>

#include <string_view>

#include "fer/io/atomic_file.hpp"
#include "fer/io/image.hpp"
#include "fer/io/image_work.hpp"

namespace fer::io {

namespace {

uint32_t be32(const std::vector<uint8_t>& b, size_t at) {
  return uint32_t(b[at]) << 24 | uint32_t(b[at + 1]) << 16 | uint32_t(b[at + 2]) << 8 | uint32_t(b[at + 3]);
}

// A PNG's chunks must tile the file: IHDR first, every chunk complete, IEND reached. stb grows its buffer to a chunk's
// declared length before reading it, so one bogus length would cost gigabytes.
void check_png_chunks(const std::vector<uint8_t>& png, const std::string& name) {
  size_t at = 8;
  bool first = true;
  while (true) {
    FER_CHECK(at + 12 <= png.size(), name, ": corrupt image (truncated PNG: no IEND chunk after ", at, " bytes)");
    const uint32_t length = be32(png, at);
    const std::string_view type(reinterpret_cast<const char*>(&png[at + 4]), 4);
    FER_CHECK(length <= png.size() - at - 12, name, ": corrupt image (PNG chunk '", type, "' at byte ", at, " declares ",
              length, " bytes, the file has ", png.size() - at - 12, " left)");
    FER_CHECK(!first || type == "IHDR", name, ": corrupt image (PNG whose first chunk is not IHDR)");
    first = false;
    if (type == "IEND") return;
    at += size_t(length) + 12;
  }
}

}  // namespace

Image decode_image(const std::vector<uint8_t>& bytes, const std::string& name, int channels, int64_t max_bytes) {
  FER_CHECK(channels >= 0 && channels <= 4, name, ": cannot convert to ", channels, " channels");
  FER_CHECK(!bytes.empty(), name, ": empty file, not an image");
  FER_CHECK(bytes.size() < (size_t(1) << 31), name, ": file too large to decode (", bytes.size(), " bytes)");
  const char* format = image_format(bytes);
  FER_CHECK(format, name, ": not a readable PNG/JPEG/BMP image (no PNG, JPEG or BMP signature)");
  if (format == std::string_view("PNG")) check_png_chunks(bytes, name);
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

std::string encode_png(const Image& img) {
  FER_CHECK(img.channels >= 1 && img.channels <= 4 && img.height > 0 && img.width > 0 &&
                img.pixels.size() == size_t(img.height * img.width * img.channels),
            "encode_png: an image of ", img.height, "x", img.width, "x", img.channels, " from ", img.pixels.size(),
            " bytes");
  std::string png;
  auto sink = [](void* ctx, void* data, int size) {
    static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size_t(size));
  };
  FER_CHECK(stbi_write_png_to_func(sink, &png, int(img.width), int(img.height), int(img.channels), img.pixels.data(),
                                   int(img.width * img.channels)) && !png.empty(),
            "encode_png: PNG encoding failed");
  return png;
}

void write_png(const std::filesystem::path& path, const Image& img) {
  FER_CHECK(img.channels >= 1 && img.channels <= 4 && img.height > 0 && img.width > 0 &&
                img.pixels.size() == size_t(img.height * img.width * img.channels),
            path.string(), ": cannot write an image of ", img.height, "x", img.width, "x", img.channels, " from ",
            img.pixels.size(), " bytes");
  write_file_atomically(path, encode_png(img));
}

}  // namespace fer::io
