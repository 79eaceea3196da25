// Fused bias + activation + gain + clamp (StyleGAN2's bias_act) on CUDA: one pass forward; backward writes the
// input gradient and per-chunk column sums for the bias (fixed row ranges, fixed order: deterministic, no atomics).
#include <algorithm>

#include "fer/kernels/bias_act.hpp"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ref_checks.hpp"

namespace fer::cuda {

namespace {

// Same order as fer::Activation.
enum ActCode { kLinear, kRelu, kLrelu, kTanh, kSigmoid, kElu, kSelu, kSoftplus, kSwish };

constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;

__device__ __forceinline__ float m_exp(float v) { return expf(v); }
__device__ __forceinline__ double m_exp(double v) { return exp(v); }
__device__ __forceinline__ float m_expm1(float v) { return expm1f(v); }
__device__ __forceinline__ double m_expm1(double v) { return expm1(v); }
__device__ __forceinline__ float m_log1p(float v) { return log1pf(v); }
__device__ __forceinline__ double m_log1p(double v) { return log1p(v); }
__device__ __forceinline__ float m_tanh(float v) { return tanhf(v); }
__device__ __forceinline__ double m_tanh(double v) { return tanh(v); }

template <class C> __device__ __forceinline__ C sigmoid(C v) { return C(1) / (C(1) + m_exp(-v)); }

// The CPU backend's formulas (kernels/cpu/bias_act.cpp), including std::max/std::min's comparison order and
// PyTorch's values at the kinks.
template <class C>
__device__ __forceinline__ C activate(int act, C v, C alpha) {
  switch (act) {
    case kLinear: return v;
    case kRelu: return v < C(0) ? C(0) : v;
    case kLrelu: return (v < C(0) ? C(0) : v) + alpha * (C(0) < v ? C(0) : v);
    case kTanh: return m_tanh(v);
    case kSigmoid: return sigmoid(v);
    case kElu: return v > C(0) ? v : m_expm1(v);
    case kSelu: return C(kSeluScale) * (v > C(0) ? v : C(kSeluAlpha) * m_expm1(v));
    case kSoftplus: return v > C(20) ? v : m_log1p(m_exp(v));
    case kSwish: return v * sigmoid(v);
  }
  return v;
}

template <class C>
__device__ __forceinline__ C activate_derivative(int act, C v, C alpha) {
  switch (act) {
    case kLinear: return C(1);
    case kRelu: return v > C(0) ? C(1) : C(0);
    case kLrelu: return v > C(0) ? C(1) : alpha;
    case kTanh: {
      C t = m_tanh(v);
      return C(1) - t * t;
    }
    case kSigmoid: {
      C s = sigmoid(v);
      return s * (C(1) - s);
    }
    case kElu: return v > C(0) ? C(1) : m_exp(v);
    case kSelu: return C(kSeluScale) * (v > C(0) ? C(1) : C(kSeluAlpha) * m_exp(v));
    case kSoftplus: return v > C(20) ? C(1) : sigmoid(v);
    case kSwish: {
      C s = sigmoid(v);
      return s * (C(1) + v * (C(1) - s));
    }
  }
  return C(1);
}

// Scalars of one call in the compute type; `bound` is +inf when there is no clamp.
template <class C> struct Params {
  int act;
  C alpha, gain, bound;
  bool clamped;
};

template <class T, class C>
__device__ __forceinline__ C pre_activation(const T* x, const T* b, int64_t i, int64_t c) {
  return b ? load(x, i) + load(b, c) : load(x, i);
}

// dy/dx * gy at element i (zero where the output was clamped, as PyTorch's clamp).
template <class T, class C>
__device__ __forceinline__ C input_grad(const T* x, const T* b, const T* gy, int64_t i, int64_t c, const Params<C>& p) {
  const C v = pre_activation<T, C>(x, b, i, c);
  C d = load(gy, i) * p.gain * activate_derivative<C>(p.act, v, p.alpha);
  if (p.clamped) {
    const C out = activate<C>(p.act, v, p.alpha) * p.gain;
    d = (out < -p.bound || out > p.bound) ? C(0) : d;
  }
  return d;
}

template <class T>
__global__ void forward_kernel(const T* __restrict__ x, const T* __restrict__ b, T* __restrict__ y, int64_t n,
                               int64_t C, Params<typename Compute<T>::type> p) {
  using A = typename Compute<T>::type;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const A v = activate<A>(p.act, pre_activation<T, A>(x, b, i, i % C), p.alpha) * p.gain;
    store(y, i, v < -p.bound ? -p.bound : (p.bound < v ? p.bound : v));  // std::clamp's order (NaN passes)
  }
}

template <class T>
__global__ void backward_input_kernel(const T* __restrict__ x, const T* __restrict__ b, const T* __restrict__ gy,
                                      T* __restrict__ gx, int64_t n, int64_t C, Params<typename Compute<T>::type> p) {
  using A = typename Compute<T>::type;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    store(gx, i, load(gx, i) + input_grad<T, A>(x, b, gy, i, i % C, p));
}

constexpr int kTileC = 32;  // columns per block (threadIdx.x: coalesced along C)
constexpr int kTileR = 8;   // row lanes per block (threadIdx.y)

// Block (kTileC, kTileR) handles chunk k's rows [rows*k/chunks, rows*(k+1)/chunks) for 32 columns: writes gx (when
// given) and the chunk's column sums to partials[k, c]. Loops are uniform per block, so __syncthreads is legal.
template <class T>
__global__ void __launch_bounds__(kTileC* kTileR)
backward_partial_kernel(const T* __restrict__ x, const T* __restrict__ b, const T* __restrict__ gy,
                        T* __restrict__ gx, typename Compute<T>::type* __restrict__ partials, int64_t rows, int64_t C,
                        int64_t chunks, Params<typename Compute<T>::type> p) {
  using A = typename Compute<T>::type;
  __shared__ A sums[kTileR][kTileC + 1];
  const int tx = int(threadIdx.x), ty = int(threadIdx.y);
  for (int64_t k = blockIdx.y; k < chunks; k += gridDim.y) {
    const int64_t lo = rows * k / chunks, hi = rows * (k + 1) / chunks;
    for (int64_t c0 = int64_t(blockIdx.x) * kTileC; c0 < C; c0 += int64_t(gridDim.x) * kTileC) {
      const int64_t c = c0 + tx;
      A acc = A(0);
      if (c < C) {
        for (int64_t r = lo + ty; r < hi; r += kTileR) {
          const int64_t i = r * C + c;
          const A d = input_grad<T, A>(x, b, gy, i, c, p);
          if (gx) store(gx, i, load(gx, i) + d);
          acc += d;
        }
      }
      sums[ty][tx] = acc;
      __syncthreads();
      if (ty == 0 && c < C) {
        A s = A(0);
        for (int w = 0; w < kTileR; ++w) s += sums[w][tx];
        partials[k * C + c] = s;
      }
      __syncthreads();  // sums is rewritten by the next tile
    }
  }
}

// gb[c] += partials[0, c] + partials[1, c] + ... in chunk order.
template <class T>
__global__ void bias_grad_kernel(const typename Compute<T>::type* __restrict__ partials, T* __restrict__ gb,
                                 int64_t chunks, int64_t C) {
  using A = typename Compute<T>::type;
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < C; c += int64_t(gridDim.x) * blockDim.x) {
    A s = A(0);
    for (int64_t k = 0; k < chunks; ++k) s += partials[k * C + c];
    store(gb, c, load(gb, c) + s);
  }
}

