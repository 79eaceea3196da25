#pragma once
// Bilinear image resizing with the semantics of PIL's Image.resize(BILINEAR), which torchvision's Resize uses
// on PIL images, so that preprocessing matches a PyTorch pipeline pixel for pixel.
//
// Each output pixel is a normalized triangle-filter average of input pixels around its center
// (out + 0.5) * in/out. When shrinking with antialias, the triangle is widened by the shrink factor, so every
// input pixel contributes (no aliasing); when growing (or antialias off) it has radius 1, which is exactly
// bilinear interpolation with align_corners=False (torch.nn.functional.interpolate), borders included:
// taps that fall outside the image are dropped and the rest renormalized, which equals clamping the
// coordinate. Width is resampled first, then height, as PIL does.
//
// u8 images use PIL's integer arithmetic: weights in 22-bit fixed point (rounded half away from zero),
// sums rounded half up, and the intermediate (width-resampled) image rounded to u8, so results are
// bit-identical to PIL. Float images accumulate in double with float/double intermediates.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "fer/core/parallel.hpp"
#include "fer/core/tensor.hpp"

namespace fer::data {

namespace resize_detail {

// For each output index along one axis: the first input index, the number of taps, and their weights.
struct Taps {
  std::vector<int64_t> first, count;
  std::vector<double> weight;  // out * max_count, row o holds count[o] weights
  int64_t max_count = 0;
};

inline double triangle(double x) {
  x = std::abs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

inline Taps bilinear_taps(int64_t in, int64_t out, bool antialias) {
  Taps t;
  double scale = double(in) / double(out);
  double filter_scale = antialias ? std::max(scale, 1.0) : 1.0;
  double support = 1.0 * filter_scale;  // the triangle's radius, in input pixels
  double inv_filter_scale = 1.0 / filter_scale;
  t.max_count = int64_t(std::ceil(support)) * 2 + 1;
  t.first.resize(size_t(out));
  t.count.resize(size_t(out));
  t.weight.assign(size_t(out * t.max_count), 0.0);
  for (int64_t o = 0; o < out; ++o) {
    double center = (double(o) + 0.5) * scale;
    // Taps whose pixel centers (i + 0.5) lie within the support; truncation toward zero as in C casts.
    int64_t lo = std::max<int64_t>(int64_t(center - support + 0.5), 0);
    int64_t hi = std::min<int64_t>(int64_t(center + support + 0.5), in);
    int64_t n = std::min(hi - lo, t.max_count);
    double* w = &t.weight[size_t(o * t.max_count)];
    double total = 0.0;
    for (int64_t k = 0; k < n; ++k) {
      w[k] = triangle((double(lo + k) - center + 0.5) * inv_filter_scale);
      total += w[k];
    }
    if (total != 0.0)
      for (int64_t k = 0; k < n; ++k) w[k] /= total;
    t.first[size_t(o)] = lo;
    t.count[size_t(o)] = n;
  }
  return t;
}

// u8 arithmetic: 22 fractional bits leave room for 255 * (sum of weights <= ~1.x) plus sign in 32 bits.
inline constexpr int kFixedBits = 22;

inline std::vector<int32_t> fixed_point(const Taps& t) {
  std::vector<int32_t> q(t.weight.size());
  for (size_t i = 0; i < q.size(); ++i) {
    double v = t.weight[i] * double(1 << kFixedBits);
    q[i] = int32_t(v < 0 ? v - 0.5 : v + 0.5);
  }
  return q;
}

// Resamples the middle axis of a [outer, n_in, inner] array into [outer, n_out, inner].
template <class T>
void resample_axis(const T* src, int64_t outer, int64_t n_in, int64_t inner, T* dst, int64_t n_out, const Taps& t) {
  if constexpr (std::is_same_v<T, uint8_t>) {
    std::vector<int32_t> q = fixed_point(t);
    for (int64_t a = 0; a < outer; ++a)
      for (int64_t o = 0; o < n_out; ++o) {
        const int32_t* w = &q[size_t(o * t.max_count)];
        const T* s = src + (a * n_in + t.first[size_t(o)]) * inner;
        T* d = dst + (a * n_out + o) * inner;
        for (int64_t c = 0; c < inner; ++c) {
          int64_t acc = int64_t(1) << (kFixedBits - 1);  // rounds the final shift half up
          for (int64_t k = 0; k < t.count[size_t(o)]; ++k) acc += int64_t(s[k * inner + c]) * w[k];
          acc >>= kFixedBits;
          d[c] = T(std::clamp<int64_t>(acc, 0, 255));
        }
      }
  } else {
    for (int64_t a = 0; a < outer; ++a)
      for (int64_t o = 0; o < n_out; ++o) {
        const double* w = &t.weight[size_t(o * t.max_count)];
        const T* s = src + (a * n_in + t.first[size_t(o)]) * inner;
        T* d = dst + (a * n_out + o) * inner;
        for (int64_t c = 0; c < inner; ++c) {
          double acc = 0.0;
          for (int64_t k = 0; k < t.count[size_t(o)]; ++k) acc += double(s[k * inner + c]) * w[k];
          d[c] = T(acc);
        }
      }
  }
}

}  // namespace resize_detail

// Resizes one HWC image (u8, float or double) from h x w to out_h x out_w; `scratch` holds the intermediate.
template <class T>
void resize_bilinear_hwc(const T* src, int64_t h, int64_t w, int64_t c, T* dst, int64_t out_h, int64_t out_w,
                         bool antialias, std::vector<T>& scratch) {
  using namespace resize_detail;
  FER_CHECK(h > 0 && w > 0 && c > 0 && out_h > 0 && out_w > 0, "resize_bilinear: sizes must be positive (", h, "x",
            w, "x", c, " -> ", out_h, "x", out_w, ")");
  bool resample_w = out_w != w, resample_h = out_h != h;
  if (!resample_w && !resample_h) {
    std::copy(src, src + h * w * c, dst);
    return;
  }
  const T* rows = src;  // [h, out_w, c] after the width pass
  if (resample_w) {
    T* target = dst;
    if (resample_h) {
      scratch.resize(size_t(h * out_w * c));
      target = scratch.data();
    }
    resample_axis(src, h, w, c, target, out_w, bilinear_taps(w, out_w, antialias));
    rows = target;
  }
  if (resample_h) resample_axis(rows, 1, h, out_w * c, dst, out_h, bilinear_taps(h, out_h, antialias));
}

// Resizes [H, W, C] or [N, H, W, C] images (u8, f32 or f64; contiguous CPU) to out_h x out_w. Antialiased
// shrinking by default (PIL / torchvision Resize); antialias=false gives plain bilinear in both directions.
inline Tensor resize_bilinear(const Tensor& images, int64_t out_h, int64_t out_w, bool antialias = true) {
  FER_CHECK(images.defined(), "resize_bilinear: undefined input");
  FER_CHECK(images.dim() == 3 || images.dim() == 4, "resize_bilinear: expected [H, W, C] or [N, H, W, C], got ",
            images.shape().str());
  FER_CHECK(images.device().is_cpu(), "resize_bilinear: CPU tensors only");
  FER_CHECK(out_h > 0 && out_w > 0, "resize_bilinear: output size must be positive, got ", out_h, "x", out_w);
  Tensor x = images.is_contiguous() ? images : images.clone();
  bool batched = x.dim() == 4;
  int64_t n = batched ? x.size(0) : 1, h = x.size(-3), w = x.size(-2), c = x.size(-1);
  Shape out_shape = batched ? Shape{n, out_h, out_w, c} : Shape{out_h, out_w, c};
  Tensor y = Tensor::empty(out_shape, x.dtype());
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* src = static_cast<const T*>(x.raw_data());
    T* dst = static_cast<T*>(y.raw_data());
    parallel_for(0, n, 1, [&](int64_t lo, int64_t hi) {
      std::vector<T> scratch;
      for (int64_t i = lo; i < hi; ++i)
        resize_bilinear_hwc(src + i * h * w * c, h, w, c, dst + i * out_h * out_w * c, out_h, out_w, antialias, scratch);
    });
  };
  switch (x.dtype()) {
    case DType::u8: run(uint8_t{}); break;
    case DType::f32: run(float{}); break;
    case DType::f64: run(double{}); break;
    default: fail("resize_bilinear: dtype ", dtype_name(x.dtype()), " is not supported (u8, f32 or f64)");
  }
  return y;
}

}  // namespace fer::data
