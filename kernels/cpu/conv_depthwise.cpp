// Depthwise 2-d convolution on the CPU (groups == c, o = c * multiplier), NHWC / OHWI: threading, ISA dispatch
// and the weight layout around the vector kernels of kernels/cpu/isa/conv_depthwise.inl.
//
// The weight is used transposed, wt[(i * kw + j) * o + oc], so that the channel loop is unit-stride everywhere.
// With one output per channel (the networks' case) the vector kernels run: f32 on the ISA kernels::cpu_isa() chose
// (kernels/cpu/isa/conv_depthwise_<isa>.cpp), f64 and the generic choice on the same source built for the library's
// -march. Any other multiplier, or a kernel wider than kDepthwiseMaxK, takes a plain per-channel loop (rare).
//
// Threading: forward and input gradient split their destination rows over the threads (each row is written by one
// thread); the weight gradient gives each worker an equal range of output rows and a private [kh, kw, o] partial
// that the kernel writes (no zero fill), and the partials are added into gw once.
#include "kernels/cpu/conv_depthwise.hpp"

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "fer/core/parallel.hpp"
#include "fer/kernels/cpu_isa.hpp"
#include "kernels/cpu/conv_workers.hpp"
#include "kernels/cpu/isa/conv_depthwise_f32.hpp"

namespace fer::kernels {

namespace {

#include "kernels/cpu/isa/conv_depthwise.inl"


template <class T>
struct DepthwiseKernels {
  void (*forward)(const DepthwiseShape&, const T*, const T*, const T*, T*, bool, int64_t, int64_t);
  void (*backward_input)(const DepthwiseShape&, const T*, const T*, T*, bool, int64_t, int64_t);
  void (*backward_weight)(const DepthwiseShape&, const T*, const T*, T*, int64_t, int64_t);
};

// The library's own build of the kernels: 32-byte vectors (what the default -march=x86-64-v3 has), 12 accumulators.
template <class T>
constexpr DepthwiseKernels<T> kGeneric{depthwise_forward_rows<T, 32 / sizeof(T)>,
                                       depthwise_backward_input_rows<T, 32 / sizeof(T)>,
                                       depthwise_backward_weight_rows<T, 32 / sizeof(T), 12>};

template <class T>
DepthwiseKernels<T> kernels_for_isa() {
  if constexpr (std::is_same_v<T, float>) {
#if defined(__x86_64__)  // where CMakeLists.txt compiles kernels/cpu/isa/
    const CpuIsa isa = cpu_isa();
    if (isa == CpuIsa::avx2 || isa == CpuIsa::avx512) {
      const cpu::isa::DepthwiseF32Kernels& k =
          isa == CpuIsa::avx512 ? cpu::isa::kDepthwiseF32Avx512 : cpu::isa::kDepthwiseF32Avx2;
      return {k.forward, k.backward_input, k.backward_weight};
    }
#endif
  }
  return kGeneric<T>;
}

DepthwiseShape shape_of(const ConvGeometry& g) {
  return {g.n, g.h, g.w, g.c, g.kh, g.kw, g.ho, g.wo, g.stride_h, g.stride_w, g.pad_top, g.pad_left, g.dil_h, g.dil_w};
}

// The vector kernels' case: one output per channel and kernels they hold.
bool vector_kernels_fit(const ConvGeometry& g) {
  return g.o == g.c && g.kh <= cpu::isa::kDepthwiseMaxK && g.kw <= cpu::isa::kDepthwiseMaxK;
}

template <class T>
void transpose_weight(const ConvGeometry& g, const T* w, T* wt) {
  const int64_t taps = g.kh * g.kw;
  for (int64_t oc = 0; oc < g.o; ++oc)
    for (int64_t t = 0; t < taps; ++t) wt[t * g.o + oc] = w[oc * taps + t];
}

// Rows per parallel chunk: about 32k multiply-adds, so that small convolutions do not pay for threads.
int64_t row_grain(int64_t row_pixels, const ConvGeometry& g) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, row_pixels * g.o * g.kh * g.kw));
}