template <class C>
Params<C> params_of(int act, double alpha, double gain, double clamp) {
  return Params<C>{act, C(alpha), C(gain), clamp >= 0 ? C(clamp) : C(INFINITY), clamp >= 0};
}

void launch_bias_act_forward(const void* x, const void* b, void* y, int64_t rows, int64_t C, int act, double alpha,
                             double gain, double clamp, DType dt, int device) {
  const int64_t n = rows * C;
  if (n <= 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "bias_act", {
    using A = typename Compute<scalar_t>::type;
    forward_kernel<scalar_t><<<blocks_for(n), kThreads, 0, current_stream(device)>>>(
        static_cast<const scalar_t*>(x), static_cast<const scalar_t*>(b), static_cast<scalar_t*>(y), n, C,
        params_of<A>(act, alpha, gain, clamp));
  });
  check_launch("bias_act_forward");
}

void launch_bias_act_backward(const void* x, const void* b, const void* gy, void* gx, void* gb, void* partials,
                              int64_t chunks, int64_t rows, int64_t C, int act, double alpha, double gain, double clamp,
                              DType dt, int device) {
  const int64_t n = rows * C;
  if (C <= 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "bias_act backward", {
    using A = typename Compute<scalar_t>::type;
    const Params<A> p = params_of<A>(act, alpha, gain, clamp);
    const auto* px = static_cast<const scalar_t*>(x);
    const auto* pb = static_cast<const scalar_t*>(b);
    const auto* pg = static_cast<const scalar_t*>(gy);
    auto* pgx = static_cast<scalar_t*>(gx);
    if (!gb) {
      if (pgx && n > 0)
        backward_input_kernel<scalar_t><<<blocks_for(n), kThreads, 0, current_stream(device)>>>(px, pb, pg, pgx, n, C, p);
    } else {
      // With no rows every chunk is empty and its partial sums are zero: gb is unchanged, as on the CPU.
      const int64_t k = chunks < 1 ? 1 : (chunks > 65535 ? 65535 : chunks);
      const int64_t tiles = (C + kTileC - 1) / kTileC;
      const dim3 grid(unsigned(tiles > 65535 ? 65535 : tiles), unsigned(k));
      auto* part = static_cast<A*>(partials);
      backward_partial_kernel<scalar_t><<<grid, dim3(kTileC, kTileR), 0, current_stream(device)>>>(
          px, pb, pg, pgx, part, rows, C, k, p);
      check_launch("bias_act_backward_partial");
      bias_grad_kernel<scalar_t><<<blocks_for(C), kThreads, 0, current_stream(device)>>>(
          part, static_cast<scalar_t*>(gb), k, C);
    }
  });
  check_launch("bias_act_backward");
}

