// Softmax and the fused softmax cross-entropy. A row whose classes are contiguous (inner == 1, the common case) is
// reduced by one warp with butterfly shuffles (every lane ends with the same bits, so the result is deterministic);
// a strided dim (inner > 1) takes one thread per (outer, inner) pair, coalesced along inner. Single-value sums
// (the normalizer, the reduced loss) run in one block with a fixed per-thread stride and a fixed tree.
#include <cmath>

#include "fer/kernels/loss.hpp"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ref_checks.hpp"
#include "kernels/cuda/scratch.hpp"

namespace fer::cuda {

namespace {

// The contract's CrossEntropySpec with raw pointers, as the kernels take it: weight [c] in the logits' dtype or null;
// target i64/i32 [n] class indices, or probabilities [n, c] in the logits' dtype.
struct CrossEntropyArgs {
  const void* weight;
  const void* target;
  bool target_i64;
  double label_smoothing;
  int64_t ignore_index;
  bool prob_targets;
};

template <class T> using C = typename Compute<T>::type;
// Accumulators: double for f32/f64 (the CPU's precision), float for the 16-bit types.
template <class T> struct AccOf { using type = double; };
template <> struct AccOf<__half> { using type = float; };
template <> struct AccOf<__nv_bfloat16> { using type = float; };
template <class T> using A = typename AccOf<T>::type;

constexpr int kWarpsPerBlock = 8;

template <class V> __device__ __forceinline__ V warp_sum(V v) {
  for (int s = 16; s > 0; s >>= 1) v += __shfl_xor_sync(0xffffffffu, v, s);
  return v;
}
// Max that skips NaN as std::max(m, v) does (a NaN then poisons the sum of exponentials instead).
template <class V> __device__ __forceinline__ V max_keep(V m, V v) { return v > m ? v : m; }
template <class V> __device__ __forceinline__ V warp_max(V v) {
  for (int s = 16; s > 0; s >>= 1) v = max_keep(v, __shfl_xor_sync(0xffffffffu, v, s));
  return v;
}

__device__ __forceinline__ float exp_(float v) { return expf(v); }
__device__ __forceinline__ double exp_(double v) { return exp(v); }
__device__ __forceinline__ float log_(float v) { return logf(v); }
__device__ __forceinline__ double log_(double v) { return log(v); }

template <class V> __device__ __forceinline__ V neg_inf() { return -V(HUGE_VAL); }

// One warp per contiguous row of length dim.
template <class T>
__global__ void softmax_rows(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t dim, bool log) {
  using V = A<T>;
  const int lane = threadIdx.x & 31;
  for (int64_t r = blockIdx.x * int64_t(kWarpsPerBlock) + (threadIdx.x >> 5); r < rows;
       r += int64_t(gridDim.x) * kWarpsPerBlock) {
    const T* xr = x + r * dim;
    V m = neg_inf<V>();
    for (int64_t k = lane; k < dim; k += 32) m = max_keep(m, V(load(xr, k)));
    m = warp_max(m);
    V s = V(0);
    for (int64_t k = lane; k < dim; k += 32) s += exp_(V(load(xr, k)) - m);
    const V lse = m + log_(warp_sum(s));
    T* yr = y + r * dim;
    for (int64_t k = lane; k < dim; k += 32) {
      const V v = V(load(xr, k)) - lse;
      store(yr, k, C<T>(log ? v : exp_(v)));
    }
  }
}

// One thread per (outer, inner) pair, walking dim with stride inner.
template <class T>
__global__ void softmax_strided(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t dim, int64_t inner,
                                bool log) {
  using V = A<T>;
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < outer * inner;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t base = (r / inner) * dim * inner + r % inner;
    V m = neg_inf<V>();
    for (int64_t k = 0; k < dim; ++k) m = max_keep(m, V(load(x, base + k * inner)));
    V s = V(0);
    for (int64_t k = 0; k < dim; ++k) s += exp_(V(load(x, base + k * inner)) - m);
    const V lse = m + log_(s);
    for (int64_t k = 0; k < dim; ++k) {
      const V v = V(load(x, base + k * inner)) - lse;
      store(y, base + k * inner, C<T>(log ? v : exp_(v)));
    }
  }
}

// log_softmax: gx += g - softmax * sum(g); softmax: gx += y * (g - sum(g * y)).
template <class T>
__global__ void softmax_backward_rows(const T* __restrict__ y, const T* __restrict__ g, T* __restrict__ gx,
                                      int64_t rows, int64_t dim, bool log) {
  using V = A<T>;
  const int lane = threadIdx.x & 31;
  for (int64_t r = blockIdx.x * int64_t(kWarpsPerBlock) + (threadIdx.x >> 5); r < rows;
       r += int64_t(gridDim.x) * kWarpsPerBlock) {
    const int64_t base = r * dim;
    V dot = V(0);
    for (int64_t k = lane; k < dim; k += 32)
      dot += log ? V(load(g, base + k)) : V(load(g, base + k)) * V(load(y, base + k));
    dot = warp_sum(dot);
    for (int64_t k = lane; k < dim; k += 32) {
      const V gv = V(load(g, base + k)), yv = V(load(y, base + k));
      store(gx, base + k, load(gx, base + k) + C<T>(log ? gv - exp_(yv) * dot : yv * (gv - dot)));
    }
  }
}

template <class T>
__global__ void softmax_backward_strided(const T* __restrict__ y, const T* __restrict__ g, T* __restrict__ gx,
                                         int64_t outer, int64_t dim, int64_t inner, bool log) {
  using V = A<T>;
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < outer * inner;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t base = (r / inner) * dim * inner + r % inner;
    V dot = V(0);
    for (int64_t k = 0; k < dim; ++k) {
      const int64_t i = base + k * inner;
      dot += log ? V(load(g, i)) : V(load(g, i)) * V(load(y, i));
    }
    for (int64_t k = 0; k < dim; ++k) {
      const int64_t i = base + k * inner;
      const V gv = V(load(g, i)), yv = V(load(y, i));
      store(gx, i, load(gx, i) + C<T>(log ? gv - exp_(yv) * dot : yv * (gv - dot)));
    }
  }
}

