// 2-d pooling on channels-last data: each output pixel reduces a window of input pixels, vectorized over the C
// contiguous channels. Parallel over images (a window's gradient scatter never crosses images).
#include "fer/backend/cpu/pool.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "fer/core/dtype.hpp"
#include "fer/core/parallel.hpp"

namespace fer::cpu {

namespace {

// The clipped window of output (oh, ow) and PyTorch's avg-pool divisor.
struct Window {
  int64_t h0, h1, w0, w1;
  int64_t divisor;
};
Window avg_window(const PoolGeometry& g, int64_t oh, int64_t ow) {
  int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
  int64_t h1 = std::min(h0 + g.kh, g.h + g.ph), w1 = std::min(w0 + g.kw, g.w + g.pw);
  int64_t pool_size = (h1 - h0) * (w1 - w0);  // counts padding, but not what lies beyond it
  h0 = std::max<int64_t>(h0, 0), w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, g.h), w1 = std::min(w1, g.w);
  return {h0, h1, w0, w1, g.count_include_pad ? pool_size : (h1 - h0) * (w1 - w0)};
}

}  // namespace

void max_pool2d_forward(const PoolGeometry& g, const Tensor& x, const Tensor& y, const Tensor& argmax) {
  dispatch_float(x.dtype(), "max_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    int32_t* pa = argmax.data<int32_t>();
    parallel_for(0, g.n * g.ho, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        int64_t b = r / g.ho, oh = r % g.ho;
        for (int64_t ow = 0; ow < g.wo; ++ow) {
          T* yo = py + ((b * g.ho + oh) * g.wo + ow) * g.c;
          int32_t* ao = pa + ((b * g.ho + oh) * g.wo + ow) * g.c;
          std::fill(yo, yo + g.c, -std::numeric_limits<T>::infinity());
          std::fill(ao, ao + g.c, -1);
          for (int64_t i = 0; i < g.kh; ++i) {
            int64_t ih = oh * g.sh - g.ph + i * g.dh;
            if (ih < 0 || ih >= g.h) continue;
            for (int64_t j = 0; j < g.kw; ++j) {
              int64_t iw = ow * g.sw - g.pw + j * g.dw;
              if (iw < 0 || iw >= g.w) continue;
              const T* xi = px + ((b * g.h + ih) * g.w + iw) * g.c;
              int32_t idx = int32_t(ih * g.w + iw);
              // First maximum wins; a NaN is taken (and then kept), as PyTorch's CPU kernel does.
              for (int64_t k = 0; k < g.c; ++k)
                if (xi[k] > yo[k] || std::isnan(xi[k]) || ao[k] < 0) yo[k] = xi[k], ao[k] = idx;
            }
          }
        }
      }
    });
  });
}

void max_pool2d_backward(const PoolGeometry& g, const Tensor& gy, const Tensor& argmax, const Tensor& gx) {
  dispatch_float(gy.dtype(), "max_pool2d backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gy.data<T>();
    const int32_t* pa = argmax.data<int32_t>();
    T* px = gx.data<T>();
    parallel_for(0, g.n, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t b = lo; b < hi; ++b)
        for (int64_t o = 0; o < g.ho * g.wo; ++o) {
          const T* go = pg + (b * g.ho * g.wo + o) * g.c;
          const int32_t* ao = pa + (b * g.ho * g.wo + o) * g.c;
          for (int64_t k = 0; k < g.c; ++k)
            if (ao[k] >= 0) px[(b * g.h * g.w + ao[k]) * g.c + k] += go[k];
        }
    });
  });
}

