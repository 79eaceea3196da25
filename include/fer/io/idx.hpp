#pragma once
// Reader for the IDX format (MNIST, Fashion-MNIST): a 4-byte magic {0, 0, type code, number of dims}, then
// one big-endian u32 per dim, then the values (big-endian for multi-byte types) in row-major order.
// Plain and gzip'd files are read the same way (zlib reads uncompressed files transparently).
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fer/core/tensor.hpp"

namespace fer::io {

namespace idx_detail {

// The IDX type code of each element type we can hold in a Tensor.
struct IdxType {
  uint8_t code;
  DType dtype;
  const char* name;
};
inline const IdxType* idx_type(uint8_t code) {
  static const IdxType types[] = {
      {0x08, DType::u8, "u8"}, {0x0C, DType::i32, "i32"}, {0x0D, DType::f32, "f32"}, {0x0E, DType::f64, "f64"}};
  for (const IdxType& t : types)
    if (t.code == code) return &t;
  return nullptr;
}

inline const char* idx_type_name(uint8_t code) {
  switch (code) {
    case 0x09: return "i8";
    case 0x0B: return "i16";
    default: return "unknown";
  }
}

// A gzFile that closes itself.
struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// Reads exactly n bytes or fails naming the file and what was being read.
inline void read_exact(gzFile f, const std::string& path, void* dst, size_t n, const char* what) {
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    unsigned chunk = unsigned(std::min<size_t>(n, size_t(1) << 30));
    int got = gzread(f, p, chunk);
    if (got < 0) {
      int code = 0;
      const char* msg = gzerror(f, &code);
      fail("idx: ", path, ": read error in ", what, ": ", msg ? msg : "?");
    }
    FER_CHECK(got > 0, "idx: ", path, ": file is truncated (", n, " more bytes expected in ", what, ")");
    p += got;
    n -= size_t(got);
  }
}

inline uint32_t big_endian_u32(const unsigned char* b) {
  return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | uint32_t(b[3]);
}

// IDX stores multi-byte values big-endian; swap them in place to the host order (little-endian x86/ARM).
inline void big_endian_to_host(void* data, size_t count, size_t width) {
  if (width == 1) return;
  unsigned char* p = static_cast<unsigned char*>(data);
  for (size_t i = 0; i < count; ++i, p += width)
    for (size_t a = 0, b = width - 1; a < b; ++a, --b) std::swap(p[a], p[b]);
}

}  // namespace idx_detail

// Reads an IDX file (optionally gzip'd) into a contiguous CPU tensor whose shape is the file's dims and whose
// dtype follows the type code (u8, i32, f32, f64). Errors name the file: missing file, bad magic, unsupported
// type code, too many dims, a size that overflows, truncated data or trailing bytes.
inline Tensor read_idx(const std::string& path) {
  using namespace idx_detail;
  static_assert(std::endian::native == std::endian::little, "idx: big-endian hosts are not supported");
  GzFile f(gzopen(path.c_str(), "rb"));
  FER_CHECK(f != nullptr, "idx: cannot open ", path);
  unsigned char magic[4];
  read_exact(f.get(), path, magic, 4, "the magic number");
  FER_CHECK(magic[0] == 0 && magic[1] == 0, "idx: ", path, ": bad magic (first two bytes are ", int(magic[0]), ", ",
            int(magic[1]), ", expected 0, 0): not an IDX file");
  const IdxType* type = idx_type(magic[2]);
  FER_CHECK(type != nullptr, "idx: ", path, ": unsupported type code 0x", std::hex, int(magic[2]), std::dec, " (",
            idx_type_name(magic[2]), "); supported: 0x08 u8, 0x0C i32, 0x0D f32, 0x0E f64");
  int nd = magic[3];
  FER_CHECK(nd >= 1 && nd <= kMaxDims, "idx: ", path, ": ", nd, " dims (supported: 1 to ", kMaxDims, ")");

  unsigned char dim_bytes[4 * kMaxDims];
  read_exact(f.get(), path, dim_bytes, size_t(4 * nd), "the dims");
  Shape shape;
  // Cap the payload at 2^40 bytes: far above any dataset here, and far below where int64 products overflow.
  constexpr int64_t kMaxBytes = int64_t(1) << 40;
  // The extent counts a zero dim as 1: a tensor with no elements still has strides, the product of the other dims.
  int64_t bytes = int64_t(dtype_size(type->dtype)), extent = bytes;
  for (int d = 0; d < nd; ++d) {
    int64_t n = big_endian_u32(dim_bytes + 4 * d);
    shape.push_back(n);
    FER_CHECK(extent <= kMaxBytes / std::max<int64_t>(n, 1), "idx: ", path, ": dims ", shape.str(),
              "... describe more than 2^40 bytes (corrupt header?)");
    extent *= std::max<int64_t>(n, 1);
    bytes *= n;
  }

  // The header's size is only a claim: the data is read in chunks first, so memory follows the bytes the file
  // really holds (a 20-byte file declaring terabytes is a "truncated" error, not a huge allocation).
  std::vector<unsigned char> data;
  constexpr size_t kChunk = size_t(1) << 24;
  data.reserve(std::min<size_t>(size_t(bytes), kChunk));
  while (data.size() < size_t(bytes)) {
    const size_t n = std::min(size_t(bytes) - data.size(), std::max(data.size(), kChunk));
    const size_t at = data.size();
    data.resize(at + n);
    read_exact(f.get(), path, data.data() + at, n, "the data");
  }
  Tensor t = Tensor::empty(shape, type->dtype);
  if (bytes) std::memcpy(t.raw_data(), data.data(), size_t(bytes));
  char extra;
  FER_CHECK(gzread(f.get(), &extra, 1) == 0, "idx: ", path, ": trailing bytes after the ", shape.str(),
            " data (dims do not match the file size)");
  big_endian_to_host(t.raw_data(), size_t(t.numel()), dtype_size(type->dtype));
  return t;
}

}  // namespace fer::io
