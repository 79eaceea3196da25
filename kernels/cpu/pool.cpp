// 2-d pooling on channels-last data: each output pixel reduces a window of input pixels, vectorized over the C
// contiguous channels. Forward passes run in parallel over output pixels; backward passes scatter into the input
// gradient, so they run in parallel over images (windows of different images never overlap).
#include "fer/kernels/pool.hpp"

#include <algorithm>
#include <limits>

#include "fer/core/dtype.hpp"
#include "fer/core/parallel.hpp"

namespace fer::kernels {

namespace {

// Elements touched per parallel task, so small layers are not split into tasks that cost more than they do.
constexpr int64_t kGrainWork = 16384;

int64_t pixel_grain(int64_t c, int64_t window) { return std::max<int64_t>(1, kGrainWork / std::max<int64_t>(1, c * window)); }

// The clipped window of output (oh, ow) and PyTorch's avg-pool divisor: with count_include_pad the window clipped
// to the padded extent (a ceil_mode window may reach beyond it), without it the input pixels it covers.
struct Window {
  int64_t h0, h1, w0, w1;
  int64_t divisor;
};
Window avg_window(const PoolGeometry& g, int64_t oh, int64_t ow) {
  int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
  int64_t h1 = std::min(h0 + g.kh, g.h + g.ph), w1 = std::min(w0 + g.kw, g.w + g.pw);
  int64_t padded_size = (h1 - h0) * (w1 - w0);
  h0 = std::max<int64_t>(h0, 0), w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, g.h), w1 = std::min(w1, g.w);
  if (h0 >= h1 || w0 >= w1) return {0, 0, 0, 0, 0};
  return {h0, h1, w0, w1, g.count_include_pad ? padded_size : (h1 - h0) * (w1 - w0)};
}

// Adaptive windows: [floor(i * in / out), ceil((i + 1) * in / out)).
inline int64_t adaptive_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
inline int64_t adaptive_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

// yo[k] = mean of the window's pixels (rows h0..h1, cols w0..w1 of image `xb`) times `scale`.
template <class T>
void window_sum(const T* xb, int64_t w, int64_t c, int64_t h0, int64_t h1, int64_t w0, int64_t w1, T scale,
                T* __restrict yo) {
  std::fill(yo, yo + c, T(0));
  for (int64_t ih = h0; ih < h1; ++ih)
    for (int64_t iw = w0; iw < w1; ++iw) {
      const T* __restrict xi = xb + (ih * w + iw) * c;
      for (int64_t k = 0; k < c; ++k) yo[k] += xi[k];
    }
  for (int64_t k = 0; k < c; ++k) yo[k] *= scale;
}

// gxb[window pixels][k] += go[k] * scale
template <class T>
void window_scatter(T* gxb, int64_t w, int64_t c, int64_t h0, int64_t h1, int64_t w0, int64_t w1, T scale,
                    const T* __restrict go) {
  for (int64_t ih = h0; ih < h1; ++ih)
    for (int64_t iw = w0; iw < w1; ++iw) {
      T* __restrict xi = gxb + (ih * w + iw) * c;
      for (int64_t k = 0; k < c; ++k) xi[k] += go[k] * scale;
    }
}

}  // namespace

void max_pool2d_forward_cpu(const MaxPool2dArgs& a) {
  const PoolGeometry& g = a.g;
  const TensorRef &x = a.x, &y = a.y, &argmax = a.argmax;
  dispatch_float(x.dtype(), "max_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    int32_t* pa = argmax.data<int32_t>();
    const int64_t c = g.c;
    parallel_for(0, g.n * g.ho * g.wo, pixel_grain(c, g.kh * g.kw), [&](int64_t lo, int64_t hi) {
      for (int64_t p = lo; p < hi; ++p) {
        int64_t b = p / (g.ho * g.wo), oh = p / g.wo % g.ho, ow = p % g.wo;
        T* __restrict yo = py + p * c;
        int32_t* __restrict ao = pa + p * c;
        bool empty = true;
        for (int64_t i = 0; i < g.kh; ++i) {
          int64_t ih = oh * g.sh - g.ph + i * g.dh;
          if (ih < 0 || ih >= g.h) continue;  // padding acts as -inf: it never wins
          for (int64_t j = 0; j < g.kw; ++j) {
            int64_t iw = ow * g.sw - g.pw + j * g.dw;
            if (iw < 0 || iw >= g.w) continue;
            const T* __restrict xi = px + ((b * g.h + ih) * g.w + iw) * c;
            const int32_t idx = int32_t(ih * g.w + iw);
            if (empty) {  // the first pixel seeds the maximum (even a -inf one, as PyTorch's index does)
              std::copy(xi, xi + c, yo);
              std::fill(ao, ao + c, idx);
              empty = false;
              continue;
            }
            // A strictly larger value or a NaN replaces the maximum: ties keep the first, the last NaN wins.
            for (int64_t k = 0; k < c; ++k) {
              T v = xi[k];
              bool take = (v > yo[k]) | (v != v);
              yo[k] = take ? v : yo[k];
              ao[k] = take ? idx : ao[k];
            }
          }
        }
        if (empty) {
          std::fill(yo, yo + c, -std::numeric_limits<T>::infinity());
          std::fill(ao, ao + c, -1);
        }
      }
    });
  });
}

