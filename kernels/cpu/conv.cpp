// 2-d convolution on the CPU, NHWC / OHWI.
//
// Three algorithms (see ConvAlgo): a 1x1 convolution is one GEMM on [pixels, c]; a general one builds the
// patch matrix (im2col) for a tile of output pixels and multiplies it by the weight, whose OHWI rows are
// already in patch order (i, j, channel), or, for its f32 forward pass and weight gradient where measured
// faster, runs the same products with the patches read from the input in place (implicit GEMM,
// kernels/cpu/conv_implicit.cpp); a depthwise one runs a direct loop vectorized over channels
// (kernels/cpu/conv_depthwise.cpp).
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
#include <type_traits>

#include "fer/core/parallel.hpp"
#include "fer/core/region_merging.hpp"
#include "kernels/cpu/conv_depthwise.hpp"
#include "kernels/cpu/conv_implicit.hpp"
#include "kernels/cpu/conv_workers.hpp"
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
  if constexpr (std::is_same_v<T, float>) {
    if (!direct && conv_implicit_forward_chosen(g)) {
      // One product per worker over its whole share of pixels: no tile buffer bounds it.
      run_workers(plan.slots, [&](int64_t s) {
        int64_t p0, p1;
        share(p_total, plan.slots, s, p0, p1);
        if (p0 == p1) return;
        if (bias)
          for (int64_t p = p0; p < p1; ++p) std::memcpy(y + p * g.o, bias, size_t(g.o) * sizeof(T));
        conv_implicit_gemm_forward(g, x, w, y, p0, p1, bias != nullptr);
      });
      return;
    }
  }
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
  bool implicit = false;
  if constexpr (std::is_same_v<T, float>) implicit = !direct && conv_implicit_wgrad_chosen(g);
  if (partials && !direct && g.groups == 1 && p_total <= g.o) {
    run_workers(plan.slots, [&](int64_t s) {
      int64_t o0, o1;
      share(g.o, plan.slots, s, o0, o1);
      if constexpr (std::is_same_v<T, float>) {
        if (implicit) {
          if (o0 < o1) conv_implicit_gemm_weight_grad(g, gy + o0, g.o, x, gw + o0 * k, o1 - o0, 0, p_total);
          return;
        }
      }
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
    if constexpr (std::is_same_v<T, float>) {
      if (implicit) {
        if (p0 < p1) conv_implicit_gemm_weight_grad(g, gy, g.o, x, acc, g.o, p0, p1);
        return;
      }
    }
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
  if (plan.algo == ConvAlgo::depthwise) return depthwise_forward_cpu(a);
  dispatch_float(x.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    gemm_forward<T>(plan, x.data<T>(), w.data<T>(), ptr<T>(bias), y.data<T>(), ptr<T>(workspace));
  });
}

void conv2d_backward_input_cpu(const Conv2dBackwardInputArgs& a) {
  const ConvPlan& plan = a.plan;
  const TensorRef &gy = a.gy, &w = a.w, &gx = a.gx, &workspace = a.workspace;
  if (plan.algo == ConvAlgo::depthwise) return depthwise_backward_input_cpu(a);
  dispatch_float(gy.dtype(), "conv2d backward", [&](auto tag) {
    using T = decltype(tag);
    gemm_backward_input<T>(plan, gy.data<T>(), w.data<T>(), gx.data<T>(), ptr<T>(workspace), a.accumulate);
  });
}

void conv2d_backward_weight_cpu(const Conv2dBackwardWeightArgs& a) {
  const ConvPlan& plan = a.plan;
  const TensorRef &gy = a.gy, &x = a.x, &gw = a.gw, &workspace = a.workspace, &partials = a.partials;
  if (plan.algo == ConvAlgo::depthwise) return depthwise_backward_weight_cpu(a);
  dispatch_float(gy.dtype(), "conv2d backward", [&](auto tag) {
    using T = decltype(tag);
    gemm_backward_weight<T>(plan, gy.data<T>(), x.data<T>(), gw.data<T>(), ptr<T>(workspace), ptr<T>(partials));
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