// ------------------------------------------------------------------ per-channel loops (multiplier != 1)
// Output channel oc reads input channel oc / mult.

template <class T>
void forward_per_channel(const ConvGeometry& g, const T* x, const T* wt, const T* bias, T* y) {
  const int64_t mult = g.o / g.c;
  parallel_for(0, g.n * g.ho, row_grain(g.wo, g), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / g.ho, ih0 = (r % g.ho) * g.stride_h - g.pad_top;
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        const int64_t iw0 = ow * g.stride_w - g.pad_left;
        T* yp = y + (r * g.wo + ow) * g.o;
        for (int64_t oc = 0; oc < g.o; ++oc) {
          T acc = bias ? bias[oc] : T(0);
          for (int64_t i = 0; i < g.kh; ++i) {
            const int64_t ih = ih0 + i * g.dil_h;
            if (ih < 0 || ih >= g.h) continue;
            for (int64_t j = 0; j < g.kw; ++j) {
              const int64_t iw = iw0 + j * g.dil_w;
              if (iw >= 0 && iw < g.w) acc += x[((n * g.h + ih) * g.w + iw) * g.c + oc / mult] * wt[(i * g.kw + j) * g.o + oc];
            }
          }
          yp[oc] = acc;
        }
      }
    }
  });
}

// The output coordinate whose tap t reads input coordinate `in`, or -1 when there is none.
int64_t tap_source(int64_t in, int64_t t, int64_t pad, int64_t dil, int64_t stride, int64_t out_size) {
  const int64_t num = in + pad - t * dil;
  if (num < 0 || num % stride != 0) return -1;
  return num / stride < out_size ? num / stride : -1;
}

template <class T>
void backward_input_per_channel(const ConvGeometry& g, const T* gy, const T* wt, T* gx, bool accumulate) {
  const int64_t mult = g.o / g.c;
  parallel_for(0, g.n * g.h, row_grain(g.w, g), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / g.h, ih = r % g.h;
      for (int64_t iw = 0; iw < g.w; ++iw) {
        T* gxp = gx + (r * g.w + iw) * g.c;
        for (int64_t ic = 0; ic < g.c; ++ic) {
          T acc = T(0);
          for (int64_t i = 0; i < g.kh; ++i) {
            const int64_t oh = tap_source(ih, i, g.pad_top, g.dil_h, g.stride_h, g.ho);
            if (oh < 0) continue;
            for (int64_t j = 0; j < g.kw; ++j) {
              const int64_t ow = tap_source(iw, j, g.pad_left, g.dil_w, g.stride_w, g.wo);
              if (ow < 0) continue;
              const T* gp = gy + ((n * g.ho + oh) * g.wo + ow) * g.o;
              const T* wp = wt + (i * g.kw + j) * g.o;
              for (int64_t m = 0; m < mult; ++m) acc += gp[ic * mult + m] * wp[ic * mult + m];
            }
          }
          gxp[ic] = accumulate ? gxp[ic] + acc : acc;
        }
      }
    }
  });
}

// part[(i * kw + j) * o + oc] = sum over output rows [r0, r1) of gy * x (written).
template <class T>
void backward_weight_per_channel(const ConvGeometry& g, const T* gy, const T* x, T* part, int64_t r0, int64_t r1) {
  const int64_t mult = g.o / g.c;
  for (int64_t t = 0; t < g.kh * g.kw; ++t) {
    const int64_t i = t / g.kw, j = t % g.kw;
    for (int64_t oc = 0; oc < g.o; ++oc) {
      T acc = T(0);
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / g.ho, ih = (r % g.ho) * g.stride_h - g.pad_top + i * g.dil_h;
        if (ih < 0 || ih >= g.h) continue;
        for (int64_t ow = 0; ow < g.wo; ++ow) {
          const int64_t iw = ow * g.stride_w - g.pad_left + j * g.dil_w;
          if (iw >= 0 && iw < g.w)
            acc += gy[(r * g.wo + ow) * g.o + oc] * x[((n * g.h + ih) * g.w + iw) * g.c + oc / mult];
        }
      }
      part[t * g.o + oc] = acc;
    }
  }
}

