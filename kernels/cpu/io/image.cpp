// Image decoding and PNG encoding. JPEG goes through libjpeg-turbo (fuzzed continuously upstream, and the decoder
// PIL uses, so pixels equal torchvision's); PNG and BMP through stb_image, compiled here from the Debian package's
// header for exactly those two formats. Every file is checked structurally before a decoder sees it: stb is not
// written for hostile input, so what it would trust (chunk lengths, declared sizes, scan counts) is verified first.
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>

#include <csetjmp>
#include <cstdio>
#include <memory>
#include <string_view>

#include <jpeglib.h>

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

// The size a header declares, checked before any decoding: plausible sides, and the decoded bytes (the decoder
// works at the file's channels, then converts: the larger of the two is what it allocates) within the budget.
// Returns those decoded bytes.
int64_t check_declared_size(const std::string& name, const char* format, int64_t w, int64_t h, int64_t c, int channels,
                            int64_t max_bytes) {
  FER_CHECK(w > 0 && h > 0 && w <= kMaxImageSide && h <= kMaxImageSide, name, ": implausible image size ", w, "x", h);
  const int64_t decoded = w * h * std::max<int64_t>(std::max<int64_t>(c, channels), 1);
  FER_CHECK(decoded <= max_bytes, name, ": ", format, " header declares ", w, "x", h, "x", c, " pixels (", decoded,
            " bytes decoded), more than the budget of ", max_bytes, " bytes");
  return decoded;
}

// libjpeg reports errors through a callback that must not return: it jumps back to the decoder with the message.
// Warnings (corrupt or truncated data that libjpeg would fill in) are errors here too, as PIL refuses truncated files.
struct JpegErrors {
  jpeg_error_mgr mgr;
  std::jmp_buf back;
  char message[JMSG_LENGTH_MAX] = {};
};

void jpeg_fail(j_common_ptr cinfo) {
  auto* errors = reinterpret_cast<JpegErrors*>(cinfo->err);
  cinfo->err->format_message(cinfo, errors->message);
  std::longjmp(errors->back, 1);
}

void jpeg_warn(j_common_ptr cinfo, int level) {
  if (level < 0) jpeg_fail(cinfo);  // level -1: a warning (corrupt data); >= 0: trace messages, ignored
}

}  // namespace

Image convert_channels(Image in, int channels) {
  if (channels == 0 || channels == in.channels) return in;
  Image out;
  out.height = in.height, out.width = in.width, out.channels = channels;
  out.pixels.resize(size_t(in.height * in.width * channels));
  const int64_t n = in.height * in.width;
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* p = &in.pixels[size_t(i * in.channels)];
    uint8_t* q = &out.pixels[size_t(i * channels)];
    const bool color = in.channels >= 3;
    const uint8_t gray = color ? uint8_t((p[0] * 77 + p[1] * 150 + p[2] * 29) >> 8) : p[0];
    const uint8_t alpha = (in.channels == 2 || in.channels == 4) ? p[in.channels - 1] : 255;
    if (channels <= 2) q[0] = gray;
    else for (int k = 0; k < 3; ++k) q[k] = color ? p[k] : p[0];
    if (channels == 2 || channels == 4) q[channels - 1] = alpha;
  }
  return out;
}

