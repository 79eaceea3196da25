// 2-d convolution on the CPU, NHWC / OHWI.
//
// Three algorithms (see ConvAlgo): a 1x1 convolution is one GEMM on [pixels, c]; a general one builds the
// patch matrix (im2col) for a tile of output pixels and multiplies it by the weight, whose OHWI rows are
// already in patch order (i, j, channel); a depthwise one runs a direct loop vectorized over channels.
//
// Threading: the work is split into `plan.slots` workers (one per core) with fer::parallel_for, each owning
// a range of output pixels and a private slice of the workspace; every GEMM inside runs single-threaded
// (cpu::gemm does not split a product inside a parallel region). This parallelizes the patch copies as well
// as the products and keeps each GEMM's blocks in one core's cache. Where a split would race (the input
// gradient scatters overlapping patches back), workers own whole images; with fewer images than workers
// the pass runs on the calling thread and gemm splits each product over the threads instead.
#include "fer/kernels/conv.hpp"

#include <algorithm>
#include <cstring>

#include "fer/core/parallel.hpp"
#include "fer/core/region_merging.hpp"
#include "kernels/cpu/gemm.hpp"

namespace fer::kernels {

using cpu::add_column_sums;
using cpu::gemm;

namespace {

// Target size of one worker's patch-matrix tile: large enough for an efficient GEMM, small enough that
// the workspace of every convolution in a network stays modest.
constexpr int64_t kTileBytes = 512 * 1024;
constexpr int64_t kMinTile = 64;

int64_t patch_len(const ConvGeometry& g) { return g.kh * g.kw * (g.c / g.groups); }
int64_t out_pixels(const ConvGeometry& g) { return g.n * g.ho * g.wo; }

// Visits the patch of each output pixel in [p0, p1) for one group, in weight order (i, j, channel), as runs
// of `len` values: tap(row, col_offset, x_offset, len) with x_offset < 0 for taps in the zero padding.
template <class Tap>
void for_each_patch_run(const ConvGeometry& g, int64_t group, int64_t p0, int64_t p1, Tap&& tap) {
  const int64_t cg = g.c / g.groups, hw = g.ho * g.wo;
  // With one group and no dilation the kw taps of a kernel row are adjacent in memory.
  const bool whole_rows = g.groups == 1 && g.dil_w == 1;
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t n = p / hw, r = p % hw, oh = r / g.wo, ow = r % g.wo;
    const int64_t ih0 = oh * g.stride_h - g.pad_top, iw0 = ow * g.stride_w - g.pad_left;
    const int64_t row = p - p0;
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t ih = ih0 + i * g.dil_h;
      const int64_t col = i * g.kw * cg;
      if (ih < 0 || ih >= g.h) {
        tap(row, col, int64_t(-1), g.kw * cg);
        continue;
      }
      const int64_t x_row = ((n * g.h + ih) * g.w) * g.c + group * cg;
      if (whole_rows && iw0 >= 0 && iw0 + g.kw <= g.w) {
        tap(row, col, x_row + iw0 * g.c, g.kw * cg);
        continue;
      }
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t iw = iw0 + j * g.dil_w;
        tap(row, col + j * cg, (iw < 0 || iw >= g.w) ? int64_t(-1) : x_row + iw * g.c, cg);
      }
    }
  }
}

// col[p - p0, :] = patch of output pixel p (zeros in the padding).
template <class T>
void im2col(const ConvGeometry& g, const T* x, int64_t group, int64_t p0, int64_t p1, T* col) {
  const int64_t k = patch_len(g);
  for_each_patch_run(g, group, p0, p1, [&](int64_t row, int64_t c, int64_t xo, int64_t len) {
    T* dst = col + row * k + c;
    if (xo < 0) std::fill(dst, dst + len, T(0));
    else std::memcpy(dst, x + xo, size_t(len) * sizeof(T));
  });
}

// gx += scatter of the patch-matrix rows back to the input pixels they were taken from.
template <class T>
void col2im_add(const ConvGeometry& g, const T* col, int64_t group, int64_t p0, int64_t p1, T* gx) {
  const int64_t k = patch_len(g);
  for_each_patch_run(g, group, p0, p1, [&](int64_t row, int64_t c, int64_t xo, int64_t len) {
    if (xo < 0) return;
    const T* src = col + row * k + c;
    T* dst = gx + xo;
    for (int64_t e = 0; e < len; ++e) dst[e] += src[e];
  });
}

