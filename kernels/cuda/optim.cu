// Multi-tensor optimizer kernels: blockIdx.y picks a tensor of the table, blockIdx.x and the threads stride over
// its elements. The arithmetic is the CPU loop's, in the parameter type. The gradient-norm reduction has a fixed
// decomposition (kNormBlocksPerTensor blocks per tensor, then one block), so its result does not depend on the GPU.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/optim_launch.hpp"

namespace fer::cuda {

namespace {

constexpr int64_t kMaxBlocksPerTensor = 128;  // enough to fill the GPU with a few large tensors
constexpr int64_t kMaxTensorsPerLaunch = 65535;  // gridDim.y limit

template <class T>
__device__ __forceinline__ T* at(uint64_t address) {
  return reinterpret_cast<T*>(address);
}

template <class T>
__global__ void sgd_kernel(const TensorRecord* __restrict__ table, SgdScalars s) {
  const TensorRecord r = table[blockIdx.y];
  T* p = at<T>(r.p);
  const T* grad = at<const T>(r.g);
  T* buf = at<T>(r.s0);
  const T lr = T(s.lr), wd = T(s.weight_decay), momentum = T(s.momentum), keep = T(s.keep);
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < r.n; i += int64_t(gridDim.x) * blockDim.x) {
    T d = s.maximize ? -grad[i] : grad[i];
    if (wd != T(0)) d = d + wd * p[i];
    if (buf) {
      const T b = s.first ? d : buf[i] * momentum + keep * d;
      buf[i] = b;
      d = s.nesterov ? d + momentum * b : b;
    }
    p[i] = p[i] + (-lr) * d;
  }
}

template <class T>
__global__ void adam_kernel(const TensorRecord* __restrict__ table, AdamScalars s) {
  const TensorRecord r = table[blockIdx.y];
  T* p = at<T>(r.p);
  const T* grad = at<const T>(r.g);
  T* m = at<T>(r.s0);
  T* v = at<T>(r.s1);
  T* v_max = at<T>(r.s2);
  const T b1 = T(s.beta1), b2 = T(s.beta2), omb1 = T(s.one_minus_beta1), omb2 = T(s.one_minus_beta2);
  const T eps = T(s.eps), neg_step = T(s.neg_step), bc2 = T(s.bias_correction2_sqrt);
  const T l2 = T(s.l2), shrink = T(s.shrink);
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < r.n; i += int64_t(gridDim.x) * blockDim.x) {
    T g = s.maximize ? -grad[i] : grad[i];
    T pi = p[i];
    if (s.decoupled) pi = pi * shrink;
    if (l2 != T(0)) g = g + l2 * pi;
    const T mi = m[i] * b1 + omb1 * g;
    const T vi = v[i] * b2 + omb2 * (g * g);
    m[i] = mi;
    v[i] = vi;
    T second = vi;
    if (v_max) {
      const T old = v_max[i];
      second = old < vi ? vi : old;  // std::max(old, vi)
      v_max[i] = second;
    }
    const T denom = sqrt(second) / bc2 + eps;
    p[i] = pi + neg_step * (mi / denom);
  }
}

// Pass 1: block (x, y) sums the squares of its strided share of tensor y into partials[y * kNormBlocks + x].
template <class T>
__global__ void sum_squares_kernel(const TensorRecord* __restrict__ table, double* __restrict__ partials) {
  __shared__ double red[kThreads];
  const TensorRecord r = table[blockIdx.y];
  const T* d = at<const T>(r.p);
  double acc = 0;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < r.n; i += int64_t(gridDim.x) * blockDim.x) {
    const double x = double(load(d, i));
    acc += x * x;
  }
  red[threadIdx.x] = acc;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (int(threadIdx.x) < half) red[threadIdx.x] += red[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) partials[int64_t(blockIdx.y) * gridDim.x + blockIdx.x] = red[0];
}

// Pass 2: one block reduces the partials in a fixed order.
__global__ void sum_partials_kernel(const double* __restrict__ partials, int64_t count, double* __restrict__ result) {
  __shared__ double red[kThreads];
  double acc = 0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) acc += partials[i];
  red[threadIdx.x] = acc;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (int(threadIdx.x) < half) red[threadIdx.x] += red[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) *result = red[0];
}

template <class T>
__global__ void scale_kernel(const TensorRecord* __restrict__ table, double coef) {
  const TensorRecord r = table[blockIdx.y];
  T* d = at<T>(r.p);
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < r.n; i += int64_t(gridDim.x) * blockDim.x)
    store(d, i, double(load(d, i)) * coef);
}

