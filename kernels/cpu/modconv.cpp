// Modulated-convolution kernels: per-sample weight modulation/demodulation (parallel over (sample, output
// channel) pairs) and the per-sample convolutions (on the conv kernels, parallel over samples).
#include "fer/kernels/modconv.hpp"

#include <algorithm>
#include <cmath>

#include "fer/core/parallel.hpp"
#include "fer/kernels/elementwise.hpp"
#include "fer/ops/common.hpp"

namespace fer::kernels {

namespace {

constexpr int64_t kGrain = 16384;  // elements per parallel chunk, at least

struct ModSizes {
  int64_t N, O, K, I;  // samples, output channels, kernel taps (kh * kw), input channels
};

ModSizes mod_sizes(const TensorRef& w, const TensorRef& s) {
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
void modulate_forward_impl(const TensorRef& w, const TensorRef& s, const TensorRef& y, const TensorRef& dcoef,
                           ModulatedLayout layout, bool flip, T eps) {
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
void modulate_backward_impl(const TensorRef& w, const TensorRef& s, const TensorRef& dcoef, const TensorRef& gy,
                            const TensorRef& gw, const TensorRef& gs, const TensorRef& dot, ModulatedLayout layout,
                            bool flip) {
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

}  // namespace

void modulate_weights_forward_cpu(const ModulateForwardArgs& a) {
  dispatch_float(a.w.dtype(), "modulate_weights", [&](auto tag) {
    using T = decltype(tag);
    modulate_forward_impl<T>(a.w, a.s, a.y, a.dcoef, a.layout, a.flip, T(a.eps));
  });
}

void modulate_weights_backward_cpu(const ModulateBackwardArgs& a) {
  dispatch_float(a.w.dtype(), "modulate_weights backward", [&](auto tag) {
    using T = decltype(tag);
    modulate_backward_impl<T>(a.w, a.s, a.dcoef, a.gy, a.gw, a.gs, a.dot, a.layout, a.flip);
  });
}

namespace {

// A Tensor over a contract's host memory (the caller keeps it alive for the call), so the per-sample loop below can
// cut it into samples as Tensor views.
Tensor borrow(const TensorRef& r) {
  if (!r.defined()) return Tensor();
  auto impl = std::make_shared<TensorImpl>();
  impl->storage =
      std::make_shared<Storage>(r.raw_data(), size_t(r.numel()) * dtype_size(r.dtype()), Device::cpu(), nullptr);
  impl->shape = r.shape();
  impl->strides = r.strides();
  impl->dtype = r.dtype();
  return Tensor(std::move(impl));
}

// Rows [first, first + count) of contiguous t along dim 0, as a view sharing t's storage (no autograd).
Tensor rows_of(const Tensor& t, int64_t first, int64_t count) {
  auto impl = std::make_shared<TensorImpl>(*t.impl());
  impl->offset += first * t.strides()[0];
  impl->shape[0] = count;
  impl->strides = contiguous_strides(impl->shape);
  impl->requires_grad = false;
  impl->grad.reset();
  return Tensor(std::move(impl));
}

// Runs body(n, workspace slice) for every sample: in parallel over samples when there are enough of them for
// every core (each sample's convolution then runs inline on its worker), else one after the other with each
// convolution free to use the cores itself.
template <class F>
void for_each_sample(const SampleConv& sc, const Tensor& ws, F&& body) {
  const int64_t per = sc.plan.workspace;
  auto slice = [&](int64_t n) { return per > 0 ? rows_of(ws, n * per, per) : Tensor(); };
  if (sc.samples >= num_threads() && num_threads() > 1) {
    parallel_for(0, sc.samples, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t n = lo; n < hi; ++n) body(n, slice(n));
    });
  } else {
    for (int64_t n = 0; n < sc.samples; ++n) body(n, slice(0));
  }
}

}  // namespace

SampleConv plan_sample_conv(int64_t n, int64_t h, int64_t w, int64_t cin, int64_t cout, int64_t kh, int64_t kw,
                            bool transposed, int64_t stride, int64_t pad_y, int64_t pad_x) {
  SampleConv sc;
  sc.transposed = transposed;
  sc.samples = n, sc.cin = cin, sc.cout = cout;
  kernels::ConvGeometry g;
  g.n = 1, g.kh = kh, g.kw = kw, g.groups = 1;
  g.stride_h = g.stride_w = stride;
  g.pad_top = pad_y, g.pad_left = pad_x;
  if (transposed) {  // the convolution y -> x
    sc.out_h = (h - 1) * stride - 2 * pad_y + kh;
    sc.out_w = (w - 1) * stride - 2 * pad_x + kw;
    g.h = sc.out_h, g.w = sc.out_w, g.c = cout, g.o = cin, g.ho = h, g.wo = w;
  } else {
    sc.out_h = (h + 2 * pad_y - kh) / stride + 1;
    sc.out_w = (w + 2 * pad_x - kw) / stride + 1;
    g.h = h, g.w = w, g.c = cin, g.o = cout, g.ho = sc.out_h, g.wo = sc.out_w;
  }
  if (sc.out_h < 1 || sc.out_w < 1 || (!transposed && (h + 2 * pad_y < kh || w + 2 * pad_x < kw))) return sc;
  sc.plan = kernels::plan_conv2d(g);
  sc.workspace = sc.plan.workspace * n;
  return sc;
}

void sample_conv_forward_cpu(const SampleConvForwardArgs& a) {
  const SampleConv& sc = a.sc;
  const Tensor x = borrow(a.x), w = borrow(a.w), y = borrow(a.y), ws = borrow(a.ws);
  const int64_t wrows = sc.transposed ? sc.cin : sc.cout;
  for_each_sample(sc, ws, [&](int64_t n, const Tensor& wsn) {
    const Tensor xn = rows_of(x, n, 1), wn = rows_of(w, n * wrows, wrows), yn = rows_of(y, n, 1);
    if (sc.transposed) {
      yn.zero_();
      kernels::conv2d_backward_input_cpu({sc.plan, ref(xn), ref(wn), ref(yn), ref(wsn)});
    } else {
      kernels::conv2d_forward_cpu({sc.plan, ref(xn), ref(wn), {}, ref(yn), ref(wsn)});
    }
  });
}

void sample_conv_backward_cpu(const SampleConvBackwardArgs& a) {
  const SampleConv& sc = a.sc;
  const Tensor x = borrow(a.x), w = borrow(a.w), gy = borrow(a.gy), gx = borrow(a.gx), gw = borrow(a.gw);
  const Tensor ws = borrow(a.ws), gx_scratch = borrow(a.gx_scratch);
  const int64_t wrows = sc.transposed ? sc.cin : sc.cout;
  for_each_sample(sc, ws, [&](int64_t n, const Tensor& wsn) {
    const Tensor xn = rows_of(x, n, 1), wn = rows_of(w, n * wrows, wrows), gyn = rows_of(gy, n, 1);
    const Tensor gwn = gw.defined() ? rows_of(gw, n * wrows, wrows) : Tensor();
    if (sc.transposed) {  // y = A^T x for the convolution A: dx = A gy, dw from the pairs (gy, x) swapped
      if (gx.defined()) {
        const Tensor sn = rows_of(gx_scratch, n, 1);
        kernels::conv2d_forward_cpu({sc.plan, ref(gyn), ref(wn), {}, ref(sn), ref(wsn)});
        kernels::axpy_cpu({kernels::ref(sn), kernels::ref(rows_of(gx, n, 1)), 1.0});
      }
      if (gw.defined()) kernels::conv2d_backward_weight_cpu({sc.plan, ref(xn), ref(gyn), ref(gwn), ref(wsn), {}});
    } else {
      if (gx.defined())
        kernels::conv2d_backward_input_cpu({sc.plan, ref(gyn), ref(wn), ref(rows_of(gx, n, 1)), ref(wsn)});
      if (gw.defined()) kernels::conv2d_backward_weight_cpu({sc.plan, ref(gyn), ref(xn), ref(gwn), ref(wsn), {}});
    }
  });
}

}  // namespace fer::kernels
