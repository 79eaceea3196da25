#pragma once
// Synthetic faces cut from grid images as generators and text-to-image models draw them: rows x cols faces,
// usually separated by gutters and surrounded by a border of uniform colour, sometimes unevenly. The cell
// boundaries are found in the image: a row (column) of pixels whose standard deviation is near zero is gutter or
// border, the runs between such rows (columns) are the cells. When a grid shows more runs than expected (a face
// with a flat band), the widest gaps are taken as the gutters; when it shows fewer, or none at all (a seamless
// grid), the grid is reported instead of cut blindly. --gutter/--margin give the geometry instead (a seamless
// 1024 px grid of 6x6 is --gutter 0 --margin 0: 170 px cells, the remainder at the right and bottom dropped).
// Each cell is resized to the model's input size (PIL-exact antialiased bilinear); cells that are blank or nearly
// constant (empty grid slots) are rejected.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "fer/data/hygiene.hpp"
#include "fer/data/image_folder.hpp"
#include "fer/data/resize.hpp"
#include "fer/io/image.hpp"

namespace fer::data {

struct GridOptions {
  int64_t rows = 6, cols = 6;    // faces per column / row; 0: as many as the image shows (detection only)
  int64_t out_size = 128;        // square output side; 0 keeps the cell size
  double min_pixel_std = 8.0;    // gray levels over all channels of the cell
  int64_t gutter = -1;           // pixels between cells; -1 (and margin -1): found in the image
  int64_t margin = -1;           // pixels of border around the grid; -1 (and gutter -1): found in the image
  double uniform_std = 3.0;      // a pixel row/column with a standard deviation below this is gutter or border
};

// A cell's extent along one axis: [begin, end).
struct Span {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};

struct GridCell {
  int64_t row, col;
  io::Image image;
};

struct GridCut {
  std::vector<GridCell> kept;
  std::vector<std::string> rejected;  // "r2c5: low variance (std 1.3)"
  std::vector<Span> row_spans, col_spans;
};

namespace grid_detail {

// Standard deviation of each pixel row (by_rows) or column of the image, over all its pixels and channels.
inline std::vector<double> line_std(const io::Image& g, bool by_rows) {
  int64_t n = by_rows ? g.height : g.width, len = by_rows ? g.width : g.height, c = g.channels;
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    double s = 0, s2 = 0;
    for (int64_t j = 0; j < len; ++j)
      for (int64_t k = 0; k < c; ++k) {
        double v = by_rows ? g.at(i, j, k) : g.at(j, i, k);
        s += v, s2 += v * v;
      }
    double m = s / double(len * c);
    out[size_t(i)] = std::sqrt(std::max(0.0, s2 / double(len * c) - m * m));
  }
  return out;
}

// The cells along one axis from its profile: runs of non-uniform lines, merged across the narrowest gaps until
// `expected` remain (0: keep all). Fails with a message saying what was found.
inline std::vector<Span> find_spans(const std::vector<double>& profile, double uniform_std, int64_t expected,
                                    const std::string& name, const char* axis) {
  std::vector<Span> runs;
  int64_t n = int64_t(profile.size()), uniform_lines = 0;
  for (int64_t i = 0; i < n;) {
    if (profile[size_t(i)] < uniform_std) {
      ++uniform_lines, ++i;
      continue;
    }
    int64_t j = i;
    while (j < n && profile[size_t(j)] >= uniform_std) ++j;
    runs.push_back({i, j});
    i = j;
  }
  FER_CHECK(uniform_lines > 0, name, ": no gutter or border of uniform colour between the ", axis,
            " (a seamless grid): give the geometry with --gutter 0 --margin 0 (equal cells) or --gutter G --margin M");
  FER_CHECK(!runs.empty(), name, ": the image is uniform, no faces in it");
  FER_CHECK(expected == 0 || int64_t(runs.size()) >= expected, name, ": found ", runs.size(), " ", axis,
            " of faces separated by uniform gutters, expected ", expected,
            " (give --gutter/--margin if the gutters are not uniform)");
  while (expected > 0 && int64_t(runs.size()) > expected) {  // merge across the narrowest gap (a flat band in a face)
    size_t best = 0;
    for (size_t k = 1; k + 1 < runs.size(); ++k)
      if (runs[k + 1].begin - runs[k].end < runs[best + 1].begin - runs[best].end) best = k;
    runs[best].end = runs[best + 1].end;
    runs.erase(runs.begin() + int64_t(best) + 1);
  }
  std::vector<int64_t> sizes;
  for (const Span& s : runs) sizes.push_back(s.size());
  std::sort(sizes.begin(), sizes.end());
  int64_t median = sizes[sizes.size() / 2];
  FER_CHECK(double(sizes.back() - sizes.front()) <= 0.1 * double(median) + 1, name, ": the ", axis,
            " of faces found between the gutters have unequal sizes (", sizes.front(), " to ", sizes.back(),
            " px): not a regular grid; give --gutter/--margin");
  return runs;
}

// Equal cells from an explicit geometry.
inline std::vector<Span> fixed_spans(int64_t length, int64_t count, int64_t gutter, int64_t margin) {
  int64_t cell = (length - 2 * margin - (count - 1) * gutter) / count;
  std::vector<Span> out;
  for (int64_t k = 0; k < count; ++k) out.push_back({margin + k * (cell + gutter), margin + k * (cell + gutter) + cell});
  return out;
}

}  // namespace grid_detail

