// Modulated convolution on CUDA. Weight modulation: one block per (sample, output channel) for the demodulation
// sums (fixed tree order: deterministic), one thread per output element for the weights and the gradients (each
// thread sums its terms in the CPU kernel's order; no atomics). The per-sample convolution is one grouped
// convolution with the batch folded into the groups: cuDNN in f32 (FMA math, no TF32), direct kernels in f64
// (cuDNN has no NHWC double kernels).
#include <cudnn.h>

#include <algorithm>
#include <array>
#include <climits>
#include <map>
#include <mutex>

#include "fer/kernels/modconv.hpp"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ref_checks.hpp"
#include "kernels/cuda/scratch.hpp"

namespace fer::cuda {

namespace {

#define FER_CUDNN_CHECK(call)                                                          \
  do {                                                                                 \
    cudnnStatus_t fer_status_ = (call);                                                \
    if (fer_status_ != CUDNN_STATUS_SUCCESS)                                           \
      ::fer::fail(#call, " failed: ", cudnnGetErrorString(fer_status_));               \
  } while (0)

// ------------------------------------------------------------------------------------------------ modulation

// W'[n, o, k, i] = w[o, k, i] * s[n, i] (* dcoef[n, o]), written at the layout's position (k reversed when flip).
struct ModGeom {
  int64_t n, o, k, i;  // samples, output channels, kernel taps, input channels
  bool transposed;     // layout [N, I, K, O] instead of [N, O, K, I]
  bool flip;
};

// Flat position of W'[n, o, k, i] in the output layout.
__device__ __forceinline__ int64_t mod_index(const ModGeom& g, int64_t n, int64_t o, int64_t k, int64_t i) {
  const int64_t kk = g.flip ? g.k - 1 - k : k;
  return g.transposed ? ((n * g.i + i) * g.k + kk) * g.o + o : ((n * g.o + o) * g.k + kk) * g.i + i;
}

// Sum of v over the block (blockDim.x == kThreads), fixed tree order; every thread gets the result.
template <class C>
__device__ C block_sum(C v, C* red) {
  red[threadIdx.x] = v;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (int(threadIdx.x) < half) red[threadIdx.x] += red[threadIdx.x + half];
    __syncthreads();
  }
  C total = red[0];
  __syncthreads();  // red is reused by the next call
  return total;
}

template <class T>
__global__ void modulate_forward_kernel(ModGeom g, const T* __restrict__ w, const T* __restrict__ s, T* __restrict__ y,
                                        T* __restrict__ dcoef, double eps) {
  __shared__ T red[kThreads];
  const int64_t ki = g.k * g.i;
  for (int64_t no = blockIdx.x; no < g.n * g.o; no += gridDim.x) {  // uniform per block: the barriers are safe
    const int64_t n = no / g.o, o = no % g.o;
    const T* wo = w + o * ki;
    const T* sn = s + n * g.i;
    T d = T(1);
    if (dcoef) {
      T ss = T(0);
      for (int64_t j = threadIdx.x; j < ki; j += blockDim.x) {
        const T v = wo[j] * sn[j % g.i];
        ss += v * v;
      }
      d = T(1) / sqrt(block_sum(ss, red) + T(eps));
      if (threadIdx.x == 0) dcoef[no] = d;
    }
    for (int64_t j = threadIdx.x; j < ki; j += blockDim.x) {
      const int64_t k = j / g.i, i = j % g.i;
      y[mod_index(g, n, o, k, i)] = wo[j] * sn[i] * d;
    }
  }
}

// dot[n, o] = sum_{k,i} gy' * w * s (the demodulation's correction term).
template <class T>
__global__ void modulate_dot_kernel(ModGeom g, const T* __restrict__ w, const T* __restrict__ s,
                                    const T* __restrict__ gy, T* __restrict__ dot) {
  __shared__ T red[kThreads];
  const int64_t ki = g.k * g.i;
  for (int64_t no = blockIdx.x; no < g.n * g.o; no += gridDim.x) {
    const int64_t n = no / g.o, o = no % g.o;
    T acc = T(0);
    for (int64_t j = threadIdx.x; j < ki; j += blockDim.x) {
      const int64_t k = j / g.i, i = j % g.i;
      acc += gy[mod_index(g, n, o, k, i)] * w[o * ki + j] * s[n * g.i + i];
    }
    acc = block_sum(acc, red);
    if (threadIdx.x == 0) dot[no] = acc;
  }
}

// dL/da at (n, o, k, i) with a = w * s: d * g - d^3 * dot * a (or g without demodulation).
template <class T>
__device__ __forceinline__ T grad_a(const ModGeom& g, const T* w, const T* s, const T* dcoef, const T* gy,
                                    const T* dot, int64_t n, int64_t o, int64_t k, int64_t i) {
  const T gv = gy[mod_index(g, n, o, k, i)];
  if (!dcoef) return gv;
  const T d = dcoef[n * g.o + o];
  return d * gv - d * d * d * dot[n * g.o + o] * w[(o * g.k + k) * g.i + i] * s[n * g.i + i];
}

// gw[o, k, i] += sum_n dL/da * s[n, i]: one thread per weight element, samples in order.
template <class T>
__global__ void modulate_grad_w_kernel(ModGeom g, const T* __restrict__ w, const T* __restrict__ s,
                                       const T* __restrict__ dcoef, const T* __restrict__ gy,
                                       const T* __restrict__ dot, T* __restrict__ gw) {
  const int64_t total = g.o * g.k * g.i;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = e % g.i, k = (e / g.i) % g.k, o = e / (g.i * g.k);
    T acc = gw[e];
    for (int64_t n = 0; n < g.n; ++n) acc += grad_a(g, w, s, dcoef, gy, dot, n, o, k, i) * s[n * g.i + i];
    gw[e] = acc;
  }
}

// gs[n, i] += sum_{o,k} dL/da * w[o, k, i]: one thread per style element, (o, k) in order.
template <class T>
__global__ void modulate_grad_s_kernel(ModGeom g, const T* __restrict__ w, const T* __restrict__ s,
                                       const T* __restrict__ dcoef, const T* __restrict__ gy,
                                       const T* __restrict__ dot, T* __restrict__ gs) {
  const int64_t total = g.n * g.i;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = e % g.i, n = e / g.i;
    T acc = gs[e];
    for (int64_t o = 0; o < g.o; ++o)
      for (int64_t k = 0; k < g.k; ++k)
        acc += grad_a(g, w, s, dcoef, gy, dot, n, o, k, i) * w[(o * g.k + k) * g.i + i];
    gs[e] = acc;
  }
}

