#pragma once
// What decoding an image file will cost beyond its header's size, measured before stb decodes it:
//  - PNG: stb inflates the image data into a buffer that grows with the data, so a few hundred KB of zeros
//    (deflate compresses 1000:1) made 400 MB for an 8x8 image. Here the data is inflated into a small scratch
//    buffer and only counted, stopping past a limit.
//  - JPEG: a progressive file makes stb pass over every coefficient once per scan, and a scan header is a few
//    bytes: the scans are counted (markers are unambiguous: 0xFF in entropy-coded data is followed by 0x00).
#include <zlib.h>

#include <cstdint>
#include <vector>

namespace fer::io {

// The bytes the concatenated IDAT chunks of a PNG inflate to, counting stops once past `limit` (the result is then
// limit + 1). Malformed chunks or deflate data end the count early: stb reports those itself.
inline uint64_t png_inflated_bytes(const std::vector<uint8_t>& png, uint64_t limit) {
  z_stream z{};
  if (inflateInit(&z) != Z_OK) return 0;
  uint8_t scratch[1 << 16];
  uint64_t total = 0;
  bool done = false;
  for (size_t at = 8; !done && at + 12 <= png.size();) {
    const uint32_t length = uint32_t(png[at]) << 24 | uint32_t(png[at + 1]) << 16 | uint32_t(png[at + 2]) << 8 | png[at + 3];
    const uint8_t* type = &png[at + 4];
    if (length > png.size() - at - 12) break;
    if (type[0] == 'I' && type[1] == 'E' && type[2] == 'N' && type[3] == 'D') break;
    if (type[0] == 'I' && type[1] == 'D' && type[2] == 'A' && type[3] == 'T') {
      z.next_in = const_cast<uint8_t*>(&png[at + 8]);
      z.avail_in = length;
      while (z.avail_in > 0 && !done) {
        z.next_out = scratch;
        z.avail_out = sizeof scratch;
        const int rc = inflate(&z, Z_NO_FLUSH);
        total += sizeof scratch - z.avail_out;
        if (total > limit) total = limit + 1, done = true;
        if (rc == Z_STREAM_END || (rc != Z_OK && rc != Z_BUF_ERROR) || (rc == Z_BUF_ERROR && z.avail_out != 0)) done = true;
      }
    }
    at += size_t(length) + 12;
  }
  inflateEnd(&z);
  return total;
}

// The number of scans (SOS markers) of a JPEG: 1 for a baseline file, typically about 10 for a progressive one.
inline int64_t jpeg_scan_count(const std::vector<uint8_t>& jpeg) {
  int64_t scans = 0;
  for (size_t i = 0; i + 1 < jpeg.size(); ++i)
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xDA) ++scans;
  return scans;
}

}  // namespace fer::io