template <class T>
T* ptr(const TensorRef& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

void depthwise_forward_cpu(const Conv2dForwardArgs& a) {
  const ConvGeometry& g = a.plan.g;
  dispatch_float(a.x.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    T* wt = a.workspace.data<T>();
    transpose_weight(g, a.w.data<T>(), wt);
    const T *x = a.x.data<T>(), *bias = ptr<T>(a.bias);
    T* y = a.y.data<T>();
    if (!vector_kernels_fit(g)) return forward_per_channel<T>(g, x, wt, bias, y);
    const DepthwiseKernels<T> k = kernels_for_isa<T>();
    const DepthwiseShape s = shape_of(g);
    parallel_for(0, g.n * g.ho, row_grain(g.wo, g),
                 [&](int64_t r0, int64_t r1) { k.forward(s, x, wt, bias, y, false, r0, r1); });
  });
}

void depthwise_backward_input_cpu(const Conv2dBackwardInputArgs& a) {
  const ConvGeometry& g = a.plan.g;
  dispatch_float(a.gy.dtype(), "conv2d backward", [&](auto tag) {
    using T = decltype(tag);
    // The weight is (re)arranged here: the forward's copy may be stale if the weight changed since.
    T* wt = a.workspace.data<T>();
    transpose_weight(g, a.w.data<T>(), wt);
    const T* gy = a.gy.data<T>();
    T* gx = a.gx.data<T>();
    if (!vector_kernels_fit(g)) return backward_input_per_channel<T>(g, gy, wt, gx, a.accumulate);
    const DepthwiseKernels<T> k = kernels_for_isa<T>();
    const DepthwiseShape s = shape_of(g);
    parallel_for(0, g.n * g.h, row_grain(g.w, g),
                 [&](int64_t r0, int64_t r1) { k.backward_input(s, gy, wt, gx, a.accumulate, r0, r1); });
  });
}

void depthwise_backward_weight_cpu(const Conv2dBackwardWeightArgs& a) {
  const ConvPlan& plan = a.plan;
  const ConvGeometry& g = plan.g;
  dispatch_float(a.gy.dtype(), "conv2d backward", [&](auto tag) {
    using T = decltype(tag);
    // Without the partial buffers one worker writes its sums into the weight-sized workspace.
    T* part = a.partials.defined() ? a.partials.data<T>() : a.workspace.data<T>();
    const int64_t workers = a.partials.defined() ? plan.slots : 1;
    const int64_t taps = g.kh * g.kw, len = taps * g.o, rows = g.n * g.ho;
    const T *gy = a.gy.data<T>(), *x = a.x.data<T>();
    const bool vec = vector_kernels_fit(g);
    const DepthwiseKernels<T> k = kernels_for_isa<T>();
    const DepthwiseShape s = shape_of(g);
    run_workers(workers, [&](int64_t w) {
      int64_t r0, r1;
      share(rows, workers, w, r0, r1);
      if (vec) k.backward_weight(s, gy, x, part + w * len, r0, r1);
      else backward_weight_per_channel<T>(g, gy, x, part + w * len, r0, r1);
    });
    T* gw = a.gw.data<T>();
    parallel_for(0, g.o, 256, [&](int64_t o_lo, int64_t o_hi) {
      for (int64_t oc = o_lo; oc < o_hi; ++oc)
        for (int64_t t = 0; t < taps; ++t) {
          T sum = T(0);
          for (int64_t w = 0; w < workers; ++w) sum += part[w * len + t * g.o + oc];
          gw[oc * taps + t] += sum;
        }
    });
  });
}

}  // namespace fer::kernels
