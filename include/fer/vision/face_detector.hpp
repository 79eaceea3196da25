#pragma once
// Faces in photos: dlib's HOG + linear SVM frontal-face detector (built into libdlib, so no model file), compiled
// into fer_vision (kernels/cpu/vision/face_detector.cpp) so that only programs that detect faces pay for dlib's headers.
// A build without dlib has the same functions; face_detector_available() is then false and detect_faces() throws.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/io/image.hpp"

namespace fer::vision {

struct FaceBox {
  int64_t x = 0, y = 0, width = 0, height = 0;  // pixels of the photo; (x, y) is the top-left corner
  double score = 0;                             // the detector's SVM score (> 0 is a face)
};

// Whether this build has a face detector, and which.
bool face_detector_available();
std::string face_detector_name();

// Frontal faces in a u8 image (1, 3 or 4 channels), most confident first. The detector's window is 80 px; each
// `upsample` doubles the image first, finding faces down to about 40 px (1) or 20 px (2) at 4x the cost each.
std::vector<FaceBox> detect_faces(const io::Image& image, int upsample = 1, double threshold = 0.0);

// A square box around `face`, `margin` times its size larger on every side, clamped to the image.
inline FaceBox square_with_margin(const FaceBox& face, double margin, int64_t image_h, int64_t image_w) {
  const double cx = double(face.x) + double(face.width) / 2, cy = double(face.y) + double(face.height) / 2;
  const double side = double(std::max(face.width, face.height)) * (1 + 2 * margin);
  FaceBox b = face;
  int64_t s = std::max<int64_t>(1, std::min<int64_t>(std::llround(side), std::min(image_h, image_w)));
  b.x = std::clamp<int64_t>(std::llround(cx - double(s) / 2), 0, image_w - s);
  b.y = std::clamp<int64_t>(std::llround(cy - double(s) / 2), 0, image_h - s);
  b.width = b.height = s;
  return b;
}

// The pixels of `box` (inside the image) as a new image.
inline io::Image crop(const io::Image& img, const FaceBox& box) {
  FER_CHECK(box.x >= 0 && box.y >= 0 && box.width > 0 && box.height > 0 && box.x + box.width <= img.width &&
                box.y + box.height <= img.height,
            "crop: box ", box.x, ",", box.y, " ", box.width, "x", box.height, " outside a ", img.width, "x", img.height, " image");
  io::Image out;
  out.height = box.height, out.width = box.width, out.channels = img.channels;
  out.pixels.resize(size_t(out.height * out.width * out.channels));
  for (int64_t y = 0; y < box.height; ++y)
    std::copy_n(img.row(box.y + y) + box.x * img.channels, box.width * img.channels, out.row(y));
  return out;
}

}  // namespace fer::vision