unsigned pair_blocks(int64_t pairs) { return unsigned(pairs < 65535 * 8 ? (pairs < 1 ? 1 : pairs) : 65535 * 8); }

template <class F>
void modulate_switch(DType dtype, const char* what, F&& f) {
  switch (dtype) {
    case DType::f32: f(float{}); break;
    case DType::f64: f(double{}); break;
    default: fail(what, ": no CUDA kernel for dtype ", dtype_name(dtype), " (f32 or f64)");
  }
}

// ------------------------------------------------------------------------------------------------ direct convolution

// A grouped convolution A: input [1, h, w, groups*c] -> output [1, ho, wo, groups*o], weight [groups*o, kh, kw, c]
// (NHWC / KRSC), cross-correlation with `stride` and symmetric zero padding (pad_h, pad_w).
struct GroupConvGeom {
  int64_t groups, h, w, c, o, kh, kw, ho, wo, stride, pad_h, pad_w;
};
enum class ConvPass {
  forward,          // out = A(in)             a = in,   b = weight, out = output
  backward_data,    // out = A^T(gout)         a = gout, b = weight, out = input-shaped
  backward_filter,  // out = dA/dw (in, gout)  a = in,   b = gout,   out = weight-shaped
};

// Direct kernels of the grouped convolution (used for f64). beta 0 never reads `out` (it may hold NaN).
template <class T>
__global__ void direct_forward_kernel(GroupConvGeom g, const T* __restrict__ in, const T* __restrict__ wt,
                                      T* __restrict__ out, bool accumulate) {
  const int64_t oc_all = g.groups * g.o, ic_all = g.groups * g.c;
  const int64_t total = g.ho * g.wo * oc_all;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t oc = e % oc_all, pix = e / oc_all;
    const int64_t ox = pix % g.wo, oy = pix / g.wo, grp = oc / g.o;
    T acc = T(0);
    for (int64_t ky = 0; ky < g.kh; ++ky) {
      const int64_t iy = oy * g.stride - g.pad_h + ky;
      if (iy < 0 || iy >= g.h) continue;
      for (int64_t kx = 0; kx < g.kw; ++kx) {
        const int64_t ix = ox * g.stride - g.pad_w + kx;
        if (ix < 0 || ix >= g.w) continue;
        const T* xi = in + (iy * g.w + ix) * ic_all + grp * g.c;
        const T* wk = wt + ((oc * g.kh + ky) * g.kw + kx) * g.c;
        for (int64_t ci = 0; ci < g.c; ++ci) acc += xi[ci] * wk[ci];
      }
    }
    out[e] = accumulate ? out[e] + acc : acc;
  }
}

