// Fused bias + activation + gain + clamp: one pass over NHWC rows (bias along the contiguous channel dim).
#include "fer/backend/cpu/bias_act.hpp"

#include <algorithm>
#include <cmath>

#include "fer/core/parallel.hpp"

namespace fer {

const char* activation_name(Activation a) {
  static const char* names[] = {"linear", "relu", "lrelu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish"};
  return names[int(a)];
}

namespace cpu {

namespace {

constexpr int64_t kGrain = 16384;  // elements per parallel chunk, at least
constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;

template <class T>
inline T sigmoid(T v) {
  return T(1) / (T(1) + std::exp(-v));
}

template <class T>
inline T activate(Activation act, T v, T alpha) {
  switch (act) {
    case Activation::linear: return v;
    case Activation::relu: return v > T(0) ? v : T(0);
    case Activation::lrelu: return v > T(0) ? v : v * alpha;
    case Activation::tanh: return std::tanh(v);
    case Activation::sigmoid: return sigmoid(v);
    case Activation::elu: return v > T(0) ? v : std::expm1(v);
    case Activation::selu: return T(kSeluScale) * (v > T(0) ? v : T(kSeluAlpha) * std::expm1(v));
    case Activation::softplus: return v > T(20) ? v : std::log1p(std::exp(v));
    case Activation::swish: return v * sigmoid(v);
  }
  return v;
}

// d act / dv, with PyTorch's values at the kinks (relu'(0) = 0, lrelu'(0) = alpha, elu'(0) = 1).
template <class T>
inline T activate_derivative(Activation act, T v, T alpha) {
  switch (act) {
    case Activation::linear: return T(1);
    case Activation::relu: return v > T(0) ? T(1) : T(0);
    case Activation::lrelu: return v > T(0) ? T(1) : alpha;
    case Activation::tanh: {
      T t = std::tanh(v);
      return T(1) - t * t;
    }
    case Activation::sigmoid: {
      T s = sigmoid(v);
      return s * (T(1) - s);
    }
    case Activation::elu: return v > T(0) ? T(1) : std::exp(v);
    case Activation::selu: return T(kSeluScale) * (v > T(0) ? T(1) : T(kSeluAlpha) * std::exp(v));
    case Activation::softplus: return v > T(20) ? T(1) : sigmoid(v);
    case Activation::swish: {
      T s = sigmoid(v);
      return s * (T(1) + v * (T(1) - s));
    }
  }
  return T(1);
}

template <class T>
void forward_impl(const Tensor& x, const Tensor& b, const Tensor& y, Activation act, T alpha, T gain, T clamp) {
  const int64_t C = x.dim() ? x.size(-1) : 1;
  const int64_t rows = C ? x.numel() / C : 0;
  const T* px = x.data<T>();
  const T* pb = b.defined() ? b.data<T>() : nullptr;
  T* py = y.data<T>();
  const bool clamped = clamp >= T(0);
  parallel_for(0, rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* __restrict xr = px + r * C;
      T* __restrict yr = py + r * C;
      for (int64_t c = 0; c < C; ++c) {
        T v = activate(act, pb ? xr[c] + pb[c] : xr[c], alpha) * gain;
        yr[c] = clamped ? std::min(std::max(v, -clamp), clamp) : v;
      }
    }
  });
}

template <class T>
void backward_impl(const Tensor& x, const Tensor& b, const Tensor& gy, const Tensor& gx, const Tensor& gb,
                   const Tensor& partials, Activation act, T alpha, T gain, T clamp) {
  const int64_t C = x.dim() ? x.size(-1) : 1;
  const int64_t rows = C ? x.numel() / C : 0;
  const T* px = x.data<T>();
  const T* pb = b.defined() ? b.data<T>() : nullptr;
  const T* pg = gy.data<T>();
  T* pgx = gx.defined() ? gx.data<T>() : nullptr;
  T* part = gb.defined() ? partials.data<T>() : nullptr;
  const bool clamped = clamp >= T(0);
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1));
  auto run = [&](T* __restrict acc, int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* __restrict xr = px + r * C;
      const T* __restrict gr = pg + r * C;
      for (int64_t c = 0; c < C; ++c) {
        T v = pb ? xr[c] + pb[c] : xr[c];
        T g = gr[c] * gain * activate_derivative(act, v, alpha);
        if (clamped) {
          T out = activate(act, v, alpha) * gain;
          if (out < -clamp || out > clamp) g = T(0);  // clamp passes the gradient only inside [-clamp, clamp]
        }
        if (pgx) pgx[r * C + c] += g;
        if (acc) acc[c] += g;
      }
    }
  };
  if (!part) {
    parallel_for(0, rows, grain, [&](int64_t lo, int64_t hi) { run(nullptr, lo, hi); });
    return;
  }
  // Each chunk owns one row of `partials` for its bias sums, so no two threads write the same place.
  const int64_t chunks = std::clamp<int64_t>(rows / grain, 1, partials.size(0));
  std::fill(part, part + chunks * C, T(0));
  parallel_for(0, chunks, 1, [&](int64_t clo, int64_t chi) {
    for (int64_t k = clo; k < chi; ++k) run(part + k * C, rows * k / chunks, rows * (k + 1) / chunks);
  });
  T* pgb = gb.data<T>();
  for (int64_t k = 0; k < chunks; ++k)
    for (int64_t c = 0; c < C; ++c) pgb[c] += part[k * C + c];
}

}  // namespace

void bias_act_forward(const Tensor& x, const Tensor& b, const Tensor& y, Activation act, double alpha, double gain,
                      double clamp) {
  dispatch_float(x.dtype(), "bias_act", [&](auto tag) {
    using T = decltype(tag);
    forward_impl<T>(x, b, y, act, T(alpha), T(gain), T(clamp));
  });
}

void bias_act_backward(const Tensor& x, const Tensor& b, const Tensor& gy, const Tensor& gx, const Tensor& gb,
                       const Tensor& partials, Activation act, double alpha, double gain, double clamp) {
  dispatch_float(x.dtype(), "bias_act backward", [&](auto tag) {
    using T = decltype(tag);
    backward_impl<T>(x, b, gy, gx, gb, partials, act, T(alpha), T(gain), T(clamp));
  });
}

}  // namespace cpu
}  // namespace fer
