#pragma once
// Synthetic faces cut from grid images: a generator's preview grid (e.g. 1024x1024 holding 6x6 faces) is split
// into rows x cols cells of floor(H/rows) x floor(W/cols) pixels (170 px for 1024/6; the remainder at the right and
// bottom edge is dropped), each resized to the model's input size (PIL-exact antialiased bilinear), and cells that
// are blank or nearly constant (pixel standard deviation below a threshold: empty grid slots, padding) rejected.
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
  int64_t rows = 6, cols = 6;
  int64_t out_size = 128;        // square output side; 0 keeps the cell size
  double min_pixel_std = 8.0;    // gray levels over all channels of the cell
};

struct GridCell {
  int64_t row, col;
  io::Image image;
};

struct GridCut {
  std::vector<GridCell> kept;
  std::vector<std::string> rejected;  // "r2c5: low variance (std 1.3)"
};

inline GridCut cut_grid(const io::Image& grid, const GridOptions& opt, const std::string& name = "grid") {
  FER_CHECK(opt.rows > 0 && opt.cols > 0, name, ": grid of ", opt.rows, "x", opt.cols, " cells");
  int64_t ch = grid.height / opt.rows, cw = grid.width / opt.cols, c = grid.channels;
  FER_CHECK(ch >= 4 && cw >= 4, name, ": a ", grid.height, "x", grid.width, " image cannot hold ", opt.rows, "x",
            opt.cols, " cells");
  FER_CHECK(opt.out_size >= 0, name, ": output size ", opt.out_size);
  GridCut out;
  std::vector<uint8_t> cell(size_t(ch * cw * c)), scratch;
  for (int64_t r = 0; r < opt.rows; ++r)
    for (int64_t k = 0; k < opt.cols; ++k) {
      for (int64_t y = 0; y < ch; ++y) {
        const uint8_t* src = grid.row(r * ch + y) + k * cw * c;
        std::copy(src, src + cw * c, cell.data() + y * cw * c);
      }
      double sd = pixel_std(cell.data(), cell.size());
      if (sd < opt.min_pixel_std) {
        char buf[96];
        std::snprintf(buf, sizeof(buf), "r%lldc%lld: low variance (pixel std %.2f)", (long long)r, (long long)k, sd);
        out.rejected.push_back(buf);
        continue;
      }
      GridCell g{r, k, {}};
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
};

// Cuts every grid image under in_dir/<class>/ into out_dir/<class>/<stem>_r<r>c<c>.png (labels from the folder
// names, which must be classes of `classes`).
inline GridFolderReport extract_grid_folder(const std::filesystem::path& in_dir, const std::filesystem::path& out_dir,
                                            const GridOptions& opt,
                                            const std::vector<std::string>& classes = fer2013_class_names()) {
  FolderSplits grids = read_image_folder(in_dir, classes);
  GridFolderReport rep;
  for (const FileSample& s : grids.train) {
    io::Image img = io::read_image(s.path);
    GridCut cut = cut_grid(img, opt, s.path.string());
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
