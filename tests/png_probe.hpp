#pragma once
// Reading a PNG written by the report layer back through Cairo and counting pixels of a colour, so figure tests
// check that the data is drawn (colour counts in a region), not merely that a file exists.
#include <doctest/doctest.h>

#include <cairo/cairo.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>

namespace fer::testing {

struct Png {
  cairo_surface_t* s;
  explicit Png(const std::filesystem::path& p) : s(cairo_image_surface_create_from_png(p.c_str())) {
    REQUIRE(cairo_surface_status(s) == CAIRO_STATUS_SUCCESS);
  }
  Png(const Png&) = delete;
  Png& operator=(const Png&) = delete;
  ~Png() { cairo_surface_destroy(s); }
  int width() const { return cairo_image_surface_get_width(s); }
  int height() const { return cairo_image_surface_get_height(s); }
  // Pixels within `tol` (0-255 per channel) of the RGB colour (r, g, b) in [0, 1], inside [x0, x1) x [y0, y1).
  int64_t count(double r, double g, double b, int tol = 8, int x0 = 0, int y0 = 0, int x1 = 1 << 30, int y1 = 1 << 30) const {
    cairo_surface_flush(s);
    const unsigned char* data = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    int64_t n = 0;
    for (int y = std::max(0, y0); y < std::min(height(), y1); ++y)
      for (int x = std::max(0, x0); x < std::min(width(), x1); ++x) {
        const unsigned char* px = data + y * stride + 4 * x;  // ARGB32 little-endian: B G R A
        if (std::abs(px[2] - int(r * 255 + 0.5)) <= tol && std::abs(px[1] - int(g * 255 + 0.5)) <= tol &&
            std::abs(px[0] - int(b * 255 + 0.5)) <= tol)
          ++n;
      }
    return n;
  }
};

}  // namespace fer::testing
