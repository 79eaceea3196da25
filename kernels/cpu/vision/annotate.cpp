// Labelled boxes drawn on a copy of a photo (vision/annotate.hpp) with Cairo.
#include "fer/vision/annotate.hpp"

#include <cairo/cairo.h>

#include <algorithm>
#include <cstdint>

#include "fer/core/error.hpp"
#include "fer/io/atomic_file.hpp"

namespace fer::vision {

void write_annotated_png(const std::filesystem::path& path, const io::Image& photo, const std::vector<LabelledBox>& boxes) {
  const io::Image rgb = io::to_rgb(photo);
  const int w = int(rgb.width), h = int(rgb.height);
  cairo_surface_t* surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
  cairo_t* cr = cairo_create(surface);
  auto cleanup = [&] {
    cairo_destroy(cr);
    cairo_surface_destroy(surface);
  };
  if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
    cleanup();
    fail(path.string(), ": cannot create a ", w, "x", h, " drawing surface");
  }
  // The photo's pixels into the surface (RGB24: one native-endian 32-bit word per pixel, 0x00RRGGBB).
  cairo_surface_flush(surface);
  unsigned char* data = cairo_image_surface_get_data(surface);
  const int stride = cairo_image_surface_get_stride(surface);
  for (int y = 0; y < h; ++y) {
    auto* row = reinterpret_cast<uint32_t*>(data + size_t(y) * size_t(stride));
    const uint8_t* src = rgb.row(y);
    for (int x = 0; x < w; ++x) row[x] = uint32_t(src[3 * x]) << 16 | uint32_t(src[3 * x + 1]) << 8 | src[3 * x + 2];
  }
  cairo_surface_mark_dirty(surface);

  const double line = std::max(2.0, std::min(w, h) / 150.0), font = std::max(10.0, std::min(w, h) / 22.0);
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
  cairo_set_font_size(cr, font);
  for (const LabelledBox& b : boxes) {
    cairo_set_source_rgb(cr, 0.0, 0.85, 0.3);
    cairo_set_line_width(cr, line);
    cairo_rectangle(cr, double(b.box.x), double(b.box.y), double(b.box.width), double(b.box.height));
    cairo_stroke(cr);
    cairo_text_extents_t e;
    cairo_text_extents(cr, b.label.c_str(), &e);
    // The label on a dark band above the box (inside the photo when the box touches its top).
    const double pad = font * 0.25, band = e.height + 2 * pad;
    const double bx = double(b.box.x), by = std::max(0.0, double(b.box.y) - band);
    cairo_set_source_rgba(cr, 0, 0, 0, 0.7);
    cairo_rectangle(cr, bx, by, e.width + 2 * pad, band);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_move_to(cr, bx + pad - e.x_bearing, by + pad - e.y_bearing);
    cairo_show_text(cr, b.label.c_str());
  }
  cairo_surface_flush(surface);
  std::string png;
  auto sink = [](void* ctx, const unsigned char* bytes, unsigned int n) {
    static_cast<std::string*>(ctx)->append(reinterpret_cast<const char*>(bytes), n);
    return CAIRO_STATUS_SUCCESS;
  };
  const cairo_status_t st = cairo_surface_write_to_png_stream(surface, sink, &png);
  cleanup();
  FER_CHECK(st == CAIRO_STATUS_SUCCESS, path.string(), ": cannot encode PNG: ", cairo_status_to_string(st));
  io::write_file_atomically(path, png);
}

}  // namespace fer::vision
