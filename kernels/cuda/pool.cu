// 2-d pooling on NHWC data, one thread per element (channel fastest, so a warp reads contiguous channels).
// Forward passes reduce each output's window in the CPU's order; backward passes gather: each input element walks
// the outputs whose window holds it, in the same (oh, ow) order the CPU scatters them, and adds into its own
// gradient, so no two threads write one element (no atomics; deterministic; f32/f64 sum in the CPU's order).
#include <cmath>

#include "fer/kernels/pool.hpp"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ref_checks.hpp"
#include "kernels/cuda/written_grad.hpp"

namespace fer::cuda {

namespace {

using PoolDims = kernels::PoolGeometry;

template <class T> using C = typename Compute<T>::type;

// (b, oh, ow, k) of the flat index e of an [n, ho, wo, c] tensor.
struct Pos {
  int64_t b, y, x, k;
};
__device__ __forceinline__ Pos unflatten(int64_t e, int64_t hh, int64_t ww, int64_t c) {
  Pos p;
  p.k = e % c;
  int64_t q = e / c;
  p.x = q % ww;
  q /= ww;
  p.y = q % hh;
  p.b = q / hh;
  return p;
}

// avg pool's window of output (oh, ow) clipped to the input, with PyTorch's divisor (as cpu avg_window).
struct Window {
  int64_t h0, h1, w0, w1, divisor;
};
__device__ __forceinline__ Window avg_window(const PoolDims& g, int64_t oh, int64_t ow) {
  int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
  int64_t h1 = min(h0 + g.kh, g.h + g.ph), w1 = min(w0 + g.kw, g.w + g.pw);
  const int64_t padded_size = (h1 - h0) * (w1 - w0);
  h0 = max(h0, int64_t(0)), w0 = max(w0, int64_t(0));
  h1 = min(h1, g.h), w1 = min(w1, g.w);
  if (h0 >= h1 || w0 >= w1) return {0, 0, 0, 0, 0};
  return {h0, h1, w0, w1, g.count_include_pad ? padded_size : (h1 - h0) * (w1 - w0)};
}

__device__ __forceinline__ int64_t adaptive_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
__device__ __forceinline__ int64_t adaptive_end(int64_t i, int64_t in, int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}

// The outputs o in [0, out) whose window [o * s - p, o * s - p + k) holds input row i: o from ceil((i + p - k + 1)
// / s) to floor((i + p) / s).
__device__ __forceinline__ void covering(int64_t i, int64_t k, int64_t s, int64_t p, int64_t out, int64_t& lo,
                                         int64_t& hi) {
  const int64_t num = i + p - k + 1;
  lo = num <= 0 ? 0 : (num + s - 1) / s;
  hi = min((i + p) / s, out - 1);
}

template <class T>
__global__ void max_pool_forward(PoolDims g, const T* __restrict__ x, T* __restrict__ y, int32_t* __restrict__ argmax,
                                 int64_t total) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const Pos p = unflatten(e, g.ho, g.wo, g.c);
    const T* xb = x + p.b * g.h * g.w * g.c + p.k;
    C<T> best = -C<T>(HUGE_VAL);
    int32_t idx = -1;
    bool empty = true;
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t ih = p.y * g.sh - g.ph + i * g.dh;
      if (ih < 0 || ih >= g.h) continue;  // padding acts as -inf: it never wins
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t iw = p.x * g.sw - g.pw + j * g.dw;
        if (iw < 0 || iw >= g.w) continue;
        const C<T> v = load(xb, (ih * g.w + iw) * g.c);
        // The first pixel seeds the maximum; then a strictly larger value or a NaN replaces it (ties keep the
        // first, the last NaN wins), as PyTorch's CPU kernel.
        if (empty || v > best || v != v) best = v, idx = int32_t(ih * g.w + iw);
        empty = false;
      }
    }
    store(y, e, best);
    argmax[e] = idx;
  }
}