// Worker s's share [lo, hi) of `total` items split `parts` ways.
inline void share(int64_t total, int64_t parts, int64_t s, int64_t& lo, int64_t& hi) {
  lo = total * s / parts;
  hi = total * (s + 1) / parts;
}

// Runs body(s) for s in [0, workers) in parallel (inline when there is one worker).
template <class F>
void run_workers(int64_t workers, F&& body) {
  parallel_for(0, workers, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t s = lo; s < hi; ++s) body(s);
  });
}

// dst += each of `count` partial buffers of `len` elements.
template <class T>
void add_partials(T* dst, const T* partials, int64_t count, int64_t len) {
  if (count == 0) return;
  parallel_for(0, len, 16384, [&](int64_t lo, int64_t hi) {
    for (int64_t s = 0; s < count; ++s) {
      const T* src = partials + s * len;
      for (int64_t e = lo; e < hi; ++e) dst[e] += src[e];
    }
  });
}

// ------------------------------------------------------------------ GEMM-based convolution (pointwise, im2col)

template <class T>
void gemm_forward(const ConvPlan& plan, const T* x, const T* w, const T* bias, T* y, T* ws) {
  const ConvGeometry& g = plan.g;
  const bool direct = plan.algo == ConvAlgo::pointwise;
  const int64_t k = patch_len(g), og = g.o / g.groups, p_total = out_pixels(g);
  run_workers(plan.slots, [&](int64_t s) {
    int64_t p0, p1;
    share(p_total, plan.slots, s, p0, p1);
    T* col = direct ? nullptr : ws + s * plan.tile * k;
    for (int64_t t0 = p0; t0 < p1; t0 += plan.tile) {
      const int64_t t1 = std::min(p1, t0 + plan.tile), rows = t1 - t0;
      T* yt = y + t0 * g.o;
      if (bias)
        for (int64_t r = 0; r < rows; ++r) std::memcpy(yt + r * g.o, bias, size_t(g.o) * sizeof(T));
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const T* a = direct ? x + t0 * g.c : col;
        if (!direct) im2col(g, x, grp, t0, t1, col);
        gemm<T>(false, true, rows, og, k, a, direct ? g.c : k, w + grp * og * k, k, yt + grp * og, g.o, bias != nullptr);
      }
    }
  });
}

template <class T>
void gemm_backward_input(const ConvPlan& plan, const T* gy, const T* w, T* gx, T* ws, bool accumulate) {
  const ConvGeometry& g = plan.g;
  const bool direct = plan.algo == ConvAlgo::pointwise;
  const int64_t k = patch_len(g), og = g.o / g.groups, hw = g.ho * g.wo;
  // A pointwise gradient maps each pixel to itself, so any split is race-free; patches overlap, so the
  // im2col split is by whole images.
  const int64_t units = direct ? out_pixels(g) : g.n, unit_pixels = direct ? 1 : hw;
  const int64_t workers = (direct || g.n >= plan.slots) ? plan.slots : 1;
  // col2im adds overlapping patches: a written gradient starts from zero there. The pointwise GEMM writes directly.
  // With several workers each zeroes its own images inside the region instead of one thread zeroing all of gx
  // first while the others wait.
  const bool zero_first = !direct && !accumulate;
  const bool zero_in_workers = zero_first && workers > 1 && region_merging();
  if (zero_first && !zero_in_workers) std::fill(gx, gx + g.n * g.h * g.w * g.c, T(0));
  const int64_t image_len = g.h * g.w * g.c;
  run_workers(workers, [&](int64_t s) {
    int64_t u0, u1;
    share(units, workers, s, u0, u1);
    if (zero_in_workers) std::fill(gx + u0 * image_len, gx + u1 * image_len, T(0));  // units are images here
    const int64_t p0 = u0 * unit_pixels, p1 = u1 * unit_pixels;
    T* col = direct ? nullptr : ws + s * plan.tile * k;
    for (int64_t t0 = p0; t0 < p1; t0 += plan.tile) {
      const int64_t t1 = std::min(p1, t0 + plan.tile), rows = t1 - t0;
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const T* gyt = gy + t0 * g.o + grp * og;
        const T* wg = w + grp * og * k;
        if (direct) {
          gemm<T>(false, false, rows, g.c, g.o, gyt, g.o, wg, k, gx + t0 * g.c, g.c, accumulate);
        } else {
          gemm<T>(false, false, rows, k, og, gyt, g.o, wg, k, col, k, false);
          col2im_add(g, col, grp, t0, t1, gx);
        }
      }
    }
  });
}