// The cell boundaries of a grid image: found in it, or from opt.gutter/opt.margin.
inline void grid_spans(const io::Image& grid, const GridOptions& opt, const std::string& name, std::vector<Span>& rows,
                       std::vector<Span>& cols) {
  using namespace grid_detail;
  FER_CHECK(opt.rows >= 0 && opt.cols >= 0, name, ": grid of ", opt.rows, "x", opt.cols, " cells");
  if (opt.gutter < 0 && opt.margin < 0) {
    rows = find_spans(line_std(grid, true), opt.uniform_std, opt.rows, name, "rows");
    cols = find_spans(line_std(grid, false), opt.uniform_std, opt.cols, name, "columns");
  } else {
    int64_t gutter = std::max<int64_t>(opt.gutter, 0), margin = std::max<int64_t>(opt.margin, 0);
    FER_CHECK(opt.rows > 0 && opt.cols > 0, name, ": --gutter/--margin need the number of rows and columns");
    int64_t ch = (grid.height - 2 * margin - (opt.rows - 1) * gutter) / opt.rows;
    int64_t cw = (grid.width - 2 * margin - (opt.cols - 1) * gutter) / opt.cols;
    FER_CHECK(ch >= 4 && cw >= 4, name, ": a ", grid.height, "x", grid.width, " image cannot hold ", opt.rows, "x", opt.cols,
              " cells with gutter ", gutter, " and margin ", margin);
    rows = fixed_spans(grid.height, opt.rows, gutter, margin);
    cols = fixed_spans(grid.width, opt.cols, gutter, margin);
  }
  for (const auto* spans : {&rows, &cols})
    for (const Span& s : *spans) FER_CHECK(s.size() >= 4, name, ": a cell of ", s.size(), " px is too small for a face");
}

inline GridCut cut_grid(const io::Image& grid, const GridOptions& opt, const std::string& name = "grid") {
  FER_CHECK(opt.out_size >= 0, name, ": output size ", opt.out_size);
  GridCut out;
  grid_spans(grid, opt, name, out.row_spans, out.col_spans);
  int64_t c = grid.channels;
  std::vector<uint8_t> cell, scratch;
  for (size_t r = 0; r < out.row_spans.size(); ++r)
    for (size_t k = 0; k < out.col_spans.size(); ++k) {
      Span ys = out.row_spans[r], xs = out.col_spans[k];
      int64_t ch = ys.size(), cw = xs.size();
      cell.resize(size_t(ch * cw * c));
      for (int64_t y = 0; y < ch; ++y) {
        const uint8_t* src = grid.row(ys.begin + y) + xs.begin * c;
        std::copy(src, src + cw * c, cell.data() + y * cw * c);
      }
      double sd = pixel_std(cell.data(), cell.size());
      if (sd < opt.min_pixel_std) {
        char buf[96];
        std::snprintf(buf, sizeof(buf), "r%zuc%zu: low variance (pixel std %.2f)", r, k, sd);
        out.rejected.push_back(buf);
        continue;
      }
      GridCell g{int64_t(r), int64_t(k), {}};
      int64_t side_h = opt.out_size ? opt.out_size : ch, side_w = opt.out_size ? opt.out_size : cw;
      g.image.height = side_h, g.image.width = side_w, g.image.channels = c;
      g.image.pixels.resize(size_t(side_h * side_w * c));
      resize_bilinear_hwc<uint8_t>(cell.data(), ch, cw, c, g.image.pixels.data(), side_h, side_w, true, scratch);
      out.kept.push_back(std::move(g));
    }
  return out;
}

struct GridFolderReport {
  int64_t grids = 0, faces = 0, rejected = 0;
  std::vector<std::string> rejected_cells;  // "<file> r2c5: ..."
  std::vector<std::string> failed;          // grids that could not be read or cut: "<file>: why"
};

// Cuts every grid image under in_dir/<class>/ into out_dir/<class>/<stem>_r<r>c<c>.png (labels from the folder
// names, which must be classes of `classes`). A grid that cannot be read or cut is listed in `failed` and the
// others go on.
inline GridFolderReport extract_grid_folder(const std::filesystem::path& in_dir, const std::filesystem::path& out_dir,
                                            const GridOptions& opt,
                                            const std::vector<std::string>& classes = fer2013_class_names()) {
  FolderSplits grids = read_image_folder(in_dir, classes);
  GridFolderReport rep;
  for (const FileSample& s : grids.train) {
    GridCut cut;
    try {
      cut = cut_grid(io::read_image(s.path), opt, s.path.string());
    } catch (const std::exception& e) {
      rep.failed.push_back(e.what());
      continue;
    }
    auto dir = out_dir / classes[size_t(s.label)];
    std::filesystem::create_directories(dir);
    std::string stem = s.path.stem().string();
    for (const GridCell& g : cut.kept)
      io::write_png(dir / (stem + "_r" + std::to_string(g.row) + "c" + std::to_string(g.col) + ".png"), g.image);
    for (const std::string& r : cut.rejected) rep.rejected_cells.push_back(s.path.string() + " " + r);
    ++rep.grids;
    rep.faces += int64_t(cut.kept.size());
    rep.rejected += int64_t(cut.rejected.size());
  }
  return rep;
}

}  // namespace fer::data
