// Grid extraction: cell geometry of the reference (1024 px, 6x6 -> 170 px cells -> 128 px faces, given as
// --gutter 0 --margin 0), rejection of blank cells, the folder-to-folder extraction, and cell boundaries found in
// grids as text-to-image models draw them (uneven gutters, borders); a grid without gutters is reported, not cut.
#include <doctest/doctest.h>

#include <fstream>

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
  opt.gutter = opt.margin = 0;  // a seamless grid: equal cells
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
  opt.gutter = opt.margin = 0;
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

namespace {
// A grid as text-to-image models draw it: a border of `margin_*` pixels and gutters of the given widths (one per gap)
// in a uniform colour, faces (textured) of cell_h x cell_w in between; `flat_band` paints a uniform band, of the
// gutter's colour, across the middle of every face of row 0 (a plain background inside a face).
io::Image drawn_grid(int64_t cell_h, int64_t cell_w, std::vector<int64_t> row_gutters, std::vector<int64_t> col_gutters,
                     int64_t margin_y, int64_t margin_x, uint8_t gutter_colour, int64_t flat_band = 0) {
  int64_t rows = int64_t(row_gutters.size()) + 1, cols = int64_t(col_gutters.size()) + 1;
  std::vector<int64_t> y0 = {margin_y}, x0 = {margin_x};
  for (int64_t g : row_gutters) y0.push_back(y0.back() + cell_h + g);
  for (int64_t g : col_gutters) x0.push_back(x0.back() + cell_w + g);
  io::Image img;
  img.height = y0.back() + cell_h + margin_y, img.width = x0.back() + cell_w + margin_x + 3, img.channels = 3;
  img.pixels.assign(size_t(img.height * img.width * 3), gutter_colour);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      for (int64_t y = 0; y < cell_h; ++y)
        for (int64_t x = 0; x < cell_w; ++x) {
          bool band = r == 0 && flat_band > 0 && y >= cell_h / 2 && y < cell_h / 2 + flat_band;
          for (int64_t k = 0; k < 3; ++k)
            img.pixels[size_t(((y0[size_t(r)] + y) * img.width + x0[size_t(c)] + x) * 3 + k)] =
                band ? gutter_colour : uint8_t((x * 7 + y * 3 + r * 50 + c * 20 + k * 11) % 200 + 20);
        }
  return img;
}
}  // namespace

TEST_CASE("cell boundaries found in the image: uneven gutters, a border, a flat band inside faces") {
  // 3 rows x 4 columns of 40x30 faces; gutters 6, 9 (rows) and 4, 8, 5 (columns); border 11 px top/bottom, 7 px
  // left, 10 right; white gutters.
  io::Image g = drawn_grid(40, 30, {6, 9}, {4, 8, 5}, 11, 7, 255);
  data::GridOptions opt;
  opt.rows = 3, opt.cols = 4, opt.out_size = 0;
  data::GridCut cut = data::cut_grid(g, opt, "uneven.png");
  REQUIRE(cut.row_spans.size() == 3);
  REQUIRE(cut.col_spans.size() == 4);
  CHECK(cut.row_spans[0].begin == 11);
  CHECK(cut.row_spans[1].begin == 11 + 40 + 6);
  CHECK(cut.row_spans[2].begin == 11 + 80 + 15);
  CHECK(cut.col_spans[3].begin == 7 + 90 + 17);
  for (const auto& s : cut.row_spans) CHECK(s.size() == 40);
  for (const auto& s : cut.col_spans) CHECK(s.size() == 30);
  REQUIRE(cut.kept.size() == 12);
  // Cell r2c3 is exactly the face drawn there.
  const data::GridCell& last = cut.kept.back();
  CHECK(last.row == 2);
  CHECK(last.col == 3);
  CHECK(last.image.height == 40);
  CHECK(last.image.width == 30);
  CHECK(last.image.at(0, 0, 0) == g.at(11 + 80 + 15, 7 + 90 + 17, 0));
  CHECK(last.image.at(39, 29, 2) == g.at(11 + 80 + 15 + 39, 7 + 90 + 17 + 29, 2));
  // rows/cols 0: as many as the image shows.
  opt.rows = opt.cols = 0;
  CHECK(data::cut_grid(g, opt).kept.size() == 12);
  // A 3 px flat band across the faces of row 0 is narrower than the gutters: merged back into the faces.
  io::Image banded = drawn_grid(40, 30, {6, 9}, {4, 8, 5}, 11, 7, 255, 3);
  opt.rows = 3, opt.cols = 4;
  data::GridCut b = data::cut_grid(banded, opt);
  CHECK(b.row_spans[0].begin == 11);
  CHECK(b.row_spans[0].size() == 40);
}