// Row i's class, or -1 for an ignored row, or -2 for a class outside [0, c).
__device__ __forceinline__ int64_t class_of(const CrossEntropyArgs& a, int64_t i, int64_t c) {
  const int64_t y = a.target_i64 ? static_cast<const int64_t*>(a.target)[i]
                                 : int64_t(static_cast<const int32_t*>(a.target)[i]);
  if (y == a.ignore_index) return -1;
  return (y < 0 || y >= c) ? -2 : y;
}

// q_ik of the header (kernels::CrossEntropySpec) for class k; y is row i's class (class targets).
template <class T>
__device__ __forceinline__ A<T> coefficient(const CrossEntropyArgs& a, const T* w, int64_t i, int64_t k, int64_t y,
                                            int64_t c) {
  using V = A<T>;
  const V eps = V(a.label_smoothing);
  if (a.prob_targets) {
    const V t = V(load(static_cast<const T*>(a.target), i * c + k));
    return (w ? V(load(w, k)) : V(1)) * ((V(1) - eps) * t + eps / V(c));
  }
  V q = eps / V(c) * (w ? V(load(w, k)) : V(1));
  if (k == y) q += (V(1) - eps) * (w ? V(load(w, y)) : V(1));
  return q;
}

template <class T>
__global__ void cross_entropy_rows(const T* __restrict__ z, CrossEntropyArgs a, int64_t n, int64_t c,
                                   T* __restrict__ row_loss, T* __restrict__ lse) {
  using V = A<T>;
  const int lane = threadIdx.x & 31;
  const T* w = static_cast<const T*>(a.weight);
  for (int64_t i = blockIdx.x * int64_t(kWarpsPerBlock) + (threadIdx.x >> 5); i < n;
       i += int64_t(gridDim.x) * kWarpsPerBlock) {
    const T* zr = z + i * c;
    V m = neg_inf<V>();
    for (int64_t k = lane; k < c; k += 32) m = max_keep(m, V(load(zr, k)));
    m = warp_max(m);
    V s = V(0);
    for (int64_t k = lane; k < c; k += 32) s += exp_(V(load(zr, k)) - m);
    const V l = m + log_(warp_sum(s));
    const int64_t y = a.prob_targets ? 0 : class_of(a, i, c);
    V loss = V(0);
    if (y >= 0)
      for (int64_t k = lane; k < c; k += 32) {
        const V q = coefficient<T>(a, w, i, k, y, c);
        if (q != V(0)) loss += q * (l - V(load(zr, k)));
      }
    loss = warp_sum(loss);
    if (lane == 0) {
      store(lse, i, C<T>(l));
      store(row_loss, i, C<T>(y == -2 ? V(NAN) : loss));  // ignored rows: 0
    }
  }
}

constexpr int kReduceThreads = 256;

// Deterministic single-block sum: thread t adds items t, t + 256, ...; then a fixed tree.
__device__ double block_sum(double v) {
  __shared__ double sh[kReduceThreads];
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int s = kReduceThreads / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  return sh[0];
}

