// Depthwise convolution (groups == c == o), NHWC. cuDNN's NHWC depthwise kernels are slow for the small kernels of
// mobile networks (3x3 .. 7x7), so these direct kernels take that case: each thread owns a vector of V adjacent
// channels of one pixel (16-byte loads when the channel count and the pointers allow it), so a warp reads
// contiguous memory, and the kh x kw loop is unrolled for the common square sizes.
//
// Forward and input gradient gather (each output element is written by one thread: no atomics); the weight
// gradient sums over pixel chunks into partial buffers and then over the chunks in a fixed order, so every
// result is deterministic.
#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/conv_parts.hpp"

namespace fer::cuda {

namespace {

// V values of T loaded or stored with one instruction (the caller guarantees the alignment).
template <class T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

template <class T, int V>
__device__ __forceinline__ Pack<T, V> load_pack(const T* p) {
  return *reinterpret_cast<const Pack<T, V>*>(p);
}
template <class T, int V>
__device__ __forceinline__ void store_pack(T* p, const Pack<T, V>& v) {
  *reinterpret_cast<Pack<T, V>*>(p) = v;
}

template <class T>
__global__ void transpose_weight_kernel(const T* __restrict__ w, int64_t c, int64_t taps, T* __restrict__ wt) {
  const int64_t total = c * taps;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ch = i % c, tap = i / c;
    wt[i] = w[ch * taps + tap];
  }
}

// K > 0: a K x K kernel known at compile time; K == 0: sizes from g.
template <class T, int V, int K>
__global__ void forward_kernel(DepthwiseConv g, const T* __restrict__ x, const T* __restrict__ wt,
                               const T* __restrict__ bias, T* __restrict__ y) {
  using C = typename Compute<T>::type;
  const int kh = K ? K : int(g.kh), kw = K ? K : int(g.kw);
  const int64_t cv = g.c / V, total = g.n * g.ho * g.wo * cv;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c0 = (idx % cv) * V, p = idx / cv;
    const int64_t ow = p % g.wo, r = p / g.wo, oh = r % g.ho, b = r / g.ho;
    C acc[V];
    if (bias) {
      const Pack<T, V> bv = load_pack<T, V>(bias + c0);
#pragma unroll
      for (int v = 0; v < V; ++v) acc[v] = load(bv.v, v);
    } else {
#pragma unroll
      for (int v = 0; v < V; ++v) acc[v] = C(0);
    }
    const int64_t ih0 = oh * g.stride_h - g.pad_top, iw0 = ow * g.stride_w - g.pad_left;
#pragma unroll
    for (int i = 0; i < kh; ++i) {
      const int64_t ih = ih0 + i * g.dil_h;
      if (ih < 0 || ih >= g.h) continue;
      const T* x_row = x + (b * g.h + ih) * g.w * g.c + c0;
      const T* w_row = wt + int64_t(i) * kw * g.c + c0;
#pragma unroll
      for (int j = 0; j < kw; ++j) {
        const int64_t iw = iw0 + j * g.dil_w;
        if (iw < 0 || iw >= g.w) continue;
        const Pack<T, V> xv = load_pack<T, V>(x_row + iw * g.c);
        const Pack<T, V> wv = load_pack<T, V>(w_row + int64_t(j) * g.c);
#pragma unroll
        for (int v = 0; v < V; ++v) acc[v] += load(xv.v, v) * load(wv.v, v);
      }
    }
    Pack<T, V> out;
#pragma unroll
    for (int v = 0; v < V; ++v) store(out.v, v, acc[v]);
    store_pack<T, V>(y + p * g.c + c0, out);
  }
}

// gx[b, ih, iw] += sum over the taps (i, j) whose output pixel oh = (ih + pad_top - i * dil_h) / stride_h (exact
// division, in range) saw this input pixel.
template <class T, int V, int K>
__global__ void backward_input_kernel(DepthwiseConv g, const T* __restrict__ gy, const T* __restrict__ wt,
                                      T* __restrict__ gx) {
  using C = typename Compute<T>::type;
  const int kh = K ? K : int(g.kh), kw = K ? K : int(g.kw);
  const int64_t cv = g.c / V, total = g.n * g.h * g.w * cv;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c0 = (idx % cv) * V, p = idx / cv;
    const int64_t iw = p % g.w, r = p / g.w, ih = r % g.h, b = r / g.h;
    C acc[V];
#pragma unroll
    for (int v = 0; v < V; ++v) acc[v] = C(0);
#pragma unroll
    for (int i = 0; i < kh; ++i) {
      const int64_t t = ih + g.pad_top - i * g.dil_h;
      if (t < 0 || t % g.stride_h != 0) continue;
      const int64_t oh = t / g.stride_h;
      if (oh >= g.ho) continue;
      const T* gy_row = gy + (b * g.ho + oh) * g.wo * g.c + c0;
      const T* w_row = wt + int64_t(i) * kw * g.c + c0;
#pragma unroll
      for (int j = 0; j < kw; ++j) {
        const int64_t u = iw + g.pad_left - j * g.dil_w;
        if (u < 0 || u % g.stride_w != 0) continue;
        const int64_t ow = u / g.stride_w;
        if (ow >= g.wo) continue;
        const Pack<T, V> gv = load_pack<T, V>(gy_row + ow * g.c);
        const Pack<T, V> wv = load_pack<T, V>(w_row + int64_t(j) * g.c);
#pragma unroll
        for (int v = 0; v < V; ++v) acc[v] += load(gv.v, v) * load(wv.v, v);
      }
    }
    T* dst = gx + p * g.c + c0;
    Pack<T, V> cur = load_pack<T, V>(dst);
#pragma unroll
    for (int v = 0; v < V; ++v) store(cur.v, v, load(cur.v, v) + acc[v]);
    store_pack<T, V>(dst, cur);
  }
}