TEST_CASE("a grid whose rows or columns cannot be found is reported, not cut blindly") {
  data::GridOptions opt;
  opt.rows = 3, opt.cols = 4;
  // No gutters and no border: a seamless grid.
  io::Image seamless = drawn_grid(40, 30, {0, 0}, {0, 0, 0}, 0, 0, 255);
  seamless.width -= 3;  // drop the 3 px strip drawn_grid leaves at the right
  {
    io::Image t;
    t.height = seamless.height, t.width = seamless.width, t.channels = 3;
    for (int64_t y = 0; y < t.height; ++y)
      t.pixels.insert(t.pixels.end(), seamless.pixels.begin() + y * (t.width + 3) * 3,
                      seamless.pixels.begin() + (y * (t.width + 3) + t.width) * 3);
    seamless = t;
  }
  CHECK_THROWS_WITH_AS(data::cut_grid(seamless, opt, "seamless.png"),
                       doctest::Contains("seamless.png: no gutter or border of uniform colour between the rows"), Error);
  // ... unless the geometry is given: then equal cells.
  opt.gutter = opt.margin = 0;
  CHECK(data::cut_grid(seamless, opt).kept.size() == 12);
  opt.gutter = opt.margin = -1;
  // Fewer rows of faces than expected.
  io::Image two_rows = drawn_grid(40, 30, {6}, {4, 8, 5}, 11, 7, 255);
  CHECK_THROWS_WITH_AS(data::cut_grid(two_rows, opt, "two_rows.png"),
                       doctest::Contains("two_rows.png: found 2 rows of faces separated by uniform gutters, expected 3"), Error);
  // Given gutter and margin: the cells are where they say.
  io::Image even = drawn_grid(40, 30, {6, 6}, {6, 6, 6}, 9, 9, 0);
  opt.gutter = 6, opt.margin = 9, opt.out_size = 0;
  data::GridCut cut = data::cut_grid(even, opt);
  CHECK(cut.col_spans[1].begin == 9 + 36);
  CHECK(cut.row_spans[2].begin == 9 + 2 * (40 + 6));
  CHECK(cut.kept.size() == 12);
}

TEST_CASE("one bad grid does not stop the batch") {
  auto root = std::filesystem::temp_directory_path() / "fer_test_grid_batch";
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root / "in" / "happy");
  std::filesystem::create_directories(root / "in" / "sad");
  io::write_png(root / "in" / "happy" / "a.png", drawn_grid(20, 20, {5}, {5}, 4, 4, 255));
  io::write_png(root / "in" / "happy" / "b_seamless.png", make_grid(40, 2, 3, {}));
  std::ofstream(root / "in" / "sad" / "c_corrupt.png") << "not a png";
  io::write_png(root / "in" / "sad" / "d.png", drawn_grid(20, 20, {3}, {7}, 2, 6, 0));
  data::GridOptions opt;
  opt.rows = opt.cols = 2;
  opt.out_size = 16;
  data::GridFolderReport rep = data::extract_grid_folder(root / "in", root / "out", opt);
  CHECK(rep.grids == 2);
  CHECK(rep.faces == 8);
  REQUIRE(rep.failed.size() == 2);
  CHECK(rep.failed[0].find("b_seamless.png: no gutter or border") != std::string::npos);
  CHECK(rep.failed[1].find("c_corrupt.png") != std::string::npos);
  CHECK(std::filesystem::exists(root / "out" / "sad" / "d_r1c1.png"));
  CHECK_FALSE(std::filesystem::exists(root / "out" / "happy" / "b_seamless_r0c0.png"));
}
