// Dataset sources: an image folder with a blank image and a duplicate is cleaned (--clean) with each drop listed;
// validation is carved from train when a layout has none, stratified.
#include <doctest/doctest.h>

#include "fer/data/sampling.hpp"
#include "fer/data/sources.hpp"

using namespace fer;

TEST_CASE("--clean on image folders drops blank and duplicate images, listing them") {
  auto root = std::filesystem::temp_directory_path() / "fer_test_sources";
  std::filesystem::remove_all(root);
  auto write = [&](const char* cls, const char* name, uint8_t base, bool flat) {
    std::filesystem::create_directories(root / "train" / cls);
    io::Image img;
    img.height = img.width = 8, img.channels = 1;
    for (int k = 0; k < 64; ++k) img.pixels.push_back(flat ? base : uint8_t(base + k * 3));
    io::write_png(root / "train" / cls / name, img);
  };
  for (int i = 0; i < 10; ++i) write("happy", ("h" + std::to_string(i) + ".png").c_str(), uint8_t(i * 20), false);
  for (int i = 0; i < 10; ++i) write("sad", ("s" + std::to_string(i) + ".png").c_str(), uint8_t(i * 20 + 5), false);
  write("sad", "zz_blank.png", 90, true);
  write("sad", "zz_copy.png", 0, false);  // the pixels of happy/h0.png, another label
  data::DataOptions o;
  o.clean = true;
  o.val_fraction = 0.2;
  data::Splits s = data::load_splits(root.string(), o);
  REQUIRE(s.dropped.size() == 2);
  CHECK(s.dropped[0].find("zz_blank.png: blank") != std::string::npos);
  CHECK(s.dropped[1].find("zz_copy.png: duplicate of") != std::string::npos);
  CHECK(s.dropped[1].find("with a different label") != std::string::npos);
  CHECK(s.train->size() + s.val->size() == 20);
  CHECK(s.val->size() == 4);  // 20% of each class
  CHECK(data::count_classes(s.val->labels(), 7)[3] == 2);
}