template <class T>
__global__ void cross_entropy_normalizer(CrossEntropyArgs a, int64_t n, int64_t c, double* out) {
  const T* w = static_cast<const T*>(a.weight);
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += kReduceThreads) {
    const int64_t y = class_of(a, i, c);
    if (y == -2) s += NAN;
    else if (y >= 0) s += w ? double(load(w, y)) : 1.0;
  }
  s = block_sum(s);
  if (threadIdx.x == 0) *out = s;
}

template <class T>
__global__ void sum_rows_kernel(const T* __restrict__ rows, int64_t n, double divisor, T* out) {
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += kReduceThreads) s += double(load(rows, i));
  s = block_sum(s);
  if (threadIdx.x == 0) store(out, 0, C<T>(s / divisor));
}

template <class T>
__global__ void cross_entropy_backward_rows(const T* __restrict__ z, CrossEntropyArgs a, const T* __restrict__ lse,
                                            int64_t n, int64_t c, const T* gscale, int64_t gscale_stride,
                                            double divisor, double scale, T* __restrict__ gz) {
  using V = A<T>;
  const int lane = threadIdx.x & 31;
  const T* w = static_cast<const T*>(a.weight);
  for (int64_t i = blockIdx.x * int64_t(kWarpsPerBlock) + (threadIdx.x >> 5); i < n;
       i += int64_t(gridDim.x) * kWarpsPerBlock) {
    const int64_t y = a.prob_targets ? 0 : class_of(a, i, c);
    if (y < 0) continue;  // ignored (or invalid) rows get no gradient; warp-uniform
    const V g = V(gscale ? double(load(gscale, i * gscale_stride)) / divisor : scale);
    V qsum = V(0);
    for (int64_t k = lane; k < c; k += 32) qsum += coefficient<T>(a, w, i, k, y, c);
    qsum = warp_sum(qsum);
    const V l = V(load(lse, i));
    for (int64_t k = lane; k < c; k += 32) {
      const int64_t e = i * c + k;
      const V p = exp_(V(load(z, e)) - l);
      store(gz, e, load(gz, e) + C<T>(g * (qsum * p - coefficient<T>(a, w, i, k, y, c))));
    }
  }
}

// The launchers. Gradients accumulate (+=).
// launch_cross_entropy_forward: per-row losses and log-sum-exp of logits [n, c]; with class targets and `normalizer`
// non-null, also *normalizer (device f64) = sum of w[y_i] over non-ignored rows. An out-of-range class gives NaN.
// launch_cross_entropy_backward: gz_i += g_i * ((sum_c q_ic) softmax_i - q_i), with g_i = gscale[i * gscale_stride]
// / divisor when gscale is non-null (a device tensor in the logits' dtype: per-row with stride 1, one scalar with
// stride 0), else `scale`. launch_sum_rows: *out = (sum of rows[0..n)) / divisor, in double in a fixed order.

void launch_softmax_forward(DType dt, const void* x, void* y, int64_t outer, int64_t dim, int64_t inner, bool log,
                            int device) {
  if (outer <= 0 || dim <= 0 || inner <= 0) return;
  cudaStream_t s = current_stream(device);
  FER_CUDA_FLOAT_SWITCH(dt, log ? "log_softmax" : "softmax", {
    const scalar_t* px = static_cast<const scalar_t*>(x);
    scalar_t* py = static_cast<scalar_t*>(y);
    if (inner == 1)
      softmax_rows<scalar_t><<<blocks_for(outer, kWarpsPerBlock), kWarpsPerBlock * 32, 0, s>>>(px, py, outer, dim, log);
    else
      softmax_strided<scalar_t><<<blocks_for(outer * inner), kThreads, 0, s>>>(px, py, outer, dim, inner, log);
    check_launch("softmax_forward");
  });
}

void launch_softmax_backward(DType dt, const void* y, const void* gy, void* gx, int64_t outer, int64_t dim,
                             int64_t inner, bool log, int device) {
  if (outer <= 0 || dim <= 0 || inner <= 0) return;
  cudaStream_t s = current_stream(device);
  FER_CUDA_FLOAT_SWITCH(dt, "softmax backward", {
    const scalar_t *py = static_cast<const scalar_t*>(y), *pg = static_cast<const scalar_t*>(gy);
    scalar_t* px = static_cast<scalar_t*>(gx);
    if (inner == 1)
      softmax_backward_rows<scalar_t><<<blocks_for(outer, kWarpsPerBlock), kWarpsPerBlock * 32, 0, s>>>(
          py, pg, px, outer, dim, log);
    else
      softmax_backward_strided<scalar_t><<<blocks_for(outer * inner), kThreads, 0, s>>>(py, pg, px, outer, dim, inner,
                                                                                         log);
    check_launch("softmax_backward");
  });
}

