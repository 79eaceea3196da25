// Face detection for predict (fer/vision/face_detector.hpp): dlib's frontal-face detector finds exactly the faces of
// the committed photos (scikit-image's sample images, tools/make_photo_fixtures.py; counts in faces.csv), and the
// crop geometry (square box with a margin, clamped to the photo) is exact. A build without dlib refuses clearly.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "fer/vision/face_detector.hpp"

using namespace fer;

namespace {
std::vector<std::pair<std::string, size_t>> face_counts() {
  std::ifstream in(std::string(FER_TEST_DATA) + "/photos/faces.csv");
  std::string line;
  std::getline(in, line);
  REQUIRE(line == "file,faces");
  std::vector<std::pair<std::string, size_t>> out;
  while (std::getline(in, line)) {
    const size_t comma = line.find(',');
    out.emplace_back(line.substr(0, comma), size_t(std::stoul(line.substr(comma + 1))));
  }
  return out;
}
}  // namespace

TEST_CASE("the detector finds the faces of the committed photos, and only those") {
  const auto counts = face_counts();
  REQUIRE(counts.size() == 4);
  for (const auto& [file, faces] : counts) {
    CAPTURE(file);
    const io::Image photo = io::to_rgb(io::read_image(std::string(FER_TEST_DATA) + "/photos/" + file));
    if (!vision::face_detector_available()) {
      CHECK_THROWS_WITH_AS(vision::detect_faces(photo), doctest::Contains("face detection is not available"), fer::Error);
      continue;
    }
    const auto boxes = vision::detect_faces(photo, 1);
    CHECK(boxes.size() == faces);
    for (const auto& b : boxes) {
      CHECK(b.score > 0);
      CHECK((b.x >= 0 && b.y >= 0 && b.x + b.width <= photo.width && b.y + b.height <= photo.height));
      CHECK(b.width >= 30);  // a face, not a speck
    }
    if (file == "two_faces.jpg" && boxes.size() == 2) {
      // The second face is the first one mirrored: same row and size, mirrored column.
      const auto& l = boxes[0].x < boxes[1].x ? boxes[0] : boxes[1];
      const auto& r = boxes[0].x < boxes[1].x ? boxes[1] : boxes[0];
      CHECK(std::abs(l.y - r.y) <= 2);
      CHECK(std::abs(l.width - r.width) <= 2);
      CHECK(std::abs((l.x + l.width / 2) - (photo.width - (r.x + r.width / 2))) <= 3);
    }
  }
}

TEST_CASE("square crops with a margin, clamped to the photo") {
  vision::FaceBox f{40, 30, 20, 10, 1.0};
  auto b = vision::square_with_margin(f, 0.5, 100, 200);  // side max(20, 10) * 2 = 40 around the centre (50, 35)
  CHECK(b.width == 40);
  CHECK(b.height == 40);
  CHECK(b.x == 30);
  CHECK(b.y == 15);
  b = vision::square_with_margin({0, 0, 30, 30, 1.0}, 0.5, 100, 200);  // would start at -15: moved inside
  CHECK((b.x == 0 && b.y == 0 && b.width == 60));
  b = vision::square_with_margin({10, 10, 80, 80, 1.0}, 1.0, 50, 200);  // larger than the photo: the photo's height
  CHECK((b.width == 50 && b.y == 0));
  io::Image img;
  img.height = 4, img.width = 5, img.channels = 3;
  for (int i = 0; i < 60; ++i) img.pixels.push_back(uint8_t(i));
  const io::Image c = vision::crop(img, {1, 2, 3, 2, 0});
  REQUIRE((c.width == 3 && c.height == 2 && c.channels == 3));
  CHECK(c.at(0, 0, 0) == img.at(2, 1, 0));
  CHECK(c.at(1, 2, 2) == img.at(3, 3, 2));
  CHECK_THROWS_WITH_AS(vision::crop(img, {3, 0, 3, 2, 0}), doctest::Contains("outside"), fer::Error);
}
