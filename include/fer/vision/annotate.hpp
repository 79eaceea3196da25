#pragma once
// A copy of a photo with labelled boxes drawn on it (Cairo, in kernels/cpu/vision/annotate.cpp, part of
// fer_vision), written atomically as PNG.
#include <filesystem>
#include <string>
#include <vector>

#include "fer/io/image.hpp"
#include "fer/vision/face_detector.hpp"

namespace fer::vision {

struct LabelledBox {
  FaceBox box;
  std::string label;
};

void write_annotated_png(const std::filesystem::path& path, const io::Image& photo, const std::vector<LabelledBox>& boxes);

}  // namespace fer::vision
