// What examples/generate wrote (run by CTest first, see tests/CMakeLists.txt): an image-folder dataset the data
// pipeline reads, with a manifest and a preview; and --dump outputs equal to NVIDIA's fixture images.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include "fer/data/image_folder.hpp"
#include "fer/io/image.hpp"
#include "fer/io/safetensors.hpp"

using namespace fer;

TEST_CASE("generated dataset reads back as a 7-class image folder") {
  const char* dir = std::getenv("FER_GENERATED_DIR");
  if (!dir) {
    MESSAGE("SKIPPED: run through CTest (FER_GENERATED_DIR is set by the generate_dataset test)");
    return;
  }
  data::FolderSplits s = data::read_image_folder(dir);
  CHECK(s.layout == "<class>");
  CHECK(s.train.size() == 21);
  CHECK(data::count_classes_of(s.train, 7) == std::vector<int64_t>(7, 3));
  io::Image img = io::read_image(s.train[0].path);
  CHECK(img.height == 48);
  CHECK(img.width == 48);
  CHECK(img.channels == 1);
  std::ifstream manifest(std::filesystem::path(dir) / "manifest.csv");
  std::string header, first;
  std::getline(manifest, header), std::getline(manifest, first);
  CHECK(header == "file,class,seed,psi");
  CHECK(first == "angry/seed000040.png,angry,40,0.700000");
  io::Image preview = io::read_image(std::filesystem::path(dir) / "preview.png");
  CHECK(preview.height == 7 * 48);
  CHECK(preview.width == 3 * 48);
}

TEST_CASE("--dump reproduces NVIDIA's psi 0.7 images") {
  const char* dir = std::getenv("FER_GENERATED_DIR");
  const char* fixtures = std::getenv("FER_SG2_FIXTURES");
  if (!dir || !fixtures) {
    MESSAGE("SKIPPED: run through CTest");
    return;
  }
  io::SafetensorsFile got(std::string(dir) + "_dump.safetensors");
  io::SafetensorsFile want(std::string(fixtures) + "/G_small.io.safetensors");
  Tensor a = got.load("img"), b = want.load("img_psi07_const");
  REQUIRE(a.shape() == b.shape());
  double num = 0, den = 0;
  for (int64_t i = 0; i < a.numel(); ++i) num += std::pow(a.flat(i) - b.flat(i), 2), den += std::pow(b.flat(i), 2);
  CHECK(std::sqrt(num / den) < 1e-4);
}