template <class T>
__global__ void max_pool_backward(PoolDims g, const T* __restrict__ gy, const int32_t* __restrict__ argmax,
                                  T* __restrict__ gx, int64_t total) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const Pos p = unflatten(e, g.h, g.w, g.c);
    const int32_t self = int32_t(p.y * g.w + p.x);
    const int64_t ob = p.b * g.ho * g.wo;
    C<T> acc = load(gx, e);
    // Window offsets from last to first visit the outputs in increasing (oh, ow), the CPU's scatter order.
    for (int64_t i = g.kh - 1; i >= 0; --i) {
      const int64_t t = p.y + g.ph - i * g.dh;
      if (t < 0 || t % g.sh != 0 || t / g.sh >= g.ho) continue;
      const int64_t oh = t / g.sh;
      for (int64_t j = g.kw - 1; j >= 0; --j) {
        const int64_t u = p.x + g.pw - j * g.dw;
        if (u < 0 || u % g.sw != 0 || u / g.sw >= g.wo) continue;
        const int64_t o = (ob + oh * g.wo + u / g.sw) * g.c + p.k;
        if (argmax[o] == self) acc += load(gy, o);
      }
    }
    store(gx, e, acc);
  }
}

template <class T>
__global__ void avg_pool_forward(PoolDims g, const T* __restrict__ x, T* __restrict__ y, int64_t total) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const Pos p = unflatten(e, g.ho, g.wo, g.c);
    const Window win = avg_window(g, p.y, p.x);
    const T* xb = x + p.b * g.h * g.w * g.c + p.k;
    C<T> s = C<T>(0);
    for (int64_t ih = win.h0; ih < win.h1; ++ih)
      for (int64_t iw = win.w0; iw < win.w1; ++iw) s += load(xb, (ih * g.w + iw) * g.c);
    // An empty window (impossible with PyTorch's size rules) averages to 0, as PyTorch's kernel does.
    store(y, e, s * (win.divisor > 0 ? C<T>(1) / C<T>(win.divisor) : C<T>(0)));
  }
}

template <class T>
__global__ void avg_pool_backward(PoolDims g, const T* __restrict__ gy, T* __restrict__ gx, int64_t total) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const Pos p = unflatten(e, g.h, g.w, g.c);
    int64_t oh0, oh1, ow0, ow1;
    covering(p.y, g.kh, g.sh, g.ph, g.ho, oh0, oh1);
    covering(p.x, g.kw, g.sw, g.pw, g.wo, ow0, ow1);
    C<T> acc = load(gx, e);
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        const Window win = avg_window(g, oh, ow);
        if (win.divisor <= 0 || p.y < win.h0 || p.y >= win.h1 || p.x < win.w0 || p.x >= win.w1) continue;
        acc += load(gy, ((p.b * g.ho + oh) * g.wo + ow) * g.c + p.k) * (C<T>(1) / C<T>(win.divisor));
      }
    store(gx, e, acc);
  }
}

template <class T>
__global__ void adaptive_forward(int64_t h, int64_t w, int64_t c, int64_t ho, int64_t wo, const T* __restrict__ x,
                                 T* __restrict__ y, int64_t total) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const Pos p = unflatten(e, ho, wo, c);
    const int64_t h0 = adaptive_start(p.y, h, ho), h1 = adaptive_end(p.y, h, ho);
    const int64_t w0 = adaptive_start(p.x, w, wo), w1 = adaptive_end(p.x, w, wo);
    const T* xb = x + p.b * h * w * c + p.k;
    C<T> s = C<T>(0);
    for (int64_t ih = h0; ih < h1; ++ih)
      for (int64_t iw = w0; iw < w1; ++iw) s += load(xb, (ih * w + iw) * c);
    store(y, e, s * (C<T>(1) / C<T>((h1 - h0) * (w1 - w0))));
  }
}

template <class T>
__global__ void adaptive_backward(int64_t h, int64_t w, int64_t c, int64_t ho, int64_t wo, const T* __restrict__ gy,
                                  T* __restrict__ gx, int64_t total) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const Pos p = unflatten(e, h, w, c);
    // Windows holding row i: o from floor(i * ho / h) to ceil((i + 1) * ho / h) - 1 (checked below anyway).
    const int64_t oh0 = p.y * ho / h, oh1 = min(((p.y + 1) * ho + h - 1) / h - 1, ho - 1);
    const int64_t ow0 = p.x * wo / w, ow1 = min(((p.x + 1) * wo + w - 1) / w - 1, wo - 1);
    C<T> acc = load(gx, e);
    for (int64_t oh = oh0; oh <= oh1; ++oh) {
      const int64_t h0 = adaptive_start(oh, h, ho), h1 = adaptive_end(oh, h, ho);
      if (p.y < h0 || p.y >= h1) continue;
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        const int64_t w0 = adaptive_start(ow, w, wo), w1 = adaptive_end(ow, w, wo);
        if (p.x < w0 || p.x >= w1) continue;
        acc += load(gy, ((p.b * ho + oh) * wo + ow) * c + p.k) * (C<T>(1) / C<T>((h1 - h0) * (w1 - w0)));
      }
    }
    store(gx, e, acc);
  }
}

