// Layout kernels on CUDA: one strided move (gather / scatter, copy or accumulate) serves permute, slice, concat,
// split, channel shuffle and contiguous(); plus NHWC constant padding. One thread per element (grid-stride).
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/shape_launch.hpp"

namespace fer::cuda {

namespace {

__device__ __forceinline__ void move_offsets(const MoveDims& d, int64_t i, int64_t& os, int64_t& od) {
  os = 0, od = 0;
  for (int k = d.nd - 1; k >= 0; --k) {
    const int64_t s = d.size[k], idx = i % s;
    i /= s;
    os += idx * d.src[k], od += idx * d.dst[k];
  }
}

// Copies: T is an unsigned integer of the element's size, so every dtype moves bit-exactly.
template <class T>
__global__ void copy_kernel(const T* __restrict__ src, T* __restrict__ dst, MoveDims d, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t os, od;
    move_offsets(d, i, os, od);
    dst[od] = src[os];
  }
}

template <class T>
__global__ void accumulate_kernel(const T* __restrict__ src, T* __restrict__ dst, MoveDims d, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t os, od;
    move_offsets(d, i, os, od);
    store(dst, od, load(dst, od) + load(src, os));
  }
}

template <class T>
__global__ void pad_forward_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t total, int64_t h, int64_t w,
                                   int64_t c, int64_t ho, int64_t wo, int64_t top, int64_t left, double value) {
  using A = typename Compute<T>::type;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ch = i % c, ow = (i / c) % wo, oh = (i / (c * wo)) % ho, b = i / (c * wo * ho);
    const int64_t ih = oh - top, iw = ow - left;
    if (ih >= 0 && ih < h && iw >= 0 && iw < w) y[i] = x[((b * h + ih) * w + iw) * c + ch];
    else store(y, i, A(value));
  }
}

template <class T>
__global__ void pad_backward_kernel(const T* __restrict__ gy, T* __restrict__ gx, int64_t total, int64_t h, int64_t w,
                                    int64_t c, int64_t ho, int64_t wo, int64_t top, int64_t left) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ch = i % c, iw = (i / c) % w, ih = (i / (c * w)) % h, b = i / (c * w * h);
    const int64_t oh = ih + top, ow = iw + left;
    if (oh >= 0 && oh < ho && ow >= 0 && ow < wo) store(gx, i, load(gx, i) + load(gy, ((b * ho + oh) * wo + ow) * c + ch));
  }
}

template <class T>
void run_copy(const void* src, void* dst, const MoveDims& d, int64_t n, int device) {
  copy_kernel<T><<<blocks_for(n), kThreads, 0, current_stream(device)>>>(static_cast<const T*>(src),
                                                                          static_cast<T*>(dst), d, n);
}

}  // namespace

void launch_move_strided(const void* src, int64_t src_offset, void* dst, int64_t dst_offset, const MoveDims& dims,
                         int64_t n, bool accumulate, DType dt, int device) {
  if (n <= 0) return;
  const size_t es = dtype_size(dt);
  const void* s = static_cast<const char*>(src) + src_offset * int64_t(es);
  void* o = static_cast<char*>(dst) + dst_offset * int64_t(es);
  if (accumulate) {
    FER_CUDA_FLOAT_SWITCH(dt, "scatter/gather accumulate",
                          accumulate_kernel<scalar_t><<<blocks_for(n), kThreads, 0, current_stream(device)>>>(
                              static_cast<const scalar_t*>(s), static_cast<scalar_t*>(o), dims, n));
  } else {
    switch (es) {
      case 1: run_copy<uint8_t>(s, o, dims, n, device); break;
      case 2: run_copy<uint16_t>(s, o, dims, n, device); break;
      case 4: run_copy<uint32_t>(s, o, dims, n, device); break;
      case 8: run_copy<uint64_t>(s, o, dims, n, device); break;
      default: fail("gather/scatter: unsupported element size ", es);
    }
  }
  check_launch("move_strided");
}

void launch_pad2d_forward(const void* x, void* y, int64_t n, int64_t h, int64_t w, int64_t c, int64_t ho, int64_t wo,
                          int64_t top, int64_t left, double value, DType dt, int device) {
  const int64_t total = n * ho * wo * c;
  if (total <= 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "pad2d",
                        pad_forward_kernel<scalar_t><<<blocks_for(total), kThreads, 0, current_stream(device)>>>(
                            static_cast<const scalar_t*>(x), static_cast<scalar_t*>(y), total, h, w, c, ho, wo, top,
                            left, value));
  check_launch("pad2d_forward");
}

void launch_pad2d_backward(const void* gy, void* gx, int64_t n, int64_t h, int64_t w, int64_t c, int64_t ho, int64_t wo,
                           int64_t top, int64_t left, DType dt, int device) {
  const int64_t total = n * h * w * c;
  if (total <= 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "pad2d backward",
                        pad_backward_kernel<scalar_t><<<blocks_for(total), kThreads, 0, current_stream(device)>>>(
                            static_cast<const scalar_t*>(gy), static_cast<scalar_t*>(gx), total, h, w, c, ho, wo, top,
                            left));
  check_launch("pad2d_backward");
}

}  // namespace fer::cuda