template <class T>
__global__ void direct_backward_data_kernel(GroupConvGeom g, const T* __restrict__ gout, const T* __restrict__ wt,
                                            T* __restrict__ gin, bool accumulate) {
  const int64_t oc_all = g.groups * g.o, ic_all = g.groups * g.c;
  const int64_t total = g.h * g.w * ic_all;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t icx = e % ic_all, pix = e / ic_all;
    const int64_t ix = pix % g.w, iy = pix / g.w, grp = icx / g.c, ci = icx % g.c;
    T acc = T(0);
    for (int64_t ky = 0; ky < g.kh; ++ky) {
      const int64_t ty = iy + g.pad_h - ky;  // = oy * stride
      if (ty < 0 || ty % g.stride) continue;
      const int64_t oy = ty / g.stride;
      if (oy >= g.ho) continue;
      for (int64_t kx = 0; kx < g.kw; ++kx) {
        const int64_t tx = ix + g.pad_w - kx;
        if (tx < 0 || tx % g.stride) continue;
        const int64_t ox = tx / g.stride;
        if (ox >= g.wo) continue;
        const T* go = gout + (oy * g.wo + ox) * oc_all + grp * g.o;
        for (int64_t co = 0; co < g.o; ++co) acc += go[co] * wt[((((grp * g.o + co) * g.kh + ky) * g.kw) + kx) * g.c + ci];
      }
    }
    gin[e] = accumulate ? gin[e] + acc : acc;
  }
}

template <class T>
__global__ void direct_backward_filter_kernel(GroupConvGeom g, const T* __restrict__ in, const T* __restrict__ gout,
                                              T* __restrict__ gw, bool accumulate) {
  const int64_t oc_all = g.groups * g.o, ic_all = g.groups * g.c;
  const int64_t total = oc_all * g.kh * g.kw * g.c;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ci = e % g.c;
    int64_t r = e / g.c;
    const int64_t kx = r % g.kw;
    r /= g.kw;
    const int64_t ky = r % g.kh, oc = r / g.kh, grp = oc / g.o;
    T acc = T(0);
    for (int64_t oy = 0; oy < g.ho; ++oy) {
      const int64_t iy = oy * g.stride - g.pad_h + ky;
      if (iy < 0 || iy >= g.h) continue;
      for (int64_t ox = 0; ox < g.wo; ++ox) {
        const int64_t ix = ox * g.stride - g.pad_w + kx;
        if (ix < 0 || ix >= g.w) continue;
        acc += gout[(oy * g.wo + ox) * oc_all + oc] * in[(iy * g.w + ix) * ic_all + grp * g.c + ci];
      }
    }
    gw[e] = accumulate ? gw[e] + acc : acc;
  }
}