void launch_max_pool2d_forward(DType dt, const PoolDims& g, const void* x, void* y, int32_t* argmax, int device) {
  const int64_t total = g.n * g.ho * g.wo * g.c;
  if (total <= 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "max_pool2d", {
    max_pool_forward<scalar_t><<<blocks_for(total), kThreads, 0, current_stream(device)>>>(
        g, static_cast<const scalar_t*>(x), static_cast<scalar_t*>(y), argmax, total);
    check_launch("max_pool2d_forward");
  });
}

void launch_max_pool2d_backward(DType dt, const PoolDims& g, const void* gy, const int32_t* argmax, void* gx,
                                int device) {
  const int64_t total = g.n * g.h * g.w * g.c;
  if (total <= 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "max_pool2d backward", {
    max_pool_backward<scalar_t><<<blocks_for(total), kThreads, 0, current_stream(device)>>>(
        g, static_cast<const scalar_t*>(gy), argmax, static_cast<scalar_t*>(gx), total);
    check_launch("max_pool2d_backward");
  });
}

void launch_avg_pool2d_forward(DType dt, const PoolDims& g, const void* x, void* y, int device) {
  const int64_t total = g.n * g.ho * g.wo * g.c;
  if (total <= 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "avg_pool2d", {
    avg_pool_forward<scalar_t><<<blocks_for(total), kThreads, 0, current_stream(device)>>>(
        g, static_cast<const scalar_t*>(x), static_cast<scalar_t*>(y), total);
    check_launch("avg_pool2d_forward");
  });
}

void launch_avg_pool2d_backward(DType dt, const PoolDims& g, const void* gy, void* gx, int device) {
  const int64_t total = g.n * g.h * g.w * g.c;
  if (total <= 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "avg_pool2d backward", {
    avg_pool_backward<scalar_t><<<blocks_for(total), kThreads, 0, current_stream(device)>>>(
        g, static_cast<const scalar_t*>(gy), static_cast<scalar_t*>(gx), total);
    check_launch("avg_pool2d_backward");
  });
}

void launch_adaptive_avg_pool2d_forward(DType dt, int64_t n, int64_t h, int64_t w, int64_t c, int64_t ho, int64_t wo,
                                        const void* x, void* y, int device) {
  const int64_t total = n * ho * wo * c;
  if (total <= 0 || h <= 0 || w <= 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "adaptive_avg_pool2d", {
    adaptive_forward<scalar_t><<<blocks_for(total), kThreads, 0, current_stream(device)>>>(
        h, w, c, ho, wo, static_cast<const scalar_t*>(x), static_cast<scalar_t*>(y), total);
    check_launch("adaptive_avg_pool2d_forward");
  });
}

void launch_adaptive_avg_pool2d_backward(DType dt, int64_t n, int64_t h, int64_t w, int64_t c, int64_t ho, int64_t wo,
                                         const void* gy, void* gx, int device) {
  const int64_t total = n * h * w * c;
  if (total <= 0 || ho <= 0 || wo <= 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "adaptive_avg_pool2d backward", {
    adaptive_backward<scalar_t><<<blocks_for(total), kThreads, 0, current_stream(device)>>>(
        h, w, c, ho, wo, static_cast<const scalar_t*>(gy), static_cast<scalar_t*>(gx), total);
    check_launch("adaptive_avg_pool2d_backward");
  });
}

// Pooling has no optional tensors: every one must be defined.
int device_of(const char* op, std::initializer_list<const kernels::TensorRef*> ts) {
  for (const kernels::TensorRef* t : ts) FER_CHECK(t->defined(), op, ": undefined tensor");
  return cuda_device_of(op, ts);
}