template <class T>
void gemm_backward_weight(const ConvPlan& plan, const T* gy, const T* x, T* gw, T* ws, T* partials) {
  const ConvGeometry& g = plan.g;
  const bool direct = plan.algo == ConvAlgo::pointwise;
  const int64_t k = patch_len(g), og = g.o / g.groups, p_total = out_pixels(g), w_len = g.o * k;
  // Where the weight outgrows the patch matrix (no more output pixels than output channels: ResNet-18's last stage
  // at 64 px), zeroing and adding per-worker copies of the whole weight gradient costs more than redoing im2col:
  // the workers own output channels instead, each reading every pixel's patch (measured: bench/README.md).
  if (partials && !direct && g.groups == 1 && p_total <= g.o) {
    run_workers(plan.slots, [&](int64_t s) {
      int64_t o0, o1;
      share(g.o, plan.slots, s, o0, o1);
      T* col = ws + s * plan.tile * k;
      for (int64_t t0 = 0; t0 < p_total; t0 += plan.tile) {
        const int64_t t1 = std::min(p_total, t0 + plan.tile);
        im2col(g, x, 0, t0, t1, col);
        gemm<T>(true, false, o1 - o0, k, t1 - t0, gy + t0 * g.o + o0, g.o, col, k, gw + o0 * k, k, true);
      }
    });
    return;
  }
  // Each worker sums its pixels' contributions privately (worker 0 straight into gw), then the partial
  // sums are added: no two threads ever write the same element.
  const int64_t workers = partials ? plan.slots : 1;
  run_workers(workers, [&](int64_t s) {
    int64_t p0, p1;
    share(p_total, workers, s, p0, p1);
    T* acc = s == 0 ? gw : partials + (s - 1) * w_len;
    if (s > 0) std::fill(acc, acc + w_len, T(0));
    T* col = direct ? nullptr : ws + s * plan.tile * k;
    for (int64_t t0 = p0; t0 < p1; t0 += plan.tile) {
      const int64_t t1 = std::min(p1, t0 + plan.tile), rows = t1 - t0;
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const T* a = direct ? x + t0 * g.c : col;
        if (!direct) im2col(g, x, grp, t0, t1, col);
        gemm<T>(true, false, og, k, rows, gy + t0 * g.o + grp * og, g.o, a, direct ? g.c : k, acc + grp * og * k, k,
                true);
      }
    }
  });
  add_partials(gw, partials, workers - 1, w_len);
}

// ------------------------------------------------------------------ depthwise (groups == c, o = c * mult)
//
// Output channel oc reads input channel oc / mult. The weight is used transposed, wt[(i * kw + j) * o + oc],
// so that the channel loop is unit-stride everywhere. With mult == 1 the channels run in blocks whose width
// is a compile-time constant (kBlock, then one vector, then single channels for the tail), so each block's
// sums stay in registers across all taps; any other multiplier takes a plain per-channel loop (rare).

template <class T>
constexpr int kBlock = 64 / sizeof(T);  // 2 AVX2 registers (f32: 16 channels)
template <class T>
constexpr int kVector = 32 / sizeof(T);  // 1 AVX2 register

// Calls block.template operator()<width>(c0) over [0, count) in the widest blocks that fit.
template <class T, class Block>
void for_channel_blocks(int64_t count, Block&& block) {
  int64_t c0 = 0;
  for (; c0 + kBlock<T> <= count; c0 += kBlock<T>) block.template operator()<kBlock<T>>(c0);
  for (; c0 + kVector<T> <= count; c0 += kVector<T>) block.template operator()<kVector<T>>(c0);
  for (; c0 < count; ++c0) block.template operator()<1>(c0);
}

template <class T>
void transpose_depthwise_weight(const ConvGeometry& g, const T* w, T* wt) {
  const int64_t taps = g.kh * g.kw;
  for (int64_t oc = 0; oc < g.o; ++oc)
    for (int64_t t = 0; t < taps; ++t) wt[t * g.o + oc] = w[oc * taps + t];
}