// ------------------------------------------------------------------------------------------------ cuDNN

// Descriptors and the chosen algorithm of one (geometry, pass, device), created once and kept for the process.
constexpr int kDirect = -1;  // CudnnPlan::algo when the direct kernels run instead of cuDNN

struct CudnnPlan {
  cudnnTensorDescriptor_t in = nullptr, out = nullptr;
  cudnnFilterDescriptor_t filt = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  int algo = 0;  // or kDirect
  size_t workspace = 0;
};

template <class T>
void direct_launch(const GroupConvGeom& g, ConvPass pass, const void* a, const void* b, void* out, bool acc,
                   cudaStream_t st) {
  const T* pa = static_cast<const T*>(a);
  const T* pb = static_cast<const T*>(b);
  T* po = static_cast<T*>(out);
  if (pass == ConvPass::forward) {
    const int64_t total = g.ho * g.wo * g.groups * g.o;
    if (total > 0) direct_forward_kernel<T><<<blocks_for(total), kThreads, 0, st>>>(g, pa, pb, po, acc);
  } else if (pass == ConvPass::backward_data) {
    const int64_t total = g.h * g.w * g.groups * g.c;
    if (total > 0) direct_backward_data_kernel<T><<<blocks_for(total), kThreads, 0, st>>>(g, pa, pb, po, acc);
  } else {
    const int64_t total = g.groups * g.o * g.kh * g.kw * g.c;
    if (total > 0) direct_backward_filter_kernel<T><<<blocks_for(total), kThreads, 0, st>>>(g, pa, pb, po, acc);
  }
  check_launch("grouped_conv_direct");
}

int to_int(int64_t v, const char* what) {
  FER_CHECK(v >= 0 && v <= INT_MAX, "grouped convolution: ", what, " ", v, " exceeds cuDNN's int range");
  return int(v);
}

// Tensor-core entries would compute in TF32 (or round to 16 bits): never used for f32 here.
bool exact_math(cudnnMathType_t m) { return m != CUDNN_TENSOR_OP_MATH && m != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION; }

// The first entry (cuDNN orders them by expected speed) that ran, uses exact math, and whose workspace size can be
// queried with the FMA-math descriptor; deterministic entries first when `prefer_deterministic`.
template <class Perf, class SizeFn>
bool pick(const Perf* perf, int count, bool prefer_deterministic, SizeFn&& size_of, int* algo, size_t* bytes) {
  for (int round = prefer_deterministic ? 0 : 1; round < 2; ++round)
    for (int j = 0; j < count; ++j) {
      if (perf[j].status != CUDNN_STATUS_SUCCESS || !exact_math(perf[j].mathType)) continue;
      if (round == 0 && perf[j].determinism != CUDNN_DETERMINISTIC) continue;
      size_t b = 0;
      if (!size_of(perf[j].algo, &b)) continue;
      *algo = int(perf[j].algo);
      *bytes = b;
      return true;
    }
  return false;
}

