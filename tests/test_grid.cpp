// Grid extraction: cell geometry of the reference (1024 px, 6x6 -> 170 px cells -> 128 px faces), rejection of
// blank cells, and the folder-to-folder extraction.
#include <doctest/doctest.h>

#include "fer/data/grid.hpp"

using namespace fer;

namespace {
// A grid whose cell (r, c) carries a pattern with value base(r, c) at its top-left; blank cells are flat gray.
io::Image make_grid(int64_t side, int64_t n, int64_t channels, std::vector<std::pair<int, int>> blank) {
  io::Image g;
  g.height = g.width = side, g.channels = channels;
  g.pixels.resize(size_t(side * side * channels));
  int64_t cell = side / n;
  for (int64_t y = 0; y < side; ++y)
    for (int64_t x = 0; x < side; ++x) {
      int64_t r = y / cell, c = x / cell;
      bool is_blank = false;
      for (auto [br, bc] : blank) is_blank |= (br == r && bc == c);
      uint8_t v = is_blank ? 128 : uint8_t((x * 3 + y * 5 + r * 40 + c * 7) % 256);
      for (int64_t k = 0; k < channels; ++k) g.pixels[size_t((y * side + x) * channels + k)] = v;
    }
  return g;
}
}  // namespace

TEST_CASE("1024x1024 grid of 6x6: 170 px cells resized to 128, blank slots rejected") {
  io::Image g = make_grid(1024, 6, 3, {{0, 1}, {5, 5}});
  data::GridOptions opt;  // 6x6, 128 px
  data::GridCut cut = data::cut_grid(g, opt);
  CHECK(cut.kept.size() == 34);
  REQUIRE(cut.rejected.size() == 2);
  CHECK(cut.rejected[0].rfind("r0c1: low variance", 0) == 0);
  CHECK(cut.rejected[1].rfind("r5c5: low variance", 0) == 0);
  const data::GridCell& first = cut.kept[0];
  CHECK(first.row == 0);
  CHECK(first.col == 0);
  CHECK(first.image.height == 128);
  CHECK(first.image.width == 128);
  CHECK(first.image.channels == 3);
  // Cell r1c2 starts at pixel (170, 340); without resizing its first pixel is the grid's.
  opt.out_size = 0;
  data::GridCut raw = data::cut_grid(g, opt);
  const data::GridCell& c12 = raw.kept[6 + 2 - 1];  // r0c1 was rejected
  CHECK(c12.row == 1);
  CHECK(c12.col == 2);
  CHECK(c12.image.height == 170);
  CHECK(c12.image.at(0, 0, 0) == g.at(170, 340, 0));
  CHECK(c12.image.at(169, 169, 2) == g.at(339, 509, 2));
}

TEST_CASE("grid errors and folder extraction") {
  io::Image tiny = make_grid(12, 1, 1, {});
  data::GridOptions opt;
  CHECK_THROWS_WITH_AS(data::cut_grid(tiny, opt, "tiny.png"), doctest::Contains("tiny.png: a 12x12 image cannot hold 6x6"), Error);

  auto root = std::filesystem::temp_directory_path() / "fer_test_grid";
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root / "in" / "happy");
  io::write_png(root / "in" / "happy" / "seed7.png", make_grid(96, 2, 1, {{1, 0}}));
  opt.rows = opt.cols = 2;
  opt.out_size = 32;
  data::GridFolderReport rep = data::extract_grid_folder(root / "in", root / "out", opt);
  CHECK(rep.grids == 1);
  CHECK(rep.faces == 3);
  CHECK(rep.rejected == 1);
  io::Image face = io::read_image(root / "out" / "happy" / "seed7_r1c1.png");
  CHECK(face.height == 32);
  CHECK(face.channels == 1);
  CHECK_FALSE(std::filesystem::exists(root / "out" / "happy" / "seed7_r1c0.png"));
}
