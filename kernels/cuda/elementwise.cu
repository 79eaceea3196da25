// Pointwise CUDA kernels: activations and unary math, scalar affine, broadcasting binary ops, and the reductions
// over broadcast dims of their backward (one group of threads per target element, fixed order: deterministic).
#include "fer/kernels/elementwise.hpp"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ref_checks.hpp"
#include "kernels/cuda/written_grad.hpp"

namespace fer::cuda {

namespace {

// Up to 8 dims (fer::kMaxDims): an output shape and the element strides of up to two operands laid against it
// (0 where an operand broadcasts).
struct BroadcastDims {
  int nd = 0;
  int64_t size[8] = {};
  int64_t sa[8] = {};
  int64_t sb[8] = {};
};

// The terms of the reductions over broadcast dims (see launch_broadcast_reduce).
enum class ReduceTerm : int {
  g = 0,            // g[o]              (add: both; sub: the first operand; sum_to)
  neg_g = 1,        // -g[o]             (sub: the second operand)
  g_times_b = 2,    // g[o] * B[o]       (mul: the first operand)
  g_times_a = 3,    // g[o] * A[o]       (mul: the second operand)
  g_div_b = 4,      // g[o] / B[o]       (div: the first operand)
  div_grad_b = 5,   // -g[o] * A / B^2   (div: the second operand)
};

// Same order as fer::kernels::Unary and fer::kernels::Binary.
enum UnaryCode {
  kRelu, kRelu6, kLeakyRelu, kGelu, kSilu, kHardswish, kHardsigmoid, kSigmoid, kTanh,
  kExp, kLog, kSqrt, kRsqrt, kSquare, kNeg, kAbs
};
enum BinaryCode { kAdd, kSub, kMul, kDiv };

// Math in the compute type (float or double) without relying on overload resolution of the C library names.
__device__ __forceinline__ float m_exp(float v) { return expf(v); }
__device__ __forceinline__ double m_exp(double v) { return exp(v); }
__device__ __forceinline__ float m_erf(float v) { return erff(v); }
__device__ __forceinline__ double m_erf(double v) { return erf(v); }
__device__ __forceinline__ float m_tanh(float v) { return tanhf(v); }
__device__ __forceinline__ double m_tanh(double v) { return tanh(v); }
__device__ __forceinline__ float m_log(float v) { return logf(v); }
__device__ __forceinline__ double m_log(double v) { return log(v); }
__device__ __forceinline__ float m_sqrt(float v) { return sqrtf(v); }
__device__ __forceinline__ double m_sqrt(double v) { return sqrt(v); }
__device__ __forceinline__ float m_abs(float v) { return fabsf(v); }
__device__ __forceinline__ double m_abs(double v) { return fabs(v); }

template <class C> __device__ __forceinline__ C clamp_0_6(C v) { return v < C(0) ? C(0) : (v > C(6) ? C(6) : v); }

// The CPU backend's formulas (kernels/cpu/elementwise.cpp), term for term.
template <class C>
__device__ __forceinline__ C unary_value(int op, C x, C alpha) {
  switch (op) {
    case kRelu: return x > C(0) ? x : C(0);
    case kRelu6: return x < C(0) ? C(0) : (x > C(6) ? C(6) : x);
    case kLeakyRelu: return x > C(0) ? x : x * alpha;
    case kGelu: return C(0.5) * x * (C(1) + m_erf(x * C(0.70710678118654752440)));
    case kSilu: return x / (C(1) + m_exp(-x));
    case kHardswish: return x * clamp_0_6(x + C(3)) / C(6);
    case kHardsigmoid: return clamp_0_6(x + C(3)) / C(6);
    case kSigmoid: return C(1) / (C(1) + m_exp(-x));
    case kTanh: return m_tanh(x);
    case kExp: return m_exp(x);
    case kLog: return m_log(x);
    case kSqrt: return m_sqrt(x);
    case kRsqrt: return C(1) / m_sqrt(x);
    case kSquare: return x * x;
    case kNeg: return -x;
    case kAbs: return m_abs(x);
  }
  return x;
}

template <class C>
__device__ __forceinline__ C unary_derivative(int op, C x, C y, C alpha) {
  switch (op) {
    case kRelu: return x > C(0) ? C(1) : C(0);
    case kRelu6: return (x > C(0) && x < C(6)) ? C(1) : C(0);
    case kLeakyRelu: return x > C(0) ? C(1) : alpha;
    case kGelu: {
      C cdf = C(0.5) * (C(1) + m_erf(x * C(0.70710678118654752440)));
      C pdf = m_exp(C(-0.5) * x * x) * C(0.39894228040143267794);
      return cdf + x * pdf;
    }
    case kSilu: {
      C s = C(1) / (C(1) + m_exp(-x));
      return s * (C(1) + x * (C(1) - s));
    }
    case kHardswish: return x < C(-3) ? C(0) : (x <= C(3) ? x / C(3) + C(0.5) : C(1));
    case kHardsigmoid: return (x > C(-3) && x < C(3)) ? C(1) / C(6) : C(0);
    case kSigmoid: return y * (C(1) - y);
    case kTanh: return C(1) - y * y;
    case kExp: return y;
    case kLog: return C(1) / x;
    case kSqrt: return C(0.5) / y;
    case kRsqrt: return C(-0.5) * y * y * y;
    case kSquare: return C(2) * x;
    case kNeg: return C(-1);
    case kAbs: return x > C(0) ? C(1) : (x < C(0) ? C(-1) : C(0));
  }
  return C(0);
}

__device__ __forceinline__ int64_t first_index() { return int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t grid_stride() { return int64_t(gridDim.x) * blockDim.x; }

template <class T>
__global__ void unary_forward_kernel(int op, const T* __restrict__ x, T* __restrict__ y, int64_t n, double alpha) {
  using C = typename Compute<T>::type;
  for (int64_t i = first_index(); i < n; i += grid_stride()) store(y, i, unary_value<C>(op, load(x, i), C(alpha)));
}

// y is the forward output as stored (rounded for 16-bit types), as the CPU backend uses it.
template <class T>
__global__ void unary_backward_kernel(int op, const T* __restrict__ x, const T* __restrict__ y, const T* __restrict__ gy,
                                      T* gx, int64_t n, double alpha) {
  using C = typename Compute<T>::type;
  for (int64_t i = first_index(); i < n; i += grid_stride())
    store(gx, i, load(gx, i) + load(gy, i) * unary_derivative<C>(op, load(x, i), load(y, i), C(alpha)));
}

template <class T>
__global__ void affine_kernel(const T* x, T* y, int64_t n, double a, double b) {
  using C = typename Compute<T>::type;
  // x and y may alias (in-place scaling of a reduction's result): each element is read before it is written.
  for (int64_t i = first_index(); i < n; i += grid_stride()) store(y, i, C(a) * load(x, i) + C(b));
}

template <class T>
__global__ void axpy_kernel(const T* __restrict__ gy, T* gx, int64_t n, double a) {
  using C = typename Compute<T>::type;
  for (int64_t i = first_index(); i < n; i += grid_stride()) store(gx, i, load(gx, i) + C(a) * load(gy, i));
}

// Offsets of output element i (row-major over d.size) in the two operands.
__device__ __forceinline__ void operand_offsets(const BroadcastDims& d, int64_t i, int64_t& oa, int64_t& ob) {
  oa = 0, ob = 0;
  for (int k = d.nd - 1; k >= 0; --k) {
    const int64_t s = d.size[k], idx = i % s;
    i /= s;
    oa += idx * d.sa[k], ob += idx * d.sb[k];
  }
}

template <class C> __device__ __forceinline__ C binary_value(int op, C a, C b) {
  switch (op) {
    case kAdd: return a + b;
    case kSub: return a - b;
    case kMul: return a * b;
    case kDiv: return a / b;
  }
  return a;
}

template <class T>
__global__ void binary_forward_kernel(int op, const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ y,
                                      BroadcastDims d, bool plain, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    int64_t oa = i, ob = i;
    if (!plain) operand_offsets(d, i, oa, ob);
    store(y, i, binary_value(op, load(a, oa), load(b, ob)));
  }
}

// gx[i] += scale * gy[offset of i through d.sb]
template <class T>
__global__ void broadcast_add_kernel(const T* __restrict__ gy, T* __restrict__ gx, BroadcastDims d, int64_t n,
                                     double scale) {
  using C = typename Compute<T>::type;
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    int64_t unused, og;
    operand_offsets(d, i, unused, og);
    store(gx, i, load(gx, i) + C(scale) * load(gy, og));
  }
}

// The maps of a reduction: output element of (target j, reduced index r) is, per dim k,
// idx_k = ts[k] ? (j / ts[k]) % size[k] : (r / rs[k]) % size[k]; os are the output's contiguous strides.
struct ReducePlan {
  int64_t ts[8] = {};
  int64_t rs[8] = {};
  int64_t os[8] = {};
};

template <class C>
__device__ __forceinline__ C reduce_term(int term, const C g, const C av, const C bv) {
  switch (term) {
    case int(ReduceTerm::g): return g;
    case int(ReduceTerm::neg_g): return -g;
    case int(ReduceTerm::g_times_b): return g * bv;
    case int(ReduceTerm::g_times_a): return g * av;
    case int(ReduceTerm::g_div_b): return g / bv;
    case int(ReduceTerm::div_grad_b): return -g * av / (bv * bv);
  }
  return g;
}

constexpr int kReduceThreads = 256;

// G threads (1, 32 or 256) cooperate on one target element: each sums a strided share of the reduced index range,
// then a fixed-shape tree combines the shares, so the result does not depend on scheduling. The loop over rounds
// is uniform across the block (it depends on blockIdx only), which keeps __syncthreads legal.
template <class T, int G>
__global__ void __launch_bounds__(kReduceThreads)
broadcast_reduce_kernel(int term, const T* __restrict__ g, const T* __restrict__ a, const T* __restrict__ b, T* t,
                        BroadcastDims d, ReducePlan p, int64_t targets, int64_t R, bool accumulate) {
  using C = typename Compute<T>::type;
  constexpr int kGroups = kReduceThreads / G;
  __shared__ C warp_sums[kReduceThreads / 32];
  const int lane = int(threadIdx.x) % G;
  const bool needs_a = term == int(ReduceTerm::g_times_a) || term == int(ReduceTerm::div_grad_b);
  const bool needs_b = term == int(ReduceTerm::g_times_b) || term == int(ReduceTerm::g_div_b) ||
                       term == int(ReduceTerm::div_grad_b);
  for (int64_t base = int64_t(blockIdx.x) * kGroups; base < targets; base += int64_t(gridDim.x) * kGroups) {
    const int64_t j = base + int64_t(threadIdx.x) / G;
    const bool active = j < targets;
    C acc = C(0);
    if (active) {
      for (int64_t r = lane; r < R; r += G) {
        int64_t o = 0, oa = 0, ob = 0;
        for (int k = 0; k < d.nd; ++k) {
          const int64_t idx = (p.ts[k] ? j / p.ts[k] : r / p.rs[k]) % d.size[k];
          o += idx * p.os[k], oa += idx * d.sa[k], ob += idx * d.sb[k];
        }
        acc += reduce_term<C>(term, load(g, o), needs_a ? load(a, oa) : C(0), needs_b ? load(b, ob) : C(0));
      }
    }
    if constexpr (G >= 32) {
      // Every lane of the warp takes part (inactive ones carry 0).
      for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
    }
    if constexpr (G == kReduceThreads) {
      if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = acc;
      __syncthreads();
      if (threadIdx.x == 0) {
        acc = C(0);
        for (int w = 0; w < kReduceThreads / 32; ++w) acc += warp_sums[w];
      }
      __syncthreads();  // warp_sums is rewritten in the next round
    }
    if (active && lane == 0) store(t, j, accumulate ? load(t, j) + acc : acc);
  }
}

template <class T, int G>
void run_reduce(ReduceTerm term, const void* g, const void* a, const void* b, void* t, const BroadcastDims& d,
                const ReducePlan& p, int64_t targets, int64_t R, bool accumulate, int device) {
  broadcast_reduce_kernel<T, G><<<blocks_for(targets, kReduceThreads / G), kReduceThreads, 0, current_stream(device)>>>(
      int(term), static_cast<const T*>(g), static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(t), d,
      p, targets, R, accumulate);
}

// Launchers: raw device pointers, element counts, the storage dtype and the device index; every launch runs on the
// device's current stream.

void launch_unary_forward(int op, const void* x, void* y, int64_t n, double alpha, DType dt, int device) {
  if (n <= 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "unary forward",
                        unary_forward_kernel<scalar_t><<<blocks_for(n), kThreads, 0, current_stream(device)>>>(
                            op, static_cast<const scalar_t*>(x), static_cast<scalar_t*>(y), n, alpha));
  check_launch("unary_forward");
}

void launch_unary_backward(int op, const void* x, const void* y, const void* gy, void* gx, int64_t n, double alpha,
                           DType dt, int device) {
  if (n <= 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "unary backward",
                        unary_backward_kernel<scalar_t><<<blocks_for(n), kThreads, 0, current_stream(device)>>>(
                            op, static_cast<const scalar_t*>(x), static_cast<const scalar_t*>(y),
                            static_cast<const scalar_t*>(gy), static_cast<scalar_t*>(gx), n, alpha));
  check_launch("unary_backward");
}

void launch_affine(const void* x, void* y, int64_t n, double a, double b, DType dt, int device) {
  if (n <= 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "affine",
                        affine_kernel<scalar_t><<<blocks_for(n), kThreads, 0, current_stream(device)>>>(
                            static_cast<const scalar_t*>(x), static_cast<scalar_t*>(y), n, a, b));
  check_launch("affine");
}

void launch_axpy(const void* gy, void* gx, int64_t n, double a, DType dt, int device) {
  if (n <= 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "axpy",
                        axpy_kernel<scalar_t><<<blocks_for(n), kThreads, 0, current_stream(device)>>>(
                            static_cast<const scalar_t*>(gy), static_cast<scalar_t*>(gx), n, a));
  check_launch("axpy");
}

void launch_binary_forward(int op, const void* a, const void* b, void* y, const BroadcastDims& dims, int64_t n,
                           DType dt, int device) {
  if (n <= 0) return;
  // Both operands with the output's own layout: flat indexing, no per-element index arithmetic.
  bool plain = true;
  int64_t stride = 1;
  for (int k = dims.nd - 1; k >= 0; --k) {
    if (dims.size[k] != 1 && (dims.sa[k] != stride || dims.sb[k] != stride)) plain = false;
    stride *= dims.size[k];
  }
  FER_CUDA_FLOAT_SWITCH(dt, "binary forward",
                        binary_forward_kernel<scalar_t><<<blocks_for(n), kThreads, 0, current_stream(device)>>>(
                            op, static_cast<const scalar_t*>(a), static_cast<const scalar_t*>(b),
                            static_cast<scalar_t*>(y), dims, plain, n));
  check_launch("binary_forward");
}

// Reductions over broadcast dims, one target element at a time in a fixed order (deterministic, no atomics):
//   t[j] (+)= sum over the output elements o that map to j of term(o),
// with g the upstream gradient (contiguous over `dims.size`), and A / B read through dims.sa / dims.sb. The target is
// laid against the output by `target_strides` (its contiguous strides, 0 where it broadcasts); accumulate = false
// overwrites t.

void launch_broadcast_reduce(ReduceTerm term, const void* g, const void* a, const void* b, void* t,
                             const BroadcastDims& dims, const int64_t* target_strides, int64_t targets,
                             bool accumulate, DType dt, int device) {
  if (targets <= 0) return;
  ReducePlan p;
  int64_t R = 1, os = 1;
  for (int k = dims.nd - 1; k >= 0; --k) {
    p.ts[k] = target_strides[k];
    p.os[k] = os;
    os *= dims.size[k];
    p.rs[k] = 1;  // read only for reduced dims; 1 keeps the division defined elsewhere
    if (p.ts[k] == 0) {
      p.rs[k] = R;
      R *= dims.size[k];
    }
  }
  // A plain copy-like target (nothing reduced) gets one thread per element; short ranges a warp; long ones a block.
  FER_CUDA_FLOAT_SWITCH(dt, "broadcast reduce", {
    if (R <= 1) run_reduce<scalar_t, 1>(term, g, a, b, t, dims, p, targets, R, accumulate, device);
    else if (R < 4096) run_reduce<scalar_t, 32>(term, g, a, b, t, dims, p, targets, R, accumulate, device);
    else run_reduce<scalar_t, kReduceThreads>(term, g, a, b, t, dims, p, targets, R, accumulate, device);
  });
  check_launch("broadcast_reduce");
}

void launch_broadcast_add(const void* gy, void* gx, const BroadcastDims& dims, int64_t n, double scale, DType dt,
                          int device) {
  if (n <= 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "broadcast add",
                        broadcast_add_kernel<scalar_t><<<blocks_for(n), kThreads, 0, current_stream(device)>>>(
                            static_cast<const scalar_t*>(gy), static_cast<scalar_t*>(gx), dims, n, scale));
  check_launch("broadcast_add");
}

static_assert(int(kernels::Unary::abs) == kAbs && int(kernels::Unary::relu) == kRelu, "op codes follow kernels::Unary");
static_assert(int(kernels::Binary::div) == kDiv && int(kernels::Binary::add) == kAdd, "op codes follow kernels::Binary");

// Strides of t laid against `out` (right-aligned, 0 where t broadcasts), as the CPU definitions'.
void broadcast_strides(const kernels::TensorRef& t, const Shape& out, int64_t* st) {
  const int shift = out.nd - t.dim();
  FER_CHECK(shift >= 0, "broadcast: ", t.shape().str(), " has more dims than ", out.str());
  const Shape tst = contiguous_strides(t.shape());
  for (int d = 0; d < out.nd; ++d) {
    const int td = d - shift;
    FER_CHECK(td < 0 || t.shape()[td] == 1 || t.shape()[td] == out[d], "broadcast: ", t.shape().str(),
              " does not broadcast to ", out.str());
    st[d] = (td < 0 || t.shape()[td] == 1) ? 0 : tst[td];
  }
}

BroadcastDims dims_of(const Shape& out) {
  BroadcastDims d;
  d.nd = out.nd;
  for (int k = 0; k < out.nd; ++k) d.size[k] = out[k];
  return d;
}

void check_same_numel(const char* what, const kernels::TensorRef& a, const kernels::TensorRef& b) {
  FER_CHECK(a.numel() == b.numel(), what, ": ", a.shape().str(), " vs ", b.shape().str());
}

}  // namespace

}  // namespace fer::cuda

