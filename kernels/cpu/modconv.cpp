// Modulated-convolution kernels: per-sample weight modulation/demodulation (parallel over (sample, output
// channel) pairs) and the batch <-> channel layout moves of the grouped form.
#include "fer/backend/cpu/modconv.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "fer/core/parallel.hpp"

namespace fer::cpu {

namespace {

constexpr int64_t kGrain = 16384;  // elements per parallel chunk, at least

struct ModSizes {
  int64_t N, O, K, I;  // samples, output channels, kernel taps (kh * kw), input channels
};

ModSizes mod_sizes(const Tensor& w, const Tensor& s) {
  return {s.size(0), w.size(0), w.size(1) * w.size(2), w.size(3)};
}

// Flat position of W'[n, o, k, i] in the output layout.
struct ModIndex {
  ModSizes z;
  ModulatedLayout layout;
  bool flip;
  int64_t operator()(int64_t n, int64_t o, int64_t k, int64_t i) const {
    const int64_t kk = flip ? z.K - 1 - k : k;
    return layout == ModulatedLayout::per_sample ? ((n * z.O + o) * z.K + kk) * z.I + i
                                                 : ((n * z.I + i) * z.K + kk) * z.O + o;
  }
};

int64_t grain_for(int64_t work_per_item) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(work_per_item, 1)); }

template <class T>
void modulate_forward_impl(const Tensor& w, const Tensor& s, const Tensor& y, const Tensor& dcoef, ModulatedLayout layout,
                           bool flip, T eps) {
  const ModSizes z = mod_sizes(w, s);
  const ModIndex at{z, layout, flip};
  const T* pw = w.data<T>();
  const T* ps = s.data<T>();
  T* py = y.data<T>();
  T* pd = dcoef.defined() ? dcoef.data<T>() : nullptr;
  parallel_for(0, z.N * z.O, grain_for(z.K * z.I), [&](int64_t lo, int64_t hi) {
    for (int64_t no = lo; no < hi; ++no) {
      const int64_t n = no / z.O, o = no % z.O;
      const T* wo = pw + o * z.K * z.I;
      const T* sn = ps + n * z.I;
      T d = T(1);
      if (pd) {
        T ss = T(0);
        for (int64_t k = 0; k < z.K; ++k)
          for (int64_t i = 0; i < z.I; ++i) {
            T v = wo[k * z.I + i] * sn[i];
            ss += v * v;
          }
        d = T(1) / std::sqrt(ss + eps);
        pd[no] = d;
      }
      for (int64_t k = 0; k < z.K; ++k) {
        if (layout == ModulatedLayout::per_sample) {
          T* __restrict dst = py + at(n, o, k, 0);
          for (int64_t i = 0; i < z.I; ++i) dst[i] = wo[k * z.I + i] * sn[i] * d;
        } else {
          for (int64_t i = 0; i < z.I; ++i) py[at(n, o, k, i)] = wo[k * z.I + i] * sn[i] * d;
        }
      }
    }
  });
}