static_assert(int(Activation::swish) == 8 && int(Activation::linear) == 0, "launcher codes follow fer::Activation");

int64_t channels(const kernels::TensorRef& x) { return x.dim() ? x.size(-1) : 1; }

}  // namespace

}  // namespace fer::cuda

namespace fer::kernels {

void bias_act_forward_cuda(const BiasActForwardArgs& a) {
  const char* op = "bias_act";
  const TensorRef &x = a.x, &b = a.b, &y = a.y;
  const int dev = cuda::cuda_device_of(op, {&x, &b, &y}, true);
  const int64_t C = cuda::channels(x), rows = C ? x.numel() / C : 0;
  FER_CHECK(y.numel() == x.numel(), op, ": y ", y.shape().str(), " vs x ", x.shape().str());
  FER_CHECK(!b.defined() || b.numel() == C, op, ": bias ", b.shape().str(), " for ", C, " channels");
  cuda::launch_bias_act_forward(x.raw_data(), b.defined() ? b.raw_data() : nullptr, y.raw_data(), rows, C, int(a.act),
                                a.alpha, a.gain, a.clamp, x.dtype(), dev);
}

void bias_act_backward_cuda(const BiasActBackwardArgs& a) {
  const char* op = "bias_act backward";
  const TensorRef &x = a.x, &b = a.b, &gy = a.gy, &gx = a.gx, &gb = a.gb, &partials = a.partials;
  if (!gx.defined() && !gb.defined()) return;
  const int dev = cuda::cuda_device_of(op, {&x, &b, &gy, &gx, &gb}, true);
  const int64_t C = cuda::channels(x), rows = C ? x.numel() / C : 0;
  FER_CHECK(gy.numel() == x.numel() && (!gx.defined() || gx.numel() == x.numel()), op, ": gradient shapes ",
            gy.shape().str(), " for x ", x.shape().str());
  void* part = nullptr;
  int64_t chunks = 1;
  if (gb.defined()) {
    FER_CHECK(gb.numel() == C, op, ": bias gradient ", gb.shape().str(), " for ", C, " channels");
    FER_CHECK(partials.defined() && partials.on_cuda() && partials.device == dev && partials.is_contiguous() &&
                  partials.dtype() == bias_act_partials_dtype(x.dtype()) && partials.dim() == 2 &&
                  partials.size(0) >= 1 && partials.size(1) == C,
              op, ": partials must be [P, ", C, "] ", dtype_name(bias_act_partials_dtype(x.dtype())), " on cuda:", dev,
              ", got ", partials.defined() ? partials.shape().str() : std::string("undefined"));
    // About 64 rows per chunk (8 per thread row), at most P chunks: fixed by the shapes, hence deterministic.
    chunks = std::clamp<int64_t>((rows + 63) / 64, 1, partials.size(0));
    part = partials.raw_data();
  }
  cuda::launch_bias_act_backward(x.raw_data(), b.defined() ? b.raw_data() : nullptr, gy.raw_data(),
                                 gx.defined() ? gx.raw_data() : nullptr, gb.defined() ? gb.raw_data() : nullptr, part,
                                 chunks, rows, C, int(a.act), a.alpha, a.gain, a.clamp, x.dtype(), dev);
}

}  // namespace fer::kernels
