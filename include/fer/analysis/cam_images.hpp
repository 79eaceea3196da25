#pragma once
// Turning class-activation maps into pictures: bilinear upsampling (half-pixel centres, as PyTorch's
// interpolate(align_corners=False) and OpenCV's resize), min-max scaling to [0, 1], the jet colour map, and a blend
// of the coloured map over the face (weight 0.5 each, the usual Grad-CAM figure); grids of faces with captions.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/io/image.hpp"

namespace fer::analysis {

// `src` [h, w] -> [H, W], each output pixel centre mapped to ((i + 0.5) * h / H - 0.5), clamped at the borders.
inline std::vector<double> upsample_bilinear(const std::vector<double>& src, int64_t h, int64_t w, int64_t H, int64_t W) {
  FER_CHECK(int64_t(src.size()) == h * w && h > 0 && w > 0 && H > 0 && W > 0, "upsample_bilinear: bad sizes");
  std::vector<double> out(size_t(H * W));
  auto axis = [](int64_t i, int64_t in, int64_t outn, int64_t& lo, int64_t& hi, double& frac) {
    double s = std::max((double(i) + 0.5) * double(in) / double(outn) - 0.5, 0.0);
    lo = std::min(int64_t(s), in - 1), hi = std::min(lo + 1, in - 1), frac = s - double(lo);
  };
  for (int64_t y = 0; y < H; ++y) {
    int64_t y0, y1;
    double fy;
    axis(y, h, H, y0, y1, fy);
    for (int64_t x = 0; x < W; ++x) {
      int64_t x0, x1;
      double fx;
      axis(x, w, W, x0, x1, fx);
      double top = src[size_t(y0 * w + x0)] * (1 - fx) + src[size_t(y0 * w + x1)] * fx;
      double bottom = src[size_t(y1 * w + x0)] * (1 - fx) + src[size_t(y1 * w + x1)] * fx;
      out[size_t(y * W + x)] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}

// (m - min) / (max - min); all zeros for a constant map.
inline std::vector<double> scale_to_unit(std::vector<double> m) {
  if (m.empty()) return m;
  auto [lo, hi] = std::minmax_element(m.begin(), m.end());
  double a = *lo, span = *hi - *lo;
  for (double& v : m) v = span > 0 ? (v - a) / span : 0.0;
  return m;
}

// The jet colour map: blue (0) -> cyan -> yellow -> red (1), piecewise linear.
inline void jet(double t, uint8_t rgb[3]) {
  t = std::clamp(t, 0.0, 1.0);
  auto ramp = [&](double centre) { return std::clamp(1.5 - std::abs(4.0 * t - centre), 0.0, 1.0); };
  rgb[0] = uint8_t(std::lround(255 * ramp(3))), rgb[1] = uint8_t(std::lround(255 * ramp(2))), rgb[2] = uint8_t(std::lround(255 * ramp(1)));
}

// A face (any channels) resized to side x side (bilinear), as RGB.
inline io::Image face_at(const io::Image& face, int64_t side) {
  io::Image rgb = io::to_rgb(face), out;
  out.height = out.width = side, out.channels = 3;
  out.pixels.resize(size_t(side * side * 3));
  std::vector<double> plane(size_t(rgb.height * rgb.width));
  for (int c = 0; c < 3; ++c) {
    for (int64_t i = 0; i < rgb.height * rgb.width; ++i) plane[size_t(i)] = rgb.pixels[size_t(i * 3 + c)];
    auto big = upsample_bilinear(plane, rgb.height, rgb.width, side, side);
    for (int64_t i = 0; i < side * side; ++i) out.pixels[size_t(i * 3 + c)] = uint8_t(std::clamp(std::lround(big[size_t(i)]), 0L, 255L));
  }
  return out;
}

// The map [h, w] (already scaled to [0, 1]) upsampled to the face's size, coloured with jet and blended over it.
inline io::Image blend_heat_map(const io::Image& face_rgb, const std::vector<double>& unit_map, int64_t h, int64_t w,
                                double map_weight = 0.5) {
  FER_CHECK(face_rgb.channels == 3, "blend_heat_map: expected an RGB face");
  auto big = upsample_bilinear(unit_map, h, w, face_rgb.height, face_rgb.width);
  io::Image out = face_rgb;
  uint8_t c[3];
  for (int64_t i = 0; i < face_rgb.height * face_rgb.width; ++i) {
    jet(big[size_t(i)], c);
    for (int k = 0; k < 3; ++k)
      out.pixels[size_t(i * 3 + k)] =
          uint8_t(std::lround((1 - map_weight) * face_rgb.pixels[size_t(i * 3 + k)] + map_weight * c[k]));
  }
  return out;
}

struct CamTile {
  io::Image image;  // RGB
  std::string caption;
};
struct CamGridRow {
  std::string label;
  std::vector<CamTile> tiles;
};

// Rows of captioned tiles under a title; an empty row says "none". Drawn with Cairo in
// kernels/cpu/analysis/cam_images.cpp.
void save_cam_grid_png(const std::string& title, const std::vector<CamGridRow>& rows, const std::filesystem::path& path,
                       int tile = 128);

}  // namespace fer::analysis