CudnnPlan* make_plan(const GroupConvGeom& g, ConvPass pass, int device) {
  cudnnHandle_t h = static_cast<cudnnHandle_t>(cudnn_handle(device));
  auto* p = new CudnnPlan;
  const cudnnDataType_t dt = CUDNN_DATA_FLOAT;
  FER_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->in));
  FER_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->out));
  FER_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->filt));
  FER_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
  FER_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->in, CUDNN_TENSOR_NHWC, dt, 1, to_int(g.groups * g.c, "channels"),
                                             to_int(g.h, "height"), to_int(g.w, "width")));
  FER_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->out, CUDNN_TENSOR_NHWC, dt, 1, to_int(g.groups * g.o, "channels"),
                                             to_int(g.ho, "height"), to_int(g.wo, "width")));
  FER_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->filt, dt, CUDNN_TENSOR_NHWC, to_int(g.groups * g.o, "filters"),
                                             to_int(g.c, "channels"), to_int(g.kh, "kernel"), to_int(g.kw, "kernel")));
  FER_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, to_int(g.pad_h, "padding"), to_int(g.pad_w, "padding"),
                                                  to_int(g.stride, "stride"), to_int(g.stride, "stride"), 1, 1,
                                                  CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  FER_CUDNN_CHECK(cudnnSetConvolutionGroupCount(p->conv, to_int(g.groups, "groups")));
  FER_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, CUDNN_FMA_MATH));
  int dn = 0, dc = 0, dh = 0, dw = 0;
  FER_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv, p->in, p->filt, &dn, &dc, &dh, &dw));
  FER_CHECK(dn == 1 && dc == g.groups * g.o && dh == g.ho && dw == g.wo, "grouped convolution: cuDNN's output [", dn,
            ", ", dc, ", ", dh, ", ", dw, "] differs from the planned [1, ", g.groups * g.o, ", ", g.ho, ", ", g.wo, "]");
  constexpr int kMax = 16;
  int returned = 0;
  bool found = false;
  if (pass == ConvPass::forward) {
    cudnnConvolutionFwdAlgoPerf_t perf[kMax];
    FER_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, p->in, p->filt, p->conv, p->out, kMax, &returned, perf));
    found = pick(perf, returned, false, [&](cudnnConvolutionFwdAlgo_t a, size_t* b) {
      return cudnnGetConvolutionForwardWorkspaceSize(h, p->in, p->filt, p->conv, p->out, a, b) == CUDNN_STATUS_SUCCESS;
    }, &p->algo, &p->workspace);
  } else if (pass == ConvPass::backward_data) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[kMax];
    FER_CUDNN_CHECK(
        cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p->filt, p->out, p->conv, p->in, kMax, &returned, perf));
    found = pick(perf, returned, true, [&](cudnnConvolutionBwdDataAlgo_t a, size_t* b) {
      return cudnnGetConvolutionBackwardDataWorkspaceSize(h, p->filt, p->out, p->conv, p->in, a, b) ==
             CUDNN_STATUS_SUCCESS;
    }, &p->algo, &p->workspace);
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[kMax];
    FER_CUDNN_CHECK(
        cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p->in, p->out, p->conv, p->filt, kMax, &returned, perf));
    found = pick(perf, returned, true, [&](cudnnConvolutionBwdFilterAlgo_t a, size_t* b) {
      return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p->in, p->out, p->conv, p->filt, a, b) ==
             CUDNN_STATUS_SUCCESS;
    }, &p->algo, &p->workspace);
  }
  if (!found) p->algo = kDirect, p->workspace = 0;  // no exact-math cuDNN kernel for this geometry
  return p;
}

// The cached plan of (geometry, pass, device); f32 only.
CudnnPlan& plan_for(const GroupConvGeom& g, ConvPass pass, int device) {
  using Key = std::array<int64_t, 14>;
  static std::mutex mu;
  static std::map<Key, CudnnPlan*>* plans = new std::map<Key, CudnnPlan*>;  // leaked: outlives static tensors
  const Key key{g.groups, g.h, g.w, g.c, g.o, g.kh, g.kw, g.ho, g.wo, g.stride, g.pad_h, g.pad_w, int64_t(pass), device};
  std::lock_guard<std::mutex> lock(mu);
  auto it = plans->find(key);
  if (it == plans->end()) it = plans->emplace(key, make_plan(g, pass, device)).first;
  return *it->second;
}

}  // namespace

// ------------------------------------------------------------------------------------------------ launchers