// Taps [lo, hi) of a kernel axis whose input coordinate origin + t * dil lies in [0, size).
struct TapRange {
  int64_t lo, hi;
};
inline TapRange valid_taps(int64_t origin, int64_t dil, int64_t k, int64_t size) {
  int64_t lo = 0, hi = k;
  while (lo < k && origin + lo * dil < 0) ++lo;
  while (hi > lo && origin + (hi - 1) * dil >= size) --hi;
  return {lo, hi};
}

// The output coordinate whose tap t reads input coordinate `in`, or -1 when there is none.
inline int64_t tap_source(int64_t in, int64_t t, int64_t pad, int64_t dil, int64_t stride, int64_t out_size) {
  const int64_t num = in + pad - t * dil;
  if (num < 0) return -1;
  if (stride == 1) return num < out_size ? num : -1;
  if (num % stride != 0) return -1;
  const int64_t o = num / stride;
  return o < out_size ? o : -1;
}

// Sums for NB channels from o0 of P adjacent output pixels from ow0 in output row yrow = n * ho + oh, over
// kernel rows ti and columns tj (P > 1 only where all P pixels see every column: the same tj for each).
// The weight block of a tap is loaded once for the P pixels.
template <class T, int NB, int P>
inline void depthwise_pixels(const ConvGeometry& g, const T* x, const T* wt, const T* bias, T* y, bool accumulate,
                             int64_t n, int64_t ih0, TapRange ti, int64_t ow0, TapRange tj, int64_t yrow, int64_t o0) {
  T acc[P][NB];
  for (int p = 0; p < P; ++p) {
    const T* yp = y + (yrow * g.wo + ow0 + p) * g.o + o0;
    for (int e = 0; e < NB; ++e) acc[p][e] = accumulate ? yp[e] : (bias ? bias[o0 + e] : T(0));
  }
  const int64_t pixel_step = g.stride_w * g.c;
  for (int64_t i = ti.lo; i < ti.hi; ++i) {
    const T* xr = x + ((n * g.h + ih0 + i * g.dil_h) * g.w) * g.c + o0;
    for (int64_t j = tj.lo; j < tj.hi; ++j) {
      const T* wp = wt + (i * g.kw + j) * g.o + o0;
      T wv[NB];
      for (int e = 0; e < NB; ++e) wv[e] = wp[e];
      const T* xp = xr + (ow0 * g.stride_w - g.pad_left + j * g.dil_w) * g.c;
      for (int p = 0; p < P; ++p)
        for (int e = 0; e < NB; ++e) acc[p][e] += xp[p * pixel_step + e] * wv[e];
    }
  }
  for (int p = 0; p < P; ++p) {
    T* yp = y + (yrow * g.wo + ow0 + p) * g.o + o0;
    for (int e = 0; e < NB; ++e) yp[e] = acc[p][e];
  }
}