// With a = w * s and y = a * d, d = (sum a^2 + eps)^(-1/2): dL/da = d * g - d^3 * <g, a> * a per (n, o).
template <class T>
void modulate_backward_impl(const Tensor& w, const Tensor& s, const Tensor& dcoef, const Tensor& gy, const Tensor& gw,
                            const Tensor& gs, const Tensor& dot, ModulatedLayout layout, bool flip) {
  const ModSizes z = mod_sizes(w, s);
  const ModIndex at{z, layout, flip};
  const T* pw = w.data<T>();
  const T* ps = s.data<T>();
  const T* pg = gy.data<T>();
  const T* pd = dcoef.defined() ? dcoef.data<T>() : nullptr;
  T* pdot = pd ? dot.data<T>() : nullptr;
  if (pd) {
    parallel_for(0, z.N * z.O, grain_for(z.K * z.I), [&](int64_t lo, int64_t hi) {
      for (int64_t no = lo; no < hi; ++no) {
        const int64_t n = no / z.O, o = no % z.O;
        T acc = T(0);
        for (int64_t k = 0; k < z.K; ++k)
          for (int64_t i = 0; i < z.I; ++i) acc += pg[at(n, o, k, i)] * pw[(o * z.K + k) * z.I + i] * ps[n * z.I + i];
        pdot[no] = acc;
      }
    });
  }
  // dL/da at (n, o, k, i), where a = w[o, k, i] * s[n, i].
  auto grad_a = [&](int64_t n, int64_t o, int64_t k, int64_t i) {
    const T g = pg[at(n, o, k, i)];
    if (!pd) return g;
    const T d = pd[n * z.O + o];
    return d * g - d * d * d * pdot[n * z.O + o] * pw[(o * z.K + k) * z.I + i] * ps[n * z.I + i];
  };
  if (gw.defined()) {  // gw[o, k, i] += sum_n dL/da * s[n, i]: each worker owns whole output channels
    T* pgw = gw.data<T>();
    parallel_for(0, z.O, grain_for(z.N * z.K * z.I), [&](int64_t lo, int64_t hi) {
      for (int64_t o = lo; o < hi; ++o)
        for (int64_t n = 0; n < z.N; ++n)
          for (int64_t k = 0; k < z.K; ++k)
            for (int64_t i = 0; i < z.I; ++i) pgw[(o * z.K + k) * z.I + i] += grad_a(n, o, k, i) * ps[n * z.I + i];
    });
  }
  if (gs.defined()) {  // gs[n, i] += sum_{o,k} dL/da * w[o, k, i]: each worker owns whole samples
    T* pgs = gs.data<T>();
    parallel_for(0, z.N, grain_for(z.O * z.K * z.I), [&](int64_t lo, int64_t hi) {
      for (int64_t n = lo; n < hi; ++n)
        for (int64_t o = 0; o < z.O; ++o)
          for (int64_t k = 0; k < z.K; ++k)
            for (int64_t i = 0; i < z.I; ++i) pgs[n * z.I + i] += grad_a(n, o, k, i) * pw[(o * z.K + k) * z.I + i];
    });
  }
}

// Moves C-value runs between a [N, H, W, C] batch and its folded [1, H, W, N*C] image, `to_folded` choosing
// the direction; pixels in parallel.
template <class T>
void fold_impl(const T* src, T* dst, int64_t N, int64_t HW, int64_t C, bool to_folded, bool accumulate) {
  parallel_for(0, HW, grain_for(N * C), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p)
      for (int64_t n = 0; n < N; ++n) {
        const int64_t batch_at = (n * HW + p) * C, folded_at = (p * N + n) * C;
        const T* __restrict from = src + (to_folded ? batch_at : folded_at);
        T* __restrict to = dst + (to_folded ? folded_at : batch_at);
        if (accumulate)
          for (int64_t c = 0; c < C; ++c) to[c] += from[c];
        else
          std::memcpy(to, from, size_t(C) * sizeof(T));
      }
  });
}

}  // namespace

void modulate_weights_forward(const Tensor& w, const Tensor& s, const Tensor& y, const Tensor& dcoef,
                              ModulatedLayout layout, bool flip, double eps) {
  dispatch_float(w.dtype(), "modulate_weights", [&](auto tag) {
    using T = decltype(tag);
    modulate_forward_impl<T>(w, s, y, dcoef, layout, flip, T(eps));
  });
}

void modulate_weights_backward(const Tensor& w, const Tensor& s, const Tensor& dcoef, const Tensor& gy,
                               const Tensor& gw, const Tensor& gs, const Tensor& dot, ModulatedLayout layout,
                               bool flip) {
  dispatch_float(w.dtype(), "modulate_weights backward", [&](auto tag) {
    using T = decltype(tag);
    modulate_backward_impl<T>(w, s, dcoef, gy, gw, gs, dot, layout, flip);
  });
}

void fold_batch_into_channels(const Tensor& x, const Tensor& y, bool accumulate) {
  dispatch_float(x.dtype(), "fold_batch_into_channels", [&](auto tag) {
    using T = decltype(tag);
    fold_impl<T>(x.data<T>(), y.data<T>(), x.size(0), x.size(1) * x.size(2), x.size(3), true, accumulate);
  });
}

void unfold_channels_into_batch(const Tensor& y, const Tensor& x, bool accumulate) {
  dispatch_float(x.dtype(), "unfold_channels_into_batch", [&](auto tag) {
    using T = decltype(tag);
    fold_impl<T>(y.data<T>(), x.data<T>(), x.size(0), x.size(1) * x.size(2), x.size(3), false, accumulate);
  });
}

}  // namespace fer::cpu