void launch_cross_entropy_forward(DType dt, const void* logits, const CrossEntropyArgs& a, int64_t n, int64_t c,
                                  void* row_loss, void* lse, double* normalizer, int device) {
  cudaStream_t s = current_stream(device);
  FER_CUDA_FLOAT_SWITCH(dt, "cross_entropy", {
    if (n > 0 && c > 0) {
      cross_entropy_rows<scalar_t><<<blocks_for(n, kWarpsPerBlock), kWarpsPerBlock * 32, 0, s>>>(
          static_cast<const scalar_t*>(logits), a, n, c, static_cast<scalar_t*>(row_loss),
          static_cast<scalar_t*>(lse));
      check_launch("cross_entropy_forward");
    }
    if (normalizer && !a.prob_targets) {
      cross_entropy_normalizer<scalar_t><<<1, kReduceThreads, 0, s>>>(a, n, c, normalizer);
      check_launch("cross_entropy_normalizer");
    }
  });
}

void launch_cross_entropy_backward(DType dt, const void* logits, const CrossEntropyArgs& a, const void* lse, int64_t n,
                                   int64_t c, const void* gscale, int64_t gscale_stride, double divisor, double scale,
                                   void* glogits, int device) {
  if (n <= 0 || c <= 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "cross_entropy backward", {
    cross_entropy_backward_rows<scalar_t><<<blocks_for(n, kWarpsPerBlock), kWarpsPerBlock * 32, 0,
                                            current_stream(device)>>>(
        static_cast<const scalar_t*>(logits), a, static_cast<const scalar_t*>(lse), n, c,
        static_cast<const scalar_t*>(gscale), gscale_stride, divisor, scale, static_cast<scalar_t*>(glogits));
    check_launch("cross_entropy_backward");
  });
}

void launch_sum_rows(DType dt, const void* rows, int64_t n, double divisor, void* out, int device) {
  FER_CUDA_FLOAT_SWITCH(dt, "cross_entropy", {
    sum_rows_kernel<scalar_t><<<1, kReduceThreads, 0, current_stream(device)>>>(static_cast<const scalar_t*>(rows), n,
                                                                                divisor, static_cast<scalar_t*>(out));
    check_launch("sum_rows");
  });
}

using kernels::CrossEntropySpec;
using kernels::TensorRef;

CrossEntropyArgs args_of(const char* op, const TensorRef& logits, const TensorRef& target, const CrossEntropySpec& s) {
  const TensorRef& w = s.weight;
  FER_CHECK(logits.dim() == 2, op, ": logits must be [N, C], got ", logits.shape().str());
  if (s.prob_targets)
    FER_CHECK(target.dtype() == logits.dtype() && target.shape() == logits.shape(), op,
              ": probability targets must match the logits ", logits.shape().str());
  else
    FER_CHECK((target.dtype() == DType::i64 || target.dtype() == DType::i32) && target.numel() == logits.size(0), op,
              ": targets must be i64/i32 [", logits.size(0), "]");
  if (w.defined())
    FER_CHECK(w.dtype() == logits.dtype() && w.numel() == logits.size(1), op, ": weight must be [", logits.size(1), "]");
  return {w.defined() ? w.raw_data() : nullptr, target.raw_data(), target.dtype() == DType::i64, s.label_smoothing,
          s.ignore_index, s.prob_targets};
}

}  // namespace

}  // namespace fer::cuda

