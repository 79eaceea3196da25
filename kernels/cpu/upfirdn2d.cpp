// upfirdn2d on NHWC: every output pixel gathers the few input pixels its filter taps land on (the inserted
// zeros and the padding are never materialised), vectorised over channels, rows in parallel.
#include "fer/kernels/upfirdn2d.hpp"

#include <algorithm>

#include "fer/core/parallel.hpp"

namespace fer::kernels {

namespace {

constexpr int64_t kGrainWork = 16384;  // multiply-adds per parallel chunk, at least

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// Taps k of a filter of size `taps` whose position b + k in the upsampled signal (length `len`) holds an input
// sample, i.e. 0 <= b + k < len and (b + k) % up == 0: k = first, first + up, ... < end.
struct TapRange {
  int64_t first, end;
};
TapRange taps_on_samples(int64_t b, int64_t up, int64_t taps, int64_t len) {
  int64_t first = std::max<int64_t>(0, -b);
  int64_t r = (b + first) % up;
  if (r) first += up - r;
  return {first, std::min(taps, len - b)};
}

struct Geometry {
  int64_t N, H, W, C, fh, fw, OH, OW;
};

template <class T>
struct Filter {
  const T* f;
  int64_t fh, fw;
  bool flip;
  T gain;
  // The weight tap (ky, kx) applies with: a true convolution reverses the stored filter.
  T operator()(int64_t ky, int64_t kx) const {
    return gain * (flip ? f[ky * fw + kx] : f[(fh - 1 - ky) * fw + (fw - 1 - kx)]);
  }
};

template <class T>
void forward_impl(const Geometry& g, const T* px, const Filter<T>& filt, T* py, const UpFirDnParams& p) {
  const int64_t UH = g.H * p.up_y, UW = g.W * p.up_x;
  const int64_t row_work = std::max<int64_t>(1, g.OW * g.C * g.fh * g.fw / (p.up_x * p.up_y));
  parallel_for(0, g.N * g.OH, std::max<int64_t>(1, kGrainWork / row_work), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t n = r / g.OH, oy = r % g.OH;
      const int64_t by = oy * p.down_y - p.pad_y0;
      const TapRange ty = taps_on_samples(by, p.up_y, g.fh, UH);
      const T* xn = px + n * g.H * g.W * g.C;
      T* yrow = py + r * g.OW * g.C;
      for (int64_t ox = 0; ox < g.OW; ++ox) {
        T* __restrict yo = yrow + ox * g.C;
        std::fill(yo, yo + g.C, T(0));
        const int64_t bx = ox * p.down_x - p.pad_x0;
        const TapRange tx = taps_on_samples(bx, p.up_x, g.fw, UW);
        for (int64_t ky = ty.first; ky < ty.end; ky += p.up_y) {
          const T* xr = xn + ((by + ky) / p.up_y) * g.W * g.C;
          for (int64_t kx = tx.first; kx < tx.end; kx += p.up_x) {
            const T wgt = filt(ky, kx);
            const T* __restrict xs = xr + ((bx + kx) / p.up_x) * g.C;
            for (int64_t c = 0; c < g.C; ++c) yo[c] += wgt * xs[c];
          }
        }
      }
    }
  });
}

// The adjoint: input pixel (iy, ix) sits at upsampled position iy*up_y + pad_y0 of the padded signal, which
// output oy reads through tap ky = iy*up_y + pad_y0 - oy*down_y.
template <class T>
void backward_impl(const Geometry& g, const T* pgy, const Filter<T>& filt, T* pgx, const UpFirDnParams& p) {
  const int64_t row_work = std::max<int64_t>(1, g.W * g.C * g.fh * g.fw / (p.down_x * p.down_y));
  parallel_for(0, g.N * g.H, std::max<int64_t>(1, kGrainWork / row_work), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t n = r / g.H, iy = r % g.H;
      const int64_t ty = iy * p.up_y + p.pad_y0;
      const int64_t oy_lo = std::max<int64_t>(0, ceil_div(ty - g.fh + 1, p.down_y));
      const int64_t oy_hi = std::min<int64_t>(g.OH - 1, floor_div(ty, p.down_y));
      const T* gyn = pgy + n * g.OH * g.OW * g.C;
      for (int64_t ix = 0; ix < g.W; ++ix) {
        T* __restrict gxo = pgx + (r * g.W + ix) * g.C;
        const int64_t tx = ix * p.up_x + p.pad_x0;
        const int64_t ox_lo = std::max<int64_t>(0, ceil_div(tx - g.fw + 1, p.down_x));
        const int64_t ox_hi = std::min<int64_t>(g.OW - 1, floor_div(tx, p.down_x));
        for (int64_t oy = oy_lo; oy <= oy_hi; ++oy) {
          const T* gyr = gyn + oy * g.OW * g.C;
          for (int64_t ox = ox_lo; ox <= ox_hi; ++ox) {
            const T wgt = filt(ty - oy * p.down_y, tx - ox * p.down_x);
            const T* __restrict gs = gyr + ox * g.C;
            for (int64_t c = 0; c < g.C; ++c) gxo[c] += wgt * gs[c];
          }
        }
      }
    }
  });
}

Geometry geometry(const TensorRef& x, const TensorRef& f, const TensorRef& y) {
  return {x.size(0), x.size(1), x.size(2), x.size(3), f.size(0), f.size(1), y.size(1), y.size(2)};
}

}  // namespace

void upfirdn2d_forward_cpu(const UpFirDnForwardArgs& a) {
  const TensorRef &x = a.x, &f = a.f, &y = a.y;
  const UpFirDnParams& p = a.p;
  const Geometry g = geometry(x, f, y);
  dispatch_float(x.dtype(), "upfirdn2d", [&](auto tag) {
    using T = decltype(tag);
    forward_impl<T>(g, x.data<T>(), Filter<T>{f.data<T>(), g.fh, g.fw, p.flip_filter, T(p.gain)}, y.data<T>(), p);
  });
}

void upfirdn2d_backward_cpu(const UpFirDnBackwardArgs& a) {
  const TensorRef &f = a.f, &gy = a.gy, &gx = a.gx;
  const UpFirDnParams& p = a.p;
  const Geometry g = geometry(gx, f, gy);
  dispatch_float(gx.dtype(), "upfirdn2d backward", [&](auto tag) {
    using T = decltype(tag);
    backward_impl<T>(g, gy.data<T>(), Filter<T>{f.data<T>(), g.fh, g.fw, p.flip_filter, T(p.gain)}, gx.data<T>(), p);
  });
}

}  // namespace fer::kernels