// y (+)= depthwise conv of x with the transposed weight wt. Any padding sign works (the stride-1 input
// gradient runs through here with the kernel flipped). Pixels whose taps all fall inside the input go in
// groups of kPixels; the border ones one at a time with their taps clipped.
template <class T>
void depthwise_forward(const ConvGeometry& g, const T* x, const T* wt, const T* bias, T* y, bool accumulate) {
  constexpr int kPixels = 4;
  const int64_t mult = g.o / g.c, rows = g.n * g.ho;
  // Output columns [in_lo, in_hi) see all kw taps inside the input.
  int64_t in_lo = 0, in_hi = g.wo;
  while (in_lo < g.wo && in_lo * g.stride_w - g.pad_left < 0) ++in_lo;
  while (in_hi > in_lo && (in_hi - 1) * g.stride_w - g.pad_left + (g.kw - 1) * g.dil_w >= g.w) --in_hi;
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, g.wo * g.o * g.kh * g.kw));
  parallel_for(0, rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / g.ho, oh = r % g.ho;
      const int64_t ih0 = oh * g.stride_h - g.pad_top;
      const TapRange ti = valid_taps(ih0, g.dil_h, g.kh, g.h);
      if (mult == 1) {
        for_channel_blocks<T>(g.o, [&]<int NB>(int64_t o0) {
          int64_t ow = 0;
          while (ow < g.wo) {
            if (ow >= in_lo && ow + kPixels <= in_hi) {
              depthwise_pixels<T, NB, kPixels>(g, x, wt, bias, y, accumulate, n, ih0, ti, ow, {0, g.kw}, r, o0);
              ow += kPixels;
            } else {
              const TapRange tj = valid_taps(ow * g.stride_w - g.pad_left, g.dil_w, g.kw, g.w);
              depthwise_pixels<T, NB, 1>(g, x, wt, bias, y, accumulate, n, ih0, ti, ow, tj, r, o0);
              ow += 1;
            }
          }
        });
        continue;
      }
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        const int64_t iw0 = ow * g.stride_w - g.pad_left;
        const TapRange tj = valid_taps(iw0, g.dil_w, g.kw, g.w);
        T* yp = y + (r * g.wo + ow) * g.o;
        for (int64_t oc = 0; oc < g.o; ++oc) {
          T acc = accumulate ? yp[oc] : (bias ? bias[oc] : T(0));
          for (int64_t i = ti.lo; i < ti.hi; ++i)
            for (int64_t j = tj.lo; j < tj.hi; ++j)
              acc += x[((n * g.h + ih0 + i * g.dil_h) * g.w + iw0 + j * g.dil_w) * g.c + oc / mult] *
                     wt[(i * g.kw + j) * g.o + oc];
          yp[oc] = acc;
        }
      }
    }
  });
}

// With stride 1 and one output per channel, the input gradient is itself a depthwise convolution of gy with
// the kernel flipped and padding dil * (k - 1) - pad: it runs through the blocked forward kernel.
inline bool depthwise_input_grad_is_conv(const ConvGeometry& g) {
  return g.o == g.c && g.stride_h == 1 && g.stride_w == 1;
}

template <class T>
void depthwise_backward_input_as_conv(const ConvGeometry& g, const T* gy, const T* w, T* wflip, T* gx, bool accumulate) {
  const int64_t taps = g.kh * g.kw;
  for (int64_t oc = 0; oc < g.o; ++oc)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j)
        wflip[(i * g.kw + j) * g.o + oc] = w[oc * taps + (g.kh - 1 - i) * g.kw + (g.kw - 1 - j)];
  ConvGeometry t = g;
  t.h = g.ho, t.w = g.wo, t.ho = g.h, t.wo = g.w;
  t.pad_top = g.dil_h * (g.kh - 1) - g.pad_top;
  t.pad_left = g.dil_w * (g.kw - 1) - g.pad_left;
  depthwise_forward<T>(t, gy, wflip, nullptr, gx, accumulate);
}

// Gathers, for each input pixel, the output pixels whose patches cover it: race-free over input rows.
template <class T>
void depthwise_backward_input(const ConvPlan& plan, const T* gy, const T* wt, T* gx, bool accumulate) {
  const ConvGeometry& g = plan.g;
  const int64_t mult = g.o / g.c, rows = g.n * g.h;
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, g.w * g.o * g.kh * g.kw));
  parallel_for(0, rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / g.h, ih = r % g.h;
      for (int64_t iw = 0; iw < g.w; ++iw) {
        T* gxp = gx + (r * g.w + iw) * g.c;
        // Visits each (tap, output pixel) reading this input pixel: f(gy at that pixel, wt at that tap).
        auto for_each_source = [&](auto&& f) {
          for (int64_t i = 0; i < g.kh; ++i) {
            const int64_t oh = tap_source(ih, i, g.pad_top, g.dil_h, g.stride_h, g.ho);
            if (oh < 0) continue;
            for (int64_t j = 0; j < g.kw; ++j) {
              const int64_t ow = tap_source(iw, j, g.pad_left, g.dil_w, g.stride_w, g.wo);
              if (ow >= 0) f(gy + ((n * g.ho + oh) * g.wo + ow) * g.o, wt + (i * g.kw + j) * g.o);
            }
          }
        };
        if (mult == 1) {
          for_channel_blocks<T>(g.c, [&]<int NB>(int64_t c0) {
            T acc[NB] = {};
            for_each_source([&](const T* gp, const T* wp) {
              for (int e = 0; e < NB; ++e) acc[e] += gp[c0 + e] * wp[c0 + e];
            });
            for (int e = 0; e < NB; ++e) gxp[c0 + e] = accumulate ? gxp[c0 + e] + acc[e] : acc[e];
          });
          continue;
        }
        for (int64_t ic = 0; ic < g.c; ++ic) {
          T acc = T(0);
          for_each_source([&](const T* gp, const T* wp) {
            for (int64_t m = 0; m < mult; ++m) acc += gp[ic * mult + m] * wp[ic * mult + m];
          });
          gxp[ic] = accumulate ? gxp[ic] + acc : acc;
        }
      }
    }
  });
}

