#pragma once
// Training-time augmentation. On the uint8 image (after resizing, before conversion to float): AutoAugment,
// RandAugment or TrivialAugmentWide with torchvision's policies (data/auto_augment.hpp). On the float HWC image in
// [0, 1] (before normalization): horizontal flip, random crop with zero padding, random resized crop, small
// rotation, brightness/contrast jitter; random erasing after normalization (as torchvision's RandomErasing on
// tensors). Every draw comes from a per-sample generator seeded by (seed, epoch, sample), so a batch is
// reproducible whatever thread builds it.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/core/rng.hpp"
#include "fer/data/auto_augment.hpp"
#include "fer/data/resize.hpp"

namespace fer::data {

struct AugmentOptions {
  bool hflip = true;
  int64_t crop_padding = 0;            // RandomCrop(size, padding); 0 = off
  double resized_crop_min_scale = 1;   // RandomResizedCrop(scale=(s, 1), ratio=(3/4, 4/3)); 1 = off
  double rotation_degrees = 0;         // uniform in [-d, d]; 0 = off
  double brightness = 0, contrast = 0; // ColorJitter factors in [1 - b, 1 + b]
  double erasing_p = 0;                // RandomErasing(p, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0)
  AutoAugmentKind policy = AutoAugmentKind::none;  // on the uint8 image, before everything above
  bool any_geometric() const { return crop_padding > 0 || resized_crop_min_scale < 1 || rotation_degrees > 0 || policy != AutoAugmentKind::none; }

  // Flip and a padded random crop (the CIFAR/Fashion-MNIST recipe).
  static AugmentOptions light(int64_t size) {
    AugmentOptions a;
    a.crop_padding = std::max<int64_t>(1, size / 8);
    return a;
  }
  // The defaults FER practitioners use at 48-64 px: flip, 10% padding crop, +-10 degrees, mild jitter, erasing.
  static AugmentOptions standard(int64_t size) {
    AugmentOptions a;
    a.crop_padding = std::max<int64_t>(1, size / 10);
    a.rotation_degrees = 10;
    a.brightness = a.contrast = 0.2;
    a.erasing_p = 0.25;
    return a;
  }
  // The recipes by their --augment name: standard, light, or a policy (autoaugment, randaugment, trivialaugment)
  // on top of the light recipe, as torchvision's ImageNet references combine crop + flip with the policy.
  static AugmentOptions named(const std::string& name, int64_t size) {
    if (name == "standard") return standard(size);
    if (name == "light") return light(size);
    FER_CHECK(name == "autoaugment" || name == "randaugment" || name == "trivialaugment", "--augment ", name,
              ": expected standard, light, autoaugment, randaugment or trivialaugment");
    AugmentOptions a = light(size);
    a.policy = parse_auto_augment(name);
    return a;
  }
};

namespace augment_detail {

// Samples img [h, w, c] at (y, x) bilinearly; outside -> 0.
inline float sample(const float* img, int64_t h, int64_t w, int64_t c, int64_t k, double y, double x) {
  int64_t y0 = int64_t(std::floor(y)), x0 = int64_t(std::floor(x));
  double fy = y - double(y0), fx = x - double(x0);
  auto at = [&](int64_t yy, int64_t xx) -> double {
    return (yy < 0 || yy >= h || xx < 0 || xx >= w) ? 0.0 : double(img[(yy * w + xx) * c + k]);
  };
  return float((1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1)));
}

// out(y, x) = in(A * (y, x) + t) about the image centre (inverse mapping), bilinear, zero fill.
inline void affine_warp(std::vector<float>& img, int64_t h, int64_t w, int64_t c, double a00, double a01, double a10,
                        double a11, double ty, double tx) {
  std::vector<float> src = img;
  double cy = (double(h) - 1) / 2, cx = (double(w) - 1) / 2;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      double dy = double(y) - cy, dx = double(x) - cx;
      double sy = a00 * dy + a01 * dx + cy + ty, sx = a10 * dy + a11 * dx + cx + tx;
      for (int64_t k = 0; k < c; ++k) img[size_t((y * w + x) * c + k)] = sample(src.data(), h, w, c, k, sy, sx);
    }
}

inline void rotate(std::vector<float>& img, int64_t h, int64_t w, int64_t c, double degrees) {
  double t = degrees * M_PI / 180, cs = std::cos(t), sn = std::sin(t);
  affine_warp(img, h, w, c, cs, -sn, sn, cs, 0, 0);
}