namespace {

// dcoef may be null (no demodulation).
void modulate_forward_launch(const ModGeom& g, const void* w, const void* s, void* y, void* dcoef, double eps,
                             DType dtype, int device) {
  if (g.n * g.o * g.k * g.i <= 0) return;
  cudaSetDevice(device);
  modulate_switch(dtype, "modulate_weights", [&](auto tag) {
    using T = decltype(tag);
    modulate_forward_kernel<T><<<pair_blocks(g.n * g.o), kThreads, 0, current_stream(device)>>>(
        g, static_cast<const T*>(w), static_cast<const T*>(s), static_cast<T*>(y), static_cast<T*>(dcoef), eps);
  });
  check_launch("modulate_weights_forward");
}

// gw / gs may be null; dcoef null = no demodulation, else `dot` is [N, O] scratch.
void modulate_backward_launch(const ModGeom& g, const void* w, const void* s, const void* dcoef, const void* gy,
                              void* gw, void* gs, void* dot, DType dtype, int device) {
  if (g.n * g.o * g.k * g.i <= 0 || (!gw && !gs)) return;
  cudaSetDevice(device);
  cudaStream_t st = current_stream(device);
  modulate_switch(dtype, "modulate_weights backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pw = static_cast<const T*>(w);
    const T* ps = static_cast<const T*>(s);
    const T* pd = static_cast<const T*>(dcoef);
    const T* pg = static_cast<const T*>(gy);
    T* pdot = dcoef ? static_cast<T*>(dot) : nullptr;
    if (dcoef) {
      FER_CHECK(dot != nullptr, "modulate_weights backward: demodulation needs the dot scratch");
      modulate_dot_kernel<T><<<pair_blocks(g.n * g.o), kThreads, 0, st>>>(g, pw, ps, pg, pdot);
      check_launch("modulate_weights_dot");
    }
    if (gw) {
      modulate_grad_w_kernel<T><<<blocks_for(g.o * g.k * g.i), kThreads, 0, st>>>(g, pw, ps, pd, pg, pdot,
                                                                                    static_cast<T*>(gw));
      check_launch("modulate_weights_grad_w");
    }
    if (gs) {
      modulate_grad_s_kernel<T><<<blocks_for(g.n * g.i), kThreads, 0, st>>>(g, pw, ps, pd, pg, pdot,
                                                                              static_cast<T*>(gs));
      check_launch("modulate_weights_grad_s");
    }
  });
}

// Scratch bytes the pass needs (chooses the algorithm once per geometry, pass, dtype and device, and caches it).
size_t group_conv_workspace(const GroupConvGeom& g, ConvPass pass, DType dtype, int device) {
  if (dtype != DType::f32) return 0;  // the direct kernels need none
  return plan_for(g, pass, device).workspace;
}

// out = A-pass(a, b) + beta * out, with beta 0 (overwrite) or 1 (accumulate). `ws` holds `ws_bytes` >=
// group_conv_workspace(...) bytes of device memory (may be null when that is 0).
void group_conv_launch(const GroupConvGeom& g, ConvPass pass, const void* a, const void* b, void* out, double beta,
                       void* ws, size_t ws_bytes, DType dtype, int device) {
  FER_CHECK(beta == 0.0 || beta == 1.0, "grouped convolution: beta must be 0 or 1, got ", beta);
  cudaSetDevice(device);
  cudaStream_t st = current_stream(device);
  if (dtype == DType::f64) return direct_launch<double>(g, pass, a, b, out, beta != 0.0, st);
  FER_CHECK(dtype == DType::f32, "grouped convolution: no CUDA kernel for dtype ", dtype_name(dtype), " (f32 or f64)");
  CudnnPlan& p = plan_for(g, pass, device);
  if (p.algo == kDirect) return direct_launch<float>(g, pass, a, b, out, beta != 0.0, st);
  FER_CHECK(ws_bytes >= p.workspace && (p.workspace == 0 || ws != nullptr), "grouped convolution: workspace of ",
            ws_bytes, " bytes, ", p.workspace, " needed");
  cudnnHandle_t h = static_cast<cudnnHandle_t>(cudnn_handle(device));
  const float alpha = 1.0f, fbeta = float(beta);
  cudnnStatus_t status;
  if (pass == ConvPass::forward) {
    status = cudnnConvolutionForward(h, &alpha, p.in, a, p.filt, b, p.conv, cudnnConvolutionFwdAlgo_t(p.algo), ws,
                                     p.workspace, &fbeta, p.out, out);
  } else if (pass == ConvPass::backward_data) {
    status = cudnnConvolutionBackwardData(h, &alpha, p.filt, b, p.out, a, p.conv, cudnnConvolutionBwdDataAlgo_t(p.algo),
                                          ws, p.workspace, &fbeta, p.in, out);
  } else {
    status = cudnnConvolutionBackwardFilter(h, &alpha, p.in, a, p.out, b, p.conv,
                                            cudnnConvolutionBwdFilterAlgo_t(p.algo), ws, p.workspace, &fbeta, p.filt,
                                            out);
  }
  if (status == CUDNN_STATUS_NOT_SUPPORTED) {  // refused at run time: this geometry takes the direct kernels from now on
    p.algo = kDirect;
    return direct_launch<float>(g, pass, a, b, out, beta != 0.0, st);
  }
  FER_CHECK(status == CUDNN_STATUS_SUCCESS, "grouped convolution: cuDNN failed: ", cudnnGetErrorString(status));
}

}  // namespace

}  // namespace fer::cuda

