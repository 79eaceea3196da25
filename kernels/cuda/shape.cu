// Layout kernels on CUDA: one strided move (gather / scatter, copy or accumulate) serves permute, slice, concat,
// split, channel shuffle and contiguous(); plus NHWC constant padding. One thread per element (grid-stride).
#include "fer/kernels/shape.hpp"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ref_checks.hpp"

namespace fer::cuda {

namespace {

// Up to 8 dims (fer::kMaxDims): the iterated shape and the element strides of the source and destination.
struct MoveDims {
  int nd = 0;
  int64_t size[8] = {};
  int64_t src[8] = {};
  int64_t dst[8] = {};
};

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

// dst[dst_offset + idx . dims.dst] (+)= src[src_offset + idx . dims.src] for every index idx of dims.size (n of them).
// Pointers are the first elements of the tensors' views. Copies move bytes of any dtype; accumulation needs a
// floating dtype, and distinct destinations (the kernel does not serialize them).
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

int common_device(const char* what, const kernels::TensorRef& a, const kernels::TensorRef& b) {
  FER_CHECK(a.defined() && b.defined(), what, ": undefined tensor");
  FER_CHECK(a.on_cuda() && b.device == a.device, what, ": tensors on devices ", a.device, " and ", b.device,
            " given to the CUDA backend (-1: host memory)");
  FER_CHECK(a.dtype() == b.dtype(), what, ": dtype ", dtype_name(a.dtype()), " vs ", dtype_name(b.dtype()));
  return a.device;
}

// The elements reached through (offset, strides) over `shape` stay inside the storage `span` (counted from the view
// start).
void check_range(const char* what, const kernels::StorageSpan& span, int64_t offset, const Shape& strides,
                 const Shape& shape) {
  FER_CHECK(strides.size() == shape.size(), what, ": ", strides.size(), " strides for shape ", shape.str());
  if (shape.numel() == 0) return;
  int64_t lo = offset, hi = offset;
  for (int d = 0; d < shape.size(); ++d) {
    const int64_t span_d = (shape[d] - 1) * strides[d];
    (span_d < 0 ? lo : hi) += span_d;
  }
  const int64_t first = span.before + lo, last = span.before + hi, capacity = span.before + span.after;
  FER_CHECK(first >= 0 && last < capacity, what, ": strided access [", first, ", ", last, "] outside a storage of ",
            capacity, " elements");
}

MoveDims move_dims(const Shape& shape, const Shape& src_strides, const Shape& dst_strides) {
  MoveDims d;
  d.nd = shape.size();
  for (int k = 0; k < d.nd; ++k) d.size[k] = shape[k], d.src[k] = src_strides[k], d.dst[k] = dst_strides[k];
  return d;
}

// Accumulating through a zero stride over more than one index would race on the device (and sum on the CPU).
void check_distinct(const char* what, const Shape& shape, const Shape& strides) {
  for (int d = 0; d < shape.size(); ++d)
    FER_CHECK(strides[d] != 0 || shape[d] <= 1, what, ": accumulation through a zero stride (dim ", d, ")");
}

}  // namespace

}  // namespace fer::cuda

namespace fer::kernels {

void gather_strided_cuda(const GatherArgs& a) {
  const TensorRef &src = a.src, &dst = a.dst;
  const int dev = cuda::common_device("gather", src, dst);
  FER_CHECK(dst.is_contiguous(), "gather: the destination must be contiguous");
  cuda::check_range("gather", a.src_span, a.src_offset, a.src_strides, dst.shape());
  const Shape dst_strides = contiguous_strides(dst.shape());
  cuda::launch_move_strided(src.raw_data(), a.src_offset, dst.raw_data(), 0,
                            cuda::move_dims(dst.shape(), a.src_strides, dst_strides), dst.numel(), a.accumulate,
                            dst.dtype(), dev);
}

void scatter_strided_cuda(const ScatterArgs& a) {
  const TensorRef &src = a.src, &dst = a.dst;
  const int dev = cuda::common_device("scatter", src, dst);
  FER_CHECK(src.is_contiguous(), "scatter: the source must be contiguous");
  cuda::check_range("scatter", a.dst_span, a.dst_offset, a.dst_strides, src.shape());
  if (a.accumulate) cuda::check_distinct("scatter", src.shape(), a.dst_strides);
  const Shape src_strides = contiguous_strides(src.shape());
  cuda::launch_move_strided(src.raw_data(), 0, dst.raw_data(), a.dst_offset,
                            cuda::move_dims(src.shape(), src_strides, a.dst_strides), src.numel(), a.accumulate,
                            src.dtype(), dev);
}

void pad2d_forward_cuda(const Pad2dArgs& a) {
  const TensorRef &x = a.x, &y = a.y;
  const int dev = cuda::common_device("pad2d", x, y);
  FER_CHECK(x.dim() == 4 && y.dim() == 4 && x.size(0) == y.size(0) && x.size(3) == y.size(3) && x.is_contiguous() &&
                y.is_contiguous(),
            "pad2d: x ", x.shape().str(), " and y ", y.shape().str(), " must be contiguous NHWC with equal N and C");
  cuda::launch_pad2d_forward(x.raw_data(), y.raw_data(), x.size(0), x.size(1), x.size(2), x.size(3), y.size(1),
                             y.size(2), a.top, a.left, a.value, x.dtype(), dev);
}

void pad2d_backward_cuda(const Pad2dArgs& a) {
  const TensorRef &gy = a.gy, &gx = a.gx;
  if (!gx.defined()) return;
  const int dev = cuda::common_device("pad2d backward", gy, gx);
  FER_CHECK(gx.dim() == 4 && gy.dim() == 4 && gx.size(0) == gy.size(0) && gx.size(3) == gy.size(3) &&
                gx.is_contiguous() && gy.is_contiguous(),
            "pad2d backward: gy ", gy.shape().str(), " and gx ", gx.shape().str(),
            " must be contiguous NHWC with equal N and C");
  cuda::launch_pad2d_backward(gy.raw_data(), gx.raw_data(), gx.size(0), gx.size(1), gx.size(2), gx.size(3), gy.size(1),
                              gy.size(2), a.top, a.left, gx.dtype(), dev);
}

}  // namespace fer::kernels
