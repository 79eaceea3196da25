// The captioned grids of class-activation maps of analysis/cam_images.hpp, drawn on report's Cairo canvas.
#include "fer/analysis/cam_images.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cpu/report/canvas.hpp"

namespace fer::analysis {

void save_cam_grid_png(const std::string& title, const std::vector<CamGridRow>& rows, const std::filesystem::path& path,
                       int tile) {
  using namespace report::plot_detail;
  size_t cols = 1;
  for (const auto& r : rows) cols = std::max(cols, r.tiles.size());
  const int left = 150, top = 50, caption = 20, gap = 8;
  const int width = std::max(720, left + int(cols) * (tile + gap) + gap);
  const int height = top + int(rows.size()) * (tile + caption + gap) + gap;
  Canvas c(width, height);
  c.color({0, 0, 0});
  c.text(title, width / 2.0, top / 2.0, 16, 0.5, 0.5, true);
  for (size_t r = 0; r < rows.size(); ++r) {
    double y = top + double(r) * (tile + caption + gap);
    c.color({0, 0, 0});
    c.text(rows[r].label, 10, y + tile / 2.0, 13, 0.0, 0.5, true);
    if (rows[r].tiles.empty()) c.text("none", left + 10, y + tile / 2.0, 12, 0.0, 0.5);
    for (size_t k = 0; k < rows[r].tiles.size(); ++k) {
      io::Image img = face_at(rows[r].tiles[k].image, tile);
      cairo_surface_t* s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, tile, tile);
      cairo_surface_flush(s);
      unsigned char* data = cairo_image_surface_get_data(s);
      int stride = cairo_image_surface_get_stride(s);
      for (int yy = 0; yy < tile; ++yy)
        for (int xx = 0; xx < tile; ++xx) {
          const uint8_t* p = img.pixels.data() + (yy * tile + xx) * 3;
          reinterpret_cast<uint32_t*>(data + yy * stride)[xx] = (uint32_t(p[0]) << 16) | (uint32_t(p[1]) << 8) | p[2];
        }
      cairo_surface_mark_dirty(s);
      double x = left + double(k) * (tile + gap);
      cairo_set_source_surface(c.cr(), s, x, y);
      cairo_paint(c.cr());
      cairo_surface_destroy(s);
      c.color({0, 0, 0});
      c.text(rows[r].tiles[k].caption, x + tile / 2.0, y + tile + caption / 2.0, 11);
    }
  }
  c.save_png(path);
}

}  // namespace fer::analysis