namespace {

// libjpeg's two steps, each in a frame that holds no C++ object, so that a longjmp back from an error skips no
// destructor: false (with the message in errors) when libjpeg fails.
bool jpeg_read_header_safely(jpeg_decompress_struct& cinfo, JpegErrors& errors) {
  if (setjmp(errors.back)) return false;
  jpeg_read_header(&cinfo, TRUE);
  return true;
}

bool jpeg_read_pixels_safely(jpeg_decompress_struct& cinfo, JpegErrors& errors, uint8_t* pixels, size_t row_bytes) {
  if (setjmp(errors.back)) return false;
  jpeg_start_decompress(&cinfo);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = pixels + size_t(cinfo.output_scanline) * row_bytes;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  return true;
}

Image decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& name, int channels, int64_t max_bytes) {
  jpeg_decompress_struct cinfo{};
  JpegErrors errors;
  cinfo.err = jpeg_std_error(&errors.mgr);
  errors.mgr.error_exit = jpeg_fail;
  errors.mgr.emit_message = jpeg_warn;
  jpeg_create_decompress(&cinfo);
  // Destroys the decompressor on every way out (libjpeg allocates from the moment it is created).
  std::unique_ptr<jpeg_decompress_struct, void (*)(jpeg_decompress_struct*)> guard(&cinfo, jpeg_destroy_decompress);
  cinfo.mem->max_memory_to_use = long(max_bytes);
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  if (!jpeg_read_header_safely(cinfo, errors)) fail(name, ": corrupt image (JPEG: ", errors.message, ")");
  const int64_t w = cinfo.image_width, h = cinfo.image_height, c = cinfo.num_components;
  const int64_t decoded = check_declared_size(name, "JPEG", w, h, c, channels, max_bytes);
  FER_CHECK(cinfo.jpeg_color_space == JCS_GRAYSCALE || cinfo.jpeg_color_space == JCS_YCbCr ||
                cinfo.jpeg_color_space == JCS_RGB,
            name, ": a CMYK/YCCK JPEG (", c, " components) is not supported: convert it to RGB");
  // A progressive file is decoded once per scan, and a scan header is a few bytes.
  const int64_t scans = jpeg_scan_count(bytes);
  FER_CHECK(scans * decoded <= 16 * max_bytes, name, ": JPEG of ", w, "x", h, " pixels has ", scans,
            " scans, more decoding work than the budget allows");
  cinfo.out_color_space = c == 1 ? JCS_GRAYSCALE : JCS_RGB;
  Image img;
  img.height = h, img.width = w, img.channels = c == 1 ? 1 : 3;
  img.pixels.resize(size_t(h * w * img.channels));
  if (!jpeg_read_pixels_safely(cinfo, errors, img.pixels.data(), size_t(w * img.channels)))
    fail(name, ": corrupt image (JPEG: ", errors.message, ")");
  return convert_channels(std::move(img), channels);
}

}  // namespace

Image decode_image(const std::vector<uint8_t>& bytes, const std::string& name, int channels, int64_t max_bytes) {
  FER_CHECK(channels >= 0 && channels <= 4, name, ": cannot convert to ", channels, " channels");
  FER_CHECK(!bytes.empty(), name, ": empty file, not an image");
  FER_CHECK(bytes.size() < (size_t(1) << 31), name, ": file too large to decode (", bytes.size(), " bytes)");
  const char* format = image_format(bytes);
  FER_CHECK(format, name, ": not a readable PNG/JPEG/BMP image (no PNG, JPEG or BMP signature)");
  if (format == std::string_view("JPEG")) return decode_jpeg(bytes, name, channels, max_bytes);
  if (format == std::string_view("PNG")) check_png_chunks(bytes, name);
  int w = 0, h = 0, c = 0;
  if (!stbi_info_from_memory(bytes.data(), int(bytes.size()), &w, &h, &c))
    fail(name, ": not a readable PNG/JPEG/BMP image (", stbi_failure_reason(), ")");
  check_declared_size(name, format, w, h, c, channels, max_bytes);
  // What stb will do beyond the header's size: inflate a PNG's data (at most 8 bytes a pixel, 16-bit RGBA, and a
  // filter byte per row and interlace pass).
  if (format == std::string_view("PNG")) {
    const uint64_t need = uint64_t(h) * (8 * uint64_t(w) + 7) + 64;
    FER_CHECK(png_inflated_bytes(bytes, need) <= need, name, ": PNG image data inflates to more than the ", need,
              " bytes that ", w, "x", h, " pixels can use (a decompression bomb?)");
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