template <class T>
__global__ void unscale_kernel(const TensorRecord* __restrict__ table, double inv_d, int* __restrict__ nonfinite) {
  using C = typename Compute<T>::type;
  const TensorRecord r = table[blockIdx.y];
  T* d = at<T>(r.p);
  // The CPU multiplies by T(1 / scale); for the 16-bit types the factor is rounded to T, the product done in f32.
  T inv_t;
  store(&inv_t, 0, C(inv_d));
  const C inv = load(&inv_t, 0);
  bool bad = false;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < r.n; i += int64_t(gridDim.x) * blockDim.x) {
    store(d, i, load(d, i) * inv);
    bad = bad || !isfinite(double(load(d, i)));
  }
  if (bad) *nonfinite = 1;  // every writer stores the same value
}

// Runs launch(table chunk, tensors in chunk) over chunks of at most kMaxTensorsPerLaunch tensors.
template <class F>
void for_chunks(const TensorRecord* table, int64_t count, F&& launch) {
  for (int64_t start = 0; start < count; start += kMaxTensorsPerLaunch) {
    const int64_t k = count - start < kMaxTensorsPerLaunch ? count - start : kMaxTensorsPerLaunch;
    launch(table + start, start, unsigned(k));
  }
}

unsigned blocks_per_tensor(int64_t max_n) {
  const int64_t b = int64_t(blocks_for(max_n));
  return unsigned(b < kMaxBlocksPerTensor ? b : kMaxBlocksPerTensor);
}

template <class F>
void param_switch(DType dtype, const char* what, F&& f) {
  switch (dtype) {
    case DType::f32: f(float{}); break;
    case DType::f64: f(double{}); break;
    default: fail(what, ": parameters must be f32 or f64 on CUDA, got ", dtype_name(dtype));
  }
}

}  // namespace

void sgd_multi_launch(const TensorRecord* table, int64_t count, int64_t max_n, const SgdScalars& s, DType dtype,
                      int device) {
  if (count <= 0 || max_n <= 0) return;
  cudaSetDevice(device);
  param_switch(dtype, "SGD", [&](auto tag) {
    using T = decltype(tag);
    for_chunks(table, count, [&](const TensorRecord* t, int64_t, unsigned k) {
      sgd_kernel<T><<<dim3(blocks_per_tensor(max_n), k), kThreads, 0, current_stream(device)>>>(t, s);
      check_launch("sgd_multi_tensor");
    });
  });
}

void adam_multi_launch(const TensorRecord* table, int64_t count, int64_t max_n, const AdamScalars& s, DType dtype,
                       int device) {
  if (count <= 0 || max_n <= 0) return;
  cudaSetDevice(device);
  param_switch(dtype, "Adam", [&](auto tag) {
    using T = decltype(tag);
    for_chunks(table, count, [&](const TensorRecord* t, int64_t, unsigned k) {
      adam_kernel<T><<<dim3(blocks_per_tensor(max_n), k), kThreads, 0, current_stream(device)>>>(t, s);
      check_launch("adam_multi_tensor");
    });
  });
}

void sum_squares_launch(const TensorRecord* table, int64_t count, int64_t, double* partials, double* result,
                        DType dtype, int device) {
  cudaSetDevice(device);
  cudaStream_t st = current_stream(device);
  if (count > 0) {
    FER_CUDA_FLOAT_SWITCH(dtype, "grad norm", {
      for_chunks(table, count, [&](const TensorRecord* t, int64_t start, unsigned k) {
        sum_squares_kernel<scalar_t><<<dim3(unsigned(kNormBlocksPerTensor), k), kThreads, 0, st>>>(
            t, partials + start * kNormBlocksPerTensor);
        check_launch("grad_sum_squares");
      });
    });
  }
  sum_partials_kernel<<<1, kThreads, 0, st>>>(partials, count * kNormBlocksPerTensor, result);
  check_launch("grad_sum_partials");
}

void scale_launch(const TensorRecord* table, int64_t count, int64_t max_n, double coef, DType dtype, int device) {
  if (count <= 0 || max_n <= 0) return;
  cudaSetDevice(device);
  FER_CUDA_FLOAT_SWITCH(dtype, "grad clip", {
    for_chunks(table, count, [&](const TensorRecord* t, int64_t, unsigned k) {
      scale_kernel<scalar_t><<<dim3(blocks_per_tensor(max_n), k), kThreads, 0, current_stream(device)>>>(t, coef);
      check_launch("grad_scale");
    });
  });
}

void unscale_launch(const TensorRecord* table, int64_t count, int64_t max_n, double inv, int* nonfinite, DType dtype,
                    int device) {
  if (count <= 0 || max_n <= 0) return;
  cudaSetDevice(device);
  FER_CUDA_FLOAT_SWITCH(dtype, "loss scaling", {
    for_chunks(table, count, [&](const TensorRecord* t, int64_t, unsigned k) {
      unscale_kernel<scalar_t><<<dim3(blocks_per_tensor(max_n), k), kThreads, 0, current_stream(device)>>>(
          t, inv, nonfinite);
      check_launch("grad_unscale");
    });
  });
}

}  // namespace fer::cuda