// One thread per (chunk, tap, channel vector): sums gy * x over the chunk's output pixels. With one chunk it adds
// into gw directly, else it writes partials[(chunk * taps + tap) * c + channel].
template <class T, int V>
__global__ void backward_weight_kernel(DepthwiseConv g, const T* __restrict__ gy, const T* __restrict__ x,
                                       T* __restrict__ gw, typename Compute<T>::type* __restrict__ partials,
                                       int64_t chunks) {
  using C = typename Compute<T>::type;
  const int64_t taps = g.kh * g.kw, cv = g.c / V, pixels = g.n * g.ho * g.wo;
  const int64_t total = chunks * taps * cv;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c0 = (idx % cv) * V, r = idx / cv, tap = r % taps, chunk = r / taps;
    const int64_t i = tap / g.kw, j = tap % g.kw;
    const int64_t p0 = pixels * chunk / chunks, p1 = pixels * (chunk + 1) / chunks;
    C acc[V];
#pragma unroll
    for (int v = 0; v < V; ++v) acc[v] = C(0);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t ow = p % g.wo, q = p / g.wo, oh = q % g.ho, b = q / g.ho;
      const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dil_h;
      const int64_t iw = ow * g.stride_w - g.pad_left + j * g.dil_w;
      if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
      const Pack<T, V> gv = load_pack<T, V>(gy + p * g.c + c0);
      const Pack<T, V> xv = load_pack<T, V>(x + ((b * g.h + ih) * g.w + iw) * g.c + c0);
#pragma unroll
      for (int v = 0; v < V; ++v) acc[v] += load(gv.v, v) * load(xv.v, v);
    }
    if (chunks == 1) {
#pragma unroll
      for (int v = 0; v < V; ++v) {
        const int64_t o = (c0 + v) * taps + tap;
        store(gw, o, load(gw, o) + acc[v]);
      }
    } else {
#pragma unroll
      for (int v = 0; v < V; ++v) partials[(chunk * taps + tap) * g.c + c0 + v] = acc[v];
    }
  }
}

// gw[ch, tap] += the chunks' partial sums, in chunk order.
template <class T>
__global__ void reduce_weight_kernel(const typename Compute<T>::type* __restrict__ partials, int64_t chunks,
                                     int64_t taps, int64_t c, T* __restrict__ gw) {
  using C = typename Compute<T>::type;
  const int64_t total = taps * c;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ch = idx % c, tap = idx / c;
    C s = 0;
    for (int64_t k = 0; k < chunks; ++k) s += partials[k * total + idx];
    const int64_t o = ch * taps + tap;
    store(gw, o, load(gw, o) + s);
  }
}

// Widest vector (16 bytes) when the channel count and every pointer allow it, else scalar.
template <class T>
bool can_vectorize(int64_t c, std::initializer_list<const void*> ptrs) {
  constexpr int64_t v = 16 / int64_t(sizeof(T));
  if (v <= 1 || c % v != 0) return false;
  for (const void* p : ptrs)
    if (p && reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  return true;
}

// Calls launch(integral_constant V, integral_constant K) with K = 3, 5, 7 for those square kernels, else 0.
template <class T, class F>
void dispatch(const DepthwiseConv& g, bool vec, F&& launch) {
  constexpr int kVec = 16 / int(sizeof(T));
  auto with_v = [&](auto v) {
    if (g.kh == g.kw && g.kh == 3) launch(v, std::integral_constant<int, 3>{});
    else if (g.kh == g.kw && g.kh == 5) launch(v, std::integral_constant<int, 5>{});
    else if (g.kh == g.kw && g.kh == 7) launch(v, std::integral_constant<int, 7>{});
    else launch(v, std::integral_constant<int, 0>{});
  };
  if (vec) with_v(std::integral_constant<int, kVec>{});
  else with_v(std::integral_constant<int, 1>{});
}

void set_device(int device) {
  FER_CHECK(cudaSetDevice(device) == cudaSuccess, "depthwise conv: cudaSetDevice(", device, ") failed");
}

}  // namespace