void check_shapes(const char* op, const PoolDims& g, const kernels::TensorRef& in, const kernels::TensorRef& out) {
  FER_CHECK(in.shape() == Shape({g.n, g.h, g.w, g.c}) && out.shape() == Shape({g.n, g.ho, g.wo, g.c}), op,
            ": tensors ", in.shape().str(), " / ", out.shape().str(), " do not match the pooling geometry");
  FER_CHECK(in.dtype() == out.dtype(), op, ": dtype mismatch");
}

}  // namespace

}  // namespace fer::cuda

namespace fer::kernels {

using cuda::check_shapes;
using cuda::device_of;

void max_pool2d_forward_cuda(const MaxPool2dArgs& a) {
  const TensorRef &x = a.x, &y = a.y, &argmax = a.argmax;
  int dev = device_of("max_pool2d", {&x, &y, &argmax});
  check_shapes("max_pool2d", a.g, x, y);
  FER_CHECK(argmax.dtype() == DType::i32 && argmax.shape() == y.shape(), "max_pool2d: argmax must be i32 ",
            y.shape().str());
  cuda::launch_max_pool2d_forward(x.dtype(), a.g, x.raw_data(), y.raw_data(), argmax.data<int32_t>(), dev);
}

void max_pool2d_backward_cuda(const MaxPool2dBackwardArgs& a) {
  const TensorRef &gy = a.gy, &argmax = a.argmax, &gx = a.gx;
  int dev = device_of("max_pool2d backward", {&gy, &argmax, &gx});
  check_shapes("max_pool2d backward", a.g, gx, gy);
  FER_CHECK(argmax.dtype() == DType::i32 && argmax.shape() == gy.shape(), "max_pool2d backward: argmax must be i32 ",
            gy.shape().str());
  cuda::zero_if_written(gx, a.accumulate, dev);
  cuda::launch_max_pool2d_backward(gy.dtype(), a.g, gy.raw_data(), argmax.data<int32_t>(), gx.raw_data(), dev);
}

void avg_pool2d_forward_cuda(const AvgPool2dArgs& a) {
  int dev = device_of("avg_pool2d", {&a.x, &a.y});
  check_shapes("avg_pool2d", a.g, a.x, a.y);
  cuda::launch_avg_pool2d_forward(a.x.dtype(), a.g, a.x.raw_data(), a.y.raw_data(), dev);
}

void avg_pool2d_backward_cuda(const AvgPool2dBackwardArgs& a) {
  int dev = device_of("avg_pool2d backward", {&a.gy, &a.gx});
  check_shapes("avg_pool2d backward", a.g, a.gx, a.gy);
  cuda::zero_if_written(a.gx, a.accumulate, dev);
  cuda::launch_avg_pool2d_backward(a.gy.dtype(), a.g, a.gy.raw_data(), a.gx.raw_data(), dev);
}

void adaptive_avg_pool2d_forward_cuda(const AdaptiveAvgPool2dArgs& a) {
  const TensorRef &x = a.x, &y = a.y;
  int dev = device_of("adaptive_avg_pool2d", {&x, &y});
  FER_CHECK(x.dim() == 4 && y.dim() == 4 && x.size(0) == y.size(0) && x.size(3) == y.size(3) && x.dtype() == y.dtype(),
            "adaptive_avg_pool2d: input ", x.shape().str(), " and output ", y.shape().str(), " do not match");
  cuda::launch_adaptive_avg_pool2d_forward(x.dtype(), x.size(0), x.size(1), x.size(2), x.size(3), y.size(1), y.size(2),
                                           x.raw_data(), y.raw_data(), dev);
}

void adaptive_avg_pool2d_backward_cuda(const AdaptiveAvgPool2dBackwardArgs& a) {
  const TensorRef &gy = a.gy, &gx = a.gx;
  int dev = device_of("adaptive_avg_pool2d backward", {&gy, &gx});
  FER_CHECK(gx.dim() == 4 && gy.dim() == 4 && gx.size(0) == gy.size(0) && gx.size(3) == gy.size(3) &&
                gx.dtype() == gy.dtype(),
            "adaptive_avg_pool2d backward: gradients ", gy.shape().str(), " and ", gx.shape().str(), " do not match");
  cuda::zero_if_written(gx, a.accumulate, dev);
  cuda::launch_adaptive_avg_pool2d_backward(gy.dtype(), gx.size(0), gx.size(1), gx.size(2), gx.size(3), gy.size(1),
                                            gy.size(2), gy.raw_data(), gx.raw_data(), dev);
}

}  // namespace fer::kernels