namespace fer::kernels {

namespace {
cuda::ModGeom mod_geom(const TensorRef& w, const TensorRef& s, ModulatedLayout layout, bool flip) {
  return {s.size(0), w.size(0), w.size(1) * w.size(2), w.size(3), layout == ModulatedLayout::transposed, flip};
}
void* ptr(const TensorRef& t) { return t.defined() ? t.raw_data() : nullptr; }

// The convolution A of a SampleConv: sc.plan.g is one sample's convolution (for `transposed`, the one y -> x), and
// the batch becomes the groups.
cuda::GroupConvGeom conv_geom(const SampleConv& sc) {
  const ConvGeometry& g = sc.plan.g;
  FER_CHECK(g.stride_h == g.stride_w && g.dil_h == 1 && g.dil_w == 1 && g.groups == 1,
            "sample_conv: unexpected plan (strides ", g.stride_h, ", ", g.stride_w, ")");
  return {sc.samples, g.h, g.w, g.c, g.o, g.kh, g.kw, g.ho, g.wo, g.stride_h, g.pad_top, g.pad_left};
}

// x, w and y hold the element counts of the geometry (y-space and x-space swap for the transposed convolution).
void check_sizes(const char* op, const SampleConv& sc, const cuda::GroupConvGeom& g, const TensorRef& x,
                 const TensorRef& w, const TensorRef& y) {
  const int64_t in = g.groups * g.h * g.w * g.c, out = g.groups * g.ho * g.wo * g.o;
  FER_CHECK(x.numel() == (sc.transposed ? out : in) && y.numel() == (sc.transposed ? in : out) &&
                w.numel() == g.groups * g.o * g.kh * g.kw * g.c,
            op, ": x ", x.shape().str(), ", w ", w.shape().str(), ", y ", y.shape().str(), " do not match the plan");
}

// One pass of the grouped convolution, with the op's workspace when it is large enough, else scratch from the
// caching allocator.
void run(const cuda::GroupConvGeom& g, cuda::ConvPass pass, const TensorRef& a, const TensorRef& b,
         const TensorRef& out, double beta, const TensorRef& ws, int device) {
  const size_t need = cuda::group_conv_workspace(g, pass, out.dtype(), device);
  const size_t have = ws.defined() ? size_t(ws.numel()) * dtype_size(ws.dtype()) : 0;
  void* scratch = nullptr;
  size_t bytes = 0;
  cuda::DeviceScratch owned;
  if (need > 0 && ws.defined() && ws.on_cuda() && ws.device == device && ws.is_contiguous() && have >= need) {
    scratch = ws.raw_data(), bytes = have;
  } else if (need > 0) {
    owned = cuda::DeviceScratch(need, device);
    scratch = owned.get(), bytes = need;
  }
  cuda::group_conv_launch(g, pass, a.raw_data(), b.raw_data(), out.raw_data(), beta, scratch, bytes, out.dtype(),
                          device);
}

}  // namespace

void modulate_weights_forward_cuda(const ModulateForwardArgs& a) {
  const char* op = "modulate_weights";
  const TensorRef &w = a.w, &s = a.s, &y = a.y, &dcoef = a.dcoef;
  const int dev = cuda::cuda_device_of(op, {&w, &s, &y, &dcoef}, true);
  const cuda::ModGeom g = mod_geom(w, s, a.layout, a.flip);
  FER_CHECK(y.numel() == g.n * g.o * g.k * g.i && (!dcoef.defined() || dcoef.numel() == g.n * g.o), op,
            ": output sizes do not match weight ", w.shape().str(), " and styles ", s.shape().str());
  cuda::modulate_forward_launch(g, w.raw_data(), s.raw_data(), y.raw_data(), ptr(dcoef), a.eps, w.dtype(), dev);
}

void modulate_weights_backward_cuda(const ModulateBackwardArgs& a) {
  const char* op = "modulate_weights backward";
  const TensorRef &w = a.w, &s = a.s, &dcoef = a.dcoef, &gy = a.gy, &gw = a.gw, &gs = a.gs, &dot = a.dot;
  const int dev = cuda::cuda_device_of(op, {&w, &s, &dcoef, &gy, &gw, &gs, &dot}, true);
  const cuda::ModGeom g = mod_geom(w, s, a.layout, a.flip);
  FER_CHECK(gy.numel() == g.n * g.o * g.k * g.i, op, ": gradient ", gy.shape().str(), " does not match");
  FER_CHECK(!dcoef.defined() || (dot.defined() && dot.numel() >= g.n * g.o), op, ": demodulation needs dot [N, O]");
  cuda::modulate_backward_launch(g, w.raw_data(), s.raw_data(), ptr(dcoef), gy.raw_data(), ptr(gw), ptr(gs), ptr(dot),
                                 w.dtype(), dev);
}

size_t sample_conv_workspace_bytes_cuda(const SampleConv& sc, DType dtype, int device) {
  const cuda::GroupConvGeom g = conv_geom(sc);
  size_t bytes = 0;
  for (cuda::ConvPass pass : {cuda::ConvPass::forward, cuda::ConvPass::backward_data, cuda::ConvPass::backward_filter})
    bytes = std::max(bytes, cuda::group_conv_workspace(g, pass, dtype, device));
  return bytes;
}

void sample_conv_forward_cuda(const SampleConvForwardArgs& a) {
  const SampleConv& sc = a.sc;
  const int dev = cuda::cuda_device_of("sample_conv", {&a.x, &a.w, &a.y}, true);
  const cuda::GroupConvGeom g = conv_geom(sc);
  check_sizes("sample_conv", sc, g, a.x, a.w, a.y);
  // Plain: y = A(x). Transposed: A maps y-space to x-space, so y = A^T(x).
  run(g, sc.transposed ? cuda::ConvPass::backward_data : cuda::ConvPass::forward, a.x, a.w, a.y, 0.0, a.ws, dev);
}

void sample_conv_backward_cuda(const SampleConvBackwardArgs& a) {
  const SampleConv& sc = a.sc;
  const TensorRef &x = a.x, &w = a.w, &gy = a.gy, &gx = a.gx, &gw = a.gw;
  const int dev = cuda::cuda_device_of("sample_conv backward", {&x, &w, &gy, &gx, &gw}, true);
  const cuda::GroupConvGeom g = conv_geom(sc);
  check_sizes("sample_conv backward", sc, g, x, w, gy);
  if (sc.transposed) {  // y = A^T x: dx = A gy, dw from (input gy, output-gradient x)
    if (gx.defined()) run(g, cuda::ConvPass::forward, gy, w, gx, 1.0, a.ws, dev);
    if (gw.defined()) run(g, cuda::ConvPass::backward_filter, gy, x, gw, 1.0, a.ws, dev);
  } else {
    if (gx.defined()) run(g, cuda::ConvPass::backward_data, gy, w, gx, 1.0, a.ws, dev);
    if (gw.defined()) run(g, cuda::ConvPass::backward_filter, x, gy, gw, 1.0, a.ws, dev);
  }
}

}  // namespace fer::kernels
