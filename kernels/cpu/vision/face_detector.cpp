// dlib's frontal-face detector behind fer/vision/face_detector.hpp (the only file that includes dlib).
#include "fer/vision/face_detector.hpp"

#ifdef FER_HAVE_DLIB
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>

#include <mutex>
#endif

namespace fer::vision {

#ifdef FER_HAVE_DLIB

bool face_detector_available() { return true; }
std::string face_detector_name() { return "dlib HOG frontal face detector"; }

std::vector<FaceBox> detect_faces(const io::Image& image, int upsample, double threshold) {
  FER_CHECK(image.channels >= 1 && image.channels <= 4 && image.height > 0 && image.width > 0,
            "detect_faces: a ", image.width, "x", image.height, "x", image.channels, " image");
  FER_CHECK(upsample >= 0 && upsample <= 3, "detect_faces: upsample must be 0..3, not ", upsample);
  // The detector is built once (it unpacks its trained model) and is not safe to use from two threads at once.
  static std::mutex mutex;
  static dlib::frontal_face_detector detector = dlib::get_frontal_face_detector();
  dlib::matrix<dlib::rgb_pixel> img(long(image.height), long(image.width));
  for (int64_t y = 0; y < image.height; ++y)
    for (int64_t x = 0; x < image.width; ++x) {
      const uint8_t* p = image.row(y) + x * image.channels;
      img(long(y), long(x)) = image.channels >= 3 ? dlib::rgb_pixel(p[0], p[1], p[2]) : dlib::rgb_pixel(p[0], p[0], p[0]);
    }
  dlib::pyramid_down<2> pyramid;
  for (int i = 0; i < upsample; ++i) dlib::pyramid_up(img, pyramid);
  std::vector<std::pair<double, dlib::rectangle>> found;
  {
    std::lock_guard<std::mutex> lock(mutex);
    detector(img, found, threshold);
  }
  std::vector<FaceBox> out;
  for (auto& [score, r] : found) {
    dlib::drectangle d(r);
    for (int i = 0; i < upsample; ++i) d = pyramid.rect_down(d);
    // Clamp to the photo (boxes can reach past its edges).
    const int64_t x0 = std::max<int64_t>(0, std::llround(d.left())), y0 = std::max<int64_t>(0, std::llround(d.top()));
    const int64_t x1 = std::min<int64_t>(image.width, std::llround(d.right()) + 1);
    const int64_t y1 = std::min<int64_t>(image.height, std::llround(d.bottom()) + 1);
    if (x1 <= x0 || y1 <= y0) continue;
    out.push_back({x0, y0, x1 - x0, y1 - y0, score});
  }
  std::stable_sort(out.begin(), out.end(), [](const FaceBox& a, const FaceBox& b) { return a.score > b.score; });
  return out;
}

#else

bool face_detector_available() { return false; }
std::string face_detector_name() { return "none"; }

std::vector<FaceBox> detect_faces(const io::Image&, int, double) {
  fail("face detection is not available: this build of fer found no dlib (install libdlib-dev and reconfigure)");
}

#endif

}  // namespace fer::vision