void depthwise_transpose_weight(DType dt, const DepthwiseConv& g, const void* w, void* wt, int device) {
  set_device(device);
  const int64_t taps = g.kh * g.kw;
  if (g.c * taps == 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "depthwise conv", {
    transpose_weight_kernel<scalar_t><<<blocks_for(g.c * taps), kThreads, 0, current_stream(device)>>>(
        static_cast<const scalar_t*>(w), g.c, taps, static_cast<scalar_t*>(wt));
  });
  check_launch("depthwise transpose_weight");
}

void depthwise_forward(DType dt, const DepthwiseConv& g, const void* x, const void* wt, const void* bias, void* y,
                       int device) {
  set_device(device);
  if (g.n * g.ho * g.wo * g.c == 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "depthwise conv", {
    using T = scalar_t;
    dispatch<T>(g, can_vectorize<T>(g.c, {x, wt, bias, y}), [&](auto v, auto k) {
      constexpr int V = decltype(v)::value, K = decltype(k)::value;
      forward_kernel<T, V, K><<<blocks_for(g.n * g.ho * g.wo * (g.c / V)), kThreads, 0, current_stream(device)>>>(
          g, static_cast<const T*>(x), static_cast<const T*>(wt), static_cast<const T*>(bias), static_cast<T*>(y));
    });
  });
  check_launch("depthwise forward");
}

void depthwise_backward_input(DType dt, const DepthwiseConv& g, const void* gy, const void* wt, void* gx, int device) {
  set_device(device);
  if (g.n * g.h * g.w * g.c == 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "depthwise conv", {
    using T = scalar_t;
    dispatch<T>(g, can_vectorize<T>(g.c, {gy, wt, gx}), [&](auto v, auto k) {
      constexpr int V = decltype(v)::value, K = decltype(k)::value;
      backward_input_kernel<T, V, K><<<blocks_for(g.n * g.h * g.w * (g.c / V)), kThreads, 0, current_stream(device)>>>(
          g, static_cast<const T*>(gy), static_cast<const T*>(wt), static_cast<T*>(gx));
    });
  });
  check_launch("depthwise backward_input");
}

int64_t depthwise_weight_grad_chunks(const DepthwiseConv& g) {
  // About 2^18 (chunk, tap, channel) sums in flight, at least 16 pixels a chunk, at most 4096 chunks.
  const int64_t units = g.kh * g.kw * g.c, pixels = g.n * g.ho * g.wo;
  int64_t chunks = ((int64_t(1) << 18) + units - 1) / (units > 0 ? units : 1);
  const int64_t most = (pixels + 15) / 16;
  if (chunks > most) chunks = most;
  if (chunks > 4096) chunks = 4096;
  return chunks < 1 ? 1 : chunks;
}

void depthwise_backward_weight(DType dt, const DepthwiseConv& g, const void* gy, const void* x, void* gw,
                               void* partials, int device) {
  set_device(device);
  const int64_t taps = g.kh * g.kw;
  if (taps * g.c == 0) return;
  const int64_t chunks = depthwise_weight_grad_chunks(g);
  FER_CHECK(chunks == 1 || partials, "depthwise conv: ", chunks, " weight-gradient chunks need a partials buffer");
  FER_CUDA_FLOAT_SWITCH(dt, "depthwise conv", {
    using T = scalar_t;
    using C = typename Compute<T>::type;
    auto launch = [&](auto v) {
      constexpr int V = decltype(v)::value;
      backward_weight_kernel<T, V><<<blocks_for(chunks * taps * (g.c / V)), kThreads, 0, current_stream(device)>>>(
          g, static_cast<const T*>(gy), static_cast<const T*>(x), static_cast<T*>(gw), static_cast<C*>(partials),
          chunks);
    };
    if (can_vectorize<T>(g.c, {gy, x})) launch(std::integral_constant<int, 16 / int(sizeof(T))>{});
    else launch(std::integral_constant<int, 1>{});
    check_launch("depthwise backward_weight");
    if (chunks > 1) {
      reduce_weight_kernel<T><<<blocks_for(taps * g.c), kThreads, 0, current_stream(device)>>>(
          static_cast<const C*>(partials), chunks, taps, g.c, static_cast<T*>(gw));
      check_launch("depthwise reduce_weight");
    }
  });
}

}  // namespace fer::cuda
