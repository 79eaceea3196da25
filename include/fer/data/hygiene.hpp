#pragma once
// Dataset hygiene as FER practitioners clean FER2013: exact duplicates (same pixels, found by a 64-bit content hash
// and confirmed byte by byte), and blank or near-constant images (pixel standard deviation below a threshold).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "fer/data/labeled_images.hpp"

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

// Finds blank images and later copies of an earlier image (the first occurrence is kept).
inline HygieneReport inspect_images(const LabeledImages& d, const HygieneOptions& opt = {}) {
  HygieneReport r;
  size_t bytes = size_t(d.image_bytes());
  std::unordered_map<uint64_t, std::vector<int64_t>> first_by_hash;
  for (int64_t i = 0; i < d.count(); ++i) {
    const uint8_t* img = d.image(i);
    double sd = pixel_std(img, bytes);
    if (sd < opt.min_pixel_std) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "blank (pixel std %.2f)", sd);
      r.dropped.push_back({i, d.ids.empty() ? "" : d.ids[size_t(i)], buf});
      ++r.blank;
      continue;
    }
    auto& bucket = first_by_hash[fnv1a64(img, bytes)];
    int64_t original = -1;
    for (int64_t j : bucket)
      if (std::memcmp(d.image(j), img, bytes) == 0) original = j;
    if (original < 0) {
      bucket.push_back(i);
      r.keep.push_back(i);
      continue;
    }
    bool conflict = d.labels[size_t(original)] != d.labels[size_t(i)];
    std::string of = d.ids.empty() ? std::to_string(original) : d.ids[size_t(original)];
    r.dropped.push_back({i, d.ids.empty() ? "" : d.ids[size_t(i)],
                         "duplicate of " + of + (conflict ? " with a different label" : "")});
    ++r.duplicates;
    r.conflicting_duplicates += conflict;
  }
  return r;
}

// The images `keep` selects (for --clean).
inline LabeledImages select_images(const LabeledImages& d, const std::vector<int64_t>& keep) {
  LabeledImages out;
  out.height = d.height, out.width = d.width, out.channels = d.channels, out.class_names = d.class_names;
  for (int64_t i : keep) out.push_back(d.image(i), d.labels[size_t(i)], d.ids.empty() ? "" : d.ids[size_t(i)]);
  return out;
}

}  // namespace fer::data