inline void jitter(std::vector<float>& img, double brightness_factor, double contrast_factor) {
  double mean = 0;
  for (float v : img) mean += v;
  mean /= double(img.size());
  for (float& v : img) {
    double b = double(v) * brightness_factor;
    v = float(std::clamp((b - mean * brightness_factor) * contrast_factor + mean * brightness_factor, 0.0, 1.0));
  }
}

}  // namespace augment_detail

// Geometric and photometric augmentation in place on img [h, w, c] with values in [0, 1].
inline void augment_image(std::vector<float>& img, int64_t h, int64_t w, int64_t c, const AugmentOptions& o, Generator& g) {
  using namespace augment_detail;
  if (o.resized_crop_min_scale < 1) {
    // RandomResizedCrop: area fraction in [s, 1], log-uniform aspect ratio in [3/4, 4/3], 10 tries then full image.
    for (int attempt = 0; attempt < 10; ++attempt) {
      double area = double(h * w) * g.uniform(o.resized_crop_min_scale, 1.0);
      double ratio = std::exp(g.uniform(std::log(3.0 / 4), std::log(4.0 / 3)));
      int64_t cw = int64_t(std::lround(std::sqrt(area * ratio))), ch = int64_t(std::lround(std::sqrt(area / ratio)));
      if (cw < 1 || ch < 1 || cw > w || ch > h) continue;
      int64_t y0 = int64_t(g.below(uint64_t(h - ch + 1))), x0 = int64_t(g.below(uint64_t(w - cw + 1)));
      std::vector<float> crop(size_t(ch * cw * c)), scratch;
      for (int64_t y = 0; y < ch; ++y)
        std::copy(img.begin() + ((y0 + y) * w + x0) * c, img.begin() + ((y0 + y) * w + x0 + cw) * c, crop.begin() + y * cw * c);
      resize_bilinear_hwc<float>(crop.data(), ch, cw, c, img.data(), h, w, true, scratch);
      break;
    }
  }
  if (o.crop_padding > 0) {
    int64_t p = o.crop_padding;
    int64_t dy = int64_t(g.below(uint64_t(2 * p + 1))) - p, dx = int64_t(g.below(uint64_t(2 * p + 1))) - p;
    std::vector<float> src = img;
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        for (int64_t k = 0; k < c; ++k) {
          int64_t sy = y + dy, sx = x + dx;
          img[size_t((y * w + x) * c + k)] = (sy < 0 || sy >= h || sx < 0 || sx >= w) ? 0.f : src[size_t((sy * w + sx) * c + k)];
        }
  }
  if (o.hflip && g.uniform() < 0.5)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w / 2; ++x)
        for (int64_t k = 0; k < c; ++k) std::swap(img[size_t((y * w + x) * c + k)], img[size_t((y * w + (w - 1 - x)) * c + k)]);
  if (o.rotation_degrees > 0) rotate(img, h, w, c, g.uniform(-o.rotation_degrees, o.rotation_degrees));
  if (o.brightness > 0 || o.contrast > 0)
    jitter(img, 1 + g.uniform(-o.brightness, o.brightness), 1 + g.uniform(-o.contrast, o.contrast));
}

// RandomErasing on a normalized image: with probability p a rectangle (area 2-33%, aspect 0.3-3.3) set to 0.
inline void random_erase(std::vector<float>& img, int64_t h, int64_t w, int64_t c, double p, Generator& g) {
  if (p <= 0 || g.uniform() >= p) return;
  for (int attempt = 0; attempt < 10; ++attempt) {
    double area = double(h * w) * g.uniform(0.02, 0.33);
    double ratio = std::exp(g.uniform(std::log(0.3), std::log(3.3)));
    int64_t eh = int64_t(std::lround(std::sqrt(area * ratio))), ew = int64_t(std::lround(std::sqrt(area / ratio)));
    if (eh < 1 || ew < 1 || eh >= h || ew >= w) continue;
    int64_t y0 = int64_t(g.below(uint64_t(h - eh + 1))), x0 = int64_t(g.below(uint64_t(w - ew + 1)));
    for (int64_t y = y0; y < y0 + eh; ++y)
      std::fill(img.begin() + (y * w + x0) * c, img.begin() + (y * w + x0 + ew) * c, 0.f);
    return;
  }
}

}  // namespace fer::data
