#pragma once
// Read-only access to a zip archive in memory through libzip (Debian's libzip-dev): entry names, declared sizes and
// whole-entry reads with the CRC checked. Every failure names the archive (and the entry) and says what is wrong.
// The bytes must outlive the ZipArchive (libzip reads from them without copying).
#include <zip.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "fer/core/error.hpp"

namespace fer::io {

struct ZipEntry {
  std::string name;
  uint64_t size = 0;             // uncompressed, as declared by the archive
  uint64_t compressed_size = 0;
  bool stored = false;           // no compression (torch.save writes every entry this way)
};

class ZipArchive {
 public:
  ZipArchive(std::span<const uint8_t> bytes, std::string where) : where_(std::move(where)) {
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &err);
    if (!src) {
      std::string why = zip_error_strerror(&err);
      zip_error_fini(&err);
      fail(where_, ": cannot read as a zip archive: ", why);
    }
    // ZIP_CHECKCONS: the local headers must agree with the central directory (a torn or spliced file is refused).
    zip_ = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err);
    if (!zip_) {
      std::string why = zip_error_strerror(&err);
      zip_source_free(src);
      zip_error_fini(&err);
      fail(where_, ": not a readable zip archive (", why, ")");
    }
    zip_error_fini(&err);
    try {
      list_entries(bytes.size());
    } catch (...) {  // a throwing constructor runs no destructor
      zip_discard(zip_);
      throw;
    }
  }
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;
  ~ZipArchive() {
    if (zip_) zip_discard(zip_);
  }

  const std::string& where() const { return where_; }
  const std::vector<ZipEntry>& entries() const { return entries_; }
  // The index of the entry called `name`, or -1.
  int64_t find(const std::string& name) const {
    for (size_t i = 0; i < entries_.size(); ++i)
      if (entries_[i].name == name) return int64_t(i);
    return -1;
  }

  // Reads entry `index` whole into `dst` (exactly entries()[index].size bytes); the CRC is verified.
  void read(int64_t index, void* dst) const {
    const ZipEntry& e = entries_.at(size_t(index));
    zip_file_t* f = zip_fopen_index(zip_, zip_uint64_t(index), 0);
    if (!f) fail(where_, ": cannot open zip entry '", e.name, "': ", zip_strerror(zip_));
    auto done = [&](const char* what) {
      std::string why = zip_file_strerror(f);
      zip_fclose(f);
      fail(where_, ": zip entry '", e.name, "': ", what, " (", why, ")");
    };
    uint64_t got = 0;
    while (got < e.size) {
      zip_int64_t n = zip_fread(f, static_cast<char*>(dst) + got, e.size - got);
      if (n < 0) done("read failed");
      if (n == 0) done("ends early");
      got += uint64_t(n);
    }
    // One more read reaches the end of the entry, where libzip compares the CRC.
    char extra;
    zip_int64_t n = zip_fread(f, &extra, 1);
    if (n < 0) done("damaged (CRC or data error)");
    if (n > 0) done("holds more bytes than declared");
    if (zip_fclose(f) != 0) fail(where_, ": zip entry '", e.name, "': damaged (", zip_strerror(zip_), ")");
  }
  std::vector<uint8_t> read(int64_t index) const {
    std::vector<uint8_t> out(size_t(entries_.at(size_t(index)).size));
    read(index, out.data());
    return out;
  }

 private:
  void list_entries(size_t archive_size) {
    const zip_int64_t n = zip_get_num_entries(zip_, 0);
    for (zip_int64_t i = 0; i < n; ++i) {
      zip_stat_t st;
      zip_stat_init(&st);
      if (zip_stat_index(zip_, zip_uint64_t(i), 0, &st) != 0) fail(where_, ": zip entry ", i, ": ", zip_strerror(zip_));
      const zip_uint64_t need = ZIP_STAT_NAME | ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
      if ((st.valid & need) != need) fail(where_, ": zip entry ", i, " lacks its name, sizes or method");
      entries_.push_back({st.name, st.size, st.comp_size, st.comp_method == ZIP_CM_STORE});
      // A stored entry cannot hold more than its bytes in the archive, which cannot exceed the archive.
      if (entries_.back().stored && (st.size != st.comp_size || st.comp_size > archive_size))
        fail(where_, ": zip entry '", st.name, "' declares ", st.size, " bytes stored in ", st.comp_size,
             " bytes of a ", archive_size, "-byte archive");
    }
  }

  std::string where_;
  zip_t* zip_ = nullptr;
  std::vector<ZipEntry> entries_;
};

// True when the bytes start like a zip archive (a local file header).
inline bool looks_like_zip(std::span<const uint8_t> b) {
  return b.size() >= 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4;
}

}  // namespace fer::io
