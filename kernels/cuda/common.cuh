#pragma once
// What every kernels/cuda/*.cu file shares: the stream to launch on, grid sizes, float conversions of the storage
// types, and the dtype switch. Only CUDA headers, fer/core/ and the kernel contracts (fer/kernels/) are included:
// nvcc never compiles the framework (tensors, autograd, models).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "fer/kernels/runtime.hpp"
#include "fer/core/dtype.hpp"

namespace fer::cuda {

inline cudaStream_t current_stream(int device) { return static_cast<cudaStream_t>(stream(device)); }

constexpr int kThreads = 256;
// Blocks for a grid-stride loop over n elements (capped; the loop covers the rest).
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  return unsigned(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));
}

// Loads and stores through float (f32 compute for the 16-bit storage types; f64 stays f64).
template <class T> struct Compute { using type = float; };
template <> struct Compute<double> { using type = double; };
template <class T> __device__ __forceinline__ typename Compute<T>::type load(const T* p, int64_t i) {
  return static_cast<typename Compute<T>::type>(p[i]);
}
template <> __device__ __forceinline__ float load<__half>(const __half* p, int64_t i) { return __half2float(p[i]); }
template <> __device__ __forceinline__ float load<__nv_bfloat16>(const __nv_bfloat16* p, int64_t i) {
  return __bfloat162float(p[i]);
}
template <class T, class V> __device__ __forceinline__ void store(T* p, int64_t i, V v) { p[i] = static_cast<T>(v); }
template <> __device__ __forceinline__ void store<__half, float>(__half* p, int64_t i, float v) { p[i] = __float2half_rn(v); }
template <> __device__ __forceinline__ void store<__nv_bfloat16, float>(__nv_bfloat16* p, int64_t i, float v) {
  p[i] = __float2bfloat16_rn(v);
}

}  // namespace fer::cuda

// Runs BODY with `scalar_t` set to the CUDA type of a floating dtype (f32, f64, f16, bf16); other dtypes throw.
#define FER_CUDA_FLOAT_SWITCH(dtype, what, ...)                                                \
  switch (dtype) {                                                                             \
    case ::fer::DType::f32: { using scalar_t = float; __VA_ARGS__; break; }                    \
    case ::fer::DType::f64: { using scalar_t = double; __VA_ARGS__; break; }                   \
    case ::fer::DType::f16: { using scalar_t = __half; __VA_ARGS__; break; }                   \
    case ::fer::DType::bf16: { using scalar_t = __nv_bfloat16; __VA_ARGS__; break; }           \
    default: ::fer::fail(what, ": no CUDA kernel for dtype ", ::fer::dtype_name(dtype));       \
  }