void max_pool2d_backward_cpu(const MaxPool2dBackwardArgs& a) {
  const PoolGeometry& g = a.g;
  const TensorRef &gy = a.gy, &argmax = a.argmax, &gx = a.gx;
  dispatch_float(gy.dtype(), "max_pool2d backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gy.data<T>();
    const int32_t* pa = argmax.data<int32_t>();
    T* pgx = gx.data<T>();
    const int64_t c = g.c, pixels = g.ho * g.wo;
    parallel_for(0, g.n, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t b = lo; b < hi; ++b) {
        T* gxb = pgx + b * g.h * g.w * c;
        if (!a.accumulate) std::fill(gxb, gxb + g.h * g.w * c, T(0));  // a written gradient, zeroed image by image
        for (int64_t o = b * pixels; o < (b + 1) * pixels; ++o) {
          const T* go = pg + o * c;
          const int32_t* ao = pa + o * c;
          for (int64_t k = 0; k < c; ++k)
            if (ao[k] >= 0) gxb[ao[k] * c + k] += go[k];
        }
      }
    });
  });
}

void avg_pool2d_forward_cpu(const AvgPool2dArgs& a) {
  const PoolGeometry& g = a.g;
  const TensorRef &x = a.x, &y = a.y;
  dispatch_float(x.dtype(), "avg_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(0, g.n * g.ho * g.wo, pixel_grain(g.c, g.kh * g.kw), [&](int64_t lo, int64_t hi) {
      for (int64_t p = lo; p < hi; ++p) {
        int64_t b = p / (g.ho * g.wo), oh = p / g.wo % g.ho, ow = p % g.wo;
        Window win = avg_window(g, oh, ow);
        // An empty window (it cannot happen with PyTorch's size rules) averages to 0, as PyTorch's kernel does.
        T scale = win.divisor > 0 ? T(1) / T(win.divisor) : T(0);
        window_sum(px + b * g.h * g.w * g.c, g.w, g.c, win.h0, win.h1, win.w0, win.w1, scale, py + p * g.c);
      }
    });
  });
}

void avg_pool2d_backward_cpu(const AvgPool2dBackwardArgs& a) {
  const PoolGeometry& g = a.g;
  const TensorRef &gy = a.gy, &gx = a.gx;
  dispatch_float(gy.dtype(), "avg_pool2d backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gy.data<T>();
    T* pgx = gx.data<T>();
    parallel_for(0, g.n, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t b = lo; b < hi; ++b) {
        if (!a.accumulate) std::fill(pgx + b * g.h * g.w * g.c, pgx + (b + 1) * g.h * g.w * g.c, T(0));
        for (int64_t oh = 0; oh < g.ho; ++oh)
          for (int64_t ow = 0; ow < g.wo; ++ow) {
            Window win = avg_window(g, oh, ow);
            if (win.divisor <= 0) continue;
            const T* go = pg + ((b * g.ho + oh) * g.wo + ow) * g.c;
            window_scatter(pgx + b * g.h * g.w * g.c, g.w, g.c, win.h0, win.h1, win.w0, win.w1,
                           T(1) / T(win.divisor), go);
          }
      }
    });
  });
}

void adaptive_avg_pool2d_forward_cpu(const AdaptiveAvgPool2dArgs& a) {
  const TensorRef &x = a.x, &y = a.y;
  dispatch_float(x.dtype(), "adaptive_avg_pool2d", [&](auto tag) {
    using T = decltype(tag);
    int64_t n = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3), ho = y.size(1), wo = y.size(2);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    int64_t window = ((h + ho - 1) / ho + 1) * ((w + wo - 1) / wo + 1);
    parallel_for(0, n * ho * wo, pixel_grain(c, window), [&](int64_t lo, int64_t hi) {
      for (int64_t p = lo; p < hi; ++p) {
        int64_t b = p / (ho * wo), oh = p / wo % ho, ow = p % wo;
        int64_t h0 = adaptive_start(oh, h, ho), h1 = adaptive_end(oh, h, ho);
        int64_t w0 = adaptive_start(ow, w, wo), w1 = adaptive_end(ow, w, wo);
        window_sum(px + b * h * w * c, w, c, h0, h1, w0, w1, T(1) / T((h1 - h0) * (w1 - w0)), py + p * c);
      }
    });
  });
}

void adaptive_avg_pool2d_backward_cpu(const AdaptiveAvgPool2dBackwardArgs& a) {
  const TensorRef &gy = a.gy, &gx = a.gx;
  dispatch_float(gy.dtype(), "adaptive_avg_pool2d backward", [&](auto tag) {
    using T = decltype(tag);
    int64_t n = gx.size(0), h = gx.size(1), w = gx.size(2), c = gx.size(3), ho = gy.size(1), wo = gy.size(2);
    const T* pg = gy.data<T>();
    T* pgx = gx.data<T>();
    parallel_for(0, n, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t b = lo; b < hi; ++b) {
        if (!a.accumulate) std::fill(pgx + b * h * w * c, pgx + (b + 1) * h * w * c, T(0));
        for (int64_t oh = 0; oh < ho; ++oh) {
          int64_t h0 = adaptive_start(oh, h, ho), h1 = adaptive_end(oh, h, ho);
          for (int64_t ow = 0; ow < wo; ++ow) {
            int64_t w0 = adaptive_start(ow, w, wo), w1 = adaptive_end(ow, w, wo);
            const T* go = pg + ((b * ho + oh) * wo + ow) * c;
            window_scatter(pgx + b * h * w * c, w, c, h0, h1, w0, w1, T(1) / T((h1 - h0) * (w1 - w0)), go);
          }
        }
      }
    });
  });
}

}  // namespace fer::kernels
