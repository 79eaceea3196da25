#pragma once
// The drawing surface behind report/plot.hpp's charts (and the other PNG figures of kernels/cpu): a white Cairo
// canvas with anchored text, lines and atomic PNG output, plus the axis helpers the charts share. Private to the
// compiled units, so Cairo stays out of the public headers.
#include <cairo/cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "fer/core/error.hpp"
#include "fer/io/atomic_file.hpp"
#include "fer/report/plot.hpp"

namespace fer::report::plot_detail {

class Canvas {
 public:
  Canvas(int w, int h) : w_(w), h_(h) {
    surface_ = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
    cr_ = cairo_create(surface_);
    FER_CHECK(cairo_status(cr_) == CAIRO_STATUS_SUCCESS, "plot: cannot create a ", w, "x", h, " canvas");
    cairo_set_source_rgb(cr_, 1, 1, 1);
    cairo_paint(cr_);
    cairo_select_font_face(cr_, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  }
  Canvas(const Canvas&) = delete;
  Canvas& operator=(const Canvas&) = delete;
  ~Canvas() {
    cairo_destroy(cr_);
    cairo_surface_destroy(surface_);
  }
  cairo_t* cr() { return cr_; }
  int width() const { return w_; }
  int height() const { return h_; }

  // Text anchored at (x, y): ax/ay in [0, 1] pick the anchor inside the text's box (0.5, 0.5 = centred).
  void text(const std::string& s, double x, double y, double size, double ax = 0.5, double ay = 0.5, bool bold = false,
            double angle = 0) {
    cairo_save(cr_);
    cairo_select_font_face(cr_, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr_, size);
    cairo_text_extents_t e;
    cairo_text_extents(cr_, s.c_str(), &e);
    cairo_translate(cr_, x, y);
    cairo_rotate(cr_, angle);
    cairo_move_to(cr_, -e.x_bearing - ax * e.width, -e.y_bearing - ay * e.height);
    cairo_show_text(cr_, s.c_str());
    cairo_restore(cr_);
  }
  void color(Rgb c, double alpha = 1) { cairo_set_source_rgba(cr_, c.r, c.g, c.b, alpha); }
  void line(double x0, double y0, double x1, double y1, double width) {
    cairo_set_line_width(cr_, width);
    cairo_move_to(cr_, x0, y0);
    cairo_line_to(cr_, x1, y1);
    cairo_stroke(cr_);
  }

  void save_png(const std::filesystem::path& path) {
    cairo_surface_flush(surface_);
    std::string png;
    auto sink = [](void* ctx, const unsigned char* data, unsigned int n) {
      static_cast<std::string*>(ctx)->append(reinterpret_cast<const char*>(data), n);
      return CAIRO_STATUS_SUCCESS;
    };
    cairo_status_t st = cairo_surface_write_to_png_stream(surface_, sink, &png);
    FER_CHECK(st == CAIRO_STATUS_SUCCESS, "plot: cannot encode ", path.string(), ": ", cairo_status_to_string(st));
    io::write_file_atomically(path, png);
  }

 private:
  int w_, h_;
  cairo_surface_t* surface_;
  cairo_t* cr_;
};

inline std::string format_number(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

// Round axis limits outward to a step from {1, 2, 5} x 10^k giving about `target` ticks.
inline double nice_step(double span, int target) {
  double raw = span / std::max(1, target);
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

inline int decimals_for(double step) { return std::max(0, int(-std::floor(std::log10(step) + 1e-9))); }

// A chart's plotting area: its box on the canvas (left, top, width pw, height ph) and the data ranges it shows.
struct PlotArea {
  double left, top, pw, ph;
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  double px(double x) const { return left + (x - x0) / (x1 - x0) * pw; }
  double py(double y) const { return top + (1 - (y - y0) / (y1 - y0)) * ph; }
};

// A chart's title above the area, its x label at the canvas's foot and its y label turned up at the left edge.
inline void draw_chart_titles(Canvas& c, const PlotArea& a, const std::string& title, const std::string& x_label,
                              const std::string& y_label) {
  c.color({0, 0, 0});
  c.text(title, a.left + a.pw / 2, a.top / 2, 18, 0.5, 0.5, true);
  c.text(x_label, a.left + a.pw / 2, c.height() - 20, 14);
  c.text(y_label, 22, a.top + a.ph / 2, 14, 0.5, 0.5, false, -M_PI / 2);
}

}  // namespace fer::report::plot_detail