// Each worker sums a range of output rows into its own [kh * kw, o] partial; the partials are then added
// into gw ([o, kh * kw]).
template <class T>
void depthwise_backward_weight(const ConvPlan& plan, const T* gy, const T* x, T* gw, T* partials, int64_t workers) {
  const ConvGeometry& g = plan.g;
  const int64_t mult = g.o / g.c, rows = g.n * g.ho, taps = g.kh * g.kw, len = taps * g.o;
  run_workers(workers, [&](int64_t s) {
    int64_t r0, r1;
    share(rows, workers, s, r0, r1);
    T* part = partials + s * len;
    std::fill(part, part + len, T(0));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / g.ho, oh = r % g.ho;
      const int64_t ih0 = oh * g.stride_h - g.pad_top;
      const TapRange ti = valid_taps(ih0, g.dil_h, g.kh, g.h);
      const T* gyr = gy + r * g.wo * g.o;
      for (int64_t i = ti.lo; i < ti.hi; ++i) {
        const T* xr = x + ((n * g.h + ih0 + i * g.dil_h) * g.w) * g.c;
        for (int64_t j = 0; j < g.kw; ++j) {
          // Output columns whose tap j lands inside the input row.
          int64_t ow_lo = 0, ow_hi = g.wo;
          while (ow_lo < g.wo && ow_lo * g.stride_w - g.pad_left + j * g.dil_w < 0) ++ow_lo;
          while (ow_hi > ow_lo && (ow_hi - 1) * g.stride_w - g.pad_left + j * g.dil_w >= g.w) --ow_hi;
          const int64_t xj = (j * g.dil_w - g.pad_left) * g.c;  // xr[xj + ow * stride_w * c]: this tap's input
          T* pp = part + (i * g.kw + j) * g.o;
          if (mult == 1) {
            for_channel_blocks<T>(g.o, [&]<int NB>(int64_t o0) {
              T acc[NB] = {};
              for (int64_t ow = ow_lo; ow < ow_hi; ++ow) {
                const T* gp = gyr + ow * g.o + o0;
                const T* xp = xr + xj + ow * g.stride_w * g.c + o0;
                for (int e = 0; e < NB; ++e) acc[e] += gp[e] * xp[e];
              }
              for (int e = 0; e < NB; ++e) pp[o0 + e] += acc[e];
            });
            continue;
          }
          for (int64_t oc = 0; oc < g.o; ++oc) {
            T acc = T(0);
            for (int64_t ow = ow_lo; ow < ow_hi; ++ow) acc += gyr[ow * g.o + oc] * xr[xj + ow * g.stride_w * g.c + oc / mult];
            pp[oc] += acc;
          }
        }
      }
    }
  });
  parallel_for(0, g.o, 256, [&](int64_t o_lo, int64_t o_hi) {
    for (int64_t oc = o_lo; oc < o_hi; ++oc)
      for (int64_t t = 0; t < taps; ++t) {
        T sum = T(0);
        for (int64_t s = 0; s < workers; ++s) sum += partials[s * len + t * g.o + oc];
        gw[oc * taps + t] += sum;
      }
  });
}

