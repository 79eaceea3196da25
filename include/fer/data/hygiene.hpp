#pragma once
// Dataset hygiene as FER practitioners clean FER2013: exact duplicates (same pixels, found by a 64-bit content hash
// and confirmed byte by byte), within a split and across splits (FER2013's train/test leakage), and blank or
// near-constant images (pixel standard deviation below a threshold). Every dropped image is listed with its reason
// and its duplicate partner (cleaning.csv).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "fer/data/labeled_images.hpp"
#include "fer/io/atomic_file.hpp"

namespace fer::data {

struct HygieneOptions {
  double min_pixel_std = 2.0;  // gray levels; FER2013's all-black/all-white images have std ~0
};

struct DroppedImage {
  int64_t index;
  std::string id;
  std::string reason;  // "blank (std 0.00)", "duplicate of <id>", "duplicate of <id> with a different label"
};

struct HygieneReport {
  std::vector<int64_t> keep;             // indices to keep, in order
  std::vector<DroppedImage> dropped;
  int64_t blank = 0, duplicates = 0, conflicting_duplicates = 0;
};

inline uint64_t fnv1a64(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

inline double pixel_std(const uint8_t* p, size_t n) {
  double s = 0, s2 = 0;
  for (size_t i = 0; i < n; ++i) s += p[i], s2 += double(p[i]) * p[i];
  double mean = s / double(n);
  return std::sqrt(std::max(0.0, s2 / double(n) - mean * mean));
}

// Exact duplicates among images seen one at a time: the first image with given pixels is kept, later ones are
// reported with it. `same(ref)` confirms a hash match by comparing the pixels with the earlier image `ref`.
class DuplicateIndex {
 public:
  struct Ref {
    size_t group = 0;   // e.g. the split
    int64_t index = 0;  // within the group
  };
  template <class Same>
  std::optional<Ref> find_or_add(const uint8_t* px, size_t n, int64_t height, int64_t width, int64_t channels, Ref self,
                                 Same same) {
    uint64_t key = fnv1a64(px, n) ^ uint64_t(height * 131 + width * 7 + channels);
    auto& bucket = seen_[key];
    for (const Ref& r : bucket)
      if (same(r)) return r;
    bucket.push_back(self);
    return std::nullopt;
  }

 private:
  std::unordered_map<uint64_t, std::vector<Ref>> seen_;
};

inline std::string blank_reason(double sd) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "blank (pixel std %.2f)", sd);
  return buf;
}

// Finds blank images and later copies of an earlier image (the first occurrence is kept).
inline HygieneReport inspect_images(const LabeledImages& d, const HygieneOptions& opt = {}) {
  HygieneReport r;
  size_t bytes = size_t(d.image_bytes());
  DuplicateIndex seen;
  for (int64_t i = 0; i < d.count(); ++i) {
    const uint8_t* img = d.image(i);
    double sd = pixel_std(img, bytes);
    if (sd < opt.min_pixel_std) {
      r.dropped.push_back({i, d.ids.empty() ? "" : d.ids[size_t(i)], blank_reason(sd)});
      ++r.blank;
      continue;
    }
    auto original = seen.find_or_add(img, bytes, d.height, d.width, d.channels, {0, i}, [&](DuplicateIndex::Ref ref) {
      return std::memcmp(d.image(ref.index), img, bytes) == 0;
    });
    if (!original) {
      r.keep.push_back(i);
      continue;
    }
    bool conflict = d.labels[size_t(original->index)] != d.labels[size_t(i)];
    std::string of = d.ids.empty() ? std::to_string(original->index) : d.ids[size_t(original->index)];
    r.dropped.push_back({i, d.ids.empty() ? "" : d.ids[size_t(i)],
                         "duplicate of " + of + (conflict ? " with a different label" : "")});
    ++r.duplicates;
    r.conflicting_duplicates += conflict;
  }
  return r;
}

// One image --clean dropped: its split and id, why, and for a duplicate the kept copy it duplicates.
struct CleaningEntry {
  std::string split, id, reason;
  std::string duplicate_of_split, duplicate_of;  // empty for blank images
};

inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

// cleaning.csv: split,id,reason,duplicate_of_split,duplicate_of (one row per dropped image), written atomically.
inline void write_cleaning_csv(const std::filesystem::path& path, const std::vector<CleaningEntry>& entries) {
  std::string csv = "split,id,reason,duplicate_of_split,duplicate_of\n";
  for (const CleaningEntry& e : entries)
    csv += csv_field(e.split) + ',' + csv_field(e.id) + ',' + csv_field(e.reason) + ',' + csv_field(e.duplicate_of_split) +
           ',' + csv_field(e.duplicate_of) + '\n';
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  io::write_file_atomically(path, csv);
}

// The images `keep` selects (for --clean).
inline LabeledImages select_images(const LabeledImages& d, const std::vector<int64_t>& keep) {
  LabeledImages out;
  out.height = d.height, out.width = d.width, out.channels = d.channels, out.class_names = d.class_names;
  for (int64_t i : keep) out.push_back(d.image(i), d.labels[size_t(i)], d.ids.empty() ? "" : d.ids[size_t(i)]);
  return out;
}

}  // namespace fer::data
