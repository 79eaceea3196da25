#pragma once
// A labelled set of same-sized u8 images held in memory (HWC, row-major): FER2013 from its CSV, decoded caches.
#include <cstdint>
#include <string>
#include <vector>

#include "fer/core/error.hpp"

namespace fer::data {

struct LabeledImages {
  int64_t height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;        // count() * height * width * channels
  std::vector<int32_t> labels;        // class index per image; -1 = unlabelled
  std::vector<std::string> ids;       // where each image came from (e.g. "fer2013.csv:1234")
  std::vector<std::string> class_names;

  int64_t count() const { return int64_t(labels.size()); }
  int64_t image_bytes() const { return height * width * channels; }
  const uint8_t* image(int64_t i) const {
    FER_CHECK(i >= 0 && i < count(), "LabeledImages: index ", i, " out of range [0, ", count(), ")");
    return pixels.data() + i * image_bytes();
  }
  // Images per class (unlabelled images are not counted).
  std::vector<int64_t> class_counts() const {
    std::vector<int64_t> n(class_names.size(), 0);
    for (int32_t l : labels)
      if (l >= 0 && size_t(l) < n.size()) ++n[size_t(l)];
    return n;
  }
  void push_back(const uint8_t* img, int32_t label, std::string id) {
    pixels.insert(pixels.end(), img, img + image_bytes());
    labels.push_back(label);
    ids.push_back(std::move(id));
  }
};

}  // namespace fer::data