namespace fer::kernels {

void unary_forward_cuda(const UnaryArgs& a) {
  const TensorRef &x = a.x, &y = a.y;
  const int dev = cuda::cuda_device_of(unary_name(a.op), {&x, &y}, /*same_dtype=*/true);
  cuda::check_same_numel(unary_name(a.op), x, y);
  cuda::launch_unary_forward(int(a.op), x.raw_data(), y.raw_data(), x.numel(), a.alpha, x.dtype(), dev);
}

void unary_backward_cuda(const UnaryArgs& a) {
  const TensorRef &x = a.x, &y = a.y, &gy = a.gy, &gx = a.gx;
  if (!gx.defined()) return;
  const char* name = unary_name(a.op);
  const int dev = cuda::cuda_device_of(name, {&x, &y, &gy, &gx}, /*same_dtype=*/true);
  cuda::check_same_numel(name, x, y);
  cuda::check_same_numel(name, x, gy);
  cuda::check_same_numel(name, x, gx);
  cuda::zero_if_written(gx, a.accumulate, dev);
  cuda::launch_unary_backward(int(a.op), x.raw_data(), y.raw_data(), gy.raw_data(), gx.raw_data(), x.numel(), a.alpha,
                              x.dtype(), dev);
}

void affine_scalar_forward_cuda(const AffineArgs& a) {
  const TensorRef &x = a.x, &y = a.y;
  const int dev = cuda::cuda_device_of("affine", {&x, &y}, /*same_dtype=*/true);
  cuda::check_same_numel("affine", x, y);
  cuda::launch_affine(x.raw_data(), y.raw_data(), x.numel(), a.a, a.b, x.dtype(), dev);
}

void axpy_cuda(const AxpyArgs& a) {
  const TensorRef &gy = a.gy, &gx = a.gx;
  if (!gx.defined()) return;
  const int dev = cuda::cuda_device_of("axpy", {&gy, &gx}, /*same_dtype=*/true);
  cuda::check_same_numel("axpy", gy, gx);
  cuda::launch_axpy(gy.raw_data(), gx.raw_data(), gy.numel(), a.a, gy.dtype(), dev);
}

void binary_forward_cuda(const BinaryArgs& args) {
  const TensorRef &a = args.a, &b = args.b, &y = args.y;
  const int dev = cuda::cuda_device_of("binary op", {&a, &b, &y}, /*same_dtype=*/true);
  cuda::BroadcastDims d = cuda::dims_of(y.shape());
  cuda::broadcast_strides(a, y.shape(), d.sa);
  cuda::broadcast_strides(b, y.shape(), d.sb);
  cuda::launch_binary_forward(int(args.op), a.raw_data(), b.raw_data(), y.raw_data(), d, y.numel(), y.dtype(), dev);
}

void binary_backward_cuda(const BinaryArgs& args) {
  const TensorRef &a = args.a, &b = args.b, &gy = args.gy, &ga = args.ga, &gb = args.gb;
  const Binary op = args.op;
  const int dev = cuda::cuda_device_of("binary op backward", {&a, &b, &gy, &ga, &gb}, /*same_dtype=*/true);
  cuda::BroadcastDims d = cuda::dims_of(gy.shape());
  cuda::broadcast_strides(a, gy.shape(), d.sa);
  cuda::broadcast_strides(b, gy.shape(), d.sb);
  cuda::zero_if_written(ga, args.accumulate_ga, dev);
  cuda::zero_if_written(gb, args.accumulate_gb, dev);
  using T = cuda::ReduceTerm;
  // One deterministic reduction per operand; two launches on one stream also keep ga == gb (x * x) correct.
  if (ga.defined()) {
    FER_CHECK(ga.shape() == a.shape(), "binary op backward: ga ", ga.shape().str(), " vs a ", a.shape().str());
    const T term = op == Binary::mul ? T::g_times_b : op == Binary::div ? T::g_div_b : T::g;
    cuda::launch_broadcast_reduce(term, gy.raw_data(), a.raw_data(), b.raw_data(), ga.raw_data(), d, d.sa, ga.numel(),
                                  true, gy.dtype(), dev);
  }
  if (gb.defined()) {
    FER_CHECK(gb.shape() == b.shape(), "binary op backward: gb ", gb.shape().str(), " vs b ", b.shape().str());
    const T term = op == Binary::add ? T::g : op == Binary::sub ? T::neg_g : op == Binary::mul ? T::g_times_a
                                                                                                : T::div_grad_b;
    cuda::launch_broadcast_reduce(term, gy.raw_data(), a.raw_data(), b.raw_data(), gb.raw_data(), d, d.sb, gb.numel(),
                                  true, gy.dtype(), dev);
  }
}

void sum_to_cuda(const SumToArgs& a) {
  const TensorRef &x = a.x, &y = a.y;
  const int dev = cuda::cuda_device_of("sum", {&x, &y}, /*same_dtype=*/true);
  FER_CHECK(y.dim() == x.dim(), "sum: target ", y.shape().str(), " must have the rank of ", x.shape().str());
  cuda::BroadcastDims d = cuda::dims_of(x.shape());
  int64_t ts[8] = {};
  cuda::broadcast_strides(y, x.shape(), ts);
  // The operand slots are unused by the plain term.
  cuda::launch_broadcast_reduce(cuda::ReduceTerm::g, x.raw_data(), nullptr, nullptr, y.raw_data(), d, ts, y.numel(),
                                false, x.dtype(), dev);
}

void broadcast_add_cuda(const BroadcastAddArgs& a) {
  const TensorRef &gy = a.gy, &gx = a.gx;
  if (!gx.defined()) return;
  const int dev = cuda::cuda_device_of("sum backward", {&gy, &gx}, /*same_dtype=*/true);
  cuda::BroadcastDims d = cuda::dims_of(gx.shape());
  cuda::broadcast_strides(gy, gx.shape(), d.sb);
  cuda::launch_broadcast_add(gy.raw_data(), gx.raw_data(), d, gx.numel(), a.scale, gx.dtype(), dev);
}

}  // namespace fer::kernels