namespace fer::kernels {

void softmax_forward_cuda(const SoftmaxForwardArgs& a) {
  const TensorRef &x = a.x, &y = a.y;
  const int dev = cuda::cuda_device_of(a.log ? "log_softmax" : "softmax", {&x, &y});
  FER_CHECK(x.numel() == a.outer * a.dim * a.inner && y.numel() == x.numel() && y.dtype() == x.dtype(),
            "softmax: sizes do not match");
  cuda::launch_softmax_forward(x.dtype(), x.raw_data(), y.raw_data(), a.outer, a.dim, a.inner, a.log, dev);
}

void softmax_backward_cuda(const SoftmaxBackwardArgs& a) {
  const TensorRef &y = a.y, &gy = a.gy, &gx = a.gx;
  const int dev = cuda::cuda_device_of("softmax backward", {&y, &gy, &gx});
  FER_CHECK(y.numel() == a.outer * a.dim * a.inner && gy.numel() == y.numel() && gx.numel() == y.numel() &&
                gy.dtype() == y.dtype() && gx.dtype() == y.dtype(),
            "softmax backward: sizes do not match");
  cuda::launch_softmax_backward(y.dtype(), y.raw_data(), gy.raw_data(), gx.raw_data(), a.outer, a.dim, a.inner, a.log,
                                dev);
}

double cross_entropy_forward_cuda(const CrossEntropyForwardArgs& a) {
  const TensorRef &logits = a.logits, &target = a.target, &row_loss = a.row_loss, &lse = a.lse;
  const int dev = cuda::cuda_device_of("cross_entropy", {&logits, &target, &a.spec.weight, &row_loss, &lse});
  const cuda::CrossEntropyArgs ca = cuda::args_of("cross_entropy", logits, target, a.spec);
  const int64_t n = logits.size(0), c = logits.size(1);
  FER_CHECK(row_loss.numel() == n && lse.numel() == n, "cross_entropy: row_loss and lse must be [", n, "]");
  if (a.spec.prob_targets) {
    cuda::launch_cross_entropy_forward(logits.dtype(), logits.raw_data(), ca, n, c, row_loss.raw_data(),
                                       lse.raw_data(), nullptr, dev);
    return double(n);
  }
  const cuda::DeviceScratch normalizer(sizeof(double), dev);
  cuda::launch_cross_entropy_forward(logits.dtype(), logits.raw_data(), ca, n, c, row_loss.raw_data(), lse.raw_data(),
                                     static_cast<double*>(normalizer.get()), dev);
  double total = 0;
  cuda::copy(&total, normalizer.get(), sizeof(double), cuda::CopyKind::device_to_host, dev);  // waits
  return total;
}

void cross_entropy_backward_cuda(const CrossEntropyBackwardArgs& a) {
  const TensorRef &logits = a.logits, &target = a.target, &lse = a.lse, &row_scale = a.row_scale,
                  &glogits = a.glogits;
  const int dev =
      cuda::cuda_device_of("cross_entropy backward", {&logits, &target, &a.spec.weight, &lse, &row_scale, &glogits});
  const cuda::CrossEntropyArgs ca = cuda::args_of("cross_entropy backward", logits, target, a.spec);
  const int64_t n = logits.size(0), c = logits.size(1);
  FER_CHECK(glogits.shape() == logits.shape() && glogits.dtype() == logits.dtype() && lse.numel() == n,
            "cross_entropy backward: gradient or lse does not match the logits");
  FER_CHECK(!row_scale.defined() || (row_scale.numel() == n && row_scale.dtype() == logits.dtype()),
            "cross_entropy backward: row_scale must be [", n, "]");
  cuda::launch_cross_entropy_backward(logits.dtype(), logits.raw_data(), ca, lse.raw_data(), n, c,
                                      row_scale.defined() ? row_scale.raw_data() : nullptr, 1, 1.0, a.scale,
                                      glogits.raw_data(), dev);
}

void cross_entropy_reduce_cuda(const CrossEntropyReduceArgs& a) {
  const int dev = cuda::cuda_device_of("cross_entropy", {&a.rows, &a.out});
  FER_CHECK(a.out.numel() == 1 && a.out.dtype() == a.rows.dtype(),
            "cross_entropy: the reduced loss must be one element");
  cuda::launch_sum_rows(a.rows.dtype(), a.rows.raw_data(), a.rows.numel(), a.divisor, a.out.raw_data(), dev);
}

void cross_entropy_backward_scalar_cuda(const CrossEntropyBackwardScalarArgs& a) {
  const TensorRef &logits = a.logits, &target = a.target, &lse = a.lse, &grad = a.grad, &glogits = a.glogits;
  const int dev =
      cuda::cuda_device_of("cross_entropy backward", {&logits, &target, &a.spec.weight, &lse, &grad, &glogits});
  const cuda::CrossEntropyArgs ca = cuda::args_of("cross_entropy backward", logits, target, a.spec);
  const int64_t n = logits.size(0), c = logits.size(1);
  FER_CHECK(glogits.shape() == logits.shape() && glogits.dtype() == logits.dtype() && lse.numel() == n,
            "cross_entropy backward: gradient or lse does not match the logits");
  FER_CHECK(grad.numel() == 1 && grad.dtype() == logits.dtype(), "cross_entropy backward: upstream gradient must be "
            "one element of the logits' dtype");
  cuda::launch_cross_entropy_backward(logits.dtype(), logits.raw_data(), ca, lse.raw_data(), n, c, grad.raw_data(), 0,
                                      a.divisor, 0.0, glogits.raw_data(), dev);
}

}  // namespace fer::kernels