template <class T>
T* ptr(const TensorRef& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

ConvPlan plan_conv2d(const ConvGeometry& g) {
  ConvPlan plan;
  plan.g = g;
  plan.slots = std::max(1, num_threads());
  const int64_t k = patch_len(g), taps = g.kh * g.kw, p_total = out_pixels(g);
  if (g.groups > 1 && g.groups == g.c) {
    plan.algo = ConvAlgo::depthwise;
    plan.workspace = taps * g.o;
    plan.weight_grad_workspace = plan.slots * taps * g.o;
    return plan;
  }
  const bool pointwise = g.kh == 1 && g.kw == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 &&
                         g.pad_left == 0 && g.ho == g.h && g.wo == g.w && g.groups == 1;
  plan.algo = pointwise ? ConvAlgo::pointwise : ConvAlgo::im2col;
  const int64_t per_slot = std::max<int64_t>(1, (p_total + plan.slots - 1) / plan.slots);
  if (pointwise) {
    plan.tile = per_slot;  // the input is the patch matrix: one product per worker
  } else {
    // Sized in f32 elements so f32 and f64 share one plan shape; never longer than a worker's share.
    const int64_t target = std::max<int64_t>(kMinTile, kTileBytes / (4 * std::max<int64_t>(k, 1)));
    plan.tile = std::min(per_slot, target);
    plan.workspace = plan.slots * plan.tile * k;
  }
  plan.weight_grad_workspace = (plan.slots - 1) * g.o * k;
  return plan;
}

void conv2d_forward_cpu(const Conv2dForwardArgs& a) {
  const ConvPlan& plan = a.plan;
  const TensorRef &x = a.x, &w = a.w, &bias = a.bias, &y = a.y, &workspace = a.workspace;
  dispatch_float(x.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    if (plan.algo == ConvAlgo::depthwise) {
      T* wt = workspace.data<T>();
      transpose_depthwise_weight(plan.g, w.data<T>(), wt);
      depthwise_forward<T>(plan.g, x.data<T>(), wt, ptr<T>(bias), y.data<T>(), false);
    } else {
      gemm_forward<T>(plan, x.data<T>(), w.data<T>(), ptr<T>(bias), y.data<T>(), ptr<T>(workspace));
    }
  });
}

void conv2d_backward_input_cpu(const Conv2dBackwardInputArgs& a) {
  const ConvPlan& plan = a.plan;
  const TensorRef &gy = a.gy, &w = a.w, &gx = a.gx, &workspace = a.workspace;
  dispatch_float(gy.dtype(), "conv2d backward", [&](auto tag) {
    using T = decltype(tag);
    if (plan.algo == ConvAlgo::depthwise) {
      // The weight is (re)arranged here: the forward's copy may be stale if the weight changed since.
      T* wt = workspace.data<T>();
      if (depthwise_input_grad_is_conv(plan.g)) {
        depthwise_backward_input_as_conv<T>(plan.g, gy.data<T>(), w.data<T>(), wt, gx.data<T>(), a.accumulate);
      } else {
        transpose_depthwise_weight(plan.g, w.data<T>(), wt);
        depthwise_backward_input<T>(plan, gy.data<T>(), wt, gx.data<T>(), a.accumulate);
      }
    } else {
      gemm_backward_input<T>(plan, gy.data<T>(), w.data<T>(), gx.data<T>(), ptr<T>(workspace), a.accumulate);
    }
  });
}

void conv2d_backward_weight_cpu(const Conv2dBackwardWeightArgs& a) {
  const ConvPlan& plan = a.plan;
  const TensorRef &gy = a.gy, &x = a.x, &gw = a.gw, &workspace = a.workspace, &partials = a.partials;
  dispatch_float(gy.dtype(), "conv2d backward", [&](auto tag) {
    using T = decltype(tag);
    if (plan.algo == ConvAlgo::depthwise) {
      // Without the partial buffers one worker accumulates into the weight-sized workspace.
      T* part = partials.defined() ? partials.data<T>() : workspace.data<T>();
      const int64_t workers = partials.defined() ? plan.slots : 1;
      depthwise_backward_weight<T>(plan, gy.data<T>(), x.data<T>(), gw.data<T>(), part, workers);
    } else {
      gemm_backward_weight<T>(plan, gy.data<T>(), x.data<T>(), gw.data<T>(), ptr<T>(workspace), ptr<T>(partials));
    }
  });
}

void conv2d_backward_bias_cpu(const Conv2dBackwardBiasArgs& a) {
  const ConvPlan& plan = a.plan;
  const TensorRef &gy = a.gy, &gb = a.gb;
  dispatch_float(gy.dtype(), "conv2d backward", [&](auto tag) {
    using T = decltype(tag);
    add_column_sums<T>(gy.data<T>(), out_pixels(plan.g), plan.g.o, gb.data<T>());
  });
}

}  // namespace fer::kernels