void avg_pool2d_forward(const PoolGeometry& g, const Tensor& x, const Tensor& y) {
  dispatch_float(x.dtype(), "avg_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(0, g.n * g.ho, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        int64_t b = r / g.ho, oh = r % g.ho;
        for (int64_t ow = 0; ow < g.wo; ++ow) {
          Window win = avg_window(g, oh, ow);
          T* yo = py + ((b * g.ho + oh) * g.wo + ow) * g.c;
          std::fill(yo, yo + g.c, T(0));
          for (int64_t ih = win.h0; ih < win.h1; ++ih)
            for (int64_t iw = win.w0; iw < win.w1; ++iw) {
              const T* xi = px + ((b * g.h + ih) * g.w + iw) * g.c;
              for (int64_t k = 0; k < g.c; ++k) yo[k] += xi[k];
            }
          T inv = win.divisor > 0 ? T(1) / T(win.divisor) : T(0);
          for (int64_t k = 0; k < g.c; ++k) yo[k] *= inv;
        }
      }
    });
  });
}

void avg_pool2d_backward(const PoolGeometry& g, const Tensor& gy, const Tensor& gx) {
  dispatch_float(gy.dtype(), "avg_pool2d backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gy.data<T>();
    T* px = gx.data<T>();
    parallel_for(0, g.n, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t b = lo; b < hi; ++b)
        for (int64_t oh = 0; oh < g.ho; ++oh)
          for (int64_t ow = 0; ow < g.wo; ++ow) {
            Window win = avg_window(g, oh, ow);
            if (win.divisor <= 0) continue;
            const T* go = pg + ((b * g.ho + oh) * g.wo + ow) * g.c;
            T inv = T(1) / T(win.divisor);
            for (int64_t ih = win.h0; ih < win.h1; ++ih)
              for (int64_t iw = win.w0; iw < win.w1; ++iw) {
                T* xi = px + ((b * g.h + ih) * g.w + iw) * g.c;
                for (int64_t k = 0; k < g.c; ++k) xi[k] += go[k] * inv;
              }
          }
    });
  });
}

namespace {
inline int64_t start_index(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
inline int64_t end_index(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }
}  // namespace

void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& y) {
  dispatch_float(x.dtype(), "adaptive_avg_pool2d", [&](auto tag) {
    using T = decltype(tag);
    int64_t n = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3), ho = y.size(1), wo = y.size(2);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(0, n * ho, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        int64_t b = r / ho, oh = r % ho;
        int64_t h0 = start_index(oh, h, ho), h1 = end_index(oh, h, ho);
        for (int64_t ow = 0; ow < wo; ++ow) {
          int64_t w0 = start_index(ow, w, wo), w1 = end_index(ow, w, wo);
          T* yo = py + ((b * ho + oh) * wo + ow) * c;
          std::fill(yo, yo + c, T(0));
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) {
              const T* xi = px + ((b * h + ih) * w + iw) * c;
              for (int64_t k = 0; k < c; ++k) yo[k] += xi[k];
            }
          T inv = T(1) / T((h1 - h0) * (w1 - w0));
          for (int64_t k = 0; k < c; ++k) yo[k] *= inv;
        }
      }
    });
  });
}

void adaptive_avg_pool2d_backward(const Tensor& gy, const Tensor& gx) {
  dispatch_float(gy.dtype(), "adaptive_avg_pool2d backward", [&](auto tag) {
    using T = decltype(tag);
    int64_t n = gx.size(0), h = gx.size(1), w = gx.size(2), c = gx.size(3), ho = gy.size(1), wo = gy.size(2);
    const T* pg = gy.data<T>();
    T* px = gx.data<T>();
    parallel_for(0, n, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t b = lo; b < hi; ++b)
        for (int64_t oh = 0; oh < ho; ++oh) {
          int64_t h0 = start_index(oh, h, ho), h1 = end_index(oh, h, ho);
          for (int64_t ow = 0; ow < wo; ++ow) {
            int64_t w0 = start_index(ow, w, wo), w1 = end_index(ow, w, wo);
            const T* go = pg + ((b * ho + oh) * wo + ow) * c;
            T inv = T(1) / T((h1 - h0) * (w1 - w0));
            for (int64_t ih = h0; ih < h1; ++ih)
              for (int64_t iw = w0; iw < w1; ++iw) {
                T* xi = px + ((b * h + ih) * w + iw) * c;
                for (int64_t k = 0; k < c; ++k) xi[k] += go[k] * inv;
              }
          }
        }
    });
  });
}

}  // namespace fer::cpu
